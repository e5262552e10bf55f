-- The demo replaces the source content in one transaction: readers see the old or the new week.
TRUNCATE users, progress RESTART IDENTITY
