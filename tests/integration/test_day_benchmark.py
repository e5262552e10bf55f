"""benchmarks/day.py on a small day: a real DAG run, the DuckDB reference, the JSON figures and the chart.

The figures themselves are not asserted (they depend on the machine); what is: one figure per task
the run had, the Spark driver seen, the reference's counts equal to the etl_runs record read here
independently, and equal to what the generator planted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import REPO, SPARK_CDS_DIR, PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REASONS = ("malformed", "missing_field", "invalid_event_type", "invalid_timestamp", "invalid_value",
           "out_of_window", "duplicate")  # fmt: skip


@pytest.fixture(scope="module")
def benchmark(postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    work = tmp_path_factory.mktemp("bench")
    analytics = postgres.url(postgres.fresh_database("bench_analytics"))
    out = work / "results" / "day.json"
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "day.py"),
         "--events", "2000", "--users", "200", "--progress-week", "2000", "--bad-share", "0.1", "--jobs", "2",
         "--var", "etl_max_reject_ratio=0.5",  # 10% faulty rows: every fault is planted somewhere
         "--var", f"etl_spark_cds_dir={SPARK_CDS_DIR}",  # the session's archive, not one more written
         "--source-dsn", postgres.url(postgres.fresh_database("bench_source")), "--analytics-dsn", analytics,
         "--work-dir", str(work), "--out", str(out)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "ratio platform Spark time / DuckDB time" in done.stdout
    return json.loads(out.read_text()), out, analytics


def test_figures_per_task_and_a_chart(benchmark: tuple[dict, Path, str]) -> None:
    fig, out, _ = benchmark
    tasks = fig["platform"]["tasks"]
    assert len(tasks) >= 5 and len({t["task_id"] for t in tasks}) == len(tasks)
    ran = [t for t in tasks if t["state"] == "success"]
    assert all(t["seconds"] >= 0 and t["start"] <= t["end"] for t in ran)
    assert all(t["peak_rss_mb"]["airflow_process"] > 50 for t in ran if t["samples"])
    spark = [t for t in tasks if t["spark"]]
    assert spark and all(t["peak_rss_mb"]["spark_driver_jvm"] > 100 for t in spark)
    assert fig["platform"]["spark_seconds"] == pytest.approx(sum(t["seconds"] for t in spark), abs=0.05)
    assert fig["platform"]["events_per_second"] > 0
    assert fig["reference"]["seconds"]["total"] > 0 and fig["reference"]["peak_rss_mb"] > 0
    assert fig["checks"]["ok"] and fig["ratio_spark_to_reference"] > 0
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.with_suffix(".log").stat().st_size > 0


def test_reference_counts_equal_the_run_record(
    benchmark: tuple[dict, Path, str], postgres: PostgresServer
) -> None:
    fig, _, analytics = benchmark
    conn = postgres.connect(analytics.rsplit("/", 1)[1])
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT status, rows_read, rows_kept, rows_rejected, rejected_by_reason, orphan_user, rows_written"
            " FROM etl_runs WHERE run_id = %s",
            (fig["platform"]["run"]["run_id"],),
        )
        status, read, kept, rejected, by_reason, orphan, written = cur.fetchone()
    conn.close()
    ref = fig["reference"]
    assert status == "success"
    assert (read, kept, rejected, orphan) == (
        ref["rows_read"],
        ref["rows_kept"],
        ref["rows_rejected"],
        ref["orphan_user"],
    )
    assert {r: by_reason[r] for r in REASONS} == ref["rejected"]
    assert written["daily_user_stats"] == ref["rows"]["daily_user_stats"]
    assert all(f["differences"] == 0 for f in fig["checks"]["files"])
    assert {f["table"] for f in fig["checks"]["files"]} >= {
        "daily_user_stats",
        "page_view_stats",
        "quarantine",
    }


def test_the_reference_finds_what_the_generator_planted(benchmark: tuple[dict, Path, str]) -> None:
    fig, _, _ = benchmark
    planted = fig["day"]["planted"]["events"]
    assert fig["reference"]["rows_read"] == planted["total_rows"] == 2000
    assert fig["reference"]["rejected"] == planted["bad_rows_planted_by_reason"]
    assert fig["reference"]["rows_kept"] == planted["good_rows"]
    assert {"user_id_not_uuid", "page_over_2048_bytes"} <= set(planted["bad_rows_planted_by_variant"])


def test_with_both_roots_in_a_store_the_day_checks_out_and_its_bytes_are_counted(
    postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`--roots store` (issue 24, item 6): the same day through the project's S3 store, its outputs and
    quarantine equal to the reference, the bytes written to the store and to local scratch counted,
    the run's staging and curated objects removed from the store afterwards, and the store it started
    stopped again."""
    from analytics_etl.paths import run_key
    from tests.conftest import free_port

    work = tmp_path_factory.mktemp("bench-store")
    out, port = work / "results" / "day.json", free_port()
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "day.py"),
         "--events", "2000", "--users", "200", "--progress-week", "2000", "--jobs", "2",
         "--var", f"etl_spark_cds_dir={SPARK_CDS_DIR}", "--roots", "store", "--s3-port", str(port),
         "--source-dsn", postgres.url(postgres.fresh_database("bench_store_source")),
         "--analytics-dsn", postgres.url(postgres.fresh_database("bench_store_analytics")),
         "--work-dir", str(work), "--out", str(out)],
        capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    fig = json.loads(out.read_text())
    assert fig["parameters"]["roots"] == "store" and fig["checks"]["ok"]
    assert "s3a://bench/" in out.with_suffix(".log").read_text()  # Spark read and wrote the store
    disk = fig["disk"]
    assert disk["run_bytes_left"]["quarantine"] > 0 and disk["run_bytes_left"]["curated"] > 0
    assert disk["peak_bytes_written"]["data root"] > 0
    assert disk["peak_bytes_written"]["local temporary files"] > 0  # the ingest's scratch stays local
    # The store's own disk writes cover at least what the run left in it (plus what it deleted).
    left = sum(disk["run_bytes_left"].values())
    assert disk["store_bytes_written"] >= left > 0
    data = work / "s3" / "data" / "bench" / "data"
    key = run_key(fig["platform"]["run"]["run_id"])
    assert not [p for p in (data / "staging").rglob("*") if p.is_file()], "the run's staging stayed"
    assert not [p for p in (data / "curated").rglob("*") if p.is_file() and key in str(p)]
    assert f"S3 store on http://127.0.0.1:{port} stopped" in done.stderr + done.stdout
