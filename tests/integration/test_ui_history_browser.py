"""The history page in Chromium, served by the plugin's own routes over a fixed set of runs (no stack:
the store is replaced, so each window and gap is exactly known): the points spread over the axis by
date, a day without a run breaks the lines, hovering a point shows its day and value, the axis labels
read well for a few days and for a year. `test_ui_plugin.py` checks the same page on a real deployment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from tests.integration.stack_client import REPO
from tests.integration.ui_server import chromium_page, serve_routes

pytestmark = pytest.mark.integration

SCREENSHOTS = REPO / ".local" / "screenshots"
START = dt.datetime(2024, 1, 15, 2, 0, tzinfo=dt.UTC)


def record(day: int, status: str = "success", verdict: bool | None = True, read: int = 10_000) -> dict:
    started = START.replace(day=day)
    return {"date": dt.date(2024, 1, day), "run_id": f"scheduled__2024-01-{day:02d}", "status": status,
            "rows_read": read, "rows_kept": read - 100, "rows_rejected": 100, "validation_success": verdict,
            "started_at": started, "ended_at": started + dt.timedelta(seconds=90)}  # fmt: skip


# Four days in January: the 17th and 19th have no run; the 18th's gate failed.
RECORDS = [record(15), record(16, read=12_000), record(18, "failed", False), record(20, read=11_000)]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The plugin's routes reading the runs above."""
    from analytics_etl.ui import routes, store

    def history(dag_id: str, start: dt.date, end: dt.date) -> list[dict]:
        return [r for r in RECORDS if start <= r["date"] <= end]

    patch = pytest.MonkeyPatch()
    patch.setattr(store, "latest_date", lambda dag_id: dt.date(2024, 1, 20))
    patch.setattr(store, "history", history)
    patch.setattr(routes, "_threshold", lambda: 0.05)
    try:
        with serve_routes() as url:
            yield url
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def page(server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_page() as page:
        yield page


def boxes(locator) -> list[dict]:
    return [locator.nth(i).bounding_box() for i in range(locator.count())]


def test_the_page_opens_on_the_days_with_runs_spread_over_the_axis(server, page):
    page.goto(f"{server}/history")
    assert "between 2024-01-14 and 2024-01-20" in page.locator("p").first.inner_text()  # a week at least
    rows = page.locator("svg.chart").first
    read = rows.locator("circle.point[data-series=read]")
    xs = [b["x"] + b["width"] / 2 for b in boxes(read)]
    chart = rows.bounding_box()
    # Seven days on the axis: the 15th in the second seventh, the 20th in the last, not crammed at an edge.
    assert xs == sorted(xs) and len(xs) == 4
    assert (xs[-1] - xs[0]) > 0.6 * chart["width"]
    day = xs[1] - xs[0]
    assert xs[2] - xs[1] == pytest.approx(2 * day, rel=0.02) and xs[3] - xs[2] == pytest.approx(
        2 * day, rel=0.02
    )
    labels = rows.locator("text.xtick")
    assert [labels.nth(i).text_content() for i in range(labels.count())] == [
        "Jan 14, 2024", "Jan 15", "Jan 16", "Jan 17", "Jan 18", "Jan 19", "Jan 20",
    ]  # fmt: skip
    under = [b["x"] + b["width"] / 2 for b in boxes(labels)]
    assert under[1] == pytest.approx(xs[0], abs=1.5) and under[6] == pytest.approx(xs[3], abs=1.5)
    # Only the 15th and 16th are consecutive days: one line joins them, and nothing bridges the gaps.
    lines = rows.locator("polyline[data-series=read]")
    assert lines.count() == 1 and len(lines.first.get_attribute("points").split()) == 2
    line = lines.first.bounding_box()
    assert line["x"] + line["width"] < xs[2] - day / 2
    # The verdicts stay visible: the failed gate's square is red, at its day.
    square = rows.page.locator("svg.chart").nth(3).locator("rect.outcome.failed")
    assert square.count() == 1
    box = square.bounding_box()
    assert box["x"] + box["width"] / 2 == pytest.approx(xs[2], abs=1.5)
    page.screenshot(path=str(SCREENSHOTS / "ui_history_fixture_week.png"), full_page=True)


def test_hovering_a_point_shows_its_day_run_status_and_value_at_once(server, page):
    page.goto(f"{server}/history")
    tip = page.locator("div.tip")
    assert tip.is_hidden()
    # (read and kept differ by 1%: their points overlap, and kept is drawn on top; rejected stands apart)
    page.locator("svg.chart").first.locator("circle.point[data-series=rejected]").nth(2).hover()
    tip.wait_for(state="visible", timeout=2_000)
    assert tip.inner_text() == "2024-01-18 · scheduled__2024-01-18 (failed) · rejected: 100"
    page.locator("svg.chart").nth(1).locator("circle.point").first.hover()
    assert tip.inner_text() == "2024-01-15 · scheduled__2024-01-15 (success) · rejected / read: 1.0%"
    page.screenshot(path=str(SCREENSHOTS / "ui_history_fixture_tooltip.png"))
    page.mouse.move(1, 1)
    tip.wait_for(state="hidden", timeout=2_000)
    # The points are links to their runs, named by the same text for a screen reader.
    link = page.locator("svg.chart").first.locator("a").first
    assert link.get_attribute("aria-label") == "2024-01-15 · scheduled__2024-01-15 (success) · read: 10,000"


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("3", ["Jan 18, 2024", "Jan 19", "Jan 20"]),
        ("365", ["Mar 2023", "May", "Jul", "Sep", "Nov", "Jan 2024"]),
    ],
)
def test_a_chosen_window_length_gets_a_readable_axis(server, page, days, expected):
    page.goto(f"{server}/history?days={days}")
    assert page.locator("select[name=days]").input_value() == days
    labels = page.locator("svg.chart").first.locator("text.xtick")
    assert [labels.nth(i).text_content() for i in range(labels.count())] == expected
    if days == "365":
        page.screenshot(path=str(SCREENSHOTS / "ui_history_fixture_year.png"), full_page=True)
    status = page.request.get(f"{server}/history?days=ninety").status
    assert status == 400
