"""The local production deployment (`scripts/stack.sh`): up, runs through the REST API, the CLI's
backfill and the browser on the Spark standalone cluster, then down. The tests run in file order on
one deployment: each leaves it as the next expects."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlsplit

import psutil
import psycopg2
import pytest
from aiosmtpd.controller import Controller

from analytics_etl.paths import OUTPUT_TABLES, run_key
from tests.conftest import CassandraKeyspace, free_port
from tests.integration.stack_client import (
    DAG_ID,
    REPO,
    SMALL_DAY,
    TEST_VARIABLES,
    Stack,
    generate,
    logged_in,
)
from tests.integration.test_alerts import Inbox, html
from tests.integration.test_dag_end_to_end import cassandra_contents

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.deployment]

SCREENSHOTS = REPO / ".local" / "screenshots"


@pytest.fixture(scope="module")
def stack():
    stack = Stack.for_tests()
    cfg = stack.cfg
    stack.script("down", timeout=120)  # whatever a killed session left
    shutil.rmtree(cfg.root, ignore_errors=True)
    shutil.rmtree(cfg.pg_data, ignore_errors=True)  # a fresh metadata database for a fresh Fernet key
    assert cfg.cassandra_node() is not None, "the stack must start its own Cassandra node here"
    started = time.monotonic()
    result = stack.script("up", timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    print(f"stack up in {time.monotonic() - started:.0f} s")
    # Short waits for the tests' drops and the session's class archive (the deployment's variables; an
    # operator would set them in the UI).
    for key, value in TEST_VARIABLES.items():
        assert stack.airflow("variables", "set", key, value).returncode == 0
    yield stack
    stack.script("down", timeout=300)


def stack_processes(stack: Stack) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("ETL_STACK_DIR") == stack.env["ETL_STACK_DIR"]:
                found.append(proc)
        except psutil.Error:
            pass
    return found


def pids(stack: Stack) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(stack.cfg.pids.glob("*.pid"))}


def daily_user_stats(conn, day: str) -> list[tuple]:
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT user_id::text, name, email, total_time, lessons_completed, average_score, daily_rank"
            " FROM daily_user_stats WHERE date = %s ORDER BY daily_rank, user_id",
            (day,),
        )
        return cur.fetchall()


def run_records(conn, day: str) -> list[dict]:
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT run_id, status, rows_read, rows_kept, rows_rejected, rejected_by_reason, orphan_user,"
            " rows_written FROM etl_runs WHERE date = %s ORDER BY started_at",
            (day,),
        )
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def counts(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("run_id", "status")}


def stack_cassandra_contents(stack: Stack) -> dict[str, list[tuple]]:
    """The three tables in the stack's own node (keyspace analytics), through a plain driver session."""
    from cassandra.cluster import Cluster

    host, port = stack.cfg.cassandra_address
    cluster = Cluster([host], port=port, protocol_version=5)
    try:
        return cassandra_contents(CassandraKeyspace("analytics", "", cluster.connect()))
    finally:
        cluster.shutdown()


def test_up_starts_everything_on_loopback_and_twice_is_harmless(stack):
    status = stack.script("status")
    assert status.returncode == 0 and "cassandra       answering" in status.stdout, status.stdout
    assert f"s3              answering on {stack.cfg.store().endpoint}" in status.stdout, status.stdout
    node_pid, store_pid = stack.cfg.cassandra_node().pid(), stack.cfg.store().pid()
    assert node_pid and store_pid
    before = pids(stack)
    assert set(before) == {
        "spark-master.pid", "spark-worker-1.pid", "spark-worker-2.pid",
        "api-server.pid", "scheduler.pid", "dag-processor.pid", "triggerer.pid",
        "pushgateway.pid", "alertmanager.pid", "prometheus.pid",
    }  # fmt: skip
    again = stack.script("up", timeout=600)
    assert again.returncode == 0, again.stdout[-3000:]
    assert "already running" in again.stdout and pids(stack) == before
    assert stack.cfg.cassandra_node().pid() == node_pid and stack.cfg.store().pid() == store_pid
    assert stack.api("GET", "/api/v2/connections/aws_default")["conn_type"] == "aws"
    assert not (stack.cfg.root / "settings" / "connections.json").exists()  # it held the store's keys
    listening = []
    for proc in stack_processes(stack):
        try:
            listening += [c.laddr.ip for c in proc.net_connections("inet") if c.status == psutil.CONN_LISTEN]
        except psutil.Error:
            pass
    assert listening and set(listening) <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening
    assert stack.cfg.cassandra_port in {
        c.laddr.port for c in psutil.Process(node_pid).net_connections("inet")
    }
    assert len([a for a in stack.spark_apps() if a["state"] == "RUNNING"]) == 0
    pools = stack.api("GET", "/api/v2/pools/analytics_spark")
    assert pools["slots"] == 1


@pytest.mark.cassandra
def test_a_rest_triggered_day_waits_on_the_triggerer_and_lands_on_the_cluster_like_local_mode(
    stack, deployment, cassandra_keyspace
):
    """Every sink: the stack's PostgreSQL and Cassandra hold what `airflow dags test` in local mode
    writes into the test session's own PostgreSQL and Cassandra from the same files."""
    day = "2024-01-15"
    stack.generate_day(day, complete=False)
    run = stack.api("POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"date": day}})
    deadline = time.monotonic() + 300
    while stack.task_state(run["dag_run_id"], "wait_for_event_drop") != "deferred":
        assert time.monotonic() < deadline, "the drop wait never deferred to the triggerer"
        time.sleep(2)
    (stack.cfg.drop_dir / "user_events" / day / "_SUCCESS").write_text("")
    assert stack.wait_run(run["dag_run_id"]) == "success", stack.task_log(run["dag_run_id"], "daily_outputs")

    apps = [a for a in stack.spark_apps() if day in a["name"]]
    assert [a["state"] for a in apps] == ["FINISHED"], apps
    on_cluster = stack.analytics()
    [record] = run_records(on_cluster, day)
    rows = daily_user_stats(on_cluster, day)
    on_cluster.close()
    assert record["status"] == "success" and record["rows_read"] > 0 and len(rows) > 0
    in_stack = stack_cassandra_contents(stack)
    assert all(in_stack.values()), {t: len(r) for t, r in in_stack.items()}
    assert {t: len(r) for t, r in in_stack.items()} == {
        t: n for t, n in record["rows_written"]["cassandra"].items() if not t.endswith("_deleted")
    }

    # The same day, the same files, through `airflow dags test` in local mode: the same rows.
    generate(day, deployment.postgres.url(deployment.source_db), deployment.drop_dir)
    deployment.variables["etl_max_reject_ratio"] = "0.05"
    deployment.cassandra_url = cassandra_keyspace.url
    local = deployment.trigger({"date": day})
    assert local.returncode == 0, local.stdout[-4000:]
    conn = deployment.analytics()
    assert daily_user_stats(conn, day) == rows
    assert counts(run_records(conn, day)[0]) == counts(record)
    conn.close()
    assert cassandra_contents(cassandra_keyspace) == in_stack


@pytest.mark.cassandra
def test_with_both_roots_in_the_store_a_day_put_into_the_bucket_lands_on_the_cluster_alike(stack):
    """Issue 24: `ETL_STACK_ROOTS=store up` moves both roots into the stack's bucket; the same day put
    there by an S3 client lands on the Spark cluster with the very rows the local roots gave (the
    previous test's run), its files are in the bucket and none on the local disk, and the store's
    secret is in no task log. The roots go back to local disk for the next tests, as an operator would
    in the UI."""
    import boto3

    day = "2024-01-15"
    conn = stack.analytics()
    rows_before, [record_before] = daily_user_stats(conn, day), run_records(conn, day)
    conn.close()
    cassandra_before = stack_cassandra_contents(stack)
    bucket = urlsplit(dataclasses.replace(stack.cfg, roots_on_store=True).roots["etl_data_dir"]).netloc
    moved = subprocess.run([str(REPO / "scripts" / "stack.sh"), "up"], env={**stack.env, "ETL_STACK_ROOTS": "store"},
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert moved.returncode == 0, moved.stdout[-3000:] + moved.stderr[-3000:]
    assert "drops / data    s3://etl/drops  /  s3://etl/data" in moved.stdout
    try:
        put = stack.script("generate-day", "--date", day, *(f"--{k}={v}" for k, v in SMALL_DAY.items()))
        assert put.returncode == 0, put.stderr[-3000:]
        store = stack.cfg.store()
        creds = store.credentials()
        s3 = boto3.client("s3", endpoint_url=store.endpoint, aws_access_key_id=creds.access_key,
                          aws_secret_access_key=creds.secret_key, region_name="us-east-1")  # fmt: skip

        def keys(prefix: str) -> list[str]:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            return [o["Key"] for page in pages for o in page.get("Contents", [])]

        assert f"drops/user_events/{day}/_SUCCESS" in keys("drops/")
        run = stack.api(
            "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"date": day}}
        )
        run_id = run["dag_run_id"]
        assert stack.wait_run(run_id) == "success", stack.task_log(run_id, "daily_outputs")
        apps = [a for a in stack.spark_apps() if day in a["name"]]
        assert [a["state"] for a in apps] == ["FINISHED", "FINISHED"], apps  # the local run's and this one

        conn = stack.analytics()
        assert daily_user_stats(conn, day) == rows_before
        [*_, record] = run_records(conn, day)
        conn.close()
        assert record["run_id"] == run_id and counts(record) == counts(record_before)
        assert stack_cassandra_contents(stack) == cassandra_before
        # The run's files are in the bucket, keyed by its run, and nothing of it on the local disk.
        key = run_key(run_id)
        written = keys("data/")
        for table in OUTPUT_TABLES:
            assert any(k.startswith(f"data/curated/{table}/date={day}/run={key}/") for k in written), table
        assert any(k.startswith(f"data/quarantine/user_events/date={day}/") for k in written)
        assert not [p for p in stack.cfg.data_dir.rglob(f"*{key}*")]
        logs = "".join(
            stack.task_log(run_id, task) for task in ("extract_source", "daily_outputs", "validate_outputs")
        )
        assert "s3a://etl/" in logs and creds.secret_key not in logs
    finally:
        for name, value in stack.cfg.roots.items():  # local again (a new StackConfig: ETL_STACK_ROOTS unset)
            assert stack.airflow("variables", "set", name, value).returncode == 0


def test_a_backfill_processes_each_day_once_and_spark_jobs_queue_in_the_pool(stack):
    days = ["2024-01-16", "2024-01-17"]
    for day in days:
        stack.generate_day(day)
    created = stack.airflow(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", days[0], "--to-date", days[-1]
    )
    assert created.returncode == 0, created.stdout[-3000:] + created.stderr[-3000:]
    deadline = time.monotonic() + 900
    while True:
        runs = stack.dag_runs(run_type="backfill")
        if len(runs) == len(days) and all(r["state"] in ("success", "failed") for r in runs):
            break
        assert time.monotonic() < deadline, runs
        time.sleep(5)
    # Each run is the partition of its day: the key, the run id and the run page say which.
    assert sorted(r["partition_key"] for r in runs) == days
    assert all(r["dag_run_id"].startswith(f"backfill__{r['partition_key']}__") for r in runs), runs
    assert {r["state"] for r in runs} == {"success"}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in(stack) as page:  # the key on its own, not only inside the run id
        page.goto(f"{stack.cfg.api_url}/dags/{DAG_ID}/runs/{runs[0]['dag_run_id']}")
        page.get_by_text(runs[0]["partition_key"], exact=True).first.wait_for(timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "backfill_run_partition_key.png"))
    [backfill] = stack.wait_backfills_completed()  # the backfill itself ends, not only its runs
    assert backfill["from_date"][:10] == days[0] and backfill["to_date"][:10] == days[-1]
    conn = stack.analytics()
    for day in days:
        [record] = run_records(conn, day)  # exactly one run of each day
        assert record["status"] == "success" and len(daily_user_stats(conn, day)) > 0
    conn.close()
    # One slot in the Spark pool: the applications ran one after another, never side by side.
    apps = sorted((a["starttime"], a["starttime"] + a["duration"]) for a in stack.spark_apps() if
                  any(d in a["name"] for d in days))  # fmt: skip
    assert len(apps) == len(days)
    assert all(end <= next_start for (_, end), (next_start, _) in zip(apps, apps[1:], strict=False)), apps


def test_a_backfill_whose_conf_names_another_day_fails_naming_both(stack):
    conn = stack.analytics()
    before = run_records(conn, "2024-01-17")
    created = stack.airflow(
        "backfill", "create", "--dag-id", DAG_ID, "--from-date", "2024-01-20", "--to-date", "2024-01-20",
        "--dag-run-conf", json.dumps({"date": "2024-01-17"}),
    )  # fmt: skip
    assert created.returncode == 0, created.stdout[-3000:]
    deadline = time.monotonic() + 300
    while not (runs := [r for r in stack.dag_runs(run_type="backfill") if r["partition_key"] == "2024-01-20"]) \
            or runs[0]["state"] not in ("success", "failed"):  # fmt: skip
        assert time.monotonic() < deadline, runs
        time.sleep(3)
    [run] = runs
    assert run["state"] == "failed"
    assert stack.task_state(run["dag_run_id"], "resolve_run") == "failed"
    log = stack.task_log(run["dag_run_id"], "resolve_run")
    assert "2024-01-17" in log and "2024-01-20" in log
    assert run_records(conn, "2024-01-17") == before and run_records(conn, "2024-01-20") == []
    conn.close()


def test_in_a_browser_the_trigger_form_has_a_date_picker_and_the_run_lands(stack):
    day = "2024-01-19"
    stack.generate_day(day)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with logged_in(stack) as page:
        page.goto(f"{stack.cfg.api_url}/dags/{DAG_ID}")
        page.get_by_role("button", name="Trigger Dag").click()
        dialog = page.get_by_role("dialog")
        picker = dialog.locator("input[name=element_date]")
        picker.wait_for(timeout=30_000)
        assert picker.get_attribute("type") == "date"  # the browser's own date picker
        picker.fill(day)
        page.screenshot(path=str(SCREENSHOTS / "trigger_form_date_picker.png"))
        with page.expect_response(
            lambda r: r.request.method == "POST" and r.url.endswith(f"/dags/{DAG_ID}/dagRuns"),
            timeout=120_000,
        ) as posted:
            dialog.get_by_role("button", name="Trigger").click()
        assert posted.value.status == 200, posted.value.text()
        run = stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{posted.value.json()['dag_run_id']}")
        assert run["conf"] == {"date": day}
        assert stack.wait_run(run["dag_run_id"]) == "success"
        page.goto(f"{stack.cfg.api_url}/dags/{DAG_ID}/runs/{run['dag_run_id']}")
        page.get_by_text("success").first.wait_for(timeout=30_000)
        page.screenshot(path=str(SCREENSHOTS / "run_succeeded.png"))
    conn = stack.analytics()
    assert [r["status"] for r in run_records(conn, day)] == ["success"]
    conn.close()


def test_a_gate_failing_day_fires_in_alertmanager_and_is_mailed_once(stack):
    """Issue 23: the run's metrics reach Prometheus, whose rule fires in Alertmanager (its API shows
    the alert), and the failure is mailed once, by Airflow: Alertmanager's route sends it nowhere."""
    day = "2024-02-05"
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        smtp = {"conn_type": "smtp", "host": "127.0.0.1", "port": controller.port,
                "extra": {"from_email": "etl@example.com", "disable_ssl": True, "disable_tls": True}}  # fmt: skip
        stack.airflow("connections", "delete", "smtp_default")
        assert (
            stack.airflow("connections", "add", "smtp_default", "--conn-json", json.dumps(smtp)).returncode
            == 0
        )
        assert stack.airflow("variables", "set", "etl_alert_to", "oncall@example.com").returncode == 0
        again = stack.script("up", timeout=600)  # Alertmanager takes smtp_default and etl_alert_to
        assert f"alertmanager: mails oncall@example.com through 127.0.0.1:{controller.port}" in again.stdout
        stack.generate_day(day)
        source = psycopg2.connect(stack.cfg.pg_url("source"))
        with source, source.cursor() as cur:  # a score the gate refuses
            cur.execute("UPDATE progress SET score = 250 WHERE id = (SELECT min(id) FROM progress"
                        " WHERE date = %s AND user_id IN (SELECT id FROM users))", (day,))  # fmt: skip
        source.close()
        run = stack.api(
            "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"date": day}}
        )
        assert stack.wait_run(run["dag_run_id"]) == "failed"
        alert = wait_for_alert(stack, "EtlGateFailed", day)
        # Prometheus has the run's figures and scrapes Spark's own metrics from the master and workers.
        assert prometheus(stack, f'etl_validation_success{{date="{day}"}}') == [0.0]
        assert prometheus(stack, 'up{job=~"pushgateway|spark-master|spark-worker"}') == [1.0] * 4
        assert prometheus(stack, "metrics_master_aliveWorkers_Value") == [float(stack.cfg.spark_workers)]
        assert [r["name"] for r in alert["receivers"]] == ["mailed-by-airflow"]
        assert alert["labels"]["mailed_by"] == "airflow" and alert["annotations"]["runbook"]
        inbox.wait_for(1, timeout=120)  # Airflow's mail, from the dag-processor
        time.sleep(40)  # Alertmanager's group_wait (30 s) has passed for the date's alerts
        about_day = [m for m in inbox.messages if day in m["Subject"] + m.get_body().get_content()]
        assert len(about_day) == 1, [
            m["Subject"] for m in inbox.messages
        ]  # docs/alerts.md: one per failed run
        assert "validate_outputs" in about_day[0].get_body().get_content()
        # The plugin's monitoring page (issue 23, item 4) reads the same Prometheus: the date and its alert.
        with logged_in(stack) as page:
            page.goto(f"{stack.cfg.api_url}/analytics-etl/monitoring?end={day}&days=30")
            row = page.locator("table.alerts tr", has_text="EtlGateFailed").filter(has_text=day)
            row.first.wait_for(timeout=30_000)
            failed = page.locator('svg.chart[aria-label="Validation outcome"] rect.outcome.failed')
            assert failed.count() >= 1, page.locator("svg.chart").all_inner_texts()[-1]
            assert day in failed.first.get_attribute("data-tip")  # ui.js turns each <title> into data-tip
            page.screenshot(path=str(SCREENSHOTS / "stack_monitoring.png"), full_page=True)
    finally:
        controller.stop()


def prometheus(stack: Stack, expr: str) -> list[float]:
    url = f"{stack.cfg.monitoring_url('prometheus')}/api/v1/query?query={quote(expr)}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return sorted(float(r["value"][1]) for r in json.load(response)["data"]["result"])


def wait_for_alert(stack: Stack, name: str, day: str, timeout: float = 180) -> dict:
    url = f"{stack.cfg.monitoring_url('alertmanager')}/api/v2/alerts?filter=" + quote(f'alertname="{name}"')
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(url, timeout=10) as response:
            found = [a for a in json.load(response) if a["labels"].get("date") == day]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"{name} for {day} never reached Alertmanager"
        time.sleep(3)


def test_a_run_marked_failed_by_hand_is_recorded_failed_and_mailed_once(stack):
    """The UI's "Mark as failed" is the REST API's PATCH: no failure callback runs then, so the
    plugin's listener ends the run's record and sends the one mail (issue 22, item 3)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    smtp = {"conn_type": "smtp", "host": "127.0.0.1", "port": controller.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "from_email": "etl@example.com"}}  # fmt: skip
    stack.airflow("connections", "delete", "smtp_default")  # the one an earlier test set, if any
    assert (
        stack.airflow("connections", "add", "smtp_default", "--conn-json", json.dumps(smtp)).returncode == 0
    )
    assert stack.airflow("variables", "set", "etl_alert_to", "oncall@example.com").returncode == 0
    try:
        day = "2024-01-21"
        stack.generate_day(day, complete=False)  # the run waits for a drop that never completes
        run_id = stack.api(
            "POST", f"/api/v2/dags/{DAG_ID}/dagRuns", {"logical_date": None, "conf": {"date": day}}
        )["dag_run_id"]
        deadline = time.monotonic() + 300
        while stack.task_state(run_id, "wait_for_event_drop") != "deferred":
            assert time.monotonic() < deadline, "the drop wait never deferred"
            time.sleep(2)
        conn = stack.analytics()
        assert [r["status"] for r in run_records(conn, day)] == ["running"]

        patched = stack.api("PATCH", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", {"state": "failed"})

        assert patched["state"] == "failed"
        inbox.wait_for(1, timeout=60)
        time.sleep(10)  # a second mail, if one were sent, would be in by now
        assert len(inbox.messages) == 1, [m["Subject"] for m in inbox.messages]
        [message] = inbox.messages
        assert day in message["Subject"] and run_id in message["Subject"]
        assert "marked failed by hand" in html(message)
        [record] = run_records(conn, day)
        assert record["status"] == "failed"
        with conn, conn.cursor() as cur:
            cur.execute("SELECT error, ended_at IS NOT NULL FROM etl_runs WHERE run_id = %s", (run_id,))
            [(error, ended)] = cur.fetchall()
        conn.close()
        assert "marked failed by hand" in error and ended
    finally:
        stack.airflow("connections", "delete", "smtp_default")
        stack.airflow("variables", "delete", "etl_alert_to")
        controller.stop()


def test_down_stops_everything_up_started(stack):
    assert stack_processes(stack)
    result = stack.script("down", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert stack_processes(stack) == []
    assert stack.script("status").returncode == 3
    assert not Path(stack.cfg.pg_data / "postmaster.pid").exists()  # up had started it: down stops it
