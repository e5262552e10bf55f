"""Erasure of one user: the request check, the file rewrites and the Cassandra protocol (rows and key
manifests) on `MemoryStore`, which is not a Cassandra (see tests/unit/test_cassandra_load.py); the
real cluster is exercised by tests/integration/test_erasure.py when CASSANDRA_HOST is set."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics_etl.erasure import cassandra as erase_cassandra
from analytics_etl.erasure import files as files_module
from analytics_etl.erasure.files import KEYS, REDACTED, Unreadable, erase_files
from analytics_etl.erasure.request import InvalidUserId, parse_user_id
from tests.unit.test_cassandra_load import SINKS, Loads, MemoryStore, _user

pytestmark = pytest.mark.unit

U = "0f8fad5b-d9cb-469f-a165-70867728950e"
OTHER = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


@pytest.mark.parametrize("bad", [None, "", "42", "0f8fad5bd9cb469fa16570867728950e", U + "x", 5, "'; DROP"])
def test_a_bad_user_id_is_refused_naming_it(bad):
    with pytest.raises(InvalidUserId, match="invalid user_id"):
        parse_user_id(bad)


def test_a_user_id_is_canonical():
    assert parse_user_id(f"  {U.upper()} ") == U


# -- files ---------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _locks_without_a_database(monkeypatch):
    """The writer and site locks are PostgreSQL advisory locks: no server in a unit test, so none are
    taken here. Waiting for a writer is tested for real in tests/integration/test_run_lock.py."""
    monkeypatch.setattr(files_module, "no_writer", lambda stagings, timeout: contextlib.nullcontext())
    monkeypatch.setattr(files_module, "site_lock", lambda site: contextlib.nullcontext())


def parquet(path, **columns):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    path.with_name(f".{path.name}.crc").write_text("stale checksum")
    return path


@pytest.fixture
def data_dir(tmp_path):
    root = tmp_path / "data"
    run = "date=2024-01-15/run=manual_1"
    parquet(root / "staging" / run / "users.parquet", id=[U.upper(), OTHER], email=["u@x.org", "o@x.org"])
    parquet(
        root / "staging" / run / "events" / "part-0.parquet", user_id=[U, OTHER, U], page=["/a", "/b", "/c"]
    )
    parquet(root / "curated" / "user_engagement" / run / "part-0.parquet", user_id=[OTHER], score=[1.0])
    parquet(root / "curated" / "page_view_stats" / run / "part-0.parquet", page=["/a"], views=[3])
    parquet(root / "staging" / run / "ingest_scratch" / "part-0.parquet", user_id=[U])  # a dead job's
    quarantine = root / "quarantine" / "user_events" / "date=2024-01-15" / "part-0.json"
    quarantine.parent.mkdir(parents=True)
    rows = [
        {"reason": "malformed", "raw": f'{{"user_id": "{U.upper()}"'},
        {"reason": "malformed", "raw": "{"},
    ]
    quarantine.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = root / "validation" / run / "daily_user_stats.json"
    result.parent.mkdir(parents=True)
    result.write_text(json.dumps({"partial_unexpected_list": [U, "U@X.ORG", OTHER]}))
    outside = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"user_id": [U]}), outside)
    (root / "curated" / "linked.parquet").symlink_to(outside)
    return root


def test_files_lose_the_user_and_nothing_else(data_dir, tmp_path):
    done = erase_files(data_dir, U, ["u@x.org"])
    run = "date=2024-01-15/run=manual_1"
    assert pq.read_table(data_dir / "staging" / run / "users.parquet").column("id").to_pylist() == [OTHER]
    events = pq.read_table(data_dir / "staging" / run / "events" / "part-0.parquet")
    assert events.to_pylist() == [{"user_id": OTHER, "page": "/b"}]
    assert not (data_dir / "staging" / run / "events" / ".part-0.parquet.crc").exists()  # stale checksum gone
    quarantine = (data_dir / "quarantine" / "user_events" / "date=2024-01-15" / "part-0.json").read_text()
    assert U not in quarantine.lower() and quarantine.count("\n") == 1
    result = json.loads((data_dir / "validation" / run / "daily_user_stats.json").read_text())
    assert result == {"partial_unexpected_list": [REDACTED, REDACTED, OTHER]}
    assert done.rows_removed == {
        **dict.fromkeys(KEYS, 0),
        "staging": 3,
        "quarantine": 1,
        "validation_redacted": 2,
        "removed_unread": 2,
    }
    assert sorted(done.rewritten) == sorted(
        [f"staging/{run}/users.parquet", f"staging/{run}/events/part-0.parquet",
         "quarantine/user_events/date=2024-01-15/part-0.json", f"validation/{run}/daily_user_stats.json"]
    )  # fmt: skip
    # The scratch of a job no longer writing the run: removed, unread (file and checksum).
    scratch = f"staging/{run}/ingest_scratch"
    assert done.removed == [f"{scratch}/.part-0.parquet.crc", f"{scratch}/part-0.parquet"]
    assert not (data_dir / scratch).exists()
    # Untouched: other users' files, anything behind a link out of data_dir.
    assert pq.read_table(tmp_path / "outside.parquet").num_rows == 1
    assert (data_dir / "curated" / "user_engagement" / run / ".part-0.parquet.crc").exists()


def test_a_second_erasure_finds_nothing(data_dir):
    erase_files(data_dir, U, ["u@x.org"])
    again = erase_files(data_dir, U, ["u@x.org"])
    assert again.rows_removed == dict.fromkeys(KEYS, 0) and again.rewritten == again.removed == []


def test_no_data_dir_yet_is_nothing_to_do(tmp_path):
    done = erase_files(tmp_path / "never-written", U)
    assert done.rows_removed == dict.fromkeys(KEYS, 0) and done.rewritten == []


def test_each_change_is_recorded_as_it_is_made(data_dir):
    seen = []
    done = erase_files(data_dir, U, ["u@x.org"], record=lambda *change: seen.append(change))
    totals = dict.fromkeys(KEYS, 0)
    for rows, _, _ in seen:
        for key, n in rows.items():
            totals[key] += n
    assert totals == done.rows_removed
    assert sorted(p for _, rewritten, _ in seen for p in rewritten) == sorted(done.rewritten)
    assert sorted(p for _, _, removed in seen for p in removed) == sorted(done.removed)


RUN = "date=2024-01-15/run=killed_1"


def test_what_a_killed_run_leaves_is_removed_unread_or_rewritten(tmp_path):
    """Spark's uncommitted attempt (an empty part file), a half-written scratch, a file written aside."""
    root = tmp_path / "data"
    curated = root / "curated" / "daily_user_stats" / RUN
    attempt = curated / "_temporary" / "0" / "_temporary" / "attempt_1" / "part-00000-x.snappy.parquet"
    attempt.parent.mkdir(parents=True)
    attempt.write_bytes(b"")  # 0 bytes: pyarrow cannot read it, and no reader ever will
    scratch = root / "staging" / RUN / "ingest_scratch" / "judged"
    parquet(scratch / "part-0.parquet", user_id=[None, OTHER], raw=[f'{{"user_id": "{U.upper()}"', "{}"])
    (scratch / "part-1.parquet").write_bytes(b"PAR1\x00truncated")
    (root / "staging" / RUN / "users.parquet.csv.tmp").write_text(f"id,email\n{U},u@x.org\n")
    done = erase_files(root, U)
    assert not (curated / "_temporary").exists() and not scratch.parent.exists()
    assert not (root / "staging" / RUN / "users.parquet.csv.tmp").exists()
    assert sorted(done.removed) == sorted(
        [str(p.relative_to(root)) for p in (attempt, scratch / "part-0.parquet", scratch / "part-1.parquet",
                                            scratch / ".part-0.parquet.crc")]
        + [f"staging/{RUN}/users.parquet.csv.tmp"]
    )  # fmt: skip
    assert done.rows_removed["removed_unread"] == 5


def test_rows_that_mention_the_user_in_a_text_column_go_too(tmp_path):
    root = tmp_path / "data"
    part = parquet(
        root / "staging" / RUN / "events" / "part-0.parquet",
        user_id=[None, OTHER, OTHER, U],
        raw=[f'{{"user_id": "{U.upper()}", "x": 1', '{"user_id": "other"}', None, None],
        page=["/a", None, "/c", None],  # NULLs elsewhere in the row never hide the user
    )
    done = erase_files(root, U)
    assert pq.read_table(part).column("user_id").to_pylist() == [OTHER, OTHER]
    assert done.rows_removed["staging"] == 2


def test_gzipped_lines_lose_the_user(tmp_path):
    root = tmp_path / "data"
    path = root / "quarantine" / "user_events" / "date=2024-01-15" / "part-0.json.gz"
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt") as sink:
        sink.write(f'{{"raw": "{U}"}}\n{{"raw": "{OTHER}"}}\n')
    done = erase_files(root, U)
    with gzip.open(path, "rt") as source:
        assert source.read() == f'{{"raw": "{OTHER}"}}\n'
    assert done.rows_removed["quarantine"] == 1


@pytest.mark.parametrize(
    "name, content",
    [("part-00000.snappy.parquet", b""), ("part-00001.snappy.parquet", b"PAR1 cut short"),
     ("blob.bin", f"..{U}..".encode())],
)  # fmt: skip
def test_a_committed_file_that_cannot_be_read_fails_naming_it(tmp_path, name, content):
    root = tmp_path / "data"
    bad = root / "curated" / "daily_user_stats" / RUN / name
    bad.parent.mkdir(parents=True)
    bad.write_bytes(content)
    with pytest.raises(Unreadable, match=str(bad)):
        erase_files(root, U)
    assert bad.read_bytes() == content


# -- Cassandra ---------------------------------------------------------------------------------------
class ErasureStore(MemoryStore):
    """MemoryStore plus the two statements of the erasure."""

    def _select(self, name, params):
        if name == "key_manifest_partitions":
            return sorted(self.manifest)
        return super()._select(name, params)

    def _apply(self, name, p):
        if name == "user_engagement_delete_user":
            for key in [k for k in self.rows["user_engagement"] if str(k[0]) == str(p[0])]:
                del self.rows["user_engagement"][key]
        else:
            super()._apply(name, p)


D1, D2 = dt.date(2024, 1, 16), dt.date(2024, 1, 23)  # two weeks


def loaded_store(tmp_path) -> ErasureStore:
    store = ErasureStore(batch_size=7)
    for table in ("user_engagement", "learning_progress"):
        run = Loads(tmp_path / table, table)
        for day in (D1, D2):
            run(store, range(12), day)
    return store


def test_cassandra_loses_every_row_and_manifest_key_of_the_user(tmp_path):
    store = loaded_store(tmp_path)
    target = _user(1)  # rows 1 of user_engagement; rows 3..5 (three subjects) of learning_progress
    removed = erase_cassandra.erase_user(store, target)
    assert removed == {"cassandra.user_engagement": 2, "cassandra.learning_progress": 6}
    for table in ("user_engagement", "learning_progress"):
        sink = SINKS[table]
        assert all(str(pk[0]) != target for pk in store.rows[table]), table
        for partition in {sink.partition_of(D1), sink.partition_of(D2)}:
            listed = store.listed_keys(sink, partition)
            assert listed and all(key[0] != target for key in listed), (table, partition)
            assert listed == store.table_keys(sink, partition)  # the manifest lists exactly the table
    assert len(store.rows["user_engagement"]) == 22 and len(store.rows["learning_progress"]) == 18

    again = erase_cassandra.erase_user(store, target)  # idempotent: nothing is left to find
    assert again == {"cassandra.user_engagement": 0, "cassandra.learning_progress": 0}


def test_after_an_erasure_a_rerun_of_a_day_without_the_user_keeps_everyone_else(tmp_path):
    store = loaded_store(tmp_path)
    erase_cassandra.erase_user(store, _user(1))
    run = Loads(tmp_path / "rerun", "user_engagement")
    assert run(store, [n for n in range(12) if n != 1], D1) == (11, 0)  # nothing stale: the user is gone
    assert uuid.UUID(_user(1)) not in {pk[0] for pk in store.rows["user_engagement"]}
