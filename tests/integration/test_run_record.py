"""The etl_runs record through a run's life, against a real PostgreSQL."""

from __future__ import annotations

import pytest

from analytics_etl.load_postgres import migrate
from analytics_etl.run_record import RunRecord, fetch_runs

pytestmark = pytest.mark.integration

REPORT = {
    "rows_read": 10,
    "rows_kept": 8,
    "rows_rejected": 2,
    "rejected": {"malformed": 1, "duplicate": 1},
    "orphan_user": 3,
}


@pytest.fixture
def conn(postgres):
    conn = postgres.connect(postgres.fresh_database("analytics"))
    migrate(conn)
    yield conn
    conn.close()


def test_a_failed_run_keeps_the_first_failure_and_a_cleared_rerun_wipes_it(conn):
    record = RunRecord(conn, "manual__1", "2024-01-15")
    record.start("daily_analytics_etl")
    record.ingest(REPORT)
    record.finish("failed", failed_task="validate_outputs", error="QualityGateFailed: average_score")
    record.finish("failed", failed_task="load_postgres", error="later")  # a later callback
    [row] = fetch_runs(conn, "2024-01-15")
    assert (row["status"], row["failed_task"], row["error"]) == (
        "failed",
        "validate_outputs",
        "QualityGateFailed: average_score",
    )
    assert (row["rows_read"], row["rows_kept"], row["orphan_user"]) == (10, 8, 3)
    assert row["rejected_by_reason"] == {"malformed": 1, "duplicate": 1}

    # The failed task is cleared and the run goes on to succeed: the record must say success only.
    record.written("daily_user_stats", 5)
    record.written("cassandra", {"page_view_stats": 2})
    record.finish("success")
    [row] = fetch_runs(conn, "2024-01-15")
    assert (row["status"], row["failed_task"], row["error"]) == ("success", None, None)
    assert row["rows_written"] == {"daily_user_stats": 5, "cassandra": {"page_view_stats": 2}}
    assert row["ended_at"] >= row["started_at"]


def test_runs_of_a_date_are_kept_apart_and_a_restart_resets_the_row(conn):
    RunRecord(conn, "r1", "2024-01-15").start("d")
    RunRecord(conn, "r2", "2024-01-15").start("d")
    RunRecord(conn, "r1", "2024-01-16").start("d")
    again = RunRecord(conn, "r1", "2024-01-15")
    again.ingest(REPORT)
    again.start("d")  # the same run started again after a clear: a fresh record
    runs = fetch_runs(conn, "2024-01-15")
    assert sorted(r["run_id"] for r in runs) == ["r1", "r2"]
    assert all(r["status"] == "running" and r["rows_read"] is None for r in runs)
