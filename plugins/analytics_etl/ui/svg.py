"""Charts as server-side SVG: the UI may run where no CDN is reachable, and a chart that is markup
needs no script. Every point is a link (`data-top`: ui.js opens it in the whole UI, not the frame).

Every text that reaches the markup goes through `html.escape`: run ids and labels are data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 900, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 28
OUTCOME_COLORS = {"passed": "#2e7d32", "failed": "#c62828", "none": "#9e9e9e"}


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Axis:
    """The days on the x axis, and per point its date, link and tooltip prefix."""

    start: dt.date
    end: dt.date
    dates: Sequence[dt.date]
    hrefs: Sequence[str]
    labels: Sequence[str]

    def x(self, day: dt.date) -> float:
        span = max((self.end - self.start).days, 1)
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - self.start).days / span


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return step * power
    return 10 * power  # pragma: no cover - the loop always returns


def count(value: float) -> str:
    return f"{value:,.0f}"


def percent(value: float) -> str:
    return f"{value:.1%}"


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"


def line_chart(
    title: str,
    axis: Axis,
    series: Sequence[Series],
    fmt: Callable[[float], str] = count,
    reference: tuple[str, float] | None = None,
) -> str:
    """A line per series over the days of `axis`, a linked dot per value, an optional dashed
    reference line (a threshold), y from 0 to a round maximum."""
    values = [v for s in series for v in s.values if v is not None]
    top = nice_max(max([*values, reference[1] if reference else 0.0], default=0.0))

    def y(value: float) -> float:
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)

    ticks: list[tuple[float, float]] = []
    for value in (top * i / 4 for i in range(5)):
        if not ticks or fmt(value) != fmt(ticks[-1][0]):  # no repeated label on a small scale
            ticks.append((value, y(value)))
    parts = [_frame(title, axis, ticks, fmt)]
    if reference:
        name, level = reference
        parts.append(
            f'<line class="reference" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(level):.1f}" y2="{y(level):.1f}"'
            f' stroke="#ef6c00" stroke-dasharray="6 4"><title>{escape(name)}: {escape(fmt(level))}</title></line>'
        )
    for s in series:
        parts.append(_polyline(axis, s, y))
        for day, href, label, value in zip(axis.dates, axis.hrefs, axis.labels, s.values, strict=True):
            if value is None:
                continue
            tip = f"{label} · {s.name}: {fmt(value)}"
            parts.append(
                f'<a href="{escape(href)}" data-top="1"><circle class="point" cx="{axis.x(day):.1f}"'
                f' cy="{y(value):.1f}" r="4" fill="{s.color}"><title>{escape(tip)}</title></circle></a>'
            )
    parts.append(_legend(series, reference))
    return _svg(title, parts)


def outcome_strip(title: str, axis: Axis, outcomes: Sequence[str]) -> str:
    """One linked mark per day, coloured by the gate's verdict (narrower than a day, so days never overlap)."""
    day_width = (WIDTH - LEFT - RIGHT) / max((axis.end - axis.start).days, 1)
    size = max(3.0, min(14.0, day_width - 2))
    height = TOP + 14 + BOTTOM
    parts = [_frame(title, axis, [], count, height=height)]
    for day, href, label, outcome in zip(axis.dates, axis.hrefs, axis.labels, outcomes, strict=True):
        color = OUTCOME_COLORS.get(outcome, OUTCOME_COLORS["none"])
        parts.append(
            f'<a href="{escape(href)}" data-top="1"><rect class="outcome {escape(outcome)}"'
            f' x="{axis.x(day) - size / 2:.1f}" y="{TOP}" width="{size:.1f}" height="14" fill="{color}">'
            f"<title>{escape(label)} · validation {escape(outcome)}</title></rect></a>"
        )
    legend = [Series(name, color, ()) for name, color in OUTCOME_COLORS.items()]
    parts.append(_legend(legend, None))
    return _svg(title, parts, height=height)


# -- pieces ---------------------------------------------------------------------------------------
def _svg(title: str, parts: list[str], height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
        f' role="img" aria-label="{escape(title)}">' + "".join(parts) + "</svg>"
    )


def _frame(
    title: str,
    axis: Axis,
    ticks: list[tuple[float, float]],
    fmt: Callable[[float], str],
    height: int = HEIGHT,
) -> str:
    """Title, y grid with labels, x axis with the first, middle and last day."""
    out = [f'<text class="title" x="{LEFT}" y="16">{escape(title)}</text>']
    for value, at in ticks:
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at:.1f}" y2="{at:.1f}" stroke="#e0e0e0"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    base = height - BOTTOM
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#757575"/>')
    middle = axis.start + (axis.end - axis.start) / 2
    for day, anchor in ((axis.start, "start"), (middle, "middle"), (axis.end, "end")):
        out.append(
            f'<text class="tick" x="{axis.x(day):.1f}" y="{base + 16}" text-anchor="{anchor}">'
            f"{day.isoformat()}</text>"
        )
    return "".join(out)


def _polyline(axis: Axis, series: Series, y: Callable[[float], float]) -> str:
    """Segments through consecutive values; a day without a value breaks the line."""
    runs: list[list[str]] = [[]]
    for day, value in zip(axis.dates, series.values, strict=True):
        if value is None:
            runs.append([])
        else:
            runs[-1].append(f"{axis.x(day):.1f},{y(value):.1f}")
    return "".join(
        f'<polyline fill="none" stroke="{series.color}" stroke-width="2" points="{" ".join(run)}"/>'
        for run in runs
        if len(run) > 1
    )


def _legend(series: Sequence[Series], reference: tuple[str, float] | None) -> str:
    items = [(s.name, s.color, False) for s in series]
    if reference:
        items.append((reference[0], "#ef6c00", True))
    out, x = [], WIDTH - RIGHT
    for name, color, dashed in reversed(items):
        x -= 12 + 7 * len(name) + 18
        mark = (
            f'<line x1="{x}" x2="{x + 12}" y1="12" y2="12" stroke="{color}" stroke-dasharray="3 2"/>'
            if dashed
            else f'<rect x="{x}" y="6" width="12" height="12" fill="{color}"/>'
        )
        out.append(f'{mark}<text class="legend" x="{x + 16}" y="16">{escape(name)}</text>')
    return "".join(out)
