-- Adding a day: the generated users go through a staging table, so the users already there (the
-- other days' progress points at them) are kept and the generated ones inserted or refreshed.
CREATE TEMPORARY TABLE users_generated (LIKE users INCLUDING DEFAULTS) ON COMMIT DROP
