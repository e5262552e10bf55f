"""Schema migrations and the atomic replacement of a day, against a real PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics_etl.load_postgres import migrate, replace_daily_user_stats
from tests.integration import dataset as ds
from tests.output_schemas import OUTPUT_SCHEMAS

pytestmark = pytest.mark.integration

SCHEMA = OUTPUT_SCHEMAS["daily_user_stats"]


def output(tmp_path, name, rows) -> object:
    folder = tmp_path / name
    folder.mkdir()
    table = pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], schema=SCHEMA)
    pq.write_table(table, folder / "part-00000.parquet")
    return folder


def day_rows(conn, day):
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT user_id::text, total_time, average_score, daily_rank FROM daily_user_stats"
            " WHERE date = %s ORDER BY user_id",
            (day,),
        )
        return cur.fetchall()


@pytest.fixture
def analytics(postgres):
    conn = postgres.connect(postgres.fresh_database("analytics"))
    yield conn
    conn.close()


D1, D2 = dt.date(2024, 1, 15), dt.date(2024, 1, 16)


def test_migrations_apply_once(analytics):
    from analytics_etl.sql import migrations

    versions = ["001_initial", "002_retention_log", "003_erasure_log", "004_erasure_progress"]
    assert migrate(analytics) == versions
    assert [version for version, _ in migrations()] == versions
    assert migrate(analytics) == []


def test_a_day_is_replaced_and_other_days_are_untouched(analytics, tmp_path):
    migrate(analytics)
    first = output(
        tmp_path,
        "a",
        [(D1, ds.U1, "A", "a@x", 50, 2, Decimal("85.00"), 1), (D1, ds.U2, "B", "b@x", 10, 1, None, 2)],
    )
    other = output(tmp_path, "b", [(D2, ds.U3, "C", "c@x", 5, 1, Decimal("1.00"), 1)])
    assert replace_daily_user_stats(analytics, D1.isoformat(), first) == 2
    assert replace_daily_user_stats(analytics, D2.isoformat(), other) == 1
    second = output(tmp_path, "c", [(D1, ds.U2, "B", "b@x", 70, 3, Decimal("99.99"), 1)])
    assert replace_daily_user_stats(analytics, D1.isoformat(), second) == 1
    assert day_rows(analytics, D1) == [(ds.U2, 70, Decimal("99.99"), 1)]  # U1 is gone: nothing stale
    assert day_rows(analytics, D2) == [(ds.U3, 5, Decimal("1.00"), 1)]
    assert replace_daily_user_stats(analytics, D1.isoformat(), second) == 1  # idempotent
    assert day_rows(analytics, D1) == [(ds.U2, 70, Decimal("99.99"), 1)]


def test_an_empty_output_empties_the_day(analytics, tmp_path):
    migrate(analytics)
    replace_daily_user_stats(
        analytics, D1.isoformat(), output(tmp_path, "a", [(D1, ds.U1, "A", "a@x", 1, 1, None, 1)])
    )
    assert replace_daily_user_stats(analytics, D1.isoformat(), output(tmp_path, "b", [])) == 0
    assert day_rows(analytics, D1) == []


def test_a_load_that_fails_leaves_the_old_day(analytics, tmp_path):
    migrate(analytics)
    good = output(tmp_path, "a", [(D1, ds.U1, "A", "a@x", 50, 2, None, 1)])
    replace_daily_user_stats(analytics, D1.isoformat(), good)
    wrong_day = output(
        tmp_path, "b", [(D1, ds.U2, "B", "b@x", 1, 1, None, 1), (D2, ds.U3, "C", "c@x", 1, 1, None, 1)]
    )
    with pytest.raises(ValueError, match="not dated 2024-01-15"):
        replace_daily_user_stats(analytics, D1.isoformat(), wrong_day)
    duplicate = output(
        tmp_path, "c", [(D1, ds.U2, "B", "b@x", 1, 1, None, 1), (D1, ds.U2, "B", "b@x", 2, 1, None, 1)]
    )
    with pytest.raises(Exception, match="duplicate key"):
        replace_daily_user_stats(analytics, D1.isoformat(), duplicate)
    assert day_rows(analytics, D1) == [(ds.U1, 50, None, 1)]


def test_a_reader_sees_the_old_or_the_new_day_never_none(analytics, postgres, tmp_path):
    migrate(analytics)
    replace_daily_user_stats(
        analytics, D1.isoformat(), output(tmp_path, "a", [(D1, ds.U1, "A", "a@x", 1, 1, None, 1)])
    )
    # Hold the load's transaction open right after its DELETE by locking the day from outside first.
    dsn = analytics.dsn
    import threading

    import psycopg2

    blocker = psycopg2.connect(dsn)
    with blocker.cursor() as cur:
        cur.execute(open("sql/analytics/daily_user_stats/lock_date.sql").read(), {"date": D1.isoformat()})
    done = threading.Event()

    def load():
        conn = psycopg2.connect(dsn)
        replace_daily_user_stats(
            conn, D1.isoformat(), output(tmp_path, "b", [(D1, ds.U2, "B", "b@x", 2, 1, None, 1)])
        )
        conn.close()
        done.set()

    worker = threading.Thread(target=load)
    worker.start()
    reader = psycopg2.connect(dsn)
    assert not done.wait(1.0)  # the load waits for the lock
    assert day_rows(reader, D1) == [(ds.U1, 1, None, 1)]  # meanwhile the old day is visible
    blocker.rollback()
    worker.join(30)
    assert day_rows(reader, D1) == [(ds.U2, 2, None, 1)]
    reader.close()
    blocker.close()
