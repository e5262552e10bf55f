-- One text file's numbered physical lines (the registered Arrow stream `line_stream`), replacing the
-- previous file's.
CREATE OR REPLACE TEMP TABLE lines AS SELECT line_number, line FROM line_stream;
