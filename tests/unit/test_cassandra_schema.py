"""The CQL of the Cassandra sink: statement files, rendering, the schema. No server."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from analytics_etl.cassandra import schema, tables
from analytics_etl.cassandra import settings as cs
from analytics_etl.paths import OUTPUT_TABLES

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY = dt.date(2024, 1, 15)
U1 = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
U2 = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


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
    statements = dict(schema.schema_statements("ks", cs.parse_replication(cs.DEFAULT_REPLICATION)))
    assert list(statements) == [
        "ks",
        "page_view_stats",
        "user_engagement",
        "learning_progress",
        "key_manifest",
    ]
    assert _ws(statements["ks"]) == (
        "CREATE KEYSPACE IF NOT EXISTS ks WITH replication = "
        "{'class': 'SimpleStrategy', 'replication_factor': '1'} AND durable_writes = true"
    )
    for table, expected in CONTRACT_TABLES.items():
        assert _ws(statements[table]) == _ws(expected)
    assert "PRIMARY KEY ((table_name, partition_date), generation, chunk)" in _ws(statements["key_manifest"])
    assert all("IF NOT EXISTS" in cql for cql in statements.values())


def test_every_cql_file_renders_without_leftover_placeholders():
    files = sorted(schema.CQL_DIR.glob("*.cql"))
    assert files
    replication = cs.parse_replication(cs.DEFAULT_REPLICATION)
    for path in files:
        cql = schema.render(schema.read_cql(path.stem), "ks", replication)
        assert "{keyspace}" not in cql and "{replication}" not in cql, path
        assert "--" not in cql and not cql.endswith(";"), path
        assert re.search(r"\bks\.|KEYSPACE IF NOT EXISTS ks\b", cql), path


def _selected(name: str) -> list[str]:
    selected = re.search(r"SELECT (.*) FROM", schema.statement(name, "ks")).group(1)
    return [column.strip() for column in selected.split(",")]


def test_every_statement_a_sink_uses_exists_with_its_bind_markers():
    # inserts bind a whole row; deletes bind (partition, *key); key reads bind the partition
    for sink in tables.SINKS:
        assert sink.table in OUTPUT_TABLES
        assert schema.statement(sink.insert, "ks").count("?") == len(sink.columns)
        assert schema.statement(sink.delete, "ks").count("?") == 1 + len(sink.key_columns)
        if sink.keys_in_partition:
            assert schema.statement(sink.select_keys, "ks").count("?") == 1
            assert _selected(sink.select_keys) == list(sink.key_columns)
        else:
            legacy = sink.legacy_manifest
            assert schema.statement(f"legacy_{legacy}_select", "ks").count("?") == 1
            assert _selected(f"legacy_{legacy}_select") == list(sink.key_columns)
            assert schema.statement(f"legacy_{legacy}_drop", "ks").count("?") == 1
            assert f"FROM ks.{legacy} WHERE" in schema.statement(f"legacy_{legacy}_drop", "ks")


def test_key_manifest_statements_bind_table_and_partition_first():
    assert schema.statement("key_manifest_insert", "ks").count("?") == 5
    assert _selected("key_manifest_select") == ["generation", "chunk", "key_set"]
    assert "WHERE table_name = ? AND partition_date = ?" in schema.statement("key_manifest_select", "ks")
    assert schema.statement("key_manifest_delete_older", "ks").endswith(
        "WHERE table_name = ? AND partition_date = ? AND generation < ?"
    )


def test_no_statement_file_is_left_unused():
    sinks = tables.SINKS
    used = {"keyspace_create", *(name for _, name in schema.SCHEMA)}
    used |= {"key_manifest_insert", "key_manifest_select", "key_manifest_delete_older"}
    used |= {"key_manifest_partitions", "user_engagement_delete_user"}  # analytics_etl.erasure.cassandra
    used |= {f"demo_count_{s.table}" for s in sinks}  # scripts/demo.py's report of what landed
    used |= {name for s in sinks for name in (s.insert, s.delete)}
    used |= {s.select_keys for s in sinks if s.keys_in_partition}
    used |= {
        f"legacy_{s.legacy_manifest}_{op}" for s in sinks if s.legacy_manifest for op in ("select", "drop")
    }
    assert {path.stem for path in schema.CQL_DIR.glob("*.cql")} == used


def test_deletes_name_the_partition_first_like_their_bound_values():
    assert "WHERE date = ? AND user_id = ?" in schema.statement("user_engagement_delete", "ks")
    assert "WHERE week_start = ? AND user_id = ? AND subject = ?" in schema.statement(
        "learning_progress_delete", "ks"
    )
    assert "WHERE date = ? AND hour = ? AND page = ?" in schema.statement("page_view_stats_delete", "ks")


def test_render_never_takes_values_and_needs_replication_for_the_keyspace():
    with pytest.raises(ValueError, match="replication"):
        schema.render(schema.read_cql("keyspace_create"), "ks")
    with pytest.raises(ValueError, match="invalid keyspace"):
        schema.render("SELECT * FROM {keyspace}.t", "x; DROP")


def test_missing_cql_file_is_named():
    with pytest.raises(FileNotFoundError, match="nope.cql"):
        schema.read_cql("nope")


def test_replication_matches_the_drivers_export():
    wanted = cs.parse_replication({"class": "NetworkTopologyStrategy", "dc1": 3})
    assert schema.replication_matches("{'class': 'NetworkTopologyStrategy', 'dc1': '3'}", wanted)
    assert schema.replication_matches(
        {"class": "org.apache.cassandra.locator.NetworkTopologyStrategy", "dc1": 3}, wanted
    )
    assert not schema.replication_matches("{'class': 'SimpleStrategy', 'replication_factor': '3'}", wanted)
    assert not schema.replication_matches("garbage(", wanted)
