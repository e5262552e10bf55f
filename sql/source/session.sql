-- Render timestamptz in UTC whatever the source server's TimeZone setting is.
SET TIME ZONE 'UTC'
