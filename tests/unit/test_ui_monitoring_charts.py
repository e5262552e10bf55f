"""The monitoring page's panels from given Prometheus answers: a point per date, lines split by a
label, thresholds from a number or from an expression, outcome strips, and every expression asked."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from analytics_etl.ui import monitoring_charts as mc
from analytics_etl.ui.prometheus import Sample

pytestmark = pytest.mark.unit

D1, D2, D4 = "2024-03-01", "2024-03-02", "2024-03-04"


def samples(*pairs, **labels) -> list[Sample]:
    return [Sample({"date": date, **labels}, value) for date, value in pairs]


def answers() -> dict[str, list[Sample]]:
    return {
        "etl_events_read_total": samples((D1, 10_000), (D2, 12_000), (D4, 11_000)),
        mc.freshest("etl_reject_ratio_limit"): [Sample({"date": D2}, 0.05)],
        "etl_data_freshness_seconds": samples((D1, 9000), sink="a")
        + samples((D1, 9060), (D2, 9100), sink="b"),
        "etl_validation_success": samples((D1, 1), (D4, 0)),
        "etl_run_success": [*samples((D1, 1)), Sample({}, 1)],  # a sample without a date is left out
    }


def chart(charts: list[str], title: str) -> str:
    [found] = [c for c in charts if f'aria-label="{title}"' in c]
    return found


def test_every_panel_and_strip_is_drawn_with_a_point_per_date_and_lines_split_by_label():
    charts = mc.draw(answers(), dt.date(2024, 2, 27), dt.date(2024, 3, 4))
    assert len(charts) == len(mc.PANELS) + len(mc.STRIPS)
    events = chart(charts, "Events per date")
    assert events.count('data-series="read"') == 3 + 1  # three dots and the line of the 1st and 2nd
    assert "2024-03-04 · read: 11,000" in events
    fresh = chart(charts, "Data freshness (end of the date to its load)")
    assert sorted(set(re.findall(r'data-series="(\w+)"', fresh))) == ["a", "b"]
    assert "2024-03-01 · b: 2h 31m" in fresh
    validation = chart(charts, "Validation outcome")
    assert validation.count('class="outcome passed"') == 1 and validation.count('class="outcome failed"') == 1
    assert chart(charts, "Run outcome").count('class="outcome passed"') == 1


def test_thresholds_come_from_a_number_or_from_prometheus_and_are_left_out_without_an_answer():
    charts = mc.draw(answers(), dt.date(2024, 2, 27), dt.date(2024, 3, 4))
    assert "etl_max_reject_ratio: 5.0%" in chart(charts, "Reject ratio (error rate)")
    assert "alert: Spark over 5 min: 5m 00s" in chart(charts, "Processing time")
    assert "alert: 100 ms: 100 ms" in chart(charts, "Cassandra write latency p99")
    # etl_deadline_seconds was not answered: no dashed line rather than a made-up one.
    assert 'class="reference"' not in chart(charts, "Data freshness (end of the date to its load)")


def test_the_queries_hold_every_line_threshold_and_strip_once():
    assert len(mc.QUERIES) == len(set(mc.QUERIES))
    assert mc.freshest("etl_reject_ratio_limit") in mc.QUERIES and "etl_run_success" in mc.QUERIES
    assert mc.P99_LATENCY in mc.QUERIES
    assert mc.dates(answers()) == [dt.date(2024, 3, d) for d in (1, 2, 4)]
