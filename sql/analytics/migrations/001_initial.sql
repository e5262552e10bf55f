-- Output table of contract section 4.1 and the run record of section 5.
CREATE TABLE IF NOT EXISTS daily_user_stats (
    date               date          NOT NULL,
    user_id            uuid          NOT NULL,
    name               text          NOT NULL,
    email              text          NOT NULL,
    total_time         bigint        NOT NULL,
    lessons_completed  integer       NOT NULL,
    average_score      numeric(5,2),
    daily_rank         integer       NOT NULL,
    PRIMARY KEY (date, user_id)
);

CREATE TABLE IF NOT EXISTS etl_runs (
    run_id             text          NOT NULL,
    date               date          NOT NULL,
    dag_id             text          NOT NULL,
    started_at         timestamptz   NOT NULL,
    ended_at           timestamptz,
    status             text          NOT NULL CHECK (status IN ('running', 'success', 'failed')),
    failed_task        text,
    error              text,
    rows_read          bigint,
    rows_kept          bigint,
    rows_rejected      bigint,
    rejected_by_reason jsonb         NOT NULL DEFAULT '{}'::jsonb,
    orphan_user        bigint,
    rows_written       jsonb         NOT NULL DEFAULT '{}'::jsonb,
    validation_success boolean,
    validation_result  text,
    data_docs          text,
    cassandra_status   text,
    PRIMARY KEY (run_id, date)
);

CREATE INDEX IF NOT EXISTS etl_runs_date_idx ON etl_runs (date, started_at DESC);
