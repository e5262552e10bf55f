"""The schedule: 02:00 UTC runs for the previous day, and backfill ranges map to their own days."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from analytics_etl.timetable import DailyAfterCutoffTimetable

pytestmark = pytest.mark.unit


def utc(*args) -> pendulum.DateTime:
    return pendulum.datetime(*args, tz="UTC")


def test_each_run_covers_one_utc_day_and_starts_at_two():
    table = DailyAfterCutoffTimetable()
    restriction = TimeRestriction(earliest=utc(2024, 1, 1), latest=None, catchup=True)
    first = table.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    assert first.data_interval == DataInterval(utc(2024, 1, 1), utc(2024, 1, 2))
    assert first.run_after == utc(2024, 1, 2, 2)
    second = table.next_dagrun_info(last_automated_data_interval=first.data_interval, restriction=restriction)
    assert second.data_interval == DataInterval(utc(2024, 1, 2), utc(2024, 1, 3))
    assert second.run_after == utc(2024, 1, 3, 2)


def test_serialization_round_trip_and_summary():
    table = DailyAfterCutoffTimetable(dt.timedelta(hours=3))
    assert DailyAfterCutoffTimetable.deserialize(table.serialize()) == table
    assert DailyAfterCutoffTimetable().summary == "0 2 * * *"


def test_manual_run_without_a_date_gets_the_last_complete_day():
    table = DailyAfterCutoffTimetable()
    interval = table.infer_manual_data_interval(run_after=utc(2024, 1, 16, 9, 30))
    assert interval == DataInterval(utc(2024, 1, 15), utc(2024, 1, 16))
