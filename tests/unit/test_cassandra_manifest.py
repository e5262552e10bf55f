"""Stale-key bookkeeping of the Cassandra sink. No server."""

from __future__ import annotations

import datetime as dt
import random
import string
import uuid

import pyarrow as pa
import pytest

from analytics_etl.cassandra import convert, manifest

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY = dt.date(2024, 1, 15)
U1 = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
U2 = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


# -- stale keys -------------------------------------------------------------------------------------
def test_stale_keys_are_the_previous_ones_the_new_output_lacks():
    columns = ("user_id", "subject")
    previous = manifest.keys_table(columns, [(U1, "math"), (U1, "art"), (U2, "math")])
    current = manifest.keys_table(columns, [(U1, "math"), (U2, "art")])
    stale = manifest.stale_keys(previous, current)
    assert sorted(stale.to_pylist(), key=str) == sorted(
        [{"user_id": str(U1), "subject": "art"}, {"user_id": str(U2), "subject": "math"}], key=str
    )
    assert list(manifest.key_tuples(stale, 10)) in (
        [[(U1, "art"), (U2, "math")]],
        [[(U2, "math"), (U1, "art")]],
    )


def test_stale_keys_edge_cases():
    columns = ("hour", "page")
    previous = manifest.keys_table(columns, [(1, "/a"), (2, "/a")])
    empty = manifest.keys_table(columns, [])
    assert manifest.stale_keys(previous, empty).num_rows == 2  # the new output is empty: all of it is stale
    assert manifest.stale_keys(empty, previous).num_rows == 0
    assert manifest.stale_keys(previous, previous).num_rows == 0
    # a key differing in one component only is another key
    other = manifest.stale_keys(previous, manifest.keys_table(columns, [(1, "/b"), (2, "/a")]))
    assert other.to_pylist() == [{"hour": 1, "page": "/a"}]


def test_uuid_keys_compare_in_canonical_form():
    # the output holds user_id strings, Cassandra returns UUIDs: both become the canonical string
    previous = manifest.keys_table(("user_id",), [(U1,)])
    current = manifest.keys_table(("user_id",), [(convert.to_uuid(str(U1).upper(), "user_id"),)])
    assert manifest.stale_keys(previous, current).num_rows == 0


def test_key_tuples_come_in_bounded_chunks():
    keys = [(uuid.UUID(int=n),) for n in range(25)]
    chunks = list(manifest.key_tuples(manifest.keys_table(("user_id",), keys), 10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [k for c in chunks for k in c] == keys


# -- manifest chunks ----------------------------------------------------------------------------------
def _pairs(n: int) -> pa.Table:
    return manifest.keys_table(
        ("user_id", "subject"),
        [(uuid.UUID(int=i // 3 + 1), ("math", "art", "music")[i % 3]) for i in range(n)],
    )


def test_chunks_round_trip_sorted_and_compressed():
    keys = _pairs(3_000)
    chunks = manifest.encode_chunks(keys, chunk_keys=1_000)
    assert len(chunks) == 3
    decoded = pa.concat_tables(manifest.decode_chunk(blob, ("user_id", "subject")) for blob in chunks)
    assert decoded.equals(keys.sort_by([("user_id", "ascending"), ("subject", "ascending")]))
    raw_bytes = sum(len(k) + len(s) for k, s in zip(*keys.to_pydict().values(), strict=True))
    assert sum(map(len, chunks)) < raw_bytes / 2  # zstd on sorted keys


def test_chunks_are_split_until_they_fit_the_byte_bound():
    rng = random.Random(1)
    subjects = [(U1, "".join(rng.choices(string.ascii_letters, k=500))) for _ in range(40)]  # incompressible
    keys = manifest.keys_table(("user_id", "subject"), subjects)
    chunks = manifest.encode_chunks(keys, chunk_keys=1_000, max_bytes=4_000)
    assert len(chunks) > 5 and all(len(blob) <= 4_000 for blob in chunks)
    decoded = pa.concat_tables(manifest.decode_chunk(blob, ("user_id", "subject")) for blob in chunks)
    assert decoded.column("subject").to_pylist() == sorted(s for _, s in subjects)


def test_a_single_key_over_the_byte_bound_stays_alone_in_its_chunk():
    keys = manifest.keys_table(("user_id", "subject"), [(U1, "a" * 5_000), (U2, "b")])
    chunks = manifest.encode_chunks(keys, max_bytes=10)
    assert len(chunks) == 2


def test_default_chunks_hold_twenty_thousand_keys_under_a_mebibyte():
    keys = manifest.keys_table(("user_id",), [(uuid.uuid4(),) for _ in range(45_000)])
    chunks = manifest.encode_chunks(keys)
    assert len(chunks) == 3 and max(map(len, chunks)) < manifest.MAX_CHUNK_BYTES


def test_empty_key_set_has_no_chunk():
    assert manifest.encode_chunks(manifest.keys_table(("user_id",), [])) == []


def test_a_chunk_of_other_columns_is_refused():
    blob = manifest.encode_chunks(manifest.keys_table(("hour", "page"), [(1, "/a")]))[0]
    with pytest.raises(ValueError, match=r"expected the columns \['user_id'\]"):
        manifest.decode_chunk(blob, ("user_id",))


def test_union_is_distinct():
    a = manifest.keys_table(("hour", "page"), [(1, "/a"), (2, "/b")])
    b = manifest.keys_table(("hour", "page"), [(2, "/b"), (3, "/c"), (3, "/c")])
    assert sorted(manifest.union([a, b], ("hour", "page")).to_pylist(), key=str) == [
        {"hour": 1, "page": "/a"},
        {"hour": 2, "page": "/b"},
        {"hour": 3, "page": "/c"},
    ]
    assert manifest.union([], ("hour", "page")).num_rows == 0
