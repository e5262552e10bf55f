-- The reference's working tables. `judged` holds every row of the drop with its reason (NULL: it
-- passed every rule but the duplicate rule); the values of a rejected row are not kept.
CREATE TABLE run_params (day DATE NOT NULL, week_start DATE NOT NULL, week_end DATE NOT NULL);
CREATE TABLE files (file_id INTEGER PRIMARY KEY, name VARCHAR NOT NULL, format VARCHAR NOT NULL);
CREATE TABLE file_params (file_id INTEGER NOT NULL, header_ok BOOLEAN NOT NULL);
CREATE TABLE judged (
    file_id      INTEGER NOT NULL,
    line_number  BIGINT  NOT NULL,
    reason       VARCHAR,
    event_id     VARCHAR,
    event_type   VARCHAR,
    user_id      VARCHAR,   -- trimmed, lower case
    ts           TIMESTAMP, -- the UTC instant
    page         VARCHAR,
    duration_ms  BIGINT,
    device       VARCHAR
);
