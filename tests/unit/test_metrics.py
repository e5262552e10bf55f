"""The run's figures as Prometheus metrics: names, units, labels and values from a run record, the
exposition text, and the write-latency histogram."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from analytics_etl.ingest import REASONS
from analytics_etl.metrics.exposition import Family, render
from analytics_etl.metrics.figures import RunFigures, day_start, run_families
from analytics_etl.metrics.latency import BUCKETS, LatencyHistogram

pytestmark = pytest.mark.unit

T0 = dt.datetime(2024, 1, 16, 2, 0, tzinfo=dt.UTC)
RECORD = {
    "run_id": "manual__2024-01-16T02:00:00+00:00", "date": dt.date(2024, 1, 15), "status": "success",
    "started_at": T0, "ended_at": T0 + dt.timedelta(seconds=90), "failed_task": None,
    "rows_read": 16, "rows_kept": 9, "rows_rejected": 7, "rejected_by_reason": {"malformed": 2, "duplicate": 5},
    "orphan_user": 1, "validation_success": True, "validation_result": None, "cassandra_status": "loaded",
    "rows_written": {"daily_user_stats": 3, "cassandra": {"page_view_stats": 4, "page_view_stats_deleted": 1,
                     "user_engagement": 2, "user_engagement_deleted": 0, "learning_progress": 5}},
    "last_success": T0 + dt.timedelta(seconds=90), "daily_user_stats_loaded": T0 + dt.timedelta(seconds=80),
    "cassandra_loaded": T0 + dt.timedelta(seconds=90),
}  # fmt: skip


def samples(families: list[Family]) -> dict[tuple, float]:
    return {(f.name + s, tuple(sorted(labels.items()))): v for f in families for s, labels, v in f.samples}


def test_a_successful_run_publishes_every_figure_of_its_record():
    timings = {"daily_outputs": {"start": "2024-01-16T02:00:10+00:00", "end": "2024-01-16T02:00:50+00:00",
                                 "try_number": 2, "state": "success"}}  # fmt: skip
    latency = LatencyHistogram()
    for seconds in (0.002, 0.004, 0.3):
        latency.observe(seconds)
    got = samples(run_families(RunFigures(RECORD, "manual", timings, 32.0, latency.as_xcom(), (40, 0),
                                          0.05, 21600, REASONS)))  # fmt: skip
    assert got[("etl_events_read_total", ())] == 16
    assert got[("etl_events_rejected_total", (("reason", "duplicate"),))] == 5
    assert got[("etl_events_rejected_total", (("reason", "out_of_window"),))] == 0  # every reason, even 0
    assert got[("etl_reject_ratio", ())] == 7 / 16
    assert got[("etl_orphan_events_total", ())] == 1
    assert got[("etl_rows_written_total", (("sink", "daily_user_stats"),))] == 3
    assert got[("etl_rows_written_total", (("sink", "learning_progress"),))] == 5
    assert got[("etl_rows_deleted_total", (("sink", "page_view_stats"),))] == 1
    assert got[("etl_run_success", ())] == 1 and got[("etl_validation_success", ())] == 1
    assert got[("etl_run_duration_seconds", ())] == 90
    assert got[("etl_day_timestamp_seconds", ())] == day_start("2024-01-15")
    day_end = day_start("2024-01-16")
    assert (
        got[("etl_data_freshness_seconds", (("sink", "daily_user_stats"),))] == T0.timestamp() + 80 - day_end
    )
    assert (
        got[("etl_sink_last_load_timestamp_seconds", (("sink", "user_engagement"),))] == T0.timestamp() + 90
    )
    assert got[("etl_task_duration_seconds", (("task", "daily_outputs"),))] == 40
    assert got[("etl_spark_failed_applications_total", ())] == 1  # the second try succeeded
    assert got[("etl_events_per_second", ())] == 0.5
    assert got[("etl_cassandra_write_latency_seconds_bucket", (("le", "0.005"),))] == 2
    assert got[("etl_cassandra_write_latency_seconds_bucket", (("le", "+Inf"),))] == 3
    assert got[("etl_cassandra_write_latency_seconds_count", ())] == 3
    assert got[("etl_expectations_evaluated", ())] == 40 and got[("etl_deadline_seconds", ())] == 21600
    info = [k for k in got if k[0] == "etl_run_info"]
    assert info == [
        ("etl_run_info", (("run_id", RECORD["run_id"]), ("run_type", "manual"), ("status", "success")))
    ]


def test_labels_stay_low_cardinality():
    families = run_families(RunFigures(RECORD, "manual", latency=LatencyHistogram().as_xcom()))
    keys = {key for f in families if f.name != "etl_run_info" for _, labels, _ in f.samples for key in labels}
    assert keys <= {"reason", "sink", "task", "le"}


def test_a_run_failed_before_the_ingest_publishes_what_it_reached_only():
    record = {**RECORD, "status": "failed", "rows_read": None, "rows_kept": None, "rows_rejected": None,
              "rejected_by_reason": {}, "orphan_user": None, "rows_written": {}, "validation_success": None,
              "last_success": None, "daily_user_stats_loaded": None, "cassandra_loaded": None}  # fmt: skip
    got = samples(run_families(RunFigures(record)))
    names = {name for name, _ in got}
    assert got[("etl_run_success", ())] == 0
    assert not names & {"etl_events_read_total", "etl_reject_ratio", "etl_validation_success",
                        "etl_rows_written_total", "etl_last_success_timestamp_seconds"}  # fmt: skip


def test_the_exposition_text_escapes_labels_and_declares_each_family_once():
    family = Family("etl_x_total", "counter", "A count.").add(1, reason='a"b\\c\nd').add(2.5, reason="e")
    assert render([family, Family("etl_empty", "gauge", "never rendered")]) == (
        "# HELP etl_x_total A count.\n# TYPE etl_x_total counter\n"
        'etl_x_total{reason="a\\"b\\\\c\\nd"} 1\netl_x_total{reason="e"} 2.5\n'
    )


def test_the_histogram_buckets_are_cumulative_with_inf_last():
    latency = LatencyHistogram()
    for seconds in (0.0001, 0.1, 0.1000001, 99):
        latency.observe(seconds)
    buckets = latency.as_xcom()["buckets"]
    assert list(buckets) == [*map(str, BUCKETS), "+Inf"]
    assert buckets["0.0005"] == 1 and buckets["0.1"] == 2 and buckets["0.15"] == 3 and buckets["+Inf"] == 4
    assert latency.as_xcom()["count"] == 4 and latency.count == 4


def test_the_daily_dags_tasks_keep_their_timing_besides_recording_their_failure():
    from analytics_etl.defaults import DEFAULT_ARGS
    from analytics_etl.metrics import timing_on_failure, timing_on_success, with_timings

    args = with_timings(DEFAULT_ARGS)
    assert args["on_failure_callback"] == [DEFAULT_ARGS["on_failure_callback"], timing_on_failure]
    assert args["on_success_callback"] is timing_on_success
    assert "on_success_callback" not in DEFAULT_ARGS  # the other DAGs keep nothing


def test_a_record_without_a_rejected_count_leaves_the_ratio_out():
    record = {**RECORD, "rows_rejected": None}
    got = samples(run_families(RunFigures(record, reasons=REASONS)))
    assert ("etl_reject_ratio", ()) not in got
    assert got[("etl_events_read_total", ())] == 16  # the rest of the figures are still there
    empty = samples(run_families(RunFigures({**RECORD, "rows_read": 0, "rows_rejected": None})))
    assert empty[("etl_reject_ratio", ())] == 0


# -- the push without a connection, and the pruning's choice -----------------------------------------------
@pytest.fixture
def push_log():
    """The records of the push module's logger, kept by a handler of its own: Airflow's logging setup,
    done on its first import, replaces the root handlers pytest's caplog relies on."""
    from analytics_etl.metrics import push as gateway_push

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append
    logger = logging.getLogger(gateway_push.__name__)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_without_the_connection_the_figures_are_logged_and_nothing_is_pushed_or_pruned(monkeypatch, push_log):
    """The absent path of the run-end push: no exception, no request, the figures in the log at INFO
    (publish_run_metrics would swallow an exception as a warning, so this is where a break shows)."""
    from analytics_etl.metrics.push import publish

    monkeypatch.delenv("AIRFLOW_CONN_PROMETHEUS_PUSHGATEWAY", raising=False)
    body = render(run_families(RunFigures(RECORD, reasons=REASONS)))
    assert publish(body, "2024-01-15", 90) is False
    assert [(r.levelno, r.getMessage()) for r in push_log] == [
        (logging.INFO, f"no prometheus_pushgateway connection: metrics not pushed; they were:\n{body}")
    ]


def group(
    date: str, pushed: float, success: bool = True, job: str = "daily_analytics_etl", **more: str
) -> dict:
    """A group as the Pushgateway's /api/v1/metrics lists it (the fields the pruning reads)."""
    found = {"labels": {"job": job, "date": date, **more}, "last_push_successful": True,
             "push_time_seconds": {"type": "GAUGE", "metrics": [{"labels": {}, "value": repr(pushed)}]}}  # fmt: skip
    if success:
        found["etl_last_success_timestamp_seconds"] = {"type": "GAUGE", "metrics": []}
    return found


def test_the_pruning_deletes_this_jobs_old_groups_but_the_newest_loaded_date():
    from analytics_etl.metrics.push import stale_dates

    now, day = 100 * 86400.0, 86400
    groups = [
        group("2024-01-01", now - 40 * day),  # old: pruned
        group("2024-01-03", now - 36 * day, success=False),  # old, never loaded: pruned
        group("2024-01-02", now - 39 * day),  # the newest date loaded: the deadline rule reads it
        group("2023-12-01", now - 2 * day, success=False),  # a recent backfill of an old date: kept
        group("2024-01-01", now - 99 * day, job="another_job"),  # not ours
        group("2024-01-01", now - 99 * day, instance="x"),  # a grouping this job never pushes
        {"labels": {"job": "daily_analytics_etl", "date": "2024-01-04"}, "last_push_successful": False},
    ]
    assert stale_dates(groups, 35, now) == ["2024-01-01", "2024-01-03"]
    assert stale_dates(groups, 36, now) == ["2024-01-01"]  # exactly 36 days old is not older than 36
    assert stale_dates([], 35, now) == []


@pytest.mark.parametrize(
    ("raw", "days"), [(None, 90), ("35", 35), (" 7 ", 7), ("0", None), ("a month", None)]
)
def test_the_days_groups_are_kept_default_to_the_dashboards_window_and_a_bad_value_prunes_nothing(
    monkeypatch, push_log, raw, days
):
    from analytics_etl.metrics.push import keep_days

    if raw is None:
        monkeypatch.delenv("AIRFLOW_VAR_ETL_METRICS_KEEP_DAYS", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_VAR_ETL_METRICS_KEEP_DAYS", raw)
    assert keep_days() == days
    warned = [r.getMessage() for r in push_log if r.levelno == logging.WARNING]
    assert warned == ([] if days else [f"etl_metrics_keep_days must be a whole number of days of at least 1, "
                                       f"got {raw!r}: no group pruned"])  # fmt: skip
