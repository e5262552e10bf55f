"""A run's figures as Prometheus metric families: pure, from what the run recorded.

Every family is a gauge of the run (its group on the Pushgateway is replaced by the date's next run)
except the counts of rows, which are counters (`_total`: they count up during the run, from zero) and
the Cassandra write latency, a histogram. Labels stay low-cardinality: `reason`, `sink`, `task`, `le`;
the date and the job are the group's labels; the run id only on `etl_run_info`. docs/monitoring.md
lists them with their meaning.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analytics_etl.metrics.exposition import Family

CASSANDRA_TABLES = ("page_view_stats", "user_engagement", "learning_progress")
SINKS = ("daily_user_stats", *CASSANDRA_TABLES)
SPARK_TASK = "daily_outputs"


@dataclass
class RunFigures:
    """What the run-end push gathers: the `etl_runs` row (with the date's freshness columns of
    sql/metrics/run_figures.sql), the tasks' timings and the Spark and Cassandra XComs, settings."""

    record: Mapping[str, Any]
    run_type: str = "unknown"
    timings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    spark_seconds: float | None = None
    latency: Mapping[str, Any] | None = None
    expectations: tuple[int, int] | None = None  # (evaluated, failed) from the gate's result
    max_reject_ratio: float | None = None
    deadline_seconds: float | None = None  # etl_deadline, as seconds after the end of D
    reasons: tuple[str, ...] = ()


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.timestamp()


def day_start(date: Any) -> float:
    day = date if isinstance(date, dt.date) else dt.date.fromisoformat(str(date))
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC).timestamp()


def _gauge(name: str, help_text: str, value: float | None, **labels: str) -> Family:
    family = Family(name, "gauge", help_text)
    return family.add(value, **labels) if value is not None else family


def run_families(figures: RunFigures) -> list[Family]:
    """Every family of one run; a figure the run never reached (no ingest, no load) is left out."""
    r = figures.record
    start, end = _ts(r["started_at"]), _ts(r["ended_at"])
    families = [
        Family("etl_run_info", "gauge", "The run whose figures these are (1).").add(
            1, run_id=str(r["run_id"]), run_type=figures.run_type, status=str(r["status"])
        ),
        _gauge("etl_run_success", "1 if the run succeeded, 0 if it failed.", r["status"] == "success"),
        _gauge(
            "etl_day_timestamp_seconds",
            "Start (00:00 UTC) of the day D the run processed.",
            day_start(r["date"]),
        ),  # fmt: skip
        _gauge("etl_run_start_timestamp_seconds", "When the run started.", start),
        _gauge("etl_run_end_timestamp_seconds", "When the run ended.", end),
        _gauge(
            "etl_run_duration_seconds",
            "End-to-end latency: the run's wall time.",
            end - start if start is not None and end is not None else None,
        ),  # fmt: skip
    ]
    families += _ingest_families(figures)
    families += _sink_families(figures)
    families += _time_families(figures)
    return families


def _ingest_families(figures: RunFigures) -> list[Family]:
    r = figures.record
    counted = Family("etl_events_rejected_total", "counter", "Event rows rejected, by reason.")
    read = r["rows_read"]
    if read is not None:
        rejected = dict.fromkeys(figures.reasons, 0) | dict(r["rejected_by_reason"] or {})
        for reason, count in sorted(rejected.items()):
            counted.add(count, reason=reason)
    rejected_rows = r.get("rows_rejected")
    # A record with rows read but no rejected count has no ratio to tell: left out, not guessed.
    if read == 0:
        ratio = 0.0
    else:
        ratio = rejected_rows / read if read is not None and rejected_rows is not None else None
    families = [
        _counter("etl_events_read_total", "Event rows read from the day's drop.", read),
        _counter("etl_events_kept_total", "Event rows kept after the ingest rules.", r["rows_kept"]),
        counted,
        _counter("etl_orphan_events_total", "Kept events whose user_id is not in users.", r["orphan_user"]),
        _gauge("etl_reject_ratio", "Error rate: rejected / read event rows.", ratio),
        _gauge(
            "etl_reject_ratio_limit",
            "etl_max_reject_ratio: above it the run fails before any load.",
            figures.max_reject_ratio,
        ),  # fmt: skip
        _gauge("etl_validation_success", "1 if the gate passed, 0 if it failed.", r["validation_success"]),
    ]
    if figures.expectations is not None:
        evaluated, failed = figures.expectations
        families.append(_gauge("etl_expectations_evaluated", "Expectations the gate evaluated.", evaluated))
        families.append(_gauge("etl_expectations_failed", "Expectations that failed at the gate.", failed))
    return families


def _counter(name: str, help_text: str, value: float | None) -> Family:
    family = Family(name, "counter", help_text)
    return family.add(value) if value is not None else family


def _sink_families(figures: RunFigures) -> list[Family]:
    r = figures.record
    written = dict(r["rows_written"] or {})
    rows = Family("etl_rows_written_total", "counter", "Rows written to each sink by the run.")
    deleted = Family("etl_rows_deleted_total", "counter", "Stale rows deleted from each Cassandra table.")
    if "daily_user_stats" in written:
        rows.add(written["daily_user_stats"], sink="daily_user_stats")
    for table in CASSANDRA_TABLES:
        cassandra = written.get("cassandra") or {}
        if table in cassandra:
            rows.add(cassandra[table], sink=table)
            deleted.add(cassandra.get(f"{table}_deleted", 0), sink=table)
    loaded = Family("etl_sink_last_load_timestamp_seconds", "gauge",
                    "When a run that loaded the date into the sink ended (freshness).")  # fmt: skip
    fresh = Family("etl_data_freshness_seconds", "gauge",
                   "From the end of day D to its last load into the sink.")  # fmt: skip
    day_end = day_start(r["date"]) + 86400
    for sink in SINKS:
        at = _ts(r["daily_user_stats_loaded"] if sink == "daily_user_stats" else r["cassandra_loaded"])
        if at is not None:
            loaded.add(at, sink=sink)
            fresh.add(at - day_end, sink=sink)
    return [
        rows,
        deleted,
        loaded,
        fresh,
        _gauge(
            "etl_last_success_timestamp_seconds",
            "End of the date's latest successful run.",
            _ts(r["last_success"]),
        ),  # fmt: skip
        _gauge(
            "etl_deadline_seconds",
            "etl_deadline: seconds after the end of D by which D must be loaded.",
            figures.deadline_seconds,
        ),  # fmt: skip
    ]


def _time_families(figures: RunFigures) -> list[Family]:
    tasks = Family("etl_task_duration_seconds", "gauge", "Wall time of each task's last try.")
    for task_id, timing in sorted(figures.timings.items()):
        start, end = _ts(timing.get("start")), _ts(timing.get("end"))
        if start is not None and end is not None:
            tasks.add(end - start, task=task_id)
    families = [tasks]
    spark = figures.timings.get(SPARK_TASK)
    if spark:
        tries = int(spark.get("try_number") or 1)
        failed = tries - 1 if spark.get("state") == "success" else tries
        families.append(_counter("etl_spark_failed_applications_total",
                                 "Failed batches: Spark applications of the run that failed.", failed))  # fmt: skip
    seconds = figures.spark_seconds
    families.append(_gauge("etl_spark_application_duration_seconds",
                           "Processing time: the Spark application, spark-submit to exit.", seconds))  # fmt: skip
    read = figures.record["rows_read"]
    if seconds and read is not None:
        families.append(
            _gauge("etl_events_per_second", "Throughput: events read / Spark time.", read / seconds)
        )
    if figures.latency:
        families.append(_histogram(figures.latency))
    return families


def _histogram(latency: Mapping[str, Any]) -> Family:
    family = Family("etl_cassandra_write_latency_seconds", "histogram",
                    "Latency of each write request of the Cassandra load.")  # fmt: skip
    for bound, count in latency["buckets"].items():
        family.add(count, "_bucket", le=bound)
    family.add(latency["sum"], "_sum")
    return family.add(latency["count"], "_count")
