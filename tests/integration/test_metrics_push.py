"""A real run's metrics in a real Pushgateway, read back from a real Prometheus (Debian's binaries,
started by this module on free ports of 127.0.0.1 and stopped by their pids), equal to its `etl_runs`
record; a gate-failing run replaces the date's group; an unreachable gateway, or none at all, leaves
the run alone; the push prunes the gateway's old groups."""

from __future__ import annotations

import json
import logging
import time
import urllib.request

import pytest

from tests.conftest import free_port
from tests.integration import dataset as ds
from tests.integration.test_dag_end_to_end import assert_succeeded, loaded, runs  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
DATE = ds.D.isoformat()


def scraped(query, run_id: str, timeout: float = 60) -> None:
    """Wait until Prometheus has scraped the group of `run_id`."""
    deadline = time.monotonic() + timeout
    while not query(f'etl_run_info{{date="{DATE}",run_id="{run_id}"}}'):
        assert time.monotonic() < deadline, f"{run_id} never reached Prometheus"
        time.sleep(1)


def one(query, expr: str) -> float:
    [value] = query(f'{expr}{{job="daily_analytics_etl",date="{DATE}"}}').values()
    return value


def by(query, metric: str, label: str) -> dict[str, float]:
    got = query(f'{metric}{{job="daily_analytics_etl",date="{DATE}"}}')
    return {dict(k)[label]: v for k, v in got.items()}


@pytest.mark.cassandra
def test_a_runs_metrics_reach_prometheus_equal_to_its_record(loaded, cassandra_keyspace, prometheus):  # noqa: F811
    loaded.cassandra_url = cassandra_keyspace.url
    # 1. The gateway down (nothing listens on the port): a warning, and the run succeeds.
    loaded.connections["prometheus_pushgateway"] = json.dumps({"conn_type": "http", "host": "127.0.0.1",
                                                               "port": free_port()})  # fmt: skip
    result = loaded.trigger({"date": DATE})
    assert_succeeded(result)
    assert "could not push the metrics of 2024-01-17" in result.stdout + result.stderr

    # 2. The gateway up: every figure of the record, read back from Prometheus; the push then prunes.
    loaded.connections["prometheus_pushgateway"] = f"http://127.0.0.1:{prometheus.gateway_port}"
    result = loaded.trigger({"date": DATE})
    assert_succeeded(result)
    assert (
        "groups of daily_analytics_etl pushed more than 90 days ago, deleted: "
        in result.stdout + result.stderr
    )
    record = runs(loaded)[-1]
    scraped(prometheus, record["run_id"])
    assert one(prometheus, "etl_run_success") == 1
    assert one(prometheus, "etl_events_read_total") == record["rows_read"]
    assert one(prometheus, "etl_events_kept_total") == record["rows_kept"]
    assert one(prometheus, "etl_orphan_events_total") == record["orphan_user"]
    assert one(prometheus, "etl_reject_ratio") == pytest.approx(record["rows_rejected"] / record["rows_read"])
    rejected = by(prometheus, "etl_events_rejected_total", "reason")
    assert {k: v for k, v in rejected.items() if v} == record["rejected_by_reason"]
    written = record["rows_written"]
    expected = {"daily_user_stats": written["daily_user_stats"]} | {
        t: n for t, n in written["cassandra"].items() if not t.endswith("_deleted")
    }
    assert by(prometheus, "etl_rows_written_total", "sink") == expected
    assert one(prometheus, "etl_validation_success") == 1
    assert (
        one(prometheus, "etl_expectations_failed") == 0 and one(prometheus, "etl_expectations_evaluated") > 0
    )
    ended = record["ended_at"].timestamp()
    assert one(prometheus, "etl_run_end_timestamp_seconds") == pytest.approx(ended, abs=1e-3)
    assert one(prometheus, "etl_last_success_timestamp_seconds") == pytest.approx(ended, abs=1e-3)
    assert set(by(prometheus, "etl_sink_last_load_timestamp_seconds", "sink")) == set(expected)
    tasks = by(prometheus, "etl_task_duration_seconds", "task")
    assert {"resolve_run", "daily_outputs", "validate_outputs", "load_cassandra", "load_postgres"} <= set(
        tasks
    )
    assert 0 < one(prometheus, "etl_spark_application_duration_seconds") <= tasks["daily_outputs"]
    assert one(prometheus, "etl_events_per_second") > 0
    assert one(prometheus, "etl_spark_failed_applications_total") == 0
    writes = one(prometheus, "etl_cassandra_write_latency_seconds_count")
    assert writes >= sum(written["cassandra"].values())  # every row's upsert, timed
    [p99] = prometheus(
        f'histogram_quantile(0.99, etl_cassandra_write_latency_seconds_bucket{{date="{DATE}"}})'
    ).values()
    assert 0 < p99 < 5
    print(f"Cassandra writes {writes:.0f}, p99 {p99 * 1000:.1f} ms; tasks {tasks}")

    # 3. The gate fails: the date's group says so, and still names the earlier successful load.
    conn = loaded.source()
    ds.load_source(conn, [*ds.PROGRESS, (ds.U2, "math", ds.D, 10, "250.00")])
    conn.close()
    assert loaded.trigger({"date": DATE}).returncode != 0
    failed = runs(loaded)[-1]
    scraped(prometheus, failed["run_id"])
    assert one(prometheus, "etl_run_success") == 0 and one(prometheus, "etl_validation_success") == 0
    assert one(prometheus, "etl_expectations_failed") >= 1
    assert one(prometheus, "etl_last_success_timestamp_seconds") == pytest.approx(ended, abs=1e-3)
    assert not prometheus(f'etl_cassandra_write_latency_seconds_count{{date="{DATE}"}}')  # PUT replaced it
    assert not prometheus(f'etl_rows_written_total{{date="{DATE}"}}')


def test_without_the_connection_the_run_logs_its_figures_and_is_unaffected(loaded):  # noqa: F811
    """The absent path for real: publish_run_metrics would turn any exception into a warning, so the
    log must show the figures themselves, and neither that warning nor a push."""
    assert "prometheus_pushgateway" not in loaded.connections
    result = loaded.trigger({"date": DATE})
    assert_succeeded(result)
    out = result.stdout + result.stderr
    assert "no prometheus_pushgateway connection: metrics not pushed; they were:" in out
    assert "\netl_run_success 1\n" in out and "\netl_events_read_total 16\n" in out  # the figures
    assert "the run's metrics were not published" not in out
    assert " pushed to " not in out and "deleted: " not in out


def groups(base: str) -> dict[tuple[str, str], float]:
    """(job, date) -> push time of every group the gateway holds (its /api/v1/metrics)."""
    with urllib.request.urlopen(f"{base}/api/v1/metrics", timeout=10) as response:
        listed = json.load(response)["data"]
    return {(g["labels"]["job"], g["labels"].get("date", "")): float(g["push_time_seconds"]["metrics"][0]["value"])
            for g in listed if "push_time_seconds" in g}  # fmt: skip


def delete(base: str, job: str, date: str) -> None:
    from analytics_etl.metrics.push import group_url

    urllib.request.urlopen(
        urllib.request.Request(group_url(base, date, job=job), method="DELETE"), timeout=10
    ).close()
    deadline = time.monotonic() + 30  # the gateway applies a DELETE after answering it
    while (job, date) in groups(base):
        assert time.monotonic() < deadline, (job, date)
        time.sleep(0.1)


def test_the_push_prunes_the_jobs_groups_older_than_the_setting(prometheus, caplog):
    """Groups pushed to the real gateway, the clock moved 35 days past them: the old groups of the
    job go, except the newest date with a successful run; a recent one and another job's stay."""
    from analytics_etl.metrics.push import JOB, group_url, prune, push

    base = f"http://127.0.0.1:{prometheus.gateway_port}"
    target = (base, {"Content-Type": "text/plain"}, 10.0)
    # The module's earlier runs left their groups: this test's gateway holds its own only.
    for job, date in groups(base):
        delete(base, job, date)
    success = "# TYPE etl_last_success_timestamp_seconds gauge\netl_last_success_timestamp_seconds 1\n"
    failed = "# TYPE etl_run_success gauge\netl_run_success 0\n"
    old = {"2023-11-01": success, "2023-11-02": success, "2023-11-03": failed}
    for date, body in old.items():
        assert push(body, date, target)
    other = urllib.request.Request(group_url(base, "2023-11-01", job="another_job"), data=failed.encode(),
                                   method="PUT")  # fmt: skip
    urllib.request.urlopen(other, timeout=10).close()
    time.sleep(1.5)  # the push times are the gateway's clock, in seconds with fractions
    assert push(failed, "2023-10-15", target)  # a rerun of an older date, pushed last
    pushed = groups(base)
    now = (max(pushed[JOB, d] for d in old) + pushed[JOB, "2023-10-15"]) / 2 + 35 * 86400
    try:
        assert prune(target, 35, now) == ["2023-11-01", "2023-11-03"]
        deadline = time.monotonic() + 30  # applied after the answer, as `delete` waits for
        while {(JOB, "2023-11-01"), (JOB, "2023-11-03")} & set(groups(base)):
            assert time.monotonic() < deadline, groups(base)
            time.sleep(0.2)
        assert {(JOB, "2023-11-02"), (JOB, "2023-10-15"), ("another_job", "2023-11-01")} <= set(groups(base))

        # The gateway down, or refusing: a warning, nothing deleted, nothing raised.
        with caplog.at_level(logging.WARNING):
            assert prune((f"http://127.0.0.1:{free_port()}", {}, 5.0), 35, now) == []
            assert prune((f"{base}/not-the-gateway", {}, 5.0), 35, now) == []
        assert "could not prune the Pushgateway at http://127.0.0.1:" in caplog.text
        assert f"the Pushgateway at {base}/not-the-gateway refused the pruning (HTTP 404" in caplog.text
    finally:
        for job, date in groups(base):
            delete(base, job, date)
