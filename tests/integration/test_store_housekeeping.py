"""Retention and erasure with `etl_data_dir` on the real S3 store (the session's S3Proxy), file by file.

The trees are laid out with the test's own boto3 client, as the platform's runs leave them on a store
(a date's quarantine in one `run=K/` prefix per run, `_PUBLISHED.json` naming the published one), and
what is left is read back with that client: the keys that must remain are written out by hand.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics_etl.paths import OUTPUT_TABLES, run_key

pytestmark = pytest.mark.integration

U = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
THIRD = "16fd2706-8baf-433b-82eb-8c7fada847da"


class Tree:
    """Puts and reads objects under the test's root prefix with the test's own client."""

    def __init__(self, s3_server, s3_root: str):
        self.server, self.bucket = s3_server, s3_server.bucket
        self.prefix = s3_root.removeprefix(f"s3://{self.bucket}/")
        self.client = s3_server.client()

    def put(self, rel: str, body: bytes | str) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{rel}", Body=data)

    def get(self, rel: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{rel}")["Body"].read()

    def keys(self) -> list[str]:
        return [k.removeprefix(f"{self.prefix}/") for k in self.server.keys(f"{self.prefix}/")]

    def etags(self) -> dict[str, str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/"
        )
        return {
            o["Key"]: o["ETag"] for p in pages for o in p.get("Contents", []) if not o["Key"].endswith("/")
        }

    def parquet(self, rel: str, **columns) -> None:
        sink = io.BytesIO()
        pq.write_table(pa.table(columns), sink)
        self.put(rel, sink.getvalue())

    def table(self, rel: str) -> pa.Table:
        return pq.read_table(io.BytesIO(self.get(rel)))

    def publish(self, date: str, run: str) -> None:
        """The pointer of a date's quarantine, as the run's publish step writes it (last)."""
        base = f"quarantine/user_events/date={date}"
        files = [
            {"name": k.removeprefix(f"{base}/"), "size": len(self.get(k))}
            for k in self.keys()
            if k.startswith(f"{base}/run={run}/")
        ]
        self.put(f"{base}/_PUBLISHED.json", json.dumps({"run": run, "files": files}))


# -- retention -----------------------------------------------------------------------------------------
REFERENCE = dt.datetime(2024, 3, 1, 2, 0, tzinfo=dt.UTC)  # the retention run's day
DAYS = 10  # dates before 2024-02-20 expire
OLD, MID, NEW = "2024-02-01", "2024-02-25", "2024-02-28"


def rid(date: str, n: int) -> str:
    return f"scheduled__{date}T0{n}:00:00+00:00"


def key(date: str, n: int) -> str:
    return run_key(rid(date, n))


def run_files(date: str, n: int) -> list[str]:
    """Every key a run writes outside the quarantine (staging, curated, validation, its GX pages)."""
    k = key(date, n)
    part = f"date={date}/run={k}"
    files = [f"staging/{part}/users.parquet", f"staging/{part}/events/part-00000.parquet",
             f"validation/{part}/checkpoint_result.json"]  # fmt: skip
    files += [f"curated/{t}/{part}/part-00000.parquet" for t in OUTPUT_TABLES]
    files += [f"data_docs/_results/{t}/{date}_{k}/20240301T020000Z/r.json" for t in OUTPUT_TABLES[:2]]
    files += [f"data_docs/validations/{t}/{date}_{k}/20240301T020000Z/r.html" for t in OUTPUT_TABLES[:2]]
    return files


def rejects(date: str, n: int) -> str:
    return f"quarantine/user_events/date={date}/run={key(date, n)}/part-00000.json"


# (date, run, etl_runs status or None, Airflow still runs it?)
RUNS = [
    (OLD, 1, "success", False), (OLD, 2, "success", False),  # expired: all of it goes, the pointer too
    (MID, 1, "success", False),  # superseded by run 2: its files and its unpublished rejects go
    (MID, 2, "success", False),  # the published, latest successful run: kept
    (MID, 3, "failed", False),  # the failed latest run: kept, its unpublished rejects too
    (MID, 4, None, False),  # a prefix nobody recorded, inside the window: kept
    (NEW, 1, "failed", False),  # a killed run (recorded failed), later run 2 ended: its rejects go
    (NEW, 2, "success", False),  # published
    (NEW, 3, "running", True),  # in progress, writing its rejects: untouched
]  # fmt: skip
PUBLISHED = {OLD: 2, MID: 2, NEW: 2}
GONE = {(OLD, 1), (OLD, 2), (MID, 1), (NEW, 1)}  # runs whose own files go
REJECTS_GONE = {(OLD, 1), (OLD, 2), (MID, 1), (NEW, 1)}  # unpublished or expired rejects that go


class AirflowAnswers:
    """What Airflow's task instance says about running records (only NEW's run 3 is still running)."""

    def get_dr_count(self, dag_id, run_ids, states):
        return sum(1 for r in run_ids if r == rid(NEW, 3))


def test_retention_on_the_store_deletes_exactly_the_superseded_and_expired_keys(
    s3_server, s3_root, analytics_conn, monkeypatch
):
    from analytics_etl.db import connect
    from analytics_etl.load_postgres import migrate
    from analytics_etl.retention.task import apply_retention

    tree = Tree(s3_server, s3_root)
    records = []
    for date, n, status, _ in RUNS:
        if (date, n) != (NEW, 3):  # the run in progress has not written these yet
            for f in run_files(date, n):
                tree.put(f, f"{f}\n")
        tree.put(rejects(date, n), '{"reason": "malformed", "line": 1}\n')
        if status:
            started = dt.datetime.fromisoformat(f"{date}T0{n}:00:00+00:00") + dt.timedelta(days=1)
            ended = None if status == "running" else started + dt.timedelta(minutes=30)
            records.append((rid(date, n), date, started, ended, status))
    for date, n in PUBLISHED.items():
        tree.publish(date, key(date, n))
    tree.put("data_docs/index.html", "<html>index</html>")
    tree.put("notes/README.txt", "not the platform's: never touched")
    sibling = Tree(s3_server, f"{s3_root}-sibling")  # a prefix that starts like the root
    sibling.put(run_files(OLD, 1)[0], "another deployment's")
    before = set(tree.keys())

    conn = connect("analytics_postgres")
    migrate(conn)
    with conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO etl_runs (run_id, date, dag_id, started_at, ended_at, status)"
            " VALUES (%s, %s, 'daily_analytics_etl', %s, %s, %s)",
            records,
        )
    monkeypatch.setenv("AIRFLOW_VAR_ETL_DATA_DIR", s3_root)
    monkeypatch.setenv("AIRFLOW_VAR_ETL_DROP_DIR", f"{s3_root}-drops")
    monkeypatch.setenv("AIRFLOW_VAR_ETL_RETENTION_DAYS", str(DAYS))

    def run(dry_run: bool) -> dict:
        dag_run = SimpleNamespace(run_after=REFERENCE, run_id=f"retention_{dry_run}")
        return apply_retention(params={"dry_run": dry_run}, dag_run=dag_run, ti=AirflowAnswers())

    dry = run(dry_run=True)
    assert set(tree.keys()) == before  # a dry run deletes nothing

    summary = run(dry_run=False)
    gone = {f for d, n in GONE for f in run_files(d, n)} | {rejects(d, n) for d, n in REJECTS_GONE}
    gone.add(f"quarantine/user_events/date={OLD}/_PUBLISHED.json")
    assert gone < before
    expected = sorted(before - gone)
    assert tree.keys() == expected
    # Spelled out: what each date keeps of its quarantine.
    assert [k for k in expected if k.startswith("quarantine/")] == sorted(
        [rejects(MID, 2), rejects(MID, 3), rejects(MID, 4), f"quarantine/user_events/date={MID}/_PUBLISHED.json",
         rejects(NEW, 2), rejects(NEW, 3), f"quarantine/user_events/date={NEW}/_PUBLISHED.json"]
    )  # fmt: skip
    assert sibling.keys() == [run_files(OLD, 1)[0]]
    sizes = {k: len(f"{k}\n") for k in gone if not k.startswith("quarantine/")}
    sizes |= {k: len('{"reason": "malformed", "line": 1}\n') for k in gone if k.endswith("part-00000.json")}
    pointer = len(
        json.dumps(
            {"run": key(OLD, 2), "files": [{"name": f"run={key(OLD, 2)}/part-00000.json", "size": 35}]}
        )
    )
    assert summary["files"] == len(gone) and summary["bytes"] == sum(sizes.values()) + pointer
    assert dry["files"] == summary["files"] and dry["bytes"] == summary["bytes"]

    with conn, conn.cursor() as cur:
        cur.execute(
            "SELECT date::text, run_key, kind, reason, files, paths FROM retention_log"
            " WHERE retention_run_id = 'retention_False' AND kind = 'quarantine' ORDER BY date, run_key"
        )
        logged = cur.fetchall()
    conn.close()
    assert logged == [
        (OLD, None, "quarantine", "expired", 3, [f"quarantine/user_events/date={OLD}"]),
        (MID, key(MID, 1), "quarantine", "superseded", 1, [f"quarantine/user_events/date={MID}/run={key(MID, 1)}"]),
        (NEW, key(NEW, 1), "quarantine", "superseded", 1, [f"quarantine/user_events/date={NEW}/run={key(NEW, 1)}"]),
    ]  # fmt: skip

    again = run(dry_run=False)  # nothing left to do
    assert again["files"] == 0 and tree.keys() == expected


# -- erasure -----------------------------------------------------------------------------------------------
D = "2024-01-15"
K0, K1 = run_key(rid(D, 1)), run_key(rid(D, 2))  # K1 published; K0 a killed run's leftovers
RUN1 = f"date={D}/run={K1}"
QUARANTINE = f"quarantine/user_events/date={D}"


def lines(*rows: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.fixture
def erasure_tree(s3_server, s3_root) -> Tree:
    tree = Tree(s3_server, s3_root)
    tree.parquet(
        f"staging/{RUN1}/users.parquet", id=[U.upper(), OTHER, THIRD], email=["u@x.org", "o@x.org", "t@x.org"]
    )
    tree.parquet(f"staging/{RUN1}/events/part-00000.parquet",
                 user_id=[U, OTHER, U, THIRD, OTHER], page=["/a", "/b", "/c", "/d", "/e"])  # fmt: skip
    tree.parquet(f"staging/{RUN1}/ingest_scratch/judged/part-00000.parquet", user_id=[U], raw=["{..."])
    tree.parquet(f"curated/user_engagement/{RUN1}/part-00000.parquet", user_id=[OTHER, U], score=[1.5, 2.5])
    tree.put(f"curated/user_engagement/{RUN1}/_SUCCESS", b"")
    tree.parquet(f"curated/page_view_stats/{RUN1}/part-00000.parquet", page=["/a"], views=[3])
    tree.parquet(f"curated/daily_user_stats/{RUN1}/_temporary/0/part-00000.parquet", user_id=[U])
    tree.put(f"{QUARANTINE}/run={K1}/part-00000.json", lines(
        {"reason": "malformed", "raw": f'{{"user_id": "{U.upper()}"', "line": 4},
        {"reason": "malformed", "raw": "{", "line": 9},
        {"reason": "invalid_value", "user_id": OTHER, "line": 12},
    ))  # fmt: skip
    tree.put(f"{QUARANTINE}/run={K1}/part-00001.json", lines({"reason": "malformed", "raw": "[", "line": 2}))
    tree.put(
        f"{QUARANTINE}/run={K0}/part-00000.json", lines({"reason": "duplicate", "user_id": U, "line": 1})
    )
    tree.publish(D, K1)
    tree.put(f"validation/{RUN1}/checkpoint_result.json", json.dumps({"unexpected": [U, "U@X.ORG", OTHER]}))
    tree.put(f"data_docs/validations/daily_user_stats/{D}_{K1}/20240116T020000Z/v.html", f"<td>{U}</td>")
    tree.put("data_docs/index.html", "<html>no user here</html>")
    tree.put("reports/2024-01.txt", f"support ticket of {U}: u@x.org\n")  # no folder of the layout
    return tree


def test_erasure_on_the_store_rewrites_exactly_the_users_rows_and_a_second_one_changes_nothing(
    erasure_tree, s3_root, analytics_conn
):
    from analytics_etl.erasure.files import erase_files

    tree = erasure_tree
    before = tree.etags()
    users_before = tree.table(f"staging/{RUN1}/users.parquet")
    recorded = []
    done = erase_files(
        s3_root, U, ["u@x.org"], record=lambda *change: recorded.append(change), lock_timeout=5
    )

    assert done.rows_removed == {"staging": 3, "curated": 1, "quarantine": 2, "validation_redacted": 3,
                                 "other": 2, "removed_unread": 2}  # fmt: skip
    assert sorted(done.rewritten) == sorted([
        f"staging/{RUN1}/users.parquet", f"staging/{RUN1}/events/part-00000.parquet",
        f"curated/user_engagement/{RUN1}/part-00000.parquet",
        f"{QUARANTINE}/run={K1}/part-00000.json", f"{QUARANTINE}/run={K0}/part-00000.json",
        f"validation/{RUN1}/checkpoint_result.json",
        f"data_docs/validations/daily_user_stats/{D}_{K1}/20240116T020000Z/v.html", "reports/2024-01.txt",
    ])  # fmt: skip
    assert sorted(done.removed) == [
        f"curated/daily_user_stats/{RUN1}/_temporary/0/part-00000.parquet",
        f"staging/{RUN1}/ingest_scratch/judged/part-00000.parquet",
    ]
    assert tree.get("reports/2024-01.txt").decode() == "support ticket of [erased]: [erased]\n"
    assert sum(len(r[1]) for r in recorded) == 8 and sum(len(r[2]) for r in recorded) == 2  # as it went

    # The rows left are the others', identical.
    assert tree.table(f"staging/{RUN1}/users.parquet") == users_before.slice(1)
    events = tree.table(f"staging/{RUN1}/events/part-00000.parquet")
    assert events.to_pydict() == {"user_id": [OTHER, THIRD, OTHER], "page": ["/b", "/d", "/e"]}
    assert tree.table(f"curated/user_engagement/{RUN1}/part-00000.parquet").to_pydict() == {
        "user_id": [OTHER], "score": [1.5]}  # fmt: skip
    assert tree.get(f"{QUARANTINE}/run={K1}/part-00000.json").decode() == lines(
        {"reason": "malformed", "raw": "{", "line": 9},
        {"reason": "invalid_value", "user_id": OTHER, "line": 12},
    )
    assert tree.get(f"{QUARANTINE}/run={K0}/part-00000.json") == b""
    assert json.loads(tree.get(f"validation/{RUN1}/checkpoint_result.json")) == {
        "unexpected": ["[erased]", "[erased]", OTHER]}  # fmt: skip
    assert (
        U not in tree.get(f"data_docs/validations/daily_user_stats/{D}_{K1}/20240116T020000Z/v.html").decode()
    )
    # The pointer tells the published files' new sizes, and still names the same run and files.
    pointer = json.loads(tree.get(f"{QUARANTINE}/_PUBLISHED.json"))
    assert pointer["run"] == K1
    assert {f["name"]: f["size"] for f in pointer["files"]} == {
        f"run={K1}/part-00000.json": len(tree.get(f"{QUARANTINE}/run={K1}/part-00000.json")),
        f"run={K1}/part-00001.json": len(tree.get(f"{QUARANTINE}/run={K1}/part-00001.json")),
    }
    after = tree.etags()
    unchanged = {k for k in before if before[k] == after.get(k)}
    prefix = f"{tree.prefix}/"
    assert sorted(k.removeprefix(prefix) for k in unchanged) == sorted([
        f"curated/page_view_stats/{RUN1}/part-00000.parquet", f"curated/user_engagement/{RUN1}/_SUCCESS",
        f"{QUARANTINE}/run={K1}/part-00001.json", "data_docs/index.html",
    ])  # fmt: skip

    again = erase_files(s3_root, U, ["u@x.org"], lock_timeout=5)  # idempotent: nothing left to find
    assert again.rows_removed == dict.fromkeys(done.rows_removed, 0)
    assert again.rewritten == [] and again.removed == []
    assert tree.etags() == after


def test_an_erasure_on_the_store_touches_nothing_of_a_run_being_written_and_names_it(
    erasure_tree, s3_root, analytics_conn
):
    from analytics_etl.erasure.files import erase_files
    from analytics_etl.run_lock import RunBusy, writing
    from analytics_etl.storage import root_path

    tree = erasure_tree
    before = tree.etags()
    staging = root_path(s3_root) / "staging" / f"date={D}" / f"run={K1}"
    with writing(staging), pytest.raises(RunBusy, match=f"s3a://{tree.bucket}/{tree.prefix}/staging/{RUN1}"):
        erase_files(s3_root, U, lock_timeout=0.5)
    assert tree.etags() == before  # the run's files untouched while it was written


def test_a_rerun_on_the_store_keeps_an_erased_user_out_of_its_own_files(
    erasure_tree, s3_root, analytics_conn
):
    """keep_erased_users_out on a run whose files are on the store: its events, user_engagement and its
    own `run=K/` rejects lose the user (the source no longer holds it); the pointer's sizes follow."""
    from analytics_etl.db import connect
    from analytics_etl.erasure.replay import keep_erased_users_out
    from analytics_etl.load_postgres import migrate
    from analytics_etl.paths import RunPaths
    from analytics_etl.storage import root_path

    tree = erasure_tree
    tree.parquet(f"staging/{RUN1}/users.parquet", id=[OTHER, THIRD], email=["o@x.org", "t@x.org"])  # U gone
    root = root_path(s3_root)
    paths = RunPaths(root, root, dt.date.fromisoformat(D), K1)
    conn = connect("analytics_postgres")
    migrate(conn)
    assert keep_erased_users_out(paths, conn) == {}  # nobody erased yet: nothing read, nothing changed
    with conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO erasure_log (run_id, user_id, erased_at, started_at, status, rows_removed,"
            " files_rewritten) VALUES ('manual__erase', %s, now(), now(), 'done', '{}', '[]')",
            (U,),
        )
    before = tree.etags()
    removed = keep_erased_users_out(paths, conn)
    conn.close()
    assert removed == {"events": 2, "user_engagement": 1, "quarantine": 1}
    assert tree.table(f"staging/{RUN1}/events/part-00000.parquet").column("user_id").to_pylist() == [
        OTHER,
        THIRD,
        OTHER,
    ]
    assert tree.get(f"{QUARANTINE}/run={K0}/part-00000.json") != b""  # another run's rejects: not this run's
    pointer = {f["name"]: f["size"] for f in json.loads(tree.get(f"{QUARANTINE}/_PUBLISHED.json"))["files"]}
    assert pointer[f"run={K1}/part-00000.json"] == len(tree.get(f"{QUARANTINE}/run={K1}/part-00000.json"))
    changed = {k.removeprefix(f"{tree.prefix}/") for k, tag in tree.etags().items() if before.get(k) != tag}
    assert changed == {
        f"staging/{RUN1}/events/part-00000.parquet", f"curated/user_engagement/{RUN1}/part-00000.parquet",
        f"{QUARANTINE}/run={K1}/part-00000.json", f"{QUARANTINE}/_PUBLISHED.json",
    }  # fmt: skip
