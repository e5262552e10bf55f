"""Stale-key bookkeeping of the Cassandra sink. No server."""

from __future__ import annotations

import datetime as dt
import uuid

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
