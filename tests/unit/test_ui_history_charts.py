"""The history page's charts from its points: placed by date over the window, gaps where a day has
no run, each point's tooltip naming the day, the run, its status and the value."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import pytest

from analytics_etl.ui import history_charts, svg
from analytics_etl.ui.shaping import Point

pytestmark = pytest.mark.unit

S = "{http://www.w3.org/2000/svg}"


def point(day: int, status: str = "success", outcome: str = "passed", read: int | None = 1000) -> Point:
    return Point(date=dt.date(2024, 1, day), run_id=f"run{day}", status=status, rows_read=read,
                 rows_kept=None if read is None else read - 10, rows_rejected=None if read is None else 10,
                 reject_ratio=None if read is None else 0.01, duration_seconds=95.0, outcome=outcome)  # fmt: skip


POINTS = [point(15), point(16), point(18, "failed", "failed"), point(20, "failed", "none", read=None)]


def charts(start: int = 15, end: int = 22) -> list[ET.Element]:
    markup = history_charts.charts(dt.date(2024, 1, start), dt.date(2024, 1, end), POINTS,
                                   lambda run_id: f"/runs/{run_id}", 0.05)  # fmt: skip
    return [ET.fromstring(chart) for chart in markup]


def test_four_charts_with_the_threshold_on_the_ratio():
    parsed = charts()
    assert [c.get("aria-label") for c in parsed] == list(history_charts.TITLES)
    assert parsed[1].find(f"{S}line[@class='reference']/{S}title").text == "max reject ratio: 5.0%"


def test_points_spread_over_the_window_by_date_and_lines_break_at_days_without_a_run():
    rows = charts()[0]
    read = [c for c in rows.iter(f"{S}circle") if c.get("data-series") == "read"]
    xs = [float(c.get("cx")) for c in read]
    plot = svg.WIDTH - svg.LEFT - svg.RIGHT
    day = plot / 8  # Jan 15 .. 22
    assert xs == [pytest.approx(svg.LEFT + day * (i + 0.5), abs=0.1) for i in (0, 1, 3)]  # 20th: no figures
    lines = [p for p in rows.iter(f"{S}polyline") if p.get("data-series") == "read"]
    assert [len(p.get("points").split()) for p in lines] == [2]  # 15-16 joined; 18 alone (17 had no run)


def test_each_point_and_square_names_the_day_the_run_and_its_status_and_opens_the_run():
    rows, ratio, took, verdicts = charts()
    tips = [c.find(f"{S}title").text for c in rows.iter(f"{S}circle")]
    assert "2024-01-18 · run18 (failed) · rejected: 10" in tips
    assert ratio.find(f".//{S}circle/{S}title").text == "2024-01-15 · run15 (success) · rejected / read: 1.0%"
    assert took.find(f".//{S}circle/{S}title").text.endswith("duration: 1m 35s")
    squares = [(a.get("href"), a.find(f"{S}rect").get("class"), a.find(f"{S}rect/{S}title").text)
               for a in verdicts.iter(f"{S}a")]  # fmt: skip
    assert squares[2:] == [
        ("/runs/run18", "outcome failed", "2024-01-18 · run18 (failed) · validation failed"),
        ("/runs/run20", "outcome none", "2024-01-20 · run20 (failed) · validation none"),
    ]


def test_a_three_day_and_a_year_long_window_get_readable_axes():
    three = charts(18, 20)[0]
    assert [t.text for t in three.iter(f"{S}text") if t.get("class") == "xtick"] == [
        "Jan 18, 2024",
        "Jan 19",
        "Jan 20",
    ]
    year = history_charts.charts(dt.date(2023, 1, 23), dt.date(2024, 1, 22), POINTS, str)
    ticks = [t.text for t in ET.fromstring(year[0]).iter(f"{S}text") if t.get("class") == "xtick"]
    assert ticks == ["Mar 2023", "May", "Jul", "Sep", "Nov", "Jan 2024"]
