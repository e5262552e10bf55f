"""benchmarks/cassandra_load.py against the session's real node, on a small day: it keeps running."""

from __future__ import annotations

import json

import pytest

from benchmarks import cassandra_load as bench

pytestmark = [pytest.mark.integration, pytest.mark.cassandra]


def test_a_small_run_against_the_node_reports_both_rates_and_drops_its_keyspaces(tmp_path, cassandra_session):
    out = tmp_path / "bench.json"
    assert bench.main(["--rows", "3000", "--rounds", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    [last] = report["rounds"]
    assert last["raw"]["total_rows"] == last["sink"]["total_rows"] == 9000
    assert last["rerun"]["deleted"] == {
        t: 300 for t in ("page_view_stats", "user_engagement", "learning_progress")
    }
    assert report["ratio"] == last["ratio"] > 0
    assert out.with_suffix(".png").stat().st_size > 1000
    left = [
        r.keyspace_name
        for r in cassandra_session.execute("SELECT keyspace_name FROM system_schema.keyspaces")
    ]
    assert not [k for k in left if k.startswith("bench_")], left
