"""Row conversion of the Cassandra sink: Parquet rows -> bound values. No server."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pyarrow as pa
import pytest

from analytics_etl.cassandra import convert, tables

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY = dt.date(2024, 1, 15)
U1 = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
U2 = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


# -- rows -------------------------------------------------------------------------------------------
def test_page_view_stats_row():
    row = {"date": D, "hour": 10, "page": "/dashboard", "view_count": 3}
    assert convert.convert_page_view_stats(row, D) == (D, 10, "/dashboard", 3)


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
    converted = convert.convert_user_engagement(row, D)
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
    assert convert.convert_learning_progress(row, MONDAY) == (U2, "math", MONDAY, 4, 95, None)
    assert convert.convert_learning_progress({**row, "average_score": 87.5}, MONDAY)[5] == 87.5


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
        convert.convert_user_engagement(row, D)


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
        convert.convert_learning_progress(row, MONDAY)


def test_week_start_is_the_iso_monday():
    assert [convert.week_start(MONDAY + dt.timedelta(days=n)) for n in range(7)] == [MONDAY] * 7
    assert convert.week_start(dt.date(2024, 1, 14)) == dt.date(2024, 1, 8)


def test_sink_partitions_and_keys():
    by_table = {sink.table: sink for sink in tables.SINKS}
    assert by_table["page_view_stats"].partition_of(D) == D
    assert by_table["user_engagement"].partition_of(D) == D
    assert by_table["learning_progress"].partition_of(D) == MONDAY
    assert by_table["page_view_stats"].keys_in_partition  # partitioned by date: lists its own keys
    assert not by_table["user_engagement"].keys_in_partition  # partitioned by user: key_manifest
    assert not by_table["learning_progress"].keys_in_partition
    for sink in tables.SINKS:
        assert set(sink.key_columns) < set(sink.primary_key) <= set(sink.columns)
        assert len(set(sink.primary_key) - set(sink.key_columns)) == 1  # the partition a load replaces


def test_keys_of_a_batch_are_canonical_and_typed():
    sink = next(s for s in tables.SINKS if s.table == "learning_progress")
    batch = pa.record_batch({"user_id": [str(U1), str(U2).upper()], "subject": ["math", "art"]})
    keys = sink.keys_of(batch)
    assert keys.to_pylist() == [
        {"user_id": str(U1), "subject": "math"},
        {"user_id": str(U2), "subject": "art"},
    ]
    pvs = next(s for s in tables.SINKS if s.table == "page_view_stats")
    hours = pvs.keys_of(pa.record_batch({"hour": pa.array([3, 23], pa.int32()), "page": ["/a", "/b"]}))
    assert hours.schema.field("hour").type == pa.int64() and hours.column("hour").to_pylist() == [3, 23]


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("user_id", [str(U1), "not-a-uuid"], "user_id: 'not-a-uuid' is not a UUID"),
        ("user_id", [None], "column user_id is null"),
        ("subject", ["é" * 40_000], "column subject: 80000 bytes, longer than the 65535 bytes"),
    ],
)
def test_a_key_cassandra_would_refuse_is_refused_naming_the_table(column, values, message):
    from analytics_etl.cassandra.errors import SinkRefusedRow

    sink = next(s for s in tables.SINKS if s.table == "learning_progress")
    other = "subject" if column == "user_id" else "user_id"
    filler = "math" if other == "subject" else str(U1)
    batch = pa.record_batch({column: pa.array(values, pa.string()), other: [filler] * len(values)})
    with pytest.raises(SinkRefusedRow, match=re.escape(message)) as err:
        sink.keys_of(batch)
    assert str(err.value).startswith(f"Cassandra refuses the row of learning_progress with key ({column}=")


def test_key_array_fast_path_and_fallback_agree():
    uuids = [str(uuid.UUID(int=n)) for n in range(1, 50)]
    fast = convert.key_array(pa.array(uuids), "user_id")
    slow = convert.key_array(pa.array([u.upper() for u in uuids]), "user_id")
    assert fast.equals(slow) and fast.to_pylist() == uuids
    assert convert.key_array(pa.chunked_array([[1, 2], [3]], pa.int16()), "hour").type == pa.int64()
    assert convert.key_array(pa.array([], pa.string()), "page").to_pylist() == []


def test_key_text_longer_than_cassandra_allows_is_refused_before_sending():
    at_limit = "é" * (convert.MAX_KEY_BYTES // 2) + "a"  # 65,535 bytes in UTF-8
    row = {"date": D, "hour": 1, "page": at_limit, "view_count": 1}
    assert convert.convert_page_view_stats(row, D)[2] == at_limit
    with pytest.raises(ValueError, match="column page: 65537 bytes, longer than the 65535 bytes"):
        convert.convert_page_view_stats({**row, "page": at_limit + "é"}, D)


def test_a_row_a_table_refuses_names_the_table_and_its_key():
    from analytics_etl.cassandra.errors import SinkRefusedRow

    sink = next(s for s in tables.SINKS if s.table == "page_view_stats")
    good = {"date": D, "hour": 1, "page": "/a", "view_count": 1}
    bad = {"date": D, "hour": 2, "page": "/b" * 100, "view_count": 2**63}
    with pytest.raises(SinkRefusedRow) as err:
        sink.rows([good, bad], D)
    assert err.value.key == {"date": D, "hour": 2, "page": "/b" * 100}
    assert str(err.value) == (
        "Cassandra refuses the row of page_view_stats with key (date=2024-01-17, hour=2, "
        f"page={('/b' * 40)!r}... (200 bytes)): column view_count: {2**63} does not fit a 64-bit "
        "Cassandra integer"
    )
    assert sink.rows([good], D) == [(D, 1, "/a", 1)]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "null"),
        (U1, str(U1)),
        (D, "2024-01-17"),
        ("short", "'short'"),
        (7, "7"),
        ("ü" * 81, repr("ü" * 80) + "... (162 bytes)"),
        (b"x" * 81, repr(b"x" * 80) + "... (81 bytes)"),
    ],
)
def test_values_in_messages_are_cut_to_80_characters_with_their_byte_length(value, shown):
    from analytics_etl.cassandra.errors import show_value

    assert show_value(value) == shown
