"""erase_user_data end to end: a real day landed by daily_analytics_etl, then the erasure through
`airflow dags test`, checked in PostgreSQL and against an independent scan of every platform file."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from psycopg2 import sql

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


# -- killed runs and failed erasures (issue 21) ------------------------------------------------------------
ALICE_EMAIL = "alice@example.com"


def places_holding(data_dir: Path, needles: list[str]) -> dict[str, str]:
    """Every file under `data_dir` holding one of `needles` (any case), and how it was seen: its bytes
    (text, uncompressed values), its gzip contents, a Parquet file's rows or column statistics. A file
    that looks like Parquet but cannot be read is reported too: nothing proves it clean. Apart from the
    erasure's code, on purpose; no folder is left out."""
    wanted = [n.lower().encode() for n in needles]
    found = {}
    for path in sorted(data_dir.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        rel, raw = str(path.relative_to(data_dir)), path.read_bytes()
        if any(n in raw.lower() for n in wanted):
            found[rel] = "bytes"
        elif raw[:2] == b"\x1f\x8b":
            if any(n in gzip.decompress(raw).lower() for n in wanted):
                found[rel] = "gzip"
        elif raw[:4] == b"PAR1" and (how := _parquet_holds(path, wanted)):
            found[rel] = how
    return found


def _parquet_holds(path: Path, wanted: list[bytes]) -> str | None:
    try:
        meta = pq.ParquetFile(path).metadata
        rows = pq.read_table(path).to_pylist()
    except Exception as err:
        return f"unreadable: {err}"
    for group in range(meta.num_row_groups):
        for column in range(meta.num_columns):
            stats = meta.row_group(group).column(column).statistics
            if stats is not None and stats.has_min_max:
                text = f"{stats.min!r} {stats.max!r}".lower().encode()
                if any(n in text for n in wanted):
                    return "statistics"
    if any(n in json.dumps(row, default=str).lower().encode() for row in rows for n in wanted):
        return "rows"
    return None


def tables_holding(deployment, needle: str) -> set[str]:
    """Every table of the analytics database with a row whose text holds `needle` (any case)."""
    conn = deployment.analytics()
    found = set()
    with conn, conn.cursor() as cur:
        cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (table,) in cur.fetchall():
            statement = sql.SQL("SELECT count(*) FROM {} AS r WHERE r::text ILIKE %s").format(
                sql.Identifier(table)
            )
            cur.execute(statement, (f"%{needle}%",))
            if cur.fetchone()[0]:
                found.add(table)
    conn.close()
    return found


def cassandra_holding(keyspace, needle: str) -> set[str]:
    """Every Cassandra table of the keyspace with a row holding `needle`; key manifests decoded."""
    found = {table for table, n in cassandra_places(keyspace, needle).items() if n}
    tables = keyspace.session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", [keyspace.name]
    )
    for (table,) in tables:
        for row in keyspace.rows(table):
            if any(not isinstance(v, bytes) and needle in str(v).lower() for v in row):
                found.add(table)
    return found


def log_rows(deployment) -> list[tuple]:
    return query(
        deployment,
        "SELECT run_id, status, rows_removed, files_rewritten, files_removed, error FROM erasure_log"
        " ORDER BY started_at",
    )


def test_an_erasure_after_a_run_killed_in_daily_outputs_leaves_the_user_only_in_erasure_log(
    landed, cassandra_keyspace, tmp_path
):
    from tests.integration.test_faults import BackgroundRun, _jvms

    data, alice = landed.data_dir, ds.U1
    # A second run of the day, killed by SIGKILL while its Spark job writes (scratch, attempts).
    killed = BackgroundRun(landed, DATE, tmp_path / "killed.log")
    staging = data / "staging" / f"date={DATE}"
    # Killed once the scratch holds the judged rows (raw lines included) and a write is under way.
    killed.wait_until(
        lambda: (
            _jvms(killed.seen)
            and any(staging.glob("run=*/ingest_scratch/judged/_SUCCESS"))
            and any(staging.rglob("_temporary"))
        ),
        "the Spark ingest writing after its judged scratch",
    )
    killed.kill()
    left = places_holding(data, [alice])
    assert any("ingest_scratch" in path for path in left), left  # the killed job's copy of her events
    attempts = sorted(data.rglob("_temporary"))
    assert attempts, "the kill must leave uncommitted attempts"
    leftovers = {str(p.relative_to(data)) for a in attempts for p in a.rglob("*") if p.is_file()}

    assert_succeeded(run_dag(landed, "erase_user_data", {"user_id": alice}))
    assert places_holding(data, [alice, ALICE_EMAIL]) == {}
    assert tables_holding(landed, alice) == {"erasure_log"}
    assert cassandra_holding(cassandra_keyspace, alice) == set()
    [(_, status, removed, rewritten, unread, error)] = log_rows(landed)
    assert status == "done" and error is None
    assert not [a for a in attempts if a.exists()] and leftovers <= set(unread), leftovers - set(unread)
    assert any("ingest_scratch" in path for path in unread), unread
    assert removed["files.removed_unread"] == len(unread)
    assert removed["daily_user_stats"] == 1 and removed["files.staging"] > 0 and rewritten
    assert {"files.curated", "files.quarantine", "files.validation_redacted", "files.other"} <= set(removed)


def expected_removals(deployment, keyspace, data: Path, user_id: str) -> dict[str, int]:
    """What an erasure must remove, counted here before it runs: rows per sink, Parquet rows and lines."""
    counts = {"daily_user_stats": query(deployment, "SELECT count(*) FROM daily_user_stats WHERE user_id = %s",
                                        (user_id,))[0][0]}  # fmt: skip
    places = cassandra_places(keyspace, user_id)
    counts["cassandra.user_engagement"] = places["user_engagement"]
    counts["cassandra.learning_progress"] = places["learning_progress"]
    for area in ("staging", "curated"):
        counts[f"files.{area}"] = sum(
            sum(
                1
                for row in pq.read_table(path).to_pylist()
                if user_id in json.dumps(row, default=str).lower()
            )
            for path in (data / area).rglob("*.parquet")
        )
    counts["files.quarantine"] = sum(
        sum(1 for line in path.read_text().splitlines() if user_id in line.lower())
        for path in (data / "quarantine").rglob("*.json")
    )
    return counts


def test_an_erasure_failing_on_a_file_it_cannot_read_then_run_again_accounts_for_every_removal(
    landed, cassandra_keyspace, tmp_path
):
    data, alice = landed.data_dir, ds.U1
    expected = expected_removals(landed, cassandra_keyspace, data, alice)
    assert all(expected.values()), expected  # the day holds her everywhere
    # A committed output file that cannot be read, after files the erasure rewrites first.
    [run_dir] = (data / "curated" / "user_engagement" / f"date={DATE}").glob("run=*")
    bad = run_dir / "part-99999-corrupt.snappy.parquet"
    bad.write_bytes(b"PAR1 this is not a parquet file")

    # 1. The erasure fails at once (no retry), naming the file; the sinks are untouched and its row
    #    says 'failed', with what it had removed so far.
    first = run_dag(landed, "erase_user_data", {"user_id": alice})
    output = first.stdout + first.stderr
    assert first.returncode != 0 and str(bad) in output, output[-6000:]
    assert "AirflowFailException" in output  # deterministic: failed at once, not up for retry
    [(_, status, removed, rewritten, _, error)] = log_rows(landed)
    assert status == "failed" and str(bad) in error, error
    assert removed["files.curated"] > 0 and rewritten, (removed, rewritten)  # the trace of the first part
    assert removed["daily_user_stats"] == 0 and removed["cassandra.user_engagement"] == 0
    assert query(landed, "SELECT count(*) FROM daily_user_stats WHERE user_id = %s", (alice,)) == [(1,)]

    # 2. Mended (the file moved out of etl_data_dir), erased again: she is gone everywhere, and the two
    #    rows together account for every removal.
    shutil.move(bad, tmp_path / bad.name)
    assert_succeeded(run_dag(landed, "erase_user_data", {"user_id": alice}))
    assert places_holding(data, [alice, ALICE_EMAIL]) == {}
    assert tables_holding(landed, alice) == {"erasure_log"}
    assert cassandra_holding(cassandra_keyspace, alice) == set()
    rows = log_rows(landed)
    assert [r[1] for r in rows] == ["failed", "done"]
    total = {key: sum(r[2].get(key, 0) for r in rows) for key in expected}
    assert total == expected
    first, second = ({key: r[2][key] for key in expected} for r in rows)
    assert 0 < sum(first.values()) < sum(expected.values()) and sum(second.values()) > 0, (first, second)
    assert not set(rows[0][3]) & set(rows[1][3])  # no file counted twice
