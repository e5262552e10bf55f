"""The history page's charts from its points (`shaping.history`): one point per day with a run, placed
on its date over the whole window, so a day without a run is a gap in the lines."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from analytics_etl.ui import svg
from analytics_etl.ui.shaping import Point
from analytics_etl.ui.timescale import TimeAxis

TITLES = ("Rows per day", "Reject ratio", "Run duration", "Validation outcome")


def charts(
    start: dt.date,
    end: dt.date,
    points: Sequence[Point],
    href: Callable[[str], str],
    threshold: float | None = None,
) -> list[str]:
    """Rows read, kept and rejected; the reject ratio (with the threshold as a dashed line); the run's
    duration; the gate's verdict. Every point and square opens its run (`href(run_id)`), and its
    tooltip names the day, the run and its status."""
    axis = TimeAxis.of_days(start, end)

    def series(name: str, color: str, value: Callable[[Point], float | None]) -> svg.Series:
        return svg.Series(
            name, color, [svg.Point(p.date, value(p), href(p.run_id), _label(p)) for p in points]
        )

    rows = [
        series("read", "#1565c0", lambda p: p.rows_read),
        series("kept", "#2e7d32", lambda p: p.rows_kept),
        series("rejected", "#c62828", lambda p: p.rows_rejected),
    ]
    ratio = series("rejected / read", "#c62828", lambda p: p.reject_ratio)
    took = series("duration", "#6a1b9a", lambda p: p.duration_seconds)
    verdicts = [
        svg.Mark(p.date, p.outcome, href(p.run_id), f"{_label(p)} · validation {p.outcome}") for p in points
    ]
    reference = ("max reject ratio", threshold) if threshold is not None else None
    return [
        svg.line_chart(TITLES[0], axis, rows),
        svg.line_chart(TITLES[1], axis, [ratio], svg.percent, reference),
        svg.line_chart(TITLES[2], axis, [took], svg.duration),
        svg.outcome_strip(TITLES[3], axis, verdicts),
    ]


def _label(point: Point) -> str:
    return f"{point.date.isoformat()} · {point.run_id} ({point.status})"
