"""The monitoring page (issue 23, item 4) on real servers: three dates' groups pushed to a real
Pushgateway, scraped by a real Prometheus that evaluates the platform's rules, read back by the plugin's
own route through the `prometheus_default` connection and opened in Chromium. Each point, threshold,
gap and active alert on the page is checked against what was pushed."""

from __future__ import annotations

import datetime as dt
import json
import time

import pytest

from tests.integration.stack_client import REPO
from tests.integration.ui_server import chromium_page, serve_routes

pytestmark = pytest.mark.integration

SCREENSHOTS = REPO / ".local" / "screenshots"
SINKS = ("daily_user_stats", "page_view_stats")


def group(
    date: str, read: int, rejected: int, spark: float, success: int, gate: int, fresh: float,
    limit: float = 0.05, deadline: int = 21600,
) -> str:  # fmt: skip
    """A date's group as a run pushes it (the names of docs/monitoring.md), with a write-latency
    histogram whose p99 is 50 ms: 99 of 100 writes at or under 50 ms, the last under 100 ms."""
    day_seconds = dt.datetime.fromisoformat(f"{date}T00:00:00+00:00").timestamp()
    lines = [
        "# TYPE etl_events_read_total counter", f"etl_events_read_total {read}",
        "# TYPE etl_events_kept_total counter", f"etl_events_kept_total {read - rejected}",
        "# TYPE etl_events_rejected_total counter",
        f'etl_events_rejected_total{{reason="bad_json"}} {rejected - 1}',
        'etl_events_rejected_total{reason="unknown_page"} 1',
        "# TYPE etl_reject_ratio gauge", f"etl_reject_ratio {rejected / read}",
        "# TYPE etl_reject_ratio_limit gauge", f"etl_reject_ratio_limit {limit}",
        "# TYPE etl_run_success gauge", f"etl_run_success {success}",
        "# TYPE etl_validation_success gauge", f"etl_validation_success {gate}",
        "# TYPE etl_spark_application_duration_seconds gauge", f"etl_spark_application_duration_seconds {spark}",
        "# TYPE etl_run_duration_seconds gauge", f"etl_run_duration_seconds {spark + 30}",
        "# TYPE etl_events_per_second gauge", f"etl_events_per_second {read / spark}",
        "# TYPE etl_deadline_seconds gauge", f"etl_deadline_seconds {deadline}",
        "# TYPE etl_day_timestamp_seconds gauge", f"etl_day_timestamp_seconds {day_seconds}",
        *(["# TYPE etl_last_success_timestamp_seconds gauge",
           f"etl_last_success_timestamp_seconds {day_seconds + fresh}"] if success else []),
        "# TYPE etl_data_freshness_seconds gauge",
        *(f'etl_data_freshness_seconds{{sink="{sink}"}} {fresh + i * 60}' for i, sink in enumerate(SINKS)),
        "# TYPE etl_cassandra_write_latency_seconds histogram",
        'etl_cassandra_write_latency_seconds_bucket{le="0.01"} 50',
        'etl_cassandra_write_latency_seconds_bucket{le="0.05"} 99',
        'etl_cassandra_write_latency_seconds_bucket{le="0.1"} 100',
        'etl_cassandra_write_latency_seconds_bucket{le="+Inf"} 100',
        "etl_cassandra_write_latency_seconds_sum 1.5", "etl_cassandra_write_latency_seconds_count 100",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


# 2024-03-03 has no run: a gap. The 2nd rejects 4.5% (over 80% of the 5% limit), the 4th fails its gate.
# The 1st was run under larger settings since changed: the thresholds drawn are the last push's.
GROUPS = {
    "2024-03-01": group("2024-03-01", 10_000, 100, 60.0, 1, 1, 9000, limit=0.10, deadline=43200),
    "2024-03-02": group("2024-03-02", 12_000, 540, 80.0, 1, 1, 9600),
    "2024-03-04": group("2024-03-04", 11_000, 110, 70.0, 0, 0, 9300),
}


@pytest.fixture(scope="module")
def dashboard(prometheus):
    from analytics_etl.metrics.push import push

    gateway = (f"http://127.0.0.1:{prometheus.gateway_port}", {"Content-Type": "text/plain"}, 10.0)
    for date, body in GROUPS.items():
        assert push(body, date, gateway)
    deadline = time.monotonic() + 60
    # Scraped, and the rules evaluated: the gate, the failed run, the reject ratio, and the deadline
    # (the dates are long past: an alert without a date label).
    while len(prometheus('ALERTS{alertstate="firing"}')) < 4:
        assert time.monotonic() < deadline, prometheus("ALERTS")
        time.sleep(1)
    patch = pytest.MonkeyPatch()
    patch.setenv("AIRFLOW_CONN_PROMETHEUS_DEFAULT", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": prometheus.port}))  # fmt: skip
    try:
        with serve_routes() as url:
            yield url
    finally:
        patch.undo()


def chart(page, title: str):
    return page.locator(f'svg.chart[aria-label="{title}"]')


def tips(locator) -> list[str]:
    """The tooltip of each element, in order (ui.js turns each SVG `<title>` into `data-tip`)."""
    return locator.evaluate_all("els => els.map(e => e.getAttribute('data-tip'))")


def test_the_dashboard_draws_each_date_from_prometheus_with_thresholds_gaps_and_alerts(dashboard):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with chromium_page(height=2600) as page:
        response = page.goto(f"{dashboard}/monitoring")
        assert response.status == 200, page.content()[:2000]
        page.screenshot(path=str(SCREENSHOTS / "ui_monitoring.png"), full_page=True)
        assert "2024-02-27" in page.locator("p").first.inner_text()  # a week up to the last date

        events = chart(page, "Events per date")
        assert tips(events.locator("circle.point[data-series=read]")) == [
            "2024-03-01 · read: 10,000", "2024-03-02 · read: 12,000", "2024-03-04 · read: 11,000",
        ]  # fmt: skip
        assert tips(events.locator("circle.point[data-series=rejected]"))[1] == "2024-03-02 · rejected: 540"
        # One line for the 1st and 2nd; the 4th stands alone, after the gap of the 3rd.
        assert events.locator("polyline[data-series=read]").count() == 1

        ratio = chart(page, "Reject ratio (error rate)")
        assert tips(ratio.locator("line.reference"))[0] == "etl_max_reject_ratio: 5.0%"
        latency = chart(page, "Cassandra write latency p99")
        assert tips(latency.locator("circle.point")) == [f"{d} · p99: 50 ms" for d in GROUPS]
        assert tips(latency.locator("line.reference"))[0] == "alert: 100 ms: 100 ms"
        fresh = chart(page, "Data freshness (end of the date to its load)")
        assert tips(fresh.locator("circle.point[data-series=page_view_stats]"))[0] == (
            "2024-03-01 · page_view_stats: 2h 31m"  # 9,000 s + 60 s
        )
        assert tips(fresh.locator("line.reference"))[0] == "etl_deadline: 6h 00m"
        outcomes = chart(page, "Validation outcome")
        assert tips(outcomes.locator("rect.outcome.failed")) == ["2024-03-04 · validation outcome: failed"]
        assert outcomes.locator("rect.outcome.passed").count() == 2

        alerts = page.locator("table.alerts tbody tr")
        rows = {
            tuple(alerts.nth(i).locator("td").nth(j).inner_text() for j in (0, 1, 2))
            for i in range(alerts.count())
        }
        assert ("EtlGateFailed", "2024-03-04", "firing") in rows
        assert ("EtlRejectRatioNearLimit", "2024-03-02", "firing") in rows
        assert (
            "EtlRejectRatioNearLimit",
            "2024-03-01",
            "firing",
        ) not in rows  # 1% is under the warning level
        assert "Data quality" in page.locator("table.alerts").inner_text()  # the runbook says where to look


def test_without_a_connection_or_with_prometheus_down_the_page_says_so(dashboard):
    import urllib.error
    import urllib.request

    patch = pytest.MonkeyPatch()
    try:
        patch.delenv("AIRFLOW_CONN_PROMETHEUS_DEFAULT")
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{dashboard}/monitoring", timeout=30)
        assert (
            missing.value.code == 503 and "no prometheus_default connection" in missing.value.read().decode()
        )
        patch.setenv(
            "AIRFLOW_CONN_PROMETHEUS_DEFAULT", '{"conn_type": "http", "host": "127.0.0.1", "port": 9}'
        )
        with pytest.raises(urllib.error.HTTPError) as down:
            urllib.request.urlopen(f"{dashboard}/monitoring", timeout=30)
        assert down.value.code == 503 and "could not be read" in down.value.read().decode()
        with pytest.raises(urllib.error.HTTPError) as bad:
            urllib.request.urlopen(f"{dashboard}/monitoring?days=abc", timeout=30)
        assert bad.value.code == 400
    finally:
        patch.undo()
