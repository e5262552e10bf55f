"""The charts: server-side SVG over a time axis, points placed by time, lines broken at gaps, a
tooltip per point, text escaped."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from analytics_etl.ui import svg
from analytics_etl.ui.timescale import TimeAxis

pytestmark = pytest.mark.unit

NS = {"s": "http://www.w3.org/2000/svg"}
DAYS = [dt.date(2024, 1, 15), dt.date(2024, 1, 16), dt.date(2024, 1, 18)]
AXIS = TimeAxis.of_days(dt.date(2024, 1, 15), dt.date(2024, 1, 18))
PLOT = svg.WIDTH - svg.LEFT - svg.RIGHT


def series(values, labels=None, name="read") -> svg.Series:
    labels = labels or [f"{d} run{i}" for i, d in enumerate(DAYS)]
    return svg.Series(name, "#00f", [svg.Point(d, v, f"/dags/d/runs/run{i}", labels[i])
                                     for i, (d, v) in enumerate(zip(DAYS, values, strict=True))])  # fmt: skip


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # well-formed XML, or this raises


def dots(chart: ET.Element) -> list[ET.Element]:
    return list(chart.iter("{http://www.w3.org/2000/svg}circle"))


def test_points_are_placed_by_date_and_value_and_each_links_its_run_with_a_tooltip():
    chart = parse(svg.line_chart("Rows", AXIS, [series([100, None, 250])]))
    links = chart.findall("s:a", NS)
    assert [a.get("href") for a in links] == ["/dags/d/runs/run0", "/dags/d/runs/run2"]
    xs = [float(c.get("cx")) for c in dots(chart)]
    ys = [float(c.get("cy")) for c in dots(chart)]
    # Four days on the axis, each a quarter of it, the point in the middle of its quarter.
    assert xs == [
        pytest.approx(svg.LEFT + PLOT / 8, abs=0.1),
        pytest.approx(svg.LEFT + PLOT * 7 / 8, abs=0.1),
    ]
    assert ys[1] < ys[0]  # 250 is drawn higher than 100
    assert dots(chart)[1].find("s:title", NS).text == "2024-01-18 run2 · read: 250"
    assert "250" in [t.text for t in chart.findall("s:text[@class='tick']", NS)]  # a round top


def test_the_time_axis_has_a_labelled_tick_under_each_day():
    chart = parse(svg.line_chart("Rows", AXIS, [series([1, 2, 3])]))
    ticks = chart.findall("s:text[@class='xtick']", NS)
    assert [t.text for t in ticks] == ["Jan 15, 2024", "Jan 16", "Jan 17", "Jan 18"]
    xs = [float(c.get("cx")) for c in dots(chart)]
    assert [float(t.get("x")) for t in ticks if t.text in ("Jan 15, 2024", "Jan 16", "Jan 18")] == xs


def test_a_day_without_a_run_breaks_the_line_and_a_missing_value_too():
    chart = parse(svg.line_chart("Rows", AXIS, [series([1, 2, 3])]))
    [line] = chart.findall("s:polyline", NS)  # the 15th and 16th joined; the 18th alone: the 17th had no run
    assert len(line.get("points").split()) == 2 and line.get("data-series") == "read"
    assert len(dots(chart)) == 3
    assert parse(svg.line_chart("Rows", AXIS, [series([1, None, 3])])).findall("s:polyline", NS) == []
    week = TimeAxis.of_days(dt.date(2024, 1, 15), dt.date(2024, 1, 18))
    wide = TimeAxis(week.start, week.end, max_step=dt.timedelta(days=2))  # a scrape that may skip a day
    [joined] = parse(svg.line_chart("Rows", wide, [series([1, 2, 3])])).findall("s:polyline", NS)
    assert len(joined.get("points").split()) == 3


def test_a_reference_line_and_points_outside_the_axis():
    early = svg.Series("r", "#f00", [svg.Point(dt.date(2024, 1, 1), 0.5), svg.Point(DAYS[0], 0.01)])
    chart = parse(svg.line_chart("Ratio", AXIS, [early], svg.percent, ("max reject ratio", 0.05)))
    [reference] = chart.findall("s:line[@class='reference']", NS)
    assert reference.find("s:title", NS).text == "max reject ratio: 5.0%"
    [dot] = dots(chart)  # the point before the axis is not drawn, nor does it stretch the scale
    assert dot.find("s:title", NS).text == "2024-01-15 · r: 1.0%"  # no label: the tooltip names the day
    assert [t.text for t in chart.findall("s:text[@class='tick']", NS)][-1] == "5.0%"  # not 50%


def test_a_series_of_moments_without_links_is_drawn_and_timed():
    axis = TimeAxis(dt.datetime(2024, 1, 22, 10), dt.datetime(2024, 1, 22, 11), dt.timedelta(minutes=1))
    points = [svg.Point(dt.datetime(2024, 1, 22, 10, m, tzinfo=dt.UTC), float(m)) for m in (0, 1, 2, 30)]
    chart = parse(svg.line_chart("Rate", axis, [svg.Series("rate", "#000", points)]))
    assert chart.findall("s:a", NS) == []
    assert [c.find("s:title", NS).text for c in dots(chart)][-1] == "2024-01-22 10:30:00 · rate: 30"
    [line] = chart.findall("s:polyline", NS)
    assert len(line.get("points").split()) == 3  # 10:30 is half an hour after 10:02: a gap


def test_the_outcome_strip_colours_each_day_by_the_gates_verdict_at_its_date():
    marks = [svg.Mark(d, o, f"/r{i}", f"{d} · validation {o}")
             for i, (d, o) in enumerate(zip(DAYS, ("passed", "failed", "none"), strict=True))]  # fmt: skip
    chart = parse(svg.outcome_strip("Validation", AXIS, marks))
    rects = [a.find("s:rect", NS) for a in chart.findall("s:a", NS)]
    assert [r.get("fill") for r in rects] == [svg.OUTCOME_COLORS[o] for o in ("passed", "failed", "none")]
    assert rects[1].find("s:title", NS).text == "2024-01-16 · validation failed"
    centres = [float(r.get("x")) + float(r.get("width")) / 2 for r in rects]
    assert centres[2] - centres[1] == pytest.approx(2 * (centres[1] - centres[0]), abs=0.2)


def test_labels_and_links_are_escaped():
    hostile = ['<script>alert(1)</script>"', "a&b", "c"]
    markup = svg.line_chart("<b>", AXIS, [series([1, 2, 3], hostile, name="x<y")])
    assert "<script>" not in markup and "<b>" not in markup
    chart = parse(markup)
    assert dots(chart)[0].find("s:title", NS).text.startswith('<script>alert(1)</script>"')


def test_an_empty_history_still_draws_a_frame_with_its_axis():
    empty = TimeAxis.of_days(dt.date(2024, 1, 1), dt.date(2024, 3, 30))
    chart = parse(svg.line_chart("Rows", empty, [svg.Series("read", "#00f", [])]))
    assert chart.findall("s:a", NS) == [] and chart.get("aria-label") == "Rows"
    assert len(chart.findall("s:text[@class='xtick']", NS)) >= 3


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 1.0), (7, 10), (101, 200), (0.03, 0.05), (250, 250), (2600, 5000)]
)
def test_nice_max(value, expected):
    assert svg.nice_max(value) == pytest.approx(expected)


def test_duration_and_percent_formats():
    assert svg.duration(95) == "1m 35s" and svg.duration(42) == "42s"
    assert svg.percent(0.0251) == "2.5%"
