"""benchmarks/cassandra_load.py without a server: its generated day passes the sink's conversion and
its chart is drawn from its JSON report (tests/integration/test_cassandra_benchmark.py runs it)."""

from __future__ import annotations

import json

import pytest

from analytics_etl.cassandra import settings as cs
from analytics_etl.paths import RunPaths
from benchmarks import cassandra_load as bench

pytestmark = pytest.mark.unit


def test_the_generated_day_is_deterministic_and_what_the_sink_binds(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, bench.DAY, "bench__1")
    bench.write_outputs(paths, 120, lambda i: i % 10 != 0)
    rows = bench._converted_rows(paths, cs.parse_settings(batch_size=50))
    assert {table: len(r) for table, r in rows.items()} == {
        "page_view_stats": 108,
        "user_engagement": 108,
        "learning_progress": 108,
    }
    again = RunPaths.build(tmp_path, tmp_path, bench.DAY, "bench__2")
    bench.write_outputs(again, 120, lambda i: i % 10 != 0)
    assert bench._converted_rows(again, cs.parse_settings()) == rows
    assert len({row[0] for row in rows["user_engagement"]}) == 108  # distinct users


def test_the_chart_is_drawn_from_the_report(tmp_path):
    def figures(rate: float) -> dict:
        return {"rows_per_second": rate, "total_rows": 10, "total_seconds": 10 / rate}

    report = {
        "rows_per_table": 10,
        "rounds": [
            {"raw": figures(3600.0), "sink": figures(3300.0), "rerun": figures(3000.0), "ratio": 0.92}
        ],
    }
    (tmp_path / "r.json").write_text(json.dumps(report))
    bench.draw(report, tmp_path / "r.png")
    assert (tmp_path / "r.png").stat().st_size > 1000
