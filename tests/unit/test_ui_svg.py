"""The history charts: server-side SVG, one linked point per day, text escaped."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from analytics_etl.ui import svg

pytestmark = pytest.mark.unit

NS = {"s": "http://www.w3.org/2000/svg"}
DAYS = [dt.date(2024, 1, 15), dt.date(2024, 1, 16), dt.date(2024, 1, 18)]


def axis(labels=None) -> svg.Axis:
    return svg.Axis(
        start=dt.date(2024, 1, 15),
        end=dt.date(2024, 1, 18),
        dates=DAYS,
        hrefs=[f"/dags/d/runs/run{i}" for i in range(3)],
        labels=labels or [f"{d} run{i}" for i, d in enumerate(DAYS)],
    )


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # well-formed XML, or this raises


def test_a_line_chart_has_one_linked_dot_per_value_placed_by_date_and_value():
    chart = parse(svg.line_chart("Rows", axis(), [svg.Series("read", "#00f", [100, None, 250])]))
    links = chart.findall("s:a", NS)
    assert [a.get("href") for a in links] == ["/dags/d/runs/run0", "/dags/d/runs/run2"]
    dots = [a.find("s:circle", NS) for a in links]
    xs = [float(c.get("cx")) for c in dots]
    ys = [float(c.get("cy")) for c in dots]
    assert xs[0] == svg.LEFT and xs[1] == svg.WIDTH - svg.RIGHT  # first and last day of the window
    assert ys[1] < ys[0]  # 250 is drawn higher than 100
    assert dots[1].find("s:title", NS).text == "2024-01-18 run2 · read: 250"
    # The top of the y axis is a round number at or above the maximum.
    assert "250" in [t.text for t in chart.iter("{http://www.w3.org/2000/svg}text")]


def test_a_missing_day_breaks_the_line_and_a_reference_line_is_drawn():
    chart = parse(svg.line_chart("Ratio", axis(), [svg.Series("r", "#f00", [0.01, None, 0.02])], svg.percent,
                                 ("max reject ratio", 0.05)))  # fmt: skip
    assert chart.findall("s:polyline", NS) == []  # no two consecutive values
    [reference] = chart.findall("s:line[@class='reference']", NS)
    assert reference.find("s:title", NS).text == "max reject ratio: 5.0%"
    full = parse(svg.line_chart("Ratio", axis(), [svg.Series("r", "#f00", [0.01, 0.03, 0.02])], svg.percent))
    [line] = full.findall("s:polyline", NS)
    assert len(line.get("points").split()) == 3


def test_the_outcome_strip_colours_each_day_by_the_gates_verdict():
    chart = parse(svg.outcome_strip("Validation", axis(), ["passed", "failed", "none"]))
    rects = [a.find("s:rect", NS) for a in chart.findall("s:a", NS)]
    assert [r.get("fill") for r in rects] == [svg.OUTCOME_COLORS[o] for o in ("passed", "failed", "none")]
    assert rects[1].find("s:title", NS).text.endswith("validation failed")


def test_labels_and_links_are_escaped():
    hostile = ['<script>alert(1)</script>"', "a&b", "c"]
    markup = svg.line_chart("<b>", axis(hostile), [svg.Series("x<y", "#000", [1, 2, 3])])
    assert "<script>" not in markup and "<b>" not in markup
    chart = parse(markup)
    assert (
        chart.findall("s:a", NS)[0].find("s:circle/s:title", NS).text.startswith('<script>alert(1)</script>"')
    )


def test_an_empty_history_still_draws_a_frame():
    empty = svg.Axis(dt.date(2024, 1, 1), dt.date(2024, 3, 30), [], [], [])
    chart = parse(svg.line_chart("Rows", empty, [svg.Series("read", "#00f", [])]))
    assert chart.findall("s:a", NS) == []
    assert chart.get("aria-label") == "Rows"


@pytest.mark.parametrize(
    ("value", "expected"), [(0, 1.0), (7, 10), (101, 200), (0.03, 0.05), (250, 250), (2600, 5000)]
)
def test_nice_max(value, expected):
    assert svg.nice_max(value) == pytest.approx(expected)


def test_duration_and_percent_formats():
    assert svg.duration(95) == "1m 35s" and svg.duration(42) == "42s"
    assert svg.percent(0.0251) == "2.5%"
