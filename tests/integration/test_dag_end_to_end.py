"""The whole DAG through `airflow dags test`: real PostgreSQL, real spark-submit, real GX, exact rows."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time

import psycopg2
import pyarrow.dataset as pads
import pytest

from analytics_etl.paths import run_key
from tests.integration import dataset as ds

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DATE = ds.D.isoformat()


def daily_user_stats(deployment, day: str = DATE) -> list[tuple]:
    conn = deployment.analytics()
    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT user_id::text, name, email, total_time, lessons_completed, average_score, daily_rank"
            " FROM daily_user_stats WHERE date = %s ORDER BY daily_rank, user_id",
            (day,),
        )
        rows = cur.fetchall()
    conn.close()
    return rows


def runs(deployment) -> list[dict]:
    conn = deployment.analytics()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT * FROM etl_runs ORDER BY started_at")
        names = [c.name for c in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    conn.close()
    return rows


def curated(deployment, table: str) -> list[dict]:
    """The rows of the latest run's output of `table` (on the store: read with the test's own client)."""
    if isinstance(deployment.data_dir, StoreRoot):
        return deployment.data_dir.latest_run_rows(f"curated/{table}/date={DATE}")
    base = deployment.data_dir / "curated" / table / f"date={DATE}"
    [run_dir] = sorted(base.glob("run=*"), key=lambda p: p.stat().st_mtime)[-1:]
    return pads.dataset(str(run_dir), format="parquet").to_table().to_pylist()


class StoreRoot(str):
    """A root `s3://bucket/prefix` on the session's S3 store (its text is the variable's value), read
    back with the test's own boto3 client, never with the platform's code."""

    def __new__(cls, server, prefix: str) -> StoreRoot:
        root = super().__new__(cls, f"s3://{server.bucket}/{prefix}")
        root.server, root.prefix = server, prefix
        return root

    def key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}".rstrip("/")

    def put(self, relative: str, body: bytes) -> None:
        self.server.client().put_object(Bucket=self.server.bucket, Key=self.key(relative), Body=body)

    def read(self, relative: str) -> bytes:
        return (
            self.server.client().get_object(Bucket=self.server.bucket, Key=self.key(relative))["Body"].read()
        )

    def keys(self, relative: str) -> list[str]:
        """The objects under `relative/`, relative to it (no folder markers)."""
        base = self.key(relative) + "/"
        return [k.removeprefix(base) for k in self.server.keys(base)]

    def latest_run_rows(self, relative: str) -> list[dict]:
        """The rows of the Parquet parts of the `run=*` prefix under `relative` written last."""
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        pages = self.server.client().get_paginator("list_objects_v2")
        objects = [o for page in pages.paginate(Bucket=self.server.bucket, Prefix=self.key(relative) + "/")
                   for o in page.get("Contents", [])]  # fmt: skip
        latest = max(objects, key=lambda o: o["LastModified"])["Key"].removeprefix(self.key(relative) + "/")
        run = latest.split("/")[0]
        parts = [k for k in self.keys(f"{relative}/{run}") if not k.startswith(("_", "."))]
        tables = [pq.read_table(io.BytesIO(self.read(f"{relative}/{run}/{k}"))) for k in parts]
        return pa.concat_tables(tables).to_pylist() if tables else []


def asset_events(deployment, run_id: str, *, keys: bool = False) -> list[tuple]:
    """(Asset name, extra) of the events a DAG run emitted, from the Airflow metadata database; with
    `keys`, (Asset name, partition key)."""
    db = sqlite3.connect(deployment.home / "airflow.db")
    rows = db.execute(
        "SELECT a.name, e.extra, e.partition_key FROM asset_event e JOIN asset a ON a.id = e.asset_id"
        " WHERE e.source_dag_id = 'daily_analytics_etl' AND e.source_run_id = ? ORDER BY a.name",
        (run_id,),
    ).fetchall()
    db.close()
    return [(name, key if keys else json.loads(extra)) for name, extra, key in rows]


def assert_succeeded(result) -> None:
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-6000:]


@pytest.fixture
def loaded(deployment):
    conn = deployment.source()
    ds.load_source(conn)
    conn.close()
    ds.write_drop(deployment.drop_dir)
    # The hand-made drop plants one row of every reason: 7 of 16 rejected.
    deployment.variables["etl_max_reject_ratio"] = "0.5"
    return deployment


def assert_exact_outputs(loaded) -> None:
    assert daily_user_stats(loaded) == ds.EXPECTED_DAILY_USER_STATS

    page_views = sorted(
        (r["date"], r["hour"], r["page"], r["view_count"]) for r in curated(loaded, "page_view_stats")
    )
    assert page_views == ds.EXPECTED_PAGE_VIEW_STATS
    engagement = sorted(
        (r["user_id"], r["date"], r["total_events"], r["unique_pages"], r["session_count"],
         r["total_time_minutes"], r["engagement_score"])
        for r in curated(loaded, "user_engagement")
    )  # fmt: skip
    assert [e[:6] for e in engagement] == [e[:6] for e in ds.EXPECTED_USER_ENGAGEMENT]
    assert all(math.isclose(a[6], b[6]) for a, b in zip(engagement, ds.EXPECTED_USER_ENGAGEMENT, strict=True))
    progress = sorted(
        (r["user_id"], r["subject"], r["week_start"], r["lessons_completed"], r["time_spent_minutes"],
         r["average_score"])
        for r in curated(loaded, "learning_progress")
    )  # fmt: skip
    assert [p[:5] for p in progress] == [p[:5] for p in ds.EXPECTED_LEARNING_PROGRESS]
    for got, want in zip(progress, ds.EXPECTED_LEARNING_PROGRESS, strict=True):
        assert (got[5] is None and want[5] is None) or math.isclose(got[5], want[5])


CASSANDRA_COLUMNS = {
    "page_view_stats": "date, hour, page, view_count",
    "user_engagement": "user_id, date, total_events, unique_pages, session_count, total_time_minutes,"
    " engagement_score",
    "learning_progress": "user_id, subject, week_start, lessons_completed, time_spent_minutes, average_score",
}


def cassandra_contents(keyspace) -> dict[str, list[tuple]]:
    """Every row of the three Cassandra tables, as the dataset's expected tuples (ids as text, dates
    as `datetime.date`, doubles rounded to 9 places)."""

    def plain(value):
        if isinstance(value, float):
            return round(value, 9)
        if type(value).__name__ == "Date":  # cassandra.util.Date
            return value.date()
        return str(value) if type(value).__name__ == "UUID" else value

    return {
        table: sorted(tuple(plain(v) for v in row) for row in keyspace.rows(table, cols))
        for table, cols in CASSANDRA_COLUMNS.items()
    }


EXPECTED_CASSANDRA = {
    "page_view_stats": ds.EXPECTED_PAGE_VIEW_STATS,
    "user_engagement": [(*r[:6], round(r[6], 9)) for r in ds.EXPECTED_USER_ENGAGEMENT],
    "learning_progress": [
        (*r[:5], None if r[5] is None else round(r[5], 9)) for r in ds.EXPECTED_LEARNING_PROGRESS
    ],
}
CASSANDRA_WRITTEN = {table: len(rows) for table, rows in EXPECTED_CASSANDRA.items()}


@pytest.mark.cassandra
def test_a_day_lands_exactly_reruns_identically_and_a_failed_gate_keeps_it(loaded, cassandra_keyspace):
    """One deployment through three runs of D (each full DAG run costs ~1 min here), every sink
    checked: PostgreSQL and the three Cassandra tables of the session's real node."""
    loaded.cassandra_url = cassandra_keyspace.url
    # 1. The day lands, row for row, in every sink.
    assert_succeeded(loaded.trigger({"date": DATE}))
    assert_exact_outputs(loaded)
    assert cassandra_contents(cassandra_keyspace) == EXPECTED_CASSANDRA
    [record] = runs(loaded)
    assert record["status"] == "success" and record["date"] == ds.D
    assert record["rows_read"] == ds.EXPECTED_REPORT["rows_read"]
    assert record["rows_kept"] == ds.EXPECTED_REPORT["rows_kept"]
    assert record["rows_rejected"] == ds.EXPECTED_REPORT["rows_rejected"]
    assert record["rejected_by_reason"] == ds.EXPECTED_REPORT["rejected"]
    assert record["orphan_user"] == 1
    written = record["rows_written"]
    assert written["daily_user_stats"] == 3 and set(written) == {"daily_user_stats", "cassandra"}
    assert {k: v for k, v in written["cassandra"].items() if not k.endswith("_deleted")} == CASSANDRA_WRITTEN
    assert not any(v for k, v in written["cassandra"].items() if k.endswith("_deleted")), written
    assert record["validation_success"] is True
    assert record["cassandra_status"] == "loaded"
    assert record["ended_at"] > record["started_at"]
    quarantine = loaded.data_dir / "quarantine" / "user_events" / f"date={DATE}"
    rejected = [json.loads(line) for f in quarantine.glob("*.json") for line in f.read_text().splitlines()]
    assert sorted(r["reason"] for r in rejected) == sorted(ds.EXPECTED_REPORT["rejected"])
    # Each load's Asset events name the day.
    events = asset_events(loaded, record["run_id"])
    assert ("analytics.daily_user_stats", {"date": DATE, "run_id": record["run_id"], "rows": 3}) in events
    assert len(events) == 4 and all(extra["date"] == DATE for _, extra in events), events
    # ... and are keyed by it: a consumer with PartitionedAssetTimetable runs once per day.
    assert {key for _, key in asset_events(loaded, record["run_id"], keys=True)} == {DATE}

    # 2. The same day again: exactly the same rows, a second run record.
    assert_succeeded(loaded.trigger({"date": DATE}))
    assert_exact_outputs(loaded)
    assert cassandra_contents(cassandra_keyspace) == EXPECTED_CASSANDRA
    assert [r["status"] for r in runs(loaded)] == ["success", "success"]
    before = daily_user_stats(loaded)

    # 3. A score of 250 arrives in the source: the gate fails, nothing is loaded, D is untouched.
    conn = loaded.source()
    ds.load_source(conn, [*ds.PROGRESS, (ds.U2, "math", ds.D, 10, "250.00")])
    conn.close()
    result = loaded.trigger({"date": DATE})
    assert result.returncode != 0
    assert daily_user_stats(loaded) == before
    assert cassandra_contents(cassandra_keyspace) == EXPECTED_CASSANDRA
    failed = runs(loaded)[-1]
    assert failed["status"] == "failed"
    assert failed["failed_task"] == "validate_outputs"
    assert failed["validation_success"] is False
    assert "average_score" in failed["error"]
    assert failed["rows_written"] == {}
    assert "average_score" in open(failed["validation_result"]).read()
    assert asset_events(loaded, failed["run_id"]) == []


# The rejected rows of the hand-made drop, exactly: (reason, source_file, line_number, event_id).
EXPECTED_QUARANTINE = sorted(
    [
        ("malformed", "a.jsonl", 8, None),
        ("out_of_window", "a.jsonl", 9, "e8"),
        ("duplicate", "a.jsonl", 10, "e2"),
        ("invalid_timestamp", "b.csv.gz", 3, "e11"),  # CSV: the data row's number, header excluded
        ("invalid_event_type", "b.csv.gz", 4, "e12"),
        ("invalid_value", "b.csv.gz", 5, "e13"),
        ("missing_field", "b.csv.gz", 6, None),
    ],
    key=str,
)


def store_quarantine(root: StoreRoot) -> tuple[dict, list[tuple]]:
    """The date's pointer and the rows of the files it names, read with the test's own client."""
    folder = f"quarantine/user_events/date={DATE}"
    pointer = json.loads(root.read(f"{folder}/_PUBLISHED.json"))
    rows = [
        json.loads(line)
        for f in pointer["files"]
        for line in root.read(f"{folder}/{f['name']}").decode().splitlines()
    ]
    return pointer, sorted(
        ((r["reason"], r["source_file"], r["line_number"], r["event_id"]) for r in rows), key=str
    )


def put_store_drop(drops: StoreRoot) -> None:
    """The hand-made day's drop put on the store by the test's own client, the CSV file gzipped (its
    header read through S3A), the flag last as a producer does."""
    import gzip

    drops.put(f"user_events/{DATE}/a.jsonl", ("\n".join(ds.JSON_LINES) + "\n").encode())
    drops.put(f"user_events/{DATE}/b.csv.gz", gzip.compress(ds.CSV_TEXT.encode()))
    drops.put(f"user_events/{DATE}/_SUCCESS", b"")


def assert_quarantine_published(root: StoreRoot) -> str:
    """The date's folder holds exactly the published run and its pointer; returns the run key."""
    pointer, rows = store_quarantine(root)
    assert rows == EXPECTED_QUARANTINE
    folder = f"quarantine/user_events/date={DATE}"
    run = pointer["run"]
    names = {f["name"]: f["size"] for f in pointer["files"]}
    on_store = root.keys(folder)
    assert set(on_store) == {"_PUBLISHED.json", f"run={run}/_SUCCESS", *names}, on_store
    for name, size in names.items():
        assert len(root.read(f"{folder}/{name}")) == size
    return run


@pytest.mark.cassandra
def test_on_the_store_a_day_lands_reruns_identically_and_a_failed_gate_keeps_it(
    deployment, s3_server, cassandra_keyspace
):
    """Both roots on the session's S3 store (issue 24): the drop put there by the test's own client
    (a CSV file gzipped: its header read through S3A), Spark through S3A, every sink exact, the
    quarantine exact through its pointer; a rerun replaces the published run; a failed gate loads
    nothing (its ingest had published its quarantine, as it renames it into place on a local disk)."""
    import uuid

    prefix = f"e2e-{uuid.uuid4().hex[:10]}"
    deployment.data_dir = StoreRoot(s3_server, f"{prefix}/data")
    deployment.drop_dir = drops = StoreRoot(s3_server, f"{prefix}/drops")
    deployment.connections["aws_default"] = s3_server.connection_json()
    deployment.cassandra_url = cassandra_keyspace.url
    deployment.variables["etl_max_reject_ratio"] = "0.5"
    conn = deployment.source()
    ds.load_source(conn)
    conn.close()
    put_store_drop(drops)

    # 1. The day lands, row for row, in every sink; the quarantine is published.
    result = deployment.trigger({"date": DATE})
    assert_succeeded(result)
    assert_exact_outputs(deployment)
    assert cassandra_contents(cassandra_keyspace) == EXPECTED_CASSANDRA
    [record] = runs(deployment)
    assert record["status"] == "success"
    assert (record["rows_read"], record["rows_kept"]) == (16, 9)
    assert record["rejected_by_reason"] == ds.EXPECTED_REPORT["rejected"]
    assert record["validation_success"] is True and record["cassandra_status"] == "loaded"
    assert record["validation_result"].startswith(f"{deployment.data_dir}/validation/date={DATE}/")
    first = assert_quarantine_published(deployment.data_dir)
    assert first == run_key(record["run_id"])
    assert s3_server.secret_key not in result.stdout + result.stderr
    # Nothing of the run went to a local root: the store holds staging, outputs, result, docs.
    written = {k.split("/")[0] for k in deployment.data_dir.keys("")}
    assert written == {"staging", "curated", "quarantine", "validation", "data_docs"}, written
    assert any(k.endswith("index.html") for k in deployment.data_dir.keys("data_docs"))

    # 2. The same day again: the same rows; the new run's quarantine replaced the first's.
    assert_succeeded(deployment.trigger({"date": DATE}))
    assert_exact_outputs(deployment)
    assert cassandra_contents(cassandra_keyspace) == EXPECTED_CASSANDRA
    assert (
        assert_quarantine_published(deployment.data_dir) == run_key(runs(deployment)[-1]["run_id"]) != first
    )
    before = daily_user_stats(deployment)

    # 3. A score of 250: the gate fails on the store's outputs, nothing is loaded.
    conn = deployment.source()
    ds.load_source(conn, [*ds.PROGRESS, (ds.U2, "math", ds.D, 10, "250.00")])
    conn.close()
    assert deployment.trigger({"date": DATE}).returncode != 0
    assert daily_user_stats(deployment) == before
    assert cassandra_contents(cassandra_keyspace) == EXPECTED_CASSANDRA
    failed = runs(deployment)[-1]
    assert failed["status"] == "failed" and failed["failed_task"] == "validate_outputs"
    assert failed["rows_written"] == {} and "average_score" in failed["error"]
    assert assert_quarantine_published(deployment.data_dir) == run_key(failed["run_id"])
    result_key = failed["validation_result"].removeprefix(f"{deployment.data_dir}/")
    assert "average_score" in deployment.data_dir.read(result_key).decode()


@pytest.mark.parametrize("bad", ["2024-02-30", 20240115])  # every form is unit-tested in tests/unit
def test_a_bad_date_fails_at_the_first_task_and_touches_nothing(deployment, bad):
    result = deployment.trigger({"date": bad})
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert repr(bad) in output
    assert not deployment.data_dir.exists()
    conn = deployment.analytics()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE tablename IN ('etl_runs', 'daily_user_stats')")
        assert cur.fetchone() == (0,)
    conn.close()


def test_too_many_rejects_fail_before_any_load(loaded):
    loaded.variables["etl_max_reject_ratio"] = "0.05"
    result = loaded.trigger({"date": DATE})
    assert result.returncode != 0
    [record] = runs(loaded)
    assert record["status"] == "failed" and record["failed_task"] == "check_ingest"
    assert record["rows_rejected"] == 7 and record["rows_written"] == {}
    assert daily_user_stats(loaded) == []


def test_a_missing_drop_times_out_naming_the_flag(deployment):
    conn = deployment.source()
    ds.load_source(conn)
    conn.close()
    ds.write_drop(deployment.drop_dir, complete=False)
    deployment.variables["etl_drop_timeout_seconds"] = "3"
    result = deployment.trigger({"date": DATE})
    assert result.returncode != 0
    flag = deployment.drop_dir / "user_events" / DATE / "_SUCCESS"
    assert str(flag) in result.stdout + result.stderr
    [record] = runs(deployment)
    assert record["failed_task"] == "wait_for_event_drop" and str(flag) in record["error"]


def test_a_drop_completed_while_the_sensor_waits_lands(deployment):
    """The wait defers (the trigger runs in line under `airflow dags test`) and resumes on the flag."""
    conn = deployment.source()
    ds.load_source(conn)
    conn.close()
    folder = ds.write_drop(deployment.drop_dir, complete=False)
    deployment.variables.update(etl_drop_timeout_seconds="600", etl_max_reject_ratio="0.5")

    def complete_once_the_run_waits() -> None:
        deadline = time.monotonic() + 300
        while not runs_or_empty(deployment) and time.monotonic() < deadline:
            time.sleep(1)
        time.sleep(5)
        (folder / "_SUCCESS").write_text("")

    producer = threading.Thread(target=complete_once_the_run_waits, daemon=True)
    producer.start()
    result = deployment.trigger({"date": DATE})
    producer.join()
    assert_succeeded(result)
    assert "deferring until" in result.stdout + result.stderr
    assert runs(deployment)[-1]["status"] == "success"
    assert len(daily_user_stats(deployment)) > 0


def test_a_passed_gate_names_its_result_and_data_docs_once_in_the_log(loaded):
    """Issue 22, item 2: the gate's summary ends with both paths, and nothing else in the log repeats
    them (the task logged each on its own line too, the gate logged its summary, and the operator
    logs the task's return value). `airflow dags test` writes every task's log to its output."""
    result = loaded.trigger({"date": DATE})
    assert_succeeded(result)
    [record] = runs(loaded)
    log = result.stdout + result.stderr
    assert f"quality gate for {DATE} passed" in log
    result_path, data_docs = record["validation_result"], record["data_docs"]
    assert (log.count(result_path), log.count(data_docs)) == (1, 1), [
        line for line in log.splitlines() if result_path in line or data_docs in line
    ]


def runs_or_empty(deployment) -> list[dict]:
    """etl_runs before migrate_analytics_schema has created it: nothing yet."""
    try:
        return runs(deployment)
    except psycopg2.errors.UndefinedTable:
        return []


PAGE_2048 = "/" + "é" * 1023 + "a"  # 1 + 2 x 1,023 + 1 bytes


def test_rows_no_sink_could_hold_are_rejected_and_the_day_lands(loaded):
    """Issue 10: a user_id that is not a UUID and a page over 2,048 bytes are invalid_value; a page of
    exactly 2,048 bytes of multi-byte text is kept and reaches page_view_stats. The run has no
    spark_default connection: contract section 1 says `local[*]` then (the provider says YARN)."""
    loaded.spark_connection = False
    folder = loaded.drop_dir / "user_events" / DATE
    lines = [
        ds._event("x1", "page_view", ds.U2, "2024-01-17T05:00:00Z", page=PAGE_2048),
        ds._event("x2", "page_view", ds.U2, "2024-01-17T05:00:00Z", page=PAGE_2048 + "b"),
        ds._event("x3", "click", "not-a-uuid", "2024-01-17T05:00:00Z", page="/dashboard"),
    ]
    (folder / "c_limits.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    result = loaded.trigger({"date": DATE})
    assert_succeeded(result)
    assert "no spark_default connection: running Spark in local[*]" in result.stdout + result.stderr
    assert (
        "C1 only (quick JIT)" in result.stdout + result.stderr
        and "-XX:TieredStopAtLevel=1" in result.stdout + result.stderr
    )
    [record] = runs(loaded)
    assert record["status"] == "success"
    assert record["rows_read"] == ds.EXPECTED_REPORT["rows_read"] + 3
    assert record["rows_kept"] == ds.EXPECTED_REPORT["rows_kept"] + 1
    assert (
        record["rejected_by_reason"]["invalid_value"] == ds.EXPECTED_REPORT["rejected"]["invalid_value"] + 2
    )
    page_views = {(r["hour"], r["page"]): r["view_count"] for r in curated(loaded, "page_view_stats")}
    assert page_views[(5, PAGE_2048)] == 1
    assert all(len(page.encode()) <= 2048 for _, page in page_views)


@pytest.mark.parametrize("name", ["z_truncated.jsonl.gz", "z_not_parquet.parquet"])
def test_a_corrupt_file_fails_the_run_once_naming_it(loaded, name):
    """Issue 10: a file that cannot be read fails at once (no retry can fix it), and the run record's
    error names the file and the fault instead of spark-submit's command line."""
    import gzip

    folder = loaded.drop_dir / "user_events" / DATE
    if name.endswith(".gz"):
        whole = gzip.compress(("\n".join(ds.JSON_LINES) + "\n").encode() * 50)
        (folder / name).write_bytes(whole[: len(whole) // 2])
        fault = "EOFException"
    else:
        (folder / name).write_text("this is not a parquet file\n")
        fault = "not a Parquet file"
    result = loaded.trigger({"date": DATE})
    assert result.returncode != 0
    [record] = runs(loaded)
    assert record["status"] == "failed" and record["failed_task"] == "daily_outputs"
    assert name in record["error"] and fault in record["error"], record["error"]
    assert "Cannot execute" not in record["error"]
    assert "up_for_retry" not in result.stdout + result.stderr
    assert daily_user_stats(loaded) == []
