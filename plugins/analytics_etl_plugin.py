"""Registers with Airflow the platform's timetable and deadline reference, so the scheduler can
deserialize the DAG; the listener that records and mails a run marked failed by hand; and the run's
data quality, rejects and history inside the UI (a FastAPI app and its external views, see
analytics_etl.ui)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from analytics_etl.alerts import listener
from analytics_etl.alerts.deadline import EtlDayDeadline
from analytics_etl.timetable import DailyAfterCutoffTimetable
from analytics_etl.ui import EXTERNAL_VIEWS, FASTAPI_APPS


class AnalyticsEtlPlugin(AirflowPlugin):
    name = "analytics_etl"
    timetables = [DailyAfterCutoffTimetable]
    deadline_references = [EtlDayDeadline]
    fastapi_apps = FASTAPI_APPS
    external_views = EXTERNAL_VIEWS
    # A run marked failed by hand is recorded and mailed (no failure callback runs then).
    listeners = [listener]
