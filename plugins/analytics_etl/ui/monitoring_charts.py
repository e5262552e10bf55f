"""The monitoring page's panels: the platform's own metrics (docs/monitoring.md) as read back from
Prometheus, one point per date, over the same time axis as the history page, each with the alert
rule's threshold as a dashed line where it has one.

`QUERIES` lists every expression the page asks; `draw` turns their answers into charts and is pure,
so it is tested on given samples.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from analytics_etl.ui import svg
from analytics_etl.ui.prometheus import Sample
from analytics_etl.ui.timescale import TimeAxis

PALETTE = ("#1565c0", "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#5d4037")
P99_LATENCY = "histogram_quantile(0.99, sum by (date, le) (etl_cassandra_write_latency_seconds_bucket))"


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


@dataclass(frozen=True)
class Line:
    name: str
    expr: str
    split_by: str | None = None  # a label whose values each get a line (e.g. `sink`)


@dataclass(frozen=True)
class Panel:
    title: str
    lines: Sequence[Line]
    fmt: Callable[[float], str] = svg.count
    reference: tuple[str, float | str] | None = None  # a threshold: a number, or an expression's value


def freshest(metric: str) -> str:
    """`metric` as the latest push set it (the variable as the last run read it), not the largest any
    kept date ever had: the same reading as the deadline rule of monitoring/alerts.yml."""
    return f"{metric} and on (job, date) topk(1, push_time_seconds and on (job, date) {metric})"


PANELS = (
    Panel("Events per date", [Line("read", "etl_events_read_total"), Line("kept", "etl_events_kept_total"),
                              Line("rejected", "sum by (date) (etl_events_rejected_total)")]),
    Panel("Reject ratio (error rate)", [Line("rejected / read", "etl_reject_ratio")], svg.percent,
          ("etl_max_reject_ratio", freshest("etl_reject_ratio_limit"))),
    Panel("Processing time", [Line("Spark application", "etl_spark_application_duration_seconds"),
                              Line("whole run", "etl_run_duration_seconds")], svg.duration,
          ("alert: Spark over 5 min", 300.0)),
    Panel("Throughput (events per second)", [Line("events / s", "etl_events_per_second")]),
    Panel("Cassandra write latency p99", [Line("p99", P99_LATENCY)], milliseconds, ("alert: 100 ms", 0.1)),
    Panel("Data freshness (end of the date to its load)", [Line("", "etl_data_freshness_seconds", "sink")],
          svg.duration, ("etl_deadline", freshest("etl_deadline_seconds"))),
)  # fmt: skip
STRIPS = (("Run outcome", "etl_run_success"), ("Validation outcome", "etl_validation_success"))
QUERIES = tuple(
    dict.fromkeys(
        [line.expr for panel in PANELS for line in panel.lines]
        + [ref for panel in PANELS if panel.reference and isinstance(ref := panel.reference[1], str)]
        + [expr for _, expr in STRIPS]
    )
)


def dates(answers: Mapping[str, Sequence[Sample]]) -> list[dt.date]:
    """Every date some answer has a sample of."""
    return sorted({s.date for samples in answers.values() for s in samples if s.date is not None})


def draw(answers: Mapping[str, Sequence[Sample]], start: dt.date, end: dt.date) -> list[str]:
    """The panels and the outcome strips over the dates `start` .. `end`."""
    axis = TimeAxis.of_days(start, end)
    charts = []
    for panel in PANELS:
        series = []
        for line in panel.lines:
            for name, points in _split(answers.get(line.expr, ()), line):
                color = PALETTE[len(series) % len(PALETTE)]
                series.append(svg.Series(name, color, points))
        charts.append(svg.line_chart(panel.title, axis, series, panel.fmt, _reference(panel, answers)))
    for title, expr in STRIPS:
        marks = [
            svg.Mark(s.date, "passed" if s.value >= 1 else "failed", None, f"{s.date} · {title.lower()}: "
                     + ("passed" if s.value >= 1 else "failed"))
            for s in answers.get(expr, ()) if s.date is not None
        ]  # fmt: skip
        charts.append(svg.outcome_strip(title, axis, marks))
    return charts


def _split(samples: Sequence[Sample], line: Line) -> list[tuple[str, list[svg.Point]]]:
    groups: dict[str, list[svg.Point]] = {}
    for s in samples:
        if s.date is None:
            continue
        name = s.labels.get(line.split_by, "?") if line.split_by else line.name
        groups.setdefault(name, []).append(svg.Point(s.date, s.value, None, s.date.isoformat()))
    return sorted(groups.items())


def _reference(panel: Panel, answers: Mapping[str, Sequence[Sample]]) -> tuple[str, float] | None:
    if panel.reference is None:
        return None
    name, level = panel.reference
    if isinstance(level, str):
        values = [s.value for s in answers.get(level, ())]
        if not values:
            return None
        level = max(values)
    return name, float(level)
