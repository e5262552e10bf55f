"""The Cassandra sink's pure logic: settings, statements, row conversion, stale keys, batching, retries.

Nothing here talks to Cassandra; tests/integration/test_cassandra_sink.py does, against a real server.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cassandra import ConsistencyLevel, InvalidRequest, Unavailable, WriteTimeout

from analytics_etl import load_cassandra as lc
from analytics_etl.paths import OUTPUT_TABLES, RunPaths

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY = dt.date(2024, 1, 15)
U1 = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
U2 = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# -- settings ---------------------------------------------------------------------------------------
def test_defaults_when_no_variable_is_set():
    settings = lc.read_settings(lambda key: None)
    assert settings == lc.CassandraSettings(
        replication={"class": "SimpleStrategy", "replication_factor": "1"},
        consistency="LOCAL_QUORUM",
        concurrency=64,
        batch_size=5_000,
        max_retries=5,
    )


def test_settings_from_variable_strings():
    values = {
        lc.VAR_REPLICATION: '{"class": "NetworkTopologyStrategy", "dc1": 3, "dc-2": "2"}',
        lc.VAR_CONSISTENCY: "local_one",
        lc.VAR_CONCURRENCY: " 128 ",
        lc.VAR_BATCH_SIZE: "1000",
        lc.VAR_MAX_RETRIES: "0",
    }
    settings = lc.read_settings(values.get)
    assert settings.replication == {"class": "NetworkTopologyStrategy", "dc1": "3", "dc-2": "2"}
    assert settings.consistency == "LOCAL_ONE"
    assert (settings.concurrency, settings.batch_size, settings.max_retries) == (128, 1000, 0)


def test_empty_string_variable_means_default():
    assert lc.parse_settings(concurrency="", consistency="").concurrency == lc.DEFAULT_CONCURRENCY


def test_every_allowed_consistency_level_is_a_driver_level():
    for name in lc.CONSISTENCY_LEVELS:
        assert name in ConsistencyLevel.name_to_value


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "must be a JSON object"),
        ("[1, 2]", "must be a JSON object"),
        ({"class": "LocalStrategy"}, "'class' must be one of"),
        ({"replication_factor": 1}, "'class' must be one of"),
        ({"class": "SimpleStrategy"}, "takes exactly 'replication_factor'"),
        ({"class": "SimpleStrategy", "replication_factor": 1, "dc1": 3}, "takes exactly"),
        ({"class": "SimpleStrategy", "replication_factor": 0}, "between 1 and 100"),
        ({"class": "SimpleStrategy", "replication_factor": "three"}, "whole number"),
        ({"class": "SimpleStrategy", "replication_factor": True}, "whole number"),
        ({"class": "SimpleStrategy", "replication_factor": 1.5}, "whole number"),
        ({"class": "NetworkTopologyStrategy"}, "at least one data centre"),
        ({"class": "NetworkTopologyStrategy", "dc1'}; DROP": 3}, "invalid data centre name"),
        ({"class": "NetworkTopologyStrategy", "dc1": -1}, "between 1 and 100"),
    ],
)
def test_bad_replication_is_refused_naming_the_variable(raw, message):
    with pytest.raises(ValueError, match=message) as err:
        lc.parse_replication(raw)
    assert lc.VAR_REPLICATION in str(err.value)


def test_replication_accepts_the_fully_qualified_class_and_renders_a_cql_map():
    replication = lc.parse_replication(
        {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "eu_west": 3, "us": 2}
    )
    assert lc.render_replication(replication) == (
        "{'class': 'NetworkTopologyStrategy', 'eu_west': '3', 'us': '2'}"
    )


@pytest.mark.parametrize("raw", ["SERIAL", "local_serial", "ANY", "quorumm", ""])
def test_bad_consistency_is_refused(raw):
    with pytest.raises(ValueError, match=lc.VAR_CONSISTENCY):
        lc.parse_consistency(raw)


@pytest.mark.parametrize(
    ("kwargs", "variable"),
    [
        ({"concurrency": "0"}, lc.VAR_CONCURRENCY),
        ({"concurrency": "-4"}, lc.VAR_CONCURRENCY),
        ({"concurrency": "many"}, lc.VAR_CONCURRENCY),
        ({"concurrency": 10_000}, lc.VAR_CONCURRENCY),
        ({"concurrency": True}, lc.VAR_CONCURRENCY),
        ({"batch_size": "0"}, lc.VAR_BATCH_SIZE),
        ({"batch_size": 1_000_000}, lc.VAR_BATCH_SIZE),
        ({"max_retries": "-1"}, lc.VAR_MAX_RETRIES),
        ({"max_retries": 1000}, lc.VAR_MAX_RETRIES),
    ],
)
def test_bad_numbers_are_refused_naming_the_variable(kwargs, variable):
    with pytest.raises(ValueError, match=variable):
        lc.parse_settings(**kwargs)


@pytest.mark.parametrize(
    ("schema", "keyspace"),
    [
        (None, "analytics"),
        ("", "analytics"),
        ("  ", "analytics"),
        ("it_analytics_1", "it_analytics_1"),
        ("Analytics", "analytics"),
    ],
)
def test_keyspace_name(schema, keyspace):
    assert lc.keyspace_name(schema) == keyspace


@pytest.mark.parametrize("schema", ["1abc", "bad-name", "ks; DROP KEYSPACE x", '"quoted"', "a" * 49])
def test_bad_keyspace_name_is_refused(schema):
    with pytest.raises(ValueError, match="invalid keyspace"):
        lc.keyspace_name(schema)


# -- statements -------------------------------------------------------------------------------------
CONTRACT_TABLES = {
    "page_view_stats": """CREATE TABLE IF NOT EXISTS ks.page_view_stats (
        date date, hour int, page text, view_count bigint,
        PRIMARY KEY ((date), hour, page)
    ) WITH CLUSTERING ORDER BY (hour DESC, page ASC)""",
    "user_engagement": """CREATE TABLE IF NOT EXISTS ks.user_engagement (
        user_id uuid, date date, total_events bigint, unique_pages int, session_count int,
        total_time_minutes int, engagement_score double,
        PRIMARY KEY ((user_id), date)
    ) WITH CLUSTERING ORDER BY (date DESC)""",
    "learning_progress": """CREATE TABLE IF NOT EXISTS ks.learning_progress (
        user_id uuid, subject text, week_start date, lessons_completed int,
        time_spent_minutes int, average_score double,
        PRIMARY KEY ((user_id, subject), week_start)
    ) WITH CLUSTERING ORDER BY (week_start DESC)""",
}


def test_schema_statements_are_the_contract_tables_in_the_chosen_keyspace():
    statements = dict(lc.schema_statements("ks", lc.parse_replication(lc.DEFAULT_REPLICATION)))
    assert list(statements) == [
        "ks",
        "page_view_stats",
        "user_engagement",
        "learning_progress",
        "user_engagement_keys",
        "learning_progress_keys",
    ]
    assert _ws(statements["ks"]) == (
        "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': '1'} AND durable_writes = true"
    )
    for table, expected in CONTRACT_TABLES.items():
        assert _ws(statements[table]) == _ws(expected)
    assert all("IF NOT EXISTS" in cql for cql in statements.values())


def test_every_cql_file_renders_without_leftover_placeholders():
    files = sorted(lc.CQL_DIR.glob("*.cql"))
    assert files
    replication = lc.parse_replication(lc.DEFAULT_REPLICATION)
    for path in files:
        cql = lc.render(lc.read_cql(path.stem), "ks", replication)
        assert "{keyspace}" not in cql and "{replication}" not in cql, path
        assert "--" not in cql and not cql.endswith(";"), path
        assert re.search(r"\bks\.|KEYSPACE IF NOT EXISTS ks\b", cql), path


def test_every_statement_a_sink_uses_exists_with_its_bind_markers():
    # inserts bind a whole row; every key statement binds (partition, *key); selects bind the partition
    for sink in lc.SINKS:
        assert lc.statement(sink.insert, "ks").count("?") == len(sink.columns)
        assert lc.statement(sink.delete, "ks").count("?") == 1 + len(sink.key_columns)
        assert lc.statement(sink.select_keys, "ks").count("?") == 1
        selected = re.search(r"SELECT (.*) FROM", lc.statement(sink.select_keys, "ks")).group(1)
        assert [c.strip() for c in selected.split(",")] == list(sink.key_columns)
        for name in (sink.manifest_insert, sink.manifest_delete):
            if name:
                assert lc.statement(name, "ks").count("?") == 1 + len(sink.key_columns)
        assert sink.table in OUTPUT_TABLES


def test_deletes_name_the_partition_first_like_their_bound_values():
    assert "WHERE date = ? AND user_id = ?" in lc.statement("user_engagement_delete", "ks")
    assert "WHERE week_start = ? AND user_id = ? AND subject = ?" in lc.statement(
        "learning_progress_delete", "ks"
    )
    assert "WHERE date = ? AND hour = ? AND page = ?" in lc.statement("page_view_stats_delete", "ks")


def test_render_never_takes_values_and_needs_replication_for_the_keyspace():
    with pytest.raises(ValueError, match="replication"):
        lc.render(lc.read_cql("keyspace_create"), "ks")
    with pytest.raises(ValueError, match="invalid keyspace"):
        lc.render("SELECT * FROM {keyspace}.t", "x; DROP")


def test_missing_cql_file_is_named():
    with pytest.raises(FileNotFoundError, match="nope.cql"):
        lc.read_cql("nope")


def test_replication_matches_the_drivers_export():
    wanted = lc.parse_replication({"class": "NetworkTopologyStrategy", "dc1": 3})
    assert lc.replication_matches("{'class': 'NetworkTopologyStrategy', 'dc1': '3'}", wanted)
    assert lc.replication_matches(
        {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": 3}, wanted
    )
    assert not lc.replication_matches("{'class': 'SimpleStrategy', 'replication_factor': '3'}", wanted)
    assert not lc.replication_matches("garbage(", wanted)


# -- rows -------------------------------------------------------------------------------------------
def test_page_view_stats_row():
    row = {"date": D, "hour": 10, "page": "/dashboard", "view_count": 3}
    assert lc.convert_page_view_stats(row, D) == (D, 10, "/dashboard", 3)


def test_user_engagement_row_resolves_uuid_and_date():
    row = {
        "user_id": str(U1).upper(),
        "date": "2024-01-17",
        "total_events": 2**40,
        "unique_pages": 2,
        "session_count": 1,
        "total_time_minutes": 0,
        "engagement_score": 1,
    }
    converted = lc.convert_user_engagement(row, D)
    assert converted == (U1, D, 2**40, 2, 1, 0, 1.0)
    assert isinstance(converted[0], uuid.UUID) and isinstance(converted[6], float)


def test_learning_progress_row_keeps_a_null_score_null():
    row = {
        "user_id": str(U2),
        "subject": "math",
        "week_start": MONDAY,
        "lessons_completed": 4,
        "time_spent_minutes": 95,
        "average_score": None,
    }
    assert lc.convert_learning_progress(row, MONDAY) == (U2, "math", MONDAY, 4, 95, None)
    assert lc.convert_learning_progress({**row, "average_score": 87.5}, MONDAY)[5] == 87.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user_id": "not-a-uuid"}, "user_id: 'not-a-uuid' is not a UUID"),
        ({"user_id": None}, "user_id is null"),
        ({"date": dt.date(2024, 1, 16)}, "only writes date = 2024-01-17"),
        ({"date": dt.datetime(2024, 1, 17, 0, 0)}, "expected a date"),
        ({"date": "17/01/2024"}, "is not a date"),
        ({"unique_pages": 2**31}, "does not fit a 32-bit"),
        ({"session_count": "3"}, "is not an integer"),
        ({"engagement_score": None}, "engagement_score is null"),
        ({"engagement_score": float("nan")}, "NaN"),
    ],
)
def test_bad_user_engagement_rows_are_refused_naming_the_column(change, message):
    row = {
        "user_id": str(U1),
        "date": D,
        "total_events": 1,
        "unique_pages": 1,
        "session_count": 0,
        "total_time_minutes": 0,
        "engagement_score": 0.7,
        **change,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        lc.convert_user_engagement(row, D)


def test_learning_progress_of_another_week_is_refused():
    row = {
        "user_id": str(U1),
        "subject": "math",
        "week_start": dt.date(2024, 1, 8),
        "lessons_completed": 1,
        "time_spent_minutes": 1,
        "average_score": None,
    }
    with pytest.raises(ValueError, match="week_start"):
        lc.convert_learning_progress(row, MONDAY)


def test_week_start_is_the_iso_monday():
    assert [lc.week_start(MONDAY + dt.timedelta(days=n)) for n in range(7)] == [MONDAY] * 7
    assert lc.week_start(dt.date(2024, 1, 14)) == dt.date(2024, 1, 8)


def test_sink_partitions_and_keys():
    by_table = {sink.table: sink for sink in lc.SINKS}
    assert by_table["page_view_stats"].partition_of(D) == D
    assert by_table["user_engagement"].partition_of(D) == D
    assert by_table["learning_progress"].partition_of(D) == MONDAY
    assert by_table["page_view_stats"].key((D, 10, "/a", 3)) == (10, "/a")
    assert by_table["learning_progress"].key((U1, "math", MONDAY, 1, 1, None)) == (U1, "math")
    assert by_table["user_engagement"].manifest_insert and by_table["learning_progress"].manifest_insert
    assert by_table["page_view_stats"].manifest_insert is None  # its partition is its own manifest


# -- stale keys -------------------------------------------------------------------------------------
def test_stale_keys_are_the_previous_ones_the_new_output_lacks():
    columns = ("user_id", "subject")
    previous = lc.keys_table(columns, [(U1, "math"), (U1, "art"), (U2, "math")])
    current = lc.keys_table(columns, [(U1, "math"), (U2, "art")])
    stale = lc.stale_keys(previous, current)
    assert sorted(stale.to_pylist(), key=str) == sorted(
        [{"user_id": str(U1), "subject": "art"}, {"user_id": str(U2), "subject": "math"}], key=str
    )
    assert list(lc.key_tuples(stale, 10)) in (
        [[(U1, "art"), (U2, "math")]],
        [[(U2, "math"), (U1, "art")]],
    )


def test_stale_keys_edge_cases():
    columns = ("hour", "page")
    previous = lc.keys_table(columns, [(1, "/a"), (2, "/a")])
    empty = lc.keys_table(columns, [])
    assert lc.stale_keys(previous, empty).num_rows == 2  # the new output is empty: all of it is stale
    assert lc.stale_keys(empty, previous).num_rows == 0
    assert lc.stale_keys(previous, previous).num_rows == 0
    # a key differing in one component only is another key
    other = lc.stale_keys(previous, lc.keys_table(columns, [(1, "/b"), (2, "/a")]))
    assert other.to_pylist() == [{"hour": 1, "page": "/a"}]


def test_uuid_keys_compare_in_canonical_form():
    # the output holds user_id strings, Cassandra returns UUIDs: both become the canonical string
    previous = lc.keys_table(("user_id",), [(U1,)])
    current = lc.keys_table(("user_id",), [(lc.to_uuid(str(U1).upper(), "user_id"),)])
    assert lc.stale_keys(previous, current).num_rows == 0


def test_key_tuples_come_in_bounded_chunks():
    keys = [(uuid.UUID(int=n),) for n in range(25)]
    chunks = list(lc.key_tuples(lc.keys_table(("user_id",), keys), 10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [k for c in chunks for k in c] == keys


# -- Parquet batching -------------------------------------------------------------------------------
def _spark_like_dir(directory: Path, table: pa.Table, *, files: int = 3, row_group_size: int = 7) -> Path:
    directory.mkdir(parents=True)
    per_file = -(-table.num_rows // files)
    for n in range(files):
        chunk = table.slice(n * per_file, per_file)
        pq.write_table(chunk, directory / f"part-{n:05d}.snappy.parquet", row_group_size=row_group_size)
    (directory / "_SUCCESS").write_text("")
    (directory / ".part-00000.snappy.parquet.crc").write_bytes(b"\x00garbage")
    return directory


def test_batches_never_exceed_the_batch_size(tmp_path):
    n = 1_000
    table = pa.table(
        {
            "date": pa.array([D] * n, pa.date32()),
            "hour": pa.array([i % 24 for i in range(n)], pa.int32()),
            "page": [f"/p{i}" for i in range(n)],
            "view_count": pa.array(range(1, n + 1), pa.int64()),
        }
    )
    directory = _spark_like_dir(tmp_path / "out", table, row_group_size=300)
    sizes = []
    pages = []
    for batch in lc.iter_batches(directory, ("date", "hour", "page", "view_count"), 64):
        sizes.append(batch.num_rows)
        pages += batch.column("page").to_pylist()
    assert max(sizes) <= 64
    assert sum(sizes) == n and sorted(pages) == sorted(f"/p{i}" for i in range(n))


def test_batches_read_only_the_requested_columns_in_order(tmp_path):
    table = pa.table({"b": [1, 2], "a": ["x", "y"], "extra": [0.1, 0.2]})
    directory = _spark_like_dir(tmp_path / "out", table, files=1)
    batches = list(lc.iter_batches(directory, ("a", "b"), 10))
    assert batches[0].schema.names == ["a", "b"]


def test_missing_directory_or_column_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list(lc.iter_batches(tmp_path / "absent", ("a",), 10))
    directory = _spark_like_dir(tmp_path / "out", pa.table({"a": [1]}), files=1)
    with pytest.raises(ValueError, match=r"lacks the columns \['b'\]"):
        list(lc.iter_batches(directory, ("a", "b"), 10))


def test_directory_without_data_files_is_an_empty_output(tmp_path):
    directory = tmp_path / "out"
    directory.mkdir()
    (directory / "_SUCCESS").write_text("")
    assert list(lc.iter_batches(directory, ("a",), 10)) == []


def test_empty_parquet_file_yields_no_rows(tmp_path):
    schema = pa.schema([("user_id", pa.string()), ("date", pa.date32())])
    directory = _spark_like_dir(tmp_path / "out", schema.empty_table(), files=1)
    assert sum(b.num_rows for b in lc.iter_batches(directory, ("user_id", "date"), 10)) == 0


def test_converted_batches_give_driver_types(tmp_path):
    table = pa.table(
        {
            "user_id": [str(U1), str(U2)],
            "subject": ["math", "art"],
            "week_start": pa.array([MONDAY, MONDAY], pa.date32()),
            "lessons_completed": pa.array([1, 2], pa.int32()),
            "time_spent_minutes": pa.array([10, 20], pa.int32()),
            "average_score": pa.array([None, 75.25], pa.float64()),
        }
    )
    directory = _spark_like_dir(tmp_path / "out", table, files=1)
    sink = next(s for s in lc.SINKS if s.table == "learning_progress")
    rows = [
        sink.convert(row, MONDAY)
        for batch in lc.iter_batches(directory, sink.columns, 10)
        for row in batch.to_pylist()
    ]
    assert rows == [(U1, "math", MONDAY, 1, 10, None), (U2, "art", MONDAY, 2, 20, 75.25)]


# -- retries ----------------------------------------------------------------------------------------
RETRYABLE = (WriteTimeout, Unavailable)


def test_retries_only_the_failed_statements_with_growing_backoff():
    calls: list[list] = []
    sleeps: list[float] = []
    failures = {"b": 2, "c": 1}  # how many times each parameter still fails

    def run(pending):
        calls.append(list(pending))
        outcomes = []
        for p in pending:
            if failures.get(p[0], 0):
                failures[p[0]] -= 1
                outcomes.append((False, WriteTimeout("timed out", write_type=0)))
            else:
                outcomes.append((True, None))
        return outcomes

    lc.run_with_retries(
        run, [("a",), ("b",), ("c",)], max_retries=3, retryable=RETRYABLE, sleep=sleeps.append
    )
    assert calls == [[("a",), ("b",), ("c",)], [("b",), ("c",)], [("b",)]]
    assert sleeps == [lc.backoff_seconds(0), lc.backoff_seconds(1)]
    assert sleeps[1] > sleeps[0]


def test_gives_up_after_max_retries():
    sleeps: list[float] = []

    def run(pending):
        return [(False, Unavailable("down"))] * len(pending)

    with pytest.raises(RuntimeError, match="1 of 1 Cassandra statements still failed after 2 retries"):
        lc.run_with_retries(run, [("a",)], max_retries=2, retryable=RETRYABLE, sleep=sleeps.append)
    assert len(sleeps) == 2


def test_a_non_retryable_error_is_raised_at_once():
    sleeps: list[float] = []

    def run(pending):
        return [(False, InvalidRequest("bad"))]

    with pytest.raises(InvalidRequest):
        lc.run_with_retries(run, [("a",)], max_retries=5, retryable=RETRYABLE, sleep=sleeps.append)
    assert sleeps == []


def test_backoff_is_capped():
    assert lc.backoff_seconds(0) == lc.BACKOFF_BASE_SECONDS
    assert lc.backoff_seconds(50) == lc.BACKOFF_CAP_SECONDS


def test_the_drivers_write_timeout_and_unavailable_are_retryable():
    retryable = lc._retryable_errors()
    assert issubclass(WriteTimeout, retryable) and issubclass(Unavailable, retryable)
    assert not issubclass(InvalidRequest, retryable)


# -- guards before any connection ---------------------------------------------------------------------
def test_cassandra_configured_follows_the_airflow_connection(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_CASSANDRA_UNIT_PROBE", raising=False)
    assert lc.cassandra_configured("cassandra_unit_probe") is False
    monkeypatch.setenv("AIRFLOW_CONN_CASSANDRA_UNIT_PROBE", "cassandra://db.example:9042/analytics")
    assert lc.cassandra_configured("cassandra_unit_probe") is True


def test_load_day_refuses_paths_of_another_date(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    with pytest.raises(ValueError, match="paths are for 2024-01-17"):
        lc.load_day(paths, dt.date(2024, 1, 18))


def test_load_day_checks_every_output_before_connecting(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    paths.output("page_view_stats").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="output user_engagement of the run is missing"):
        lc.load_day(paths, D, conn_id="cassandra_unit_never_defined")


# -- order of operations (the Writer, the only thing that talks to Cassandra, is replaced) -----------
class RecordingWriter:
    """Records what `load_sink` asks for; `previous` is what the key read returns. Not a Cassandra."""

    def __init__(self, previous: list[tuple], batch_size: int = 2) -> None:
        self.settings = lc.parse_settings(batch_size=batch_size)
        self.previous = previous
        self.calls: list[tuple[str, list]] = []

    def execute_many(self, name: str, params: list[tuple]) -> None:
        self.calls.append((name, list(params)))

    def read_keys(self, name: str, partition: dt.date, key_columns) -> pa.Table:
        self.calls.append((name, [(partition,)]))
        return lc.keys_table(key_columns, self.previous)


def test_load_sink_lists_keys_before_rows_and_deletes_only_stale_keys_last(tmp_path):
    rows = [
        {"user_id": str(u), "subject": "math", "week_start": MONDAY, "lessons_completed": 1}
        | {"time_spent_minutes": 5, "average_score": None}
        for u in (U1, U2, uuid.UUID(int=3))
    ]
    table = pa.Table.from_pylist(rows).cast(
        pa.schema(
            [
                ("user_id", pa.string()),
                ("subject", pa.string()),
                ("week_start", pa.date32()),
                ("lessons_completed", pa.int32()),
                ("time_spent_minutes", pa.int32()),
                ("average_score", pa.float64()),
            ]
        )
    )
    directory = _spark_like_dir(tmp_path / "out", table, files=1)
    stale = (uuid.UUID(int=9), "art")
    writer = RecordingWriter(previous=[(U1, "math"), stale, (U2, "math")])
    sink = next(s for s in lc.SINKS if s.table == "learning_progress")

    assert lc.load_sink(writer, sink, directory, D) == (3, 1)
    names = [name for name, _ in writer.calls]
    assert names == [
        "learning_progress_keys_insert",  # batch 1: keys first ...
        "learning_progress_insert",  # ... then its rows
        "learning_progress_keys_insert",
        "learning_progress_insert",
        "learning_progress_keys_select",  # read back only once every new row is written
        "learning_progress_delete",  # stale rows go ...
        "learning_progress_keys_delete",  # ... before their manifest entries
    ]
    assert writer.calls[0][1] == [(MONDAY, U1, "math"), (MONDAY, U2, "math")]
    assert writer.calls[4][1] == [(MONDAY,)]  # the week's partition, not the day
    assert writer.calls[5][1] == writer.calls[6][1] == [(MONDAY, *stale)]
    assert all(len(params) <= 2 for _, params in writer.calls)


def test_load_sink_of_an_empty_output_deletes_every_previous_key(tmp_path):
    schema = pa.schema(
        [("date", pa.date32()), ("hour", pa.int32()), ("page", pa.string()), ("view_count", pa.int64())]
    )
    directory = _spark_like_dir(tmp_path / "out", schema.empty_table(), files=1)
    writer = RecordingWriter(previous=[(10, "/a"), (11, "/b"), (12, "/c")])
    sink = next(s for s in lc.SINKS if s.table == "page_view_stats")

    assert lc.load_sink(writer, sink, directory, D) == (0, 3)
    assert [name for name, _ in writer.calls] == [
        "page_view_stats_select_keys",
        "page_view_stats_delete",
        "page_view_stats_delete",
    ]
    deleted = [p for name, params in writer.calls if name.endswith("_delete") for p in params]
    assert sorted(deleted) == [(D, 10, "/a"), (D, 11, "/b"), (D, 12, "/c")]


def test_count_output_rows_reports_what_a_load_would_write(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    sizes = {"page_view_stats": 5, "user_engagement": 0, "learning_progress": 12}
    for table, n in sizes.items():
        _spark_like_dir(paths.output(table), pa.table({"x": pa.array(range(n), pa.int64())}), files=2)
    assert lc.count_output_rows(paths) == sizes


def test_count_output_rows_names_a_missing_output(tmp_path):
    paths = RunPaths.build(tmp_path, tmp_path, D, "manual__1")
    with pytest.raises(FileNotFoundError, match="output page_view_stats of the run is missing"):
        lc.count_output_rows(paths)
