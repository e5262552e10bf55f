"""What an alert says, and when the deadline and late logic decide to send one (no server)."""

from __future__ import annotations

import datetime as dt

import pytest
from airflow.utils.types import DagRunType

from analytics_etl import settings
from analytics_etl.alerts.callbacks import describe_day, late_alert
from analytics_etl.alerts.deadline import deadline_for, promised
from analytics_etl.alerts.message import FAILED, LATE, Alert, format_delay, render_html, render_text, run_url

pytestmark = pytest.mark.unit

RUN = "manual__2024-01-18T02:00:00+00:00"


def failed(**kw) -> Alert:
    base = dict(kind=FAILED, dag_id="daily_analytics_etl", run_id=RUN, day="2024-01-17",
                url=run_url("http://af:8080/", "daily_analytics_etl", RUN), failed_task="validate_outputs",
                error="AirflowFailException: expectation failed on column average_score")  # fmt: skip
    return Alert(**{**base, **kw})


def test_the_run_link_is_airflow_3s_route_with_the_run_id_quoted():
    assert run_url("http://af:8080/", "d", RUN) == (
        "http://af:8080/dags/d/runs/manual__2024-01-18T02%3A00%3A00%2B00%3A00"
    )
    assert run_url("http://af:8080", "d", "r", "t") == "http://af:8080/dags/d/runs/r/tasks/t"


def test_a_failure_names_the_dag_the_date_the_run_the_task_and_the_error():
    alert = failed()
    for part in ("daily_analytics_etl", "2024-01-17", RUN, "validate_outputs"):
        assert part in alert.subject
    body = render_html(alert)
    for part in ("daily_analytics_etl", "2024-01-17", RUN, "validate_outputs", "average_score", alert.url):
        assert part in body


def test_the_error_is_escaped_and_bounded():
    body = render_html(failed(error="<script>x</script> {{ 7*7 }}" + "e" * 10_000))
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "{{ 7*7 }}" in body  # shown as text, never rendered as a template
    assert "more characters in the task log" in body


def test_a_late_alert_says_how_late():
    deadline = dt.datetime(2024, 1, 18, 6, 0, tzinfo=dt.UTC)
    alert = Alert(kind=LATE, dag_id="daily_analytics_etl", run_id=RUN, day="2024-01-17", url="u",
                  deadline=deadline, late_by=dt.timedelta(hours=1, minutes=5), state="running")  # fmt: skip
    assert "late" in alert.subject and "2024-01-18 06:00:00 UTC" in alert.subject
    assert "1 h 5 min" in render_html(alert) and "running" in render_text(alert)


@pytest.mark.parametrize(
    ("delay", "text"),
    [(dt.timedelta(seconds=20), "less than a minute"), (dt.timedelta(days=2, minutes=3), "2 d 3 min")],
)
def test_delays_read_as_an_operator_would_say_them(delay, text):
    assert format_delay(delay) == text


def dag_run(**kw) -> dict:
    run = {"dag_id": "daily_analytics_etl", "dag_run_id": RUN, "state": "running", "run_type": "manual",
           "conf": {"date": "2024-01-17"}, "data_interval_start": None, "run_after": "2024-01-18T02:00:00Z"}  # fmt: skip
    return {**run, **kw}


def test_the_day_comes_from_the_conf_else_the_schedule_and_a_bad_one_is_named():
    assert describe_day(dag_run()) == "2024-01-17"
    scheduled = dag_run(conf={}, run_type="scheduled", data_interval_start="2024-01-16T00:00:00+00:00")
    assert describe_day(scheduled) == "2024-01-16"
    assert describe_day(dag_run(conf={"date": "2024-02-30"})).startswith(
        "'2024-02-30' (refused: invalid date"
    )
    # A real date that is not the day of a backfill run: the alert names both days, not "not a date".
    conflict = dag_run(run_type="backfill", conf={"date": "2024-01-15"}, partition_key="2024-01-20")
    assert describe_day(conflict) == (
        "'2024-01-15' (refused: conf date 2024-01-15 is not 2024-01-20, the partition key of this backfill "
        "run: a run processes its own day only)"
    )
    # A partitioned run (scheduled, backfill, or manual given a key) is for its key's day.
    assert describe_day(dag_run(conf={}, run_type="scheduled", partition_key="2024-01-12")) == "2024-01-12"


def test_a_missed_deadline_mails_for_a_running_scheduled_run_only():
    scheduled = dag_run(run_type="scheduled", conf={}, data_interval_start="2024-01-17T00:00:00+00:00")
    context = {"dag_run": scheduled, "deadline": {"deadline_time": "2024-01-18T06:00:00+00:00"}}
    alert = late_alert(context, now=dt.datetime(2024, 1, 18, 7, 30, tzinfo=dt.UTC))
    assert alert.day == "2024-01-17" and alert.late_by == dt.timedelta(hours=1, minutes=30)
    # A run that failed before its deadline was mailed as failed; its deadline adds nothing.
    assert late_alert({**context, "dag_run": {**scheduled, "state": "failed"}}) is None
    # A manual rerun or a backfill of an old day is never late (a deadline left from before the rule).
    for run_type in ("manual", "backfill", "asset_triggered"):
        assert late_alert({**context, "dag_run": dag_run(run_type=run_type)}) is None, run_type


def test_only_the_scheduled_run_of_yesterday_is_promised_a_deadline():
    today = dt.date(2026, 12, 6)
    assert promised("scheduled", dt.date(2026, 12, 5), today)
    assert promised(DagRunType.SCHEDULED, dt.date(2026, 12, 5), today)
    assert not promised("scheduled", dt.date(2026, 12, 3), today)  # created days late: not the promise
    for run_type in ("manual", "backfill", DagRunType.MANUAL):
        assert not promised(run_type, dt.date(2026, 12, 5), today), run_type
        assert not promised(run_type, dt.date(2024, 1, 16), today), run_type


def test_the_deadline_is_etl_deadline_on_the_next_day():
    assert deadline_for(dt.date(2024, 1, 31), settings.parse_deadline("06:00")) == dt.datetime(
        2024, 2, 1, 6, 0, tzinfo=dt.UTC
    )
    assert settings.parse_deadline("05:30:15") == dt.time(5, 30, 15)
    for bad in ("6", "25:00", "06:00 UTC", ""):
        with pytest.raises(ValueError, match="etl_deadline"):
            settings.parse_deadline(bad)
