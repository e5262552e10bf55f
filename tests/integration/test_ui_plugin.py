"""The plugin's views on a real deployment (`scripts/stack.sh`, its own copy on free ports): a good
day and a gate-failing day run on the Spark cluster, then an operator logs into the UI in Chromium
and reads both runs' Data quality and Rejects tabs and the history page; without a login, and with
crafted paths, the endpoints give nothing away."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg2
import pytest

from tests.integration.stack_client import DAG_ID, REPO, TEST_VARIABLES, Stack, logged_in

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.deployment]

SCREENSHOTS = REPO / ".local" / "screenshots"
GOOD_DAY = "2024-01-15"
BAD_DAY = "2024-01-22"  # another ISO week: its corrupt scores stay out of the good day's weekly progress
PREFIX = "/analytics-etl"


@pytest.fixture(scope="module")
def stack():
    stack = Stack.for_tests("stack-ui")
    stack.script("down", timeout=120)  # whatever a killed session left
    # A fresh deployment, databases included: a source left with other days' scores of 250 would
    # fail the good day's weekly progress, and old runs would show in the history.
    subprocess.run([str(REPO / "scripts" / "postgres.sh"), "stop", str(stack.cfg.pg_data)], check=True)
    shutil.rmtree(stack.cfg.pg_data, ignore_errors=True)
    shutil.rmtree(stack.cfg.root, ignore_errors=True)
    result = stack.script("up", timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    try:
        for key, value in TEST_VARIABLES.items():
            assert stack.airflow("variables", "set", key, value).returncode == 0
        yield stack
    finally:
        stack.script("down", timeout=300)


@pytest.fixture(scope="module")
def runs(stack):
    """run id -> etl_runs record, for a good day and a day whose source holds scores of 250."""
    stack.generate_day(GOOD_DAY)
    stack.generate_day(BAD_DAY)
    source = psycopg2.connect(stack.cfg.pg_url("source"))
    with source, source.cursor() as cur:
        cur.execute(
            "UPDATE progress SET score = 250 WHERE id IN "
            "(SELECT id FROM progress WHERE date = %s ORDER BY id LIMIT 3)",
            (BAD_DAY,),
        )
    source.close()
    ids = {}
    for day in (GOOD_DAY, BAD_DAY):
        run = stack.api(
            "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"date": day}}
        )
        ids[day] = run["dag_run_id"]
    assert stack.wait_run(ids[GOOD_DAY], timeout=900) == "success"
    assert stack.wait_run(ids[BAD_DAY], timeout=900) == "failed"
    assert stack.task_state(ids[BAD_DAY], "validate_outputs") == "failed"
    conn = stack.analytics()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM etl_runs WHERE run_id = ANY(%s)", (list(ids.values()),))
        names = [c.name for c in cur.description]
        records = {row[0]: dict(zip(names, row, strict=True)) for row in cur.fetchall()}
    conn.close()
    return {"good": records[ids[GOOD_DAY]], "bad": records[ids[BAD_DAY]]}


def quarantine_counts(stack: Stack, day: str) -> Counter:
    """Rows per reason, counted from the quarantine files themselves."""
    folder = stack.cfg.data_dir / "quarantine" / "user_events" / f"date={day}"
    return Counter(
        json.loads(line)["reason"]
        for part in folder.glob("part-*.json")
        for line in part.read_text().splitlines()
        if line.strip()
    )


def quarantine_files(stack: Stack, day: str) -> dict[str, set[str]]:
    """reason -> the drop files its quarantined rows came from."""
    folder = stack.cfg.data_dir / "quarantine" / "user_events" / f"date={day}"
    files: dict[str, set[str]] = {}
    for part in folder.glob("part-*.json"):
        for line in part.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                files.setdefault(row["reason"], set()).add(Path(row["source_file"]).name)
    return files


def raw_get(stack: Stack, path: str, token: str | None = None, cookie: str | None = None) -> tuple[int, str]:
    """GET `path` exactly as written (no client-side normalisation of `..` or `%2F`)."""
    url = urlsplit(stack.cfg.api_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if cookie:
        headers["Cookie"] = cookie
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read().decode(errors="replace")
    conn.close()
    return response.status, body


def run_path(run_id: str, view: str) -> str:
    return f"{PREFIX}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}/{view}"


# -- the endpoints, without a browser -------------------------------------------------------------
def test_nothing_is_served_without_a_valid_login(stack, runs):
    run_id = runs["good"]["run_id"]
    paths = [
        run_path(run_id, "quality"), run_path(run_id, "rejects"), f"{PREFIX}/history",
        f"{PREFIX}/data-docs/index.html", f"{PREFIX}/static/ui.css",
    ]  # fmt: skip
    token = stack.token()
    for path in paths:
        assert raw_get(stack, path, token=token)[0] == 200, path
        status, body = raw_get(stack, path)
        assert status == 401, (path, status)
        assert run_id not in body and "<svg" not in body
        assert raw_get(stack, path, token="not-a-jwt")[0] in (401, 403), path
        assert raw_get(stack, path, cookie="_token=forged.jwt.value")[0] in (401, 403), path
    for path in (f"{PREFIX}/openapi.json", f"{PREFIX}/docs", f"{PREFIX}/redoc"):
        assert raw_get(stack, path)[0] == 404, path


def test_no_path_outside_etl_data_dir_is_served(stack, runs):
    token = stack.token()
    data_docs = stack.cfg.data_dir / "data_docs"
    secret_file = stack.cfg.password_file  # outside etl_data_dir, and worth stealing
    secret = json.loads(secret_file.read_text())["admin"]
    os.symlink(secret_file, data_docs / "leak.html")
    os.symlink(secret_file.parent, data_docs / "leakdir")
    rel_to_secret = os.path.relpath(secret_file, data_docs)
    attempts = [
        f"{PREFIX}/data-docs/{rel_to_secret}",
        f"{PREFIX}/data-docs/../../../../../../etc/passwd",
        f"{PREFIX}/data-docs/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        f"{PREFIX}/data-docs/..%252F..%252F..%252Fetc%252Fpasswd",
        f"{PREFIX}/data-docs/%2E%2E/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
        f"{PREFIX}/data-docs//etc/passwd",
        f"{PREFIX}/data-docs/%2Fetc%2Fpasswd",
        f"{PREFIX}/data-docs/{quote(str(secret_file), safe='')}",
        f"{PREFIX}/data-docs/leak.html",
        f"{PREFIX}/data-docs/leakdir/{secret_file.name}",
        f"{PREFIX}/data-docs/.lock",
        f"{PREFIX}/static/..%2F..%2Fguard.py",
        f"{PREFIX}/static/%2E%2E%2Fguard.py",
    ]
    for path in attempts:
        status, body = raw_get(stack, path, token=token)
        assert status == 404, (path, status)
        assert secret not in body and "root:" not in body, path
    assert raw_get(stack, f"{PREFIX}/data-docs/index.html", token=token)[0] == 200

    # A record is data too: a run whose record names files outside etl_data_dir shows none of them.
    conn = stack.analytics()
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO etl_runs (run_id, date, dag_id, started_at, status, validation_result, data_docs)"
            " VALUES ('manual__forged', '2022-06-01', %s, now(), 'failed', %s, %s)",
            (DAG_ID, str(secret_file), str(secret_file)),
        )
    conn.close()
    for view in ("quality", "rejects"):
        status, body = raw_get(stack, run_path("manual__forged", view), token=token)
        assert status == 200 and secret not in body, view
        assert "No validation result" in body or view == "rejects"


# -- in the browser ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser_page(stack, runs):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in(stack, 1500, 1100) as page:
        yield page


def open_tab(page, stack: Stack, run_id: str, name: str):
    """The run's page in the UI, then its tab `name`; returns the tab's frame."""
    page.goto(f"{stack.cfg.api_url}/dags/{DAG_ID}/runs/{quote(run_id, safe='')}")
    page.get_by_role("link", name=name, exact=True).or_(
        page.get_by_role("tab", name=name, exact=True)
    ).first.click()
    frame = page.frame_locator(f"iframe[title='{name}']")
    frame.locator("h1").wait_for(timeout=60_000)
    return frame


def number(text: str) -> int:
    return int(re.sub(r"[^0-9]", "", text))


def check_rejects(frame, stack: Stack, record: dict) -> None:
    assert number(frame.locator("#rows-read").inner_text()) == record["rows_read"]
    assert number(frame.locator("#rows-kept").inner_text()) == record["rows_kept"]
    assert number(frame.locator("#rows-rejected").inner_text()) == record["rows_rejected"]
    day = record["date"].isoformat()
    assert frame.locator("#quarantine-path").inner_text() == str(
        stack.cfg.data_dir / "quarantine" / "user_events" / f"date={day}"
    )
    expected = {reason: n for reason, n in record["rejected_by_reason"].items() if n}
    assert expected and dict(quarantine_counts(stack, day)) == expected  # the record agrees with the files
    rows = frame.locator("tr.reason")
    shown = {rows.nth(i).get_attribute("data-reason"): number(rows.nth(i).locator(".count").inner_text())
             for i in range(rows.count())}  # fmt: skip
    assert shown == expected
    files = quarantine_files(stack, day)
    for reason in expected:
        sample = frame.locator(f"table.samples[data-reason='{reason}'] tbody tr")
        assert 1 <= sample.count() <= 5, reason
        cells = sample.first.locator("td")
        assert cells.nth(0).inner_text().startswith("events_")  # the drop file
        assert number(cells.nth(1).inner_text()) >= 1  # its line
        # Spread across the files (and formats) the reason occurs in, not five rows of the first one.
        shown_files = {sample.nth(i).locator("td").nth(0).inner_text() for i in range(sample.count())}
        assert len(shown_files) == min(5, len(files[reason])), (reason, shown_files, files[reason])


def test_a_good_runs_tabs_show_the_passed_gate_and_its_rejects(stack, runs, browser_page):
    page, record = browser_page, runs["good"]
    frame = open_tab(page, stack, record["run_id"], "Data quality")
    frame.get_by_text("Gate passed").wait_for(timeout=30_000)
    assert frame.locator("table.failures").count() == 0
    assert frame.locator("table.tables tbody tr").count() == 4
    frame.frame_locator("iframe.gx").locator("body").get_by_text("daily_user_stats").first.wait_for(
        timeout=30_000
    )
    page.screenshot(path=str(SCREENSHOTS / "ui_good_run_data_quality.png"))

    frame = open_tab(page, stack, record["run_id"], "Rejects")
    check_rejects(frame, stack, record)
    page.screenshot(path=str(SCREENSHOTS / "ui_good_run_rejects.png"), full_page=True)


def test_a_gate_failed_runs_tabs_put_the_failed_expectation_first(stack, runs, browser_page):
    page, record = browser_page, runs["bad"]
    result = json.loads(Path(record["validation_result"]).read_text())
    assert result["success"] is False and result["failures"]
    frame = open_tab(page, stack, record["run_id"], "Data quality")
    frame.get_by_text("Gate FAILED").wait_for(timeout=30_000)
    # A manual run of an old day is not the nightly promise: no deadline, so no red "Missed" badge.
    page.get_by_text("Deadline", exact=True).first.wait_for(timeout=30_000)
    page.get_by_text("Met", exact=True).first.wait_for(timeout=30_000)  # Airflow's word for "none missed"
    assert page.get_by_text("Missed", exact=True).count() == 0
    assert page.get_by_text("after deadline").count() == 0
    rows = frame.locator("table.failures tr.failure")
    assert rows.count() == len(result["failures"])
    shown = {(rows.nth(i).locator("td").nth(0).inner_text(), rows.nth(i).locator(".columns").inner_text(),
              number(rows.nth(i).locator(".unexpected").inner_text())) for i in range(rows.count())}  # fmt: skip
    assert shown == {(f["table"], ", ".join(f["columns"]), f["unexpected_count"]) for f in result["failures"]}
    assert any("score" in columns for _, columns, _ in shown)  # the 250s are what broke it
    # Beside each failure, the bounds it broke, and a sample without repeats or long decimals.
    expected = [rows.nth(i).locator(".expected").inner_text() for i in range(rows.count())]
    assert "daily_user_stats" not in expected and any(
        re.fullmatch(r"\w*score between 0 and 100", text) for text in expected
    ), expected
    for i in range(rows.count()):
        sample = rows.nth(i).locator("td").last.inner_text().removeprefix("e.g. ")
        values = [v.strip() for v in sample.split(",")]
        assert len(values) == len(set(values)) and not re.search(r"\.\d{3,}", sample), sample
    first_failed = result["failures"][0]["table"]
    assert frame.locator("table.tables tbody tr").first.locator("td").first.inner_text() == first_failed
    assert frame.locator(".gx-table").inner_text() == first_failed  # its GX page is the one shown
    frame.frame_locator("iframe.gx").locator("body").get_by_text(first_failed).first.wait_for(timeout=30_000)
    page.screenshot(path=str(SCREENSHOTS / "ui_failed_run_data_quality.png"))

    # Another output's "page" link: the heading names the page now shown.
    other = frame.locator("table.tables tbody tr").last
    other_table = other.locator("td").first.inner_text()
    assert other_table != first_failed
    other.locator("a.page").click()
    frame.locator(".gx-table", has_text=other_table).wait_for(timeout=30_000)
    frame.frame_locator("iframe.gx").locator("body").get_by_text(other_table).first.wait_for(timeout=30_000)

    frame = open_tab(page, stack, record["run_id"], "Rejects")
    check_rejects(frame, stack, record)
    page.screenshot(path=str(SCREENSHOTS / "ui_failed_run_rejects.png"))


def test_the_history_page_charts_both_days_and_each_point_opens_its_run(stack, runs, browser_page):
    page = browser_page
    page.goto(stack.cfg.api_url + "/")
    nav = page.get_by_role("link", name="ETL history").or_(page.get_by_role("menuitem", name="ETL history"))
    if not nav.count():
        page.get_by_role("button", name="Browse").click()
    nav.first.click()
    frame = page.frame_locator("iframe[title='ETL history']")
    frame.locator("h1").wait_for(timeout=60_000)
    # The page opens on the latest day with a finished run, not on the scheduled run of yesterday
    # still waiting for its drop.
    assert frame.locator("input[name=end]").input_value() == BAD_DAY
    charts = frame.locator("svg.chart")
    assert charts.count() == 4
    assert [charts.nth(i).get_attribute("aria-label") for i in range(4)] == [
        "Rows per day", "Reject ratio", "Run duration", "Validation outcome",
    ]  # fmt: skip
    good, bad = runs["good"], runs["bad"]
    rows_chart = charts.nth(0)
    assert rows_chart.locator("circle.point").count() == 6  # read, kept, rejected on both days
    tips = [rows_chart.locator("a").nth(i).get_attribute("data-tip") for i in range(6)]
    assert f"{GOOD_DAY} · {good['run_id']} (success) · read: {good['rows_read']:,}" in tips
    assert f"{BAD_DAY} · {bad['run_id']} (failed) · rejected: {bad['rows_rejected']:,}" in tips
    # A time axis from the first day with a run to the last, a tick a day: the two days spread over
    # the width (they were in its right 5%), and no line bridges the six days without a run.
    ticks = rows_chart.locator("text.xtick")
    assert [ticks.nth(i).text_content() for i in range(ticks.count())] == [
        "Jan 15, 2024", "Jan 16", "Jan 17", "Jan 18", "Jan 19", "Jan 20", "Jan 21", "Jan 22",
    ]  # fmt: skip
    read = rows_chart.locator("circle.point[data-series=read]")
    xs = [box["x"] + box["width"] / 2 for box in (read.nth(0).bounding_box(), read.nth(1).bounding_box())]
    under = [box["x"] + box["width"] / 2 for box in (ticks.first.bounding_box(), ticks.last.bounding_box())]
    assert xs == [pytest.approx(under[0], abs=1.5), pytest.approx(under[1], abs=1.5)]
    assert xs[1] - xs[0] > 0.6 * rows_chart.bounding_box()["width"]
    assert rows_chart.locator("polyline").count() == 0
    # Hovering a point says its day, run, status and value at once.
    rows_chart.locator("circle.point[data-series=rejected]").nth(1).hover()
    frame.locator("div.tip").wait_for(state="visible", timeout=5_000)
    assert frame.locator("div.tip").inner_text() == tips[5]
    outcomes = charts.nth(3).locator("rect.outcome")
    assert [outcomes.nth(i).get_attribute("class") for i in range(2)] == ["outcome passed", "outcome failed"]
    page.screenshot(path=str(SCREENSHOTS / "ui_history.png"), full_page=True)

    # Any date a person can type gives a page; what is no date gets a 400 saying so.
    frame.locator("input[name=end]").fill("0001-01-01")
    frame.get_by_role("button", name="Show").click()
    frame.locator("input[name=end][value='0001-01-01']").wait_for()
    assert frame.locator("svg.chart").count() == 4
    token = stack.token()
    for typed in ("0001-01-01", "9999-12-31"):
        assert raw_get(stack, f"{PREFIX}/history?end={typed}", token=token)[0] == 200, typed
    for typed in ("2024-02-30", "yesterday", "99999-01-01"):
        status, body = raw_get(stack, f"{PREFIX}/history?end={typed}", token=token)
        assert status == 400 and "is not a date" in body and "Traceback" not in body, (typed, status)
    page.go_back()
    frame.locator(f"input[name=end][value='{BAD_DAY}']").wait_for()

    charts.nth(3).locator("a").nth(1).click()  # the failed day's square
    page.wait_for_url(
        re.compile(re.escape(f"/dags/{DAG_ID}/runs/{quote(bad['run_id'], safe='')}")), timeout=30_000
    )
    page.screenshot(path=str(SCREENSHOTS / "ui_history_point_opens_run.png"))
