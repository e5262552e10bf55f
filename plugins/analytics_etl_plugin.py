"""Registers the platform's timetable with Airflow, so the scheduler can deserialize the DAG."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from analytics_etl.timetable import DailyAfterCutoffTimetable


class AnalyticsEtlPlugin(AirflowPlugin):
    name = "analytics_etl"
    timetables = [DailyAfterCutoffTimetable]
