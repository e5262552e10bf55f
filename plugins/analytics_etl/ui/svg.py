"""Charts as server-side SVG over a time axis (`timescale`): the UI may run where no CDN is reachable,
and a chart that is markup needs no script to be read (docs/decisions.md, "The history charts").

A chart takes series of (time, value) points; a point without a value, or two points further apart than
the axis's `max_step`, break the line. Each point says its time and value in a `<title>` (the browser's
tooltip; `static/ui.js` shows it at once, beside the point) and may link somewhere (`data-top`: ui.js
opens it in the whole UI, not the frame). Every text that reaches the markup goes through `html.escape`:
run ids and labels are data.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from analytics_etl.ui.timescale import TimeAxis, segments, utc

WIDTH, HEIGHT = 900, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 40, 28, 28
TICK_SPACING = 85  # pixels per x label at least: "Jan 15, 2024" fits
OUTCOME_COLORS = {"passed": "#2e7d32", "failed": "#c62828", "none": "#9e9e9e"}


@dataclass(frozen=True)
class Point:
    at: dt.datetime | dt.date
    value: float | None  # None: nothing here, the line breaks
    href: str | None = None
    label: str = ""  # what the tooltip says before the value; the time when empty


@dataclass(frozen=True)
class Series:
    name: str
    color: str
    points: Sequence[Point]


@dataclass(frozen=True)
class Mark:
    """One coloured square of a strip: `kind` picks its colour, `label` is its whole tooltip."""

    at: dt.datetime | dt.date
    kind: str
    href: str | None = None
    label: str = ""


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
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {rest:02d}s" if minutes else f"{rest}s"


def x_of(axis: TimeAxis, at: dt.datetime | dt.date) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * axis.fraction(at)


def line_chart(
    title: str,
    axis: TimeAxis,
    series: Sequence[Series],
    fmt: Callable[[float], str] = count,
    reference: tuple[str, float] | None = None,
) -> str:
    """A line per series over `axis`, a dot per value (a link when the point has one), an optional
    dashed reference line (a threshold), y from 0 to a round maximum."""
    drawn = [
        (s, sorted((p for p in s.points if _shown(axis, p.at)), key=lambda p: utc(p.at))) for s in series
    ]
    values = [p.value for _, points in drawn for p in points if p.value is not None]
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
    for s, points in drawn:
        parts.append(_lines(axis, s, points, y))
        for p in points:
            if p.value is None:
                continue
            tip = f"{p.label or _when(p.at)} · {s.name}: {fmt(p.value)}"
            dot = (
                f'<circle class="point" data-series="{escape(s.name)}" cx="{x_of(axis, p.at):.1f}"'
                f' cy="{y(p.value):.1f}" r="4" fill="{s.color}"><title>{escape(tip)}</title></circle>'
            )
            parts.append(_linked(p.href, dot))
    parts.append(_legend([(s.name, s.color, False) for s in series], reference))
    return _svg(title, parts)


def outcome_strip(
    title: str, axis: TimeAxis, marks: Sequence[Mark], colors: dict[str, str] = OUTCOME_COLORS
) -> str:
    """One square per mark, coloured by its kind, as wide as `max_step` allows (never overlapping)."""
    step_width = (WIDTH - LEFT - RIGHT) * (axis.max_step / (axis.end - axis.start or axis.max_step))
    size = max(3.0, min(14.0, step_width - 2))
    height = TOP + 14 + BOTTOM
    parts = [_frame(title, axis, [], count, height=height)]
    for mark in marks:
        if not _shown(axis, mark.at):
            continue
        color = colors.get(mark.kind, "#9e9e9e")
        square = (
            f'<rect class="outcome {escape(mark.kind)}" x="{x_of(axis, mark.at) - size / 2:.1f}" y="{TOP}"'
            f' width="{size:.1f}" height="14" fill="{color}"><title>{escape(mark.label or mark.kind)}</title></rect>'
        )
        parts.append(_linked(mark.href, square))
    parts.append(_legend([(name, color, False) for name, color in colors.items()], None))
    return _svg(title, parts, height=height)


# -- pieces ---------------------------------------------------------------------------------------
def _svg(title: str, parts: list[str], height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
        f' role="img" aria-label="{escape(title)}">' + "".join(parts) + "</svg>"
    )


def _shown(axis: TimeAxis, at: dt.datetime | dt.date) -> bool:
    return axis.start <= utc(at) <= axis.end


def _when(at: dt.datetime | dt.date) -> str:
    moment = utc(at)
    return moment.date().isoformat() if moment.time() == dt.time(0) else f"{moment:%Y-%m-%d %H:%M:%S}"


def _linked(href: str | None, element: str) -> str:
    return f'<a href="{escape(href)}" data-top="1">{element}</a>' if href else element


def _frame(
    title: str,
    axis: TimeAxis,
    ticks: list[tuple[float, float]],
    fmt: Callable[[float], str],
    height: int = HEIGHT,
) -> str:
    """Title, y grid with labels, the time axis with a labelled tick and a faint grid line per step."""
    out = [f'<text class="title" x="{LEFT}" y="16">{escape(title)}</text>']
    for value, at in ticks:
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{at:.1f}" y2="{at:.1f}" stroke="#e0e0e0"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
        )
    base = height - BOTTOM
    for moment, text in axis.ticks((WIDTH - LEFT - RIGHT) // TICK_SPACING):
        x = x_of(axis, moment)
        out.append(
            f'<line class="xgrid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{base + 4}" stroke="#f0f0f0"/>'
            f'<text class="xtick" x="{x:.1f}" y="{base + 16}" text-anchor="middle"'
            f' data-at="{moment.isoformat()}">{escape(text)}</text>'
        )
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#757575"/>')
    return "".join(out)


def _lines(axis: TimeAxis, series: Series, points: Sequence[Point], y: Callable[[float], float]) -> str:
    """A polyline per run of points close enough to be joined (`timescale.segments`)."""
    out = []
    for run in segments([(p.at, p.value) for p in points], axis.max_step):
        if len(run) < 2:
            continue  # a lone point: its dot alone
        coords = " ".join(f"{x_of(axis, points[i].at):.1f},{y(points[i].value or 0.0):.1f}" for i in run)
        out.append(
            f'<polyline class="line" data-series="{escape(series.name)}" fill="none" stroke="{series.color}"'
            f' stroke-width="2" points="{coords}"/>'
        )
    return "".join(out)


def _legend(items: list[tuple[str, str, bool]], reference: tuple[str, float] | None) -> str:
    if reference:
        items = [*items, (reference[0], "#ef6c00", True)]
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
