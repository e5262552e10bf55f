"""The protocol of a Cassandra load (`load.load_sink`), with the writer replaced by `MemoryStore`.

`MemoryStore` plays each statement of `cql/` by its file name on Python dicts: what key it writes
or deletes, nothing more. It is NOT a Cassandra (no CQL, no consistency levels, no timestamps, no
tombstones); it exists to check the order of operations: that no write is made per key besides the
rows, that a rerun leaves exactly the latest output, and that a load killed at any write, with any
part of its last concurrent round applied, is cleaned up by the next one. The real thing is tested
by tests/integration/test_cassandra_sink.py against a Cassandra server.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics_etl.cassandra import load, manifest, outputs, tables
from analytics_etl.cassandra import settings as cs
from analytics_etl.cassandra.errors import SinkUnavailable
from analytics_etl.paths import RunPaths
from tests.output_schemas import OUTPUT_SCHEMAS

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY = dt.date(2024, 1, 15)
SINKS = {sink.table: sink for sink in tables.SINKS}


class Killed(Exception):
    """The load's process dies here."""


class MemoryStore:
    """The sink's statements played on dicts, by statement name. Not a Cassandra: see the module doc."""

    def __init__(self, batch_size: int = 2, legacy: dict | None = None) -> None:
        self.settings = cs.parse_settings(batch_size=batch_size)
        self.rows: dict[str, dict[tuple, tuple]] = {table: {} for table in SINKS}
        self.manifest: dict[tuple, dict[tuple[int, int], bytes]] = {}
        self.legacy: dict[str, dict[dt.date, set[tuple]]] = legacy or {}
        self.writes: Counter[str] = Counter()
        self.log: list[str] = []
        self.kill_after: int | None = None  # statements left before the process dies
        self.rng = random.Random(0)

    # -- the writer's interface ------------------------------------------------------------------------
    def has_table(self, table: str) -> bool:
        return table in self.legacy

    def write(self, name: str, params, **kwargs: Any) -> None:
        params = list(params)
        if self.kill_after is not None and self.kill_after < len(params):
            applied = self.rng.sample(params, self.kill_after)  # a concurrent round: any part of it
            for p in applied:
                self._apply(name, p)
            raise Killed(name)
        for p in params:
            self._apply(name, p)
        if self.kill_after is not None:
            self.kill_after -= len(params)
        if params:
            self.writes[name] += len(params)
            self.log.append(name)

    def read(self, name: str, params: tuple, consume, *, fetch_size: int):
        self.log.append(name)
        return consume(iter(self._select(name, params)))

    # -- what each statement does ----------------------------------------------------------------------
    def _apply(self, name: str, p: tuple) -> None:
        if name == "key_manifest_insert":
            self.manifest.setdefault(p[:2], {})[p[2:4]] = p[4]
        elif name == "key_manifest_delete_older":
            chunks = self.manifest.get(p[:2], {})
            for older in [k for k in chunks if k[0] < p[2]]:
                del chunks[older]
        elif name.startswith("legacy_") and name.endswith("_drop"):
            self.legacy[name.removeprefix("legacy_").removesuffix("_drop")].pop(p[0], None)
        elif name.endswith("_insert"):
            sink = SINKS[name.removesuffix("_insert")]
            self.rows[sink.table][tuple(p[sink.columns.index(c)] for c in sink.primary_key)] = p
        elif name.endswith("_delete"):
            sink = SINKS[name.removesuffix("_delete")]
            bound = dict(zip((_partition_column(sink), *sink.key_columns), p, strict=True))
            self.rows[sink.table].pop(tuple(bound[c] for c in sink.primary_key), None)
        else:
            raise AssertionError(f"unknown statement {name}")

    def _select(self, name: str, params: tuple) -> list[tuple]:
        if name == "key_manifest_select":
            return [(g, c, blob) for (g, c), blob in sorted(self.manifest.get(params, {}).items())]
        if name.startswith("legacy_"):
            return sorted(
                self.legacy[name.removeprefix("legacy_").removesuffix("_select")].get(params[0], ())
            )
        sink = SINKS[name.removesuffix("_select_keys")]
        return [k for k in self._partition(sink, params[0])]

    # -- what the tests look at ------------------------------------------------------------------------
    def _partition(self, sink: tables.Sink, partition: dt.date) -> list[tuple]:
        where = sink.primary_key.index(_partition_column(sink))
        positions = [sink.primary_key.index(c) for c in sink.key_columns]
        return [tuple(pk[i] for i in positions) for pk in self.rows[sink.table] if pk[where] == partition]

    def table_keys(self, sink: tables.Sink, partition: dt.date) -> set[tuple]:
        return _canonical(self._partition(sink, partition))

    def listed_keys(self, sink: tables.Sink, partition: dt.date) -> set[tuple]:
        """The keys the next load will treat as possibly written."""
        if sink.keys_in_partition:
            return self.table_keys(sink, partition)
        chunks = self.manifest.get((sink.table, partition), {}).values()
        listed = {
            tuple(r.values())
            for blob in chunks
            for r in manifest.decode_chunk(blob, sink.key_columns).to_pylist()
        }
        for table in self.legacy.values():
            listed |= _canonical(table.get(partition, ()))
        return listed

    def generations(self, sink: tables.Sink, partition: dt.date) -> set[int]:
        return {g for g, _ in self.manifest.get((sink.table, partition), {})}


def _partition_column(sink: tables.Sink) -> str:
    (column,) = set(sink.primary_key) - set(sink.key_columns)
    return column


def _canonical(keys) -> set[tuple]:
    return {tuple(str(v) if isinstance(v, uuid.UUID) else v for v in key) for key in keys}


# -- outputs ---------------------------------------------------------------------------------------------
def _user(n: int) -> str:
    return str(uuid.UUID(int=n + 1))


def _record(table: str, n: int, date: dt.date = D) -> dict[str, Any]:
    """Output row number `n` of `table`: its key is determined by n, its values vary with n."""
    if table == "page_view_stats":
        return {"date": date, "hour": n % 24, "page": f"/p/{n}", "view_count": n + 1}
    if table == "user_engagement":
        return {
            "user_id": _user(n),
            "date": date,
            "total_events": n + 1,
            "unique_pages": n % 5,
            "session_count": 1,
            "total_time_minutes": n,
            "engagement_score": n * 0.3,
        }
    return {
        "user_id": _user(n // 3),
        "subject": ("math", "art", "music")[n % 3],
        "week_start": date - dt.timedelta(days=date.weekday()),
        "lessons_completed": n + 1,
        "time_spent_minutes": n,
        "average_score": None if n % 4 == 0 else float(n % 100),
    }


def _output(directory: Path, table: str, numbers, date: dt.date = D) -> Path:
    """An output directory as Spark writes it: two part files, small row groups, _SUCCESS."""
    directory.mkdir(parents=True)
    data = pa.Table.from_pylist([_record(table, n, date) for n in numbers], schema=OUTPUT_SCHEMAS[table])
    half = (data.num_rows + 1) // 2
    for i, part in enumerate((data.slice(0, half), data.slice(half))):
        pq.write_table(part, directory / f"part-{i:05d}.snappy.parquet", row_group_size=3)
    (directory / "_SUCCESS").write_text("")
    return directory


def _expected_keys(table: str, numbers, date: dt.date = D) -> set[tuple]:
    sink = SINKS[table]
    return {
        tuple(str(v) for v in (_record(table, n, date)[c] for c in sink.key_columns))
        if table != "page_view_stats"
        else (_record(table, n, date)["hour"], _record(table, n, date)["page"])
        for n in numbers
    }


class Loads:
    """Runs loads of one table for D from outputs named by their row numbers."""

    def __init__(self, tmp_path: Path, table: str) -> None:
        self.tmp_path, self.sink, self.runs = tmp_path, SINKS[table], 0

    def __call__(self, store: MemoryStore, numbers, date: dt.date = D) -> tuple[int, int]:
        self.runs += 1
        directory = _output(self.tmp_path / f"run{self.runs}", self.sink.table, numbers, date)
        return load.load_sink(store, self.sink, directory, date)


# -- the writes of a load --------------------------------------------------------------------------------
@pytest.mark.parametrize("table", ["user_engagement", "learning_progress"])
def test_no_write_per_key_besides_the_rows(tmp_path, table):
    run, store = Loads(tmp_path, table), MemoryStore(batch_size=7)
    assert run(store, range(200)) == (200, 0)
    assert store.writes == {f"{table}_insert": 200, "key_manifest_insert": 1}  # 200 keys in one chunk

    store.writes.clear()
    assert run(store, range(200)) == (200, 0)  # an identical rerun: nothing but the rows
    assert store.writes == {f"{table}_insert": 200}

    store.writes.clear()
    assert run(store, range(50, 260)) == (210, 50)  # 60 new keys, 50 stale ones
    assert store.writes == {
        f"{table}_insert": 210,
        f"{table}_delete": 50,
        "key_manifest_insert": 2,  # the new keys before the rows, then the new set
        "key_manifest_delete_older": 1,
    }
    partition = SINKS[table].partition_of(D)
    assert store.table_keys(SINKS[table], partition) == _expected_keys(table, range(50, 260))
    assert store.listed_keys(SINKS[table], partition) == _expected_keys(table, range(50, 260))
    assert len(store.generations(SINKS[table], partition)) == 1


def test_page_view_stats_reads_its_partition_and_writes_no_bookkeeping(tmp_path):
    run, store = Loads(tmp_path, "page_view_stats"), MemoryStore()
    run(store, range(30))
    assert run(store, range(10, 35)) == (25, 10)
    assert store.writes == {"page_view_stats_insert": 55, "page_view_stats_delete": 10}
    assert store.table_keys(SINKS["page_view_stats"], D) == _expected_keys("page_view_stats", range(10, 35))


def test_a_manifest_holds_chunks_of_keys(tmp_path, monkeypatch):
    monkeypatch.setattr(manifest, "CHUNK_KEYS", 40)
    run, store = Loads(tmp_path, "user_engagement"), MemoryStore(batch_size=50)
    run(store, range(100))
    assert store.writes["key_manifest_insert"] == 3  # 40 + 40 + 20 keys
    assert store.listed_keys(SINKS["user_engagement"], D) == _expected_keys("user_engagement", range(100))


def test_the_order_of_operations(tmp_path):
    run, store = Loads(tmp_path, "learning_progress"), MemoryStore(batch_size=4)
    run(store, range(12))
    store.log.clear()
    run(store, range(6, 18))
    assert _collapse(store.log) == [
        "key_manifest_select",  # old: every key earlier loads may have written
        "key_manifest_insert",  # cover: the new keys are listed before any row is written
        "learning_progress_insert",  # the rows, batch by batch
        "learning_progress_delete",  # then the stale ones go
        "key_manifest_insert",  # settle: the manifest becomes exactly the new keys ...
        "key_manifest_delete_older",  # ... and the older generations go
    ]


def _collapse(names: list[str]) -> list[str]:
    return [name for i, name in enumerate(names) if i == 0 or names[i - 1] != name]


def test_an_empty_output_deletes_every_previous_row_of_the_partition(tmp_path):
    for table in SINKS:
        run, store = Loads(tmp_path / table, table), MemoryStore()
        run(store, range(9))
        assert run(store, []) == (0, 9)
        partition = SINKS[table].partition_of(D)
        assert store.table_keys(SINKS[table], partition) == set()
        assert store.listed_keys(SINKS[table], partition) == set()


def test_other_partitions_are_untouched(tmp_path):
    next_week = D + dt.timedelta(days=7)
    for table in SINKS:
        run, store = Loads(tmp_path / table, table), MemoryStore()
        run(store, range(5), date=next_week)
        run(store, range(9))
        run(store, [])
        sink = SINKS[table]
        assert store.table_keys(sink, sink.partition_of(next_week)) == _expected_keys(
            table, range(5), next_week
        )


def test_days_of_one_week_replace_the_weeks_learning_progress(tmp_path):
    run, store = Loads(tmp_path, "learning_progress"), MemoryStore()
    run(store, range(9), date=MONDAY)
    assert run(store, range(3, 15), date=D) == (12, 3)  # Wednesday's run has seen more of the week
    assert store.table_keys(SINKS["learning_progress"], MONDAY) == _expected_keys(
        "learning_progress", range(3, 15)
    )


# -- killed loads ----------------------------------------------------------------------------------------
def _writes_of_a_load(tmp_path: Path, table: str, before, numbers) -> int:
    run, store = Loads(tmp_path, table), MemoryStore()
    run(store, before)
    store.writes.clear()
    run(store, numbers)
    return sum(store.writes.values())


SCENARIOS = [  # (the output loaded before, the output of the load that is killed, of the next load)
    (range(10), range(5, 16), range(3, 12)),
    (range(10), [], range(20, 25)),
    ([], range(12), range(4)),
    (range(8), range(8), range(2, 8)),
]


@pytest.mark.parametrize("table", list(SINKS))
@pytest.mark.parametrize(("before", "killed", "after"), SCENARIOS)
def test_a_load_killed_at_any_write_is_cleaned_up_by_the_next_one(tmp_path, table, before, killed, after):
    sink = SINKS[table]
    partition = sink.partition_of(D)
    total = _writes_of_a_load(tmp_path / "count", table, before, killed)
    for kill_after in range(total + 1):
        run, store = Loads(tmp_path / f"k{kill_after}", table), MemoryStore()
        store.rng.seed(kill_after)
        run(store, before)
        store.kill_after = kill_after
        with pytest.raises(Killed) if kill_after < total else contextlib.nullcontext():
            run(store, killed)
        # whatever the killed load wrote is listed for the next one
        assert store.table_keys(sink, partition) <= store.listed_keys(sink, partition), kill_after
        store.kill_after = None
        run(store, after)
        assert store.table_keys(sink, partition) == _expected_keys(table, after), kill_after
        assert store.listed_keys(sink, partition) == _expected_keys(table, after), kill_after


@pytest.mark.parametrize("table", ["user_engagement", "learning_progress"])
def test_loads_killed_one_after_the_other_converge(tmp_path, table):
    sink = SINKS[table]
    partition = sink.partition_of(D)
    rng = random.Random(6)
    for attempt in range(25):
        run, store = Loads(tmp_path / f"a{attempt}", table), MemoryStore(batch_size=3)
        store.rng.seed(attempt)
        for _ in range(4):  # several loads, each killed somewhere
            store.kill_after = rng.randrange(12)
            numbers = range(rng.randrange(6), rng.randrange(6, 20))
            try:
                run(store, numbers)
            except Killed:
                pass
            assert store.table_keys(sink, partition) <= store.listed_keys(sink, partition)
        store.kill_after = None
        final = range(rng.randrange(10), 14)
        run(store, final)
        assert store.table_keys(sink, partition) == _expected_keys(table, final)
        assert store.listed_keys(sink, partition) == _expected_keys(table, final)
        assert len(store.generations(sink, partition)) <= 1


# -- the per-key manifests of earlier versions -------------------------------------------------------------
def test_a_per_key_manifest_of_an_earlier_version_is_honoured_then_dropped(tmp_path):
    stale_user = uuid.UUID(int=999)
    store = MemoryStore(
        legacy={"user_engagement_keys": {D: {(stale_user,)}, D + dt.timedelta(days=1): {(stale_user,)}}}
    )
    store.rows["user_engagement"][(stale_user, D)] = (stale_user, D, 1, 1, 1, 1, 0.3)  # written by it
    run = Loads(tmp_path, "user_engagement")
    assert run(store, range(4)) == (4, 1)
    assert store.table_keys(SINKS["user_engagement"], D) == _expected_keys("user_engagement", range(4))
    assert D not in store.legacy["user_engagement_keys"]  # its partition of D is gone ...
    assert D + dt.timedelta(days=1) in store.legacy["user_engagement_keys"]  # ... not the others
    assert store.listed_keys(SINKS["user_engagement"], D) == _expected_keys("user_engagement", range(4))


# -- guards and entry points ---------------------------------------------------------------------------------
def test_load_day_refuses_paths_of_another_date(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    with pytest.raises(ValueError, match="paths are for 2024-01-17"):
        load.load_day(paths, dt.date(2024, 1, 18))


def test_load_day_checks_every_output_before_connecting(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    paths.output("page_view_stats").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="output user_engagement of the run is missing"):
        load.load_day(paths, D, conn_id="cassandra_unit_never_defined")


def test_a_refused_row_stops_the_load_naming_it(tmp_path):
    from analytics_etl.cassandra.errors import SinkRefusedRow

    directory = tmp_path / "out"
    directory.mkdir()
    rows = [_record("page_view_stats", n) for n in range(3)]
    rows[1]["view_count"] = 2**63 - 1
    rows[2]["view_count"] = None
    pq.write_table(
        pa.Table.from_pylist(rows, schema=OUTPUT_SCHEMAS["page_view_stats"]), directory / "part-0.parquet"
    )
    with pytest.raises(
        SinkRefusedRow, match=r"page_view_stats with key \(date=2024-01-17, hour=2, page='/p/2'\)"
    ):
        load.load_sink(MemoryStore(), SINKS["page_view_stats"], directory, D)


def test_outputs_keys_are_read_from_the_key_columns_only(tmp_path):
    directory = _output(tmp_path / "out", "learning_progress", range(10))
    keys = outputs.output_keys(SINKS["learning_progress"], directory, batch_size=4)
    assert keys.column_names == ["user_id", "subject"]
    assert {tuple(r.values()) for r in keys.to_pylist()} == _expected_keys("learning_progress", range(10))


def test_the_facade_the_tasks_call_exports_exactly_the_three_entry_points():
    from analytics_etl import load_cassandra

    assert load_cassandra.__all__ == ["cassandra_configured", "count_output_rows", "load_day"]
    assert load_cassandra.load_day is load.load_day
    assert load_cassandra.count_output_rows is outputs.count_output_rows
    assert load_cassandra.cassandra_configured is cs.cassandra_configured


def test_no_cassandra_listening_ends_in_sink_unavailable_naming_the_host(tmp_path, monkeypatch):
    # a closed port on this machine: the driver's own connection error, no server involved
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_UNIT_CLOSED", "cassandra://127.0.0.1:1/analytics")
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    for table in SINKS:
        _output(paths.output(table), table, range(3))
    with pytest.raises(SinkUnavailable) as err:
        load.load_day(paths, D, conn_id="cassandra_unit_closed", settings=cs.parse_settings(max_retries=0))
    assert "127.0.0.1:1" in str(err.value) and "NoHostAvailable" in str(err.value)
    assert "rows written so far: nothing" in str(err.value)
