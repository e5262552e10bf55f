"""Source PostgreSQL -> Parquet through COPY, against a real server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from analytics_etl import extract
from tests.integration import dataset as ds

pytestmark = pytest.mark.integration


@pytest.fixture
def source(postgres):
    name = postgres.fresh_database("source")
    conn = postgres.connect(name)
    with conn, conn.cursor() as cur:
        cur.execute(open("sql/demo/source_schema.sql").read())
    ds.load_source(conn)
    yield conn
    conn.close()


def test_users_and_the_iso_week_of_progress_are_extracted_with_their_types(source, tmp_path):
    counts = extract.extract_source(
        source, tmp_path / "u.parquet", tmp_path / "p.parquet", ("2024-01-15", "2024-01-21")
    )
    users = pq.read_table(tmp_path / "u.parquet")
    progress = pq.read_table(tmp_path / "p.parquet")
    assert users.schema == extract.USERS_SCHEMA and progress.schema == extract.PROGRESS_SCHEMA
    assert counts == {"users": 4, "progress_week": 9}
    assert sorted(users.column("id").to_pylist()) == sorted(u[0] for u in ds.USERS)
    carol = next(u for u in users.to_pylist() if u["id"] == ds.U3)
    assert carol["country"] is None and carol["created_at"] == dt.datetime(2023, 7, 1, 10, tzinfo=dt.UTC)
    dates = progress.column("date").to_pylist()
    assert min(dates) == dt.date(2024, 1, 15) and max(dates) == dt.date(2024, 1, 17)
    scores = sorted(s for s in progress.column("score").to_pylist() if s is not None)
    assert scores[:2] == [Decimal("50.00"), Decimal("60.00")]
    assert progress.column("score").null_count == 3


def test_many_blocks_stream_into_one_file(source, tmp_path, monkeypatch):
    with source, source.cursor() as cur:
        cur.execute(
            "INSERT INTO progress (user_id, lesson_id, subject, date, time_spent_minutes, score, completed_at)"
            " SELECT %s, %s, 'math', DATE '2024-01-16', g %% 120, (g %% 10000) / 100.0, now()"
            " FROM generate_series(1, 50000) g",
            (ds.U1, ds.L),
        )
    monkeypatch.setattr(extract, "BLOCK_SIZE", 64 << 10)  # force ~60 blocks
    counts = extract.extract_source(
        source, tmp_path / "u.parquet", tmp_path / "p.parquet", ("2024-01-15", "2024-01-21")
    )
    assert counts["progress_week"] == 50009
    assert pq.ParquetFile(tmp_path / "p.parquet").metadata.num_rows == 50009
    assert not list(tmp_path.glob("*.tmp")), "temporary files left behind"


def test_an_empty_week_gives_an_empty_file_with_the_schema(source, tmp_path):
    counts = extract.extract_source(
        source, tmp_path / "u.parquet", tmp_path / "p.parquet", ("2030-01-07", "2030-01-13")
    )
    assert counts["progress_week"] == 0
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.num_rows == 0 and table.schema == extract.PROGRESS_SCHEMA


def test_line_breaks_and_quotes_in_text_survive_many_blocks(source, tmp_path, monkeypatch):
    with source, source.cursor() as cur:
        cur.execute(
            "INSERT INTO users SELECT gen_random_uuid(), E'line one\\nline \"two\", end', 'x@example.com', NULL, now()"
            " FROM generate_series(1, 5000)"
        )
    monkeypatch.setattr(extract, "BLOCK_SIZE", 16 << 10)  # many block edges fall inside quoted values
    counts = extract.extract_source(
        source, tmp_path / "u.parquet", tmp_path / "p.parquet", ("2024-01-15", "2024-01-21")
    )
    assert counts["users"] == 5004
    names = pq.read_table(tmp_path / "u.parquet").column("name").to_pylist()
    assert names.count('line one\nline "two", end') == 5000
