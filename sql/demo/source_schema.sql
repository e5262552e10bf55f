-- The application's OLTP schema (contract section 2). The platform never runs this against a real
-- source: the demo and the tests use it to build a stand-in for the application's database.
CREATE TABLE IF NOT EXISTS users (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL,
    country     text,
    created_at  timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS progress (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             uuid NOT NULL,
    lesson_id           uuid NOT NULL,
    subject             text NOT NULL,
    date                date NOT NULL,
    time_spent_minutes  integer NOT NULL,
    score               numeric(5,2),
    completed_at        timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS progress_date_idx ON progress (date);
