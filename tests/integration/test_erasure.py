"""erase_user_data end to end: a real day landed by daily_analytics_etl, then the erasure through
`airflow dags test`, checked in PostgreSQL and against an independent scan of every platform file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.integration import dataset as ds
from tests.integration.test_dag_end_to_end import DATE, assert_succeeded, curated

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.cassandra]


def run_dag(deployment, dag_id: str, conf: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["airflow", "dags", "test", dag_id, "--conf", json.dumps(conf)],
        env=deployment.env(), capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def files_mentioning(data_dir: Path, user_id: str) -> set[str]:
    """Every platform file holding the user: any Parquet string value equal to the id (any case), any
    other file whose text contains it. Written apart from the erasure's code, on purpose."""
    found = set()
    for path in data_dir.rglob("*"):
        if not path.is_file() or "ingest_scratch" in path.parts:
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for column in table.column_names:
                values = table.column(column).to_pylist()
                if any(isinstance(v, str) and v.strip().lower() == user_id for v in values):
                    found.add(str(path.relative_to(data_dir)))
        elif path.suffix in (".json", ".html", ".csv", ".txt"):
            if user_id in path.read_text(encoding="utf-8", errors="replace").lower():
                found.add(str(path.relative_to(data_dir)))
    return found


def query(deployment, sql: str, params=()) -> list[tuple]:
    conn = deployment.analytics()
    with conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
    conn.close()
    return rows


def cassandra_places(keyspace, user_id: str) -> dict[str, int]:
    """Where the user is in Cassandra: rows per table, and keys in the key manifests (every chunk's
    Arrow IPC stream decoded here, apart from the sink's code)."""
    found = {
        table: sum(1 for (user,) in keyspace.rows(table, "user_id") if str(user) == user_id)
        for table in ("user_engagement", "learning_progress")
    }
    listed = 0
    for (blob,) in keyspace.rows("key_manifest", "key_set"):
        keys = pa.ipc.open_stream(pa.py_buffer(blob)).read_all()
        listed += sum(1 for v in keys.column("user_id").to_pylist() if str(v).lower() == user_id)
    found["key_manifest"] = listed
    return found


@pytest.fixture
def landed(deployment, cassandra_keyspace):
    deployment.cassandra_url = cassandra_keyspace.url
    conn = deployment.source()
    ds.load_source(conn)
    conn.close()
    ds.write_drop(deployment.drop_dir)
    deployment.variables["etl_max_reject_ratio"] = "0.5"
    assert_succeeded(deployment.trigger({"date": DATE}))
    return deployment


def test_an_erased_user_is_gone_from_every_sink_and_file_and_stays_gone(landed, cassandra_keyspace):
    data = landed.data_dir
    alice = ds.U1
    assert files_mentioning(data, alice), "the day must hold the user before the erasure"
    in_cassandra = cassandra_places(cassandra_keyspace, alice)
    assert in_cassandra == {"user_engagement": 1, "learning_progress": 2, "key_manifest": 3}, in_cassandra
    others_in_cassandra = cassandra_places(cassandra_keyspace, ds.U2)
    others_before = query(landed, "SELECT count(*) FROM daily_user_stats WHERE user_id <> %s", (alice,))

    # 1. The erasure, asked with the id in capitals: every sink and file loses the user.
    assert_succeeded(run_dag(landed, "erase_user_data", {"user_id": alice.upper()}))
    assert files_mentioning(data, alice) == set()
    assert query(landed, "SELECT count(*) FROM daily_user_stats WHERE user_id = %s", (alice,)) == [(0,)]
    assert (
        query(landed, "SELECT count(*) FROM daily_user_stats WHERE user_id <> %s", (alice,)) == others_before
    )
    [(user, removed, rewritten)] = query(
        landed, "SELECT user_id::text, rows_removed, files_rewritten FROM erasure_log"
    )
    assert user == alice and removed["daily_user_stats"] == 1
    assert cassandra_places(cassandra_keyspace, alice) == {
        "user_engagement": 0,
        "learning_progress": 0,
        "key_manifest": 0,
    }
    assert cassandra_places(cassandra_keyspace, ds.U2) == others_in_cassandra
    assert removed["cassandra.user_engagement"] == 1 and removed["cassandra.learning_progress"] == 2, removed
    assert removed["files.staging"] > 0
    assert rewritten and all((data / path).is_file() for path in rewritten)

    # 2. Again: nothing left to find, and the request is logged with zeros.
    assert_succeeded(run_dag(landed, "erase_user_data", {"user_id": alice}))
    second = query(landed, "SELECT rows_removed, files_rewritten FROM erasure_log ORDER BY erased_at")[-1]
    assert second[0]["daily_user_stats"] == 0 and second[1] == []

    # 3. A bad id is refused naming it, and nothing is logged.
    bad = run_dag(landed, "erase_user_data", {"user_id": "not-a-uuid"})
    assert bad.returncode != 0 and "not-a-uuid" in bad.stdout + bad.stderr
    assert query(landed, "SELECT count(*) FROM erasure_log") == [(2,)]

    # 4. An orphan (events, no source row) is erased; a rerun of the day reads its events from the
    #    drop again but keeps them out. Alice is back: the source still holds her (contract section 6).
    orphan = ds.U9
    assert files_mentioning(data, orphan)
    assert_succeeded(run_dag(landed, "erase_user_data", {"user_id": orphan}))
    assert files_mentioning(data, orphan) == set()
    rerun = landed.trigger({"date": DATE})
    assert_succeeded(rerun)
    # Only what the source still holds of it comes back: its progress rows (the week's extract and
    # learning_progress); none of its events, engagement or rejected rows.
    back = files_mentioning(data, orphan)
    assert back and all("progress" in path for path in back), back
    assert orphan not in {r["user_id"] for r in curated(landed, "user_engagement")}
    assert ds.U2 in {r["user_id"] for r in curated(landed, "user_engagement")}
    assert query(landed, "SELECT count(*) FROM daily_user_stats WHERE user_id = %s", (alice,)) == [(1,)]
    back_in_cassandra = cassandra_places(cassandra_keyspace, orphan)
    assert back_in_cassandra["user_engagement"] == 0 and back_in_cassandra["learning_progress"] > 0
    assert cassandra_places(cassandra_keyspace, alice) == in_cassandra
