"""The schedule: 02:00 UTC runs for the previous day, one partition per day; backfill ranges map to\ntheir own days."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from analytics_etl.timetable import DailyAfterCutoffTimetable

pytestmark = pytest.mark.unit


def utc(*args) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz="UTC")


def test_each_run_is_the_partition_of_one_utc_day_and_starts_at_two():
    table = DailyAfterCutoffTimetable()
    assert table.partitioned
    restriction = TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=True)
    first = table.next_dagrun_info_v2(last_dagrun_info=None, restriction=restriction)
    assert (first.partition_key, first.partition_date, first.data_interval) == (
        "2024-01-01",
        utc(2024, 1, 1),
        None,
    )
    assert first.run_after == utc(2024, 1, 2, 2)
    second = table.next_dagrun_info_v2(last_dagrun_info=first, restriction=restriction)
    assert (second.partition_key, second.run_after) == ("2024-01-02", utc(2024, 1, 3, 2))


def test_without_catchup_the_next_run_is_the_newest_day_due():
    table = DailyAfterCutoffTimetable()
    restriction = TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=False)
    old = table.info(dt.date(2024, 1, 3))
    due = table.next_dagrun_info_v2(last_dagrun_info=old, restriction=restriction)
    assert due.partition_key == table.last_due_day().isoformat()
    assert due.run_after <= pendulum.now("UTC") < due.run_after + dt.timedelta(days=1)


def test_a_backfill_range_gives_each_of_its_days_once_and_no_day_not_over():
    table = DailyAfterCutoffTimetable()
    infos = list(table.iter_partition_dagrun_infos(earliest=utc(2024, 1, 10), latest=utc(2024, 1, 12)))
    assert [i.partition_key for i in infos] == ["2024-01-10", "2024-01-11", "2024-01-12"]
    today = pendulum.now("UTC").start_of("day")
    recent = list(
        table.iter_partition_dagrun_infos(earliest=today.subtract(days=1), latest=today.add(days=3))
    )
    assert [i.partition_key for i in recent] == [today.subtract(days=1).date().isoformat()]


def test_a_key_given_at_trigger_time_must_be_a_calendar_day():
    from airflow.exceptions import InvalidPartitionKeyError

    table = DailyAfterCutoffTimetable()
    assert table.resolve_partition_date("2024-01-15") == utc(2024, 1, 15)
    for bad in ("2024-02-30", "20240115", "yesterday"):
        with pytest.raises(InvalidPartitionKeyError, match=repr(bad)):
            table.resolve_partition_date(bad)


def test_run_ids_start_with_the_day():
    from airflow.utils.types import DagRunType

    run_id = DailyAfterCutoffTimetable().generate_run_id(
        run_type=DagRunType.BACKFILL_JOB,
        run_after=utc(2024, 1, 16, 2),
        data_interval=None,
        partition_key="2024-01-15",
    )
    assert run_id.startswith("backfill__2024-01-15__")


def test_serialization_round_trip_and_summary():
    table = DailyAfterCutoffTimetable(dt.timedelta(hours=3))
    assert DailyAfterCutoffTimetable.deserialize(table.serialize()) == table
    assert DailyAfterCutoffTimetable().summary == "0 2 * * *"


def test_manual_run_without_a_date_gets_the_last_complete_day():
    table = DailyAfterCutoffTimetable()
    interval = table.infer_manual_data_interval(run_after=utc(2024, 1, 16, 9, 30))
    assert interval == DataInterval(utc(2024, 1, 15), utc(2024, 1, 16))
