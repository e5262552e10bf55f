"""Which day a run processes: the conf/Param date, the schedule's interval, bad values."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics_etl.dates import InvalidRunDate, RunDate, iso_week, parse_run_date, resolve_run_date

pytestmark = pytest.mark.unit

UTC = dt.UTC


def test_requested_date_wins_over_the_schedule():
    start = dt.datetime(2024, 3, 1, tzinfo=UTC)
    assert resolve_run_date("2024-01-15", start, start) == dt.date(2024, 1, 15)


@pytest.mark.parametrize("empty", [None, ""])
def test_scheduled_run_processes_its_interval_day(empty):
    # The 02:00 run on D+1 has the interval [D, D+1): it processes D.
    start = dt.datetime(2024, 1, 15, tzinfo=UTC)
    run_after = dt.datetime(2024, 1, 16, 2, tzinfo=UTC)
    assert resolve_run_date(empty, start, run_after) == dt.date(2024, 1, 15)


def test_interval_start_is_read_in_utc():
    start = dt.datetime(2024, 1, 15, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 23:00 UTC on the 14th
    assert resolve_run_date(None, start, None) == dt.date(2024, 1, 14)


def test_run_without_interval_processes_the_day_before_it_was_created():
    assert resolve_run_date(None, None, dt.datetime(2024, 1, 16, 0, 30, tzinfo=UTC)) == dt.date(2024, 1, 15)


@pytest.mark.parametrize(
    "bad",
    [
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "2024-1-5",
        "15/01/2024",
        "2024-01-15T00:00",
        " 2024-01-15",
        "yesterday",
        "20240115",
        20240115,
        ["2024-01-15"],
        {"d": 1},
        True,
    ],
)
def test_bad_dates_are_rejected_naming_the_value(bad):
    with pytest.raises(InvalidRunDate) as err:
        parse_run_date(bad)
    assert repr(bad) in str(err.value)


def test_leap_day_is_a_real_date():
    assert parse_run_date("2024-02-29") == dt.date(2024, 2, 29)


def test_a_run_with_nothing_to_go_on_is_an_error():
    with pytest.raises(InvalidRunDate):
        resolve_run_date(None, None, None)


@pytest.mark.parametrize(
    ("day", "monday", "sunday"),
    [
        ("2024-01-15", "2024-01-15", "2024-01-21"),  # a Monday
        ("2024-01-21", "2024-01-15", "2024-01-21"),  # a Sunday
        ("2024-02-01", "2024-01-29", "2024-02-04"),  # a week across two months
        ("2021-01-01", "2020-12-28", "2021-01-03"),  # across a year (ISO week 53 of 2020)
    ],
)
def test_iso_week_bounds(day, monday, sunday):
    assert iso_week(dt.date.fromisoformat(day)) == (
        dt.date.fromisoformat(monday),
        dt.date.fromisoformat(sunday),
    )
    assert RunDate(dt.date.fromisoformat(day)).as_xcom() == {
        "date": day,
        "week_start": monday,
        "week_end": sunday,
    }


@pytest.mark.parametrize("run_type", ["scheduled", "backfill"])
def test_a_scheduled_or_backfill_run_refuses_a_conf_date_of_another_day(run_type):
    start = dt.datetime(2024, 1, 20, tzinfo=UTC)
    assert resolve_run_date("2024-01-20", start, None, run_type) == dt.date(2024, 1, 20)
    with pytest.raises(InvalidRunDate, match=r"conf date 2024-01-17 is not 2024-01-20.*" + run_type):
        resolve_run_date("2024-01-17", start, None, run_type)


def test_a_manual_run_processes_its_conf_date_whatever_its_interval():
    start = dt.datetime(2024, 1, 20, tzinfo=UTC)
    assert resolve_run_date("2024-01-17", start, None, "manual") == dt.date(2024, 1, 17)


@pytest.mark.parametrize("run_type", ["scheduled", "backfill", "manual"])
def test_a_partitioned_run_processes_its_key_and_refuses_a_conf_date_of_another_day(run_type):
    assert resolve_run_date(None, None, None, run_type, "2024-01-20") == dt.date(2024, 1, 20)
    assert resolve_run_date("2024-01-20", None, None, run_type, "2024-01-20") == dt.date(2024, 1, 20)
    with pytest.raises(InvalidRunDate, match=r"conf date 2024-01-17 is not 2024-01-20, the partition key"):
        resolve_run_date("2024-01-17", None, None, run_type, "2024-01-20")
    with pytest.raises(InvalidRunDate, match="'2024-13-01'"):
        resolve_run_date(None, None, None, run_type, "2024-13-01")


def test_airflow_run_type_enums_are_understood():
    from airflow.utils.types import DagRunType

    start = dt.datetime(2024, 1, 20, tzinfo=UTC)
    with pytest.raises(InvalidRunDate, match="backfill run"):
        resolve_run_date("2024-01-17", start, None, DagRunType.BACKFILL_JOB)
