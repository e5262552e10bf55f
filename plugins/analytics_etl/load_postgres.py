"""The analytics PostgreSQL sink: schema migrations and the atomic replacement of a day.

A day of `daily_user_stats` is replaced in ONE transaction: the validated Parquet output is COPYed
into a temporary table, checked, then the day's old rows are deleted and the new ones inserted.
Readers see the old day or the new day, never a mix or none; a run killed half-way leaves the old
day in place (the transaction never committed), so running it again ends as if never interrupted.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.csv as pacsv

from analytics_etl.sql import migrations, read_sql
from analytics_etl.storage import parquet_dataset

log = logging.getLogger(__name__)

DAILY_USER_STATS_COLUMNS = (
    "date",
    "user_id",
    "name",
    "email",
    "total_time",
    "lessons_completed",
    "average_score",
    "daily_rank",
)


def migrate(conn: Any) -> list[str]:
    """Apply the migrations of `sql/analytics/migrations/` not applied yet; returns the versions applied.

    Idempotent and safe to call from concurrent runs (an advisory lock serialises them).
    """
    applied_now: list[str] = []
    with conn, conn.cursor() as cur:
        cur.execute(read_sql("analytics/migrate_lock.sql"))
        cur.execute(read_sql("analytics/schema_migrations.sql"))
        cur.execute(read_sql("analytics/applied_migrations.sql"))
        done = {row[0] for row in cur.fetchall()}
        for version, statement in migrations():
            if version in done:
                continue
            cur.execute(statement)
            cur.execute(read_sql("analytics/record_migration.sql"), {"version": version})
            applied_now.append(version)
    if applied_now:
        log.info("applied migrations %s", ", ".join(applied_now))
    return applied_now


def _parquet_batches(directory: Path, columns: tuple[str, ...]) -> Iterator[Any]:
    dataset = parquet_dataset(directory)
    missing = set(columns) - set(dataset.schema.names)
    if missing:
        raise ValueError(f"{directory} lacks columns {sorted(missing)}")
    yield from dataset.to_batches(columns=list(columns), batch_size=65_536)


def _write_csv(directory: Path, columns: tuple[str, ...], sink: Any) -> int:
    rows = 0
    writer = None
    for batch in _parquet_batches(directory, columns):
        if writer is None:
            writer = pacsv.CSVWriter(
                sink, batch.schema, write_options=pacsv.WriteOptions(include_header=True)
            )
        writer.write_batch(batch)
        rows += batch.num_rows
    if writer is None:  # no rows at all: a header alone is still a valid CSV for COPY
        sink.write((",".join(columns) + "\n").encode())
    else:
        writer.close()
    return rows


def replace_daily_user_stats(conn: Any, day: str, output_dir: Path) -> int:
    """Replace every row of `day` in `daily_user_stats` with the rows of `output_dir`, atomically."""
    # The CSV spool beside the output on a local disk; in the worker's temporary folder for a store.
    with tempfile.TemporaryFile(dir=output_dir.parent if isinstance(output_dir, Path) else None) as spool:
        rows = _write_csv(output_dir, DAILY_USER_STATS_COLUMNS, spool)
        spool.seek(0)
        with conn, conn.cursor() as cur:
            params = {"date": day}
            cur.execute(read_sql("analytics/daily_user_stats/lock_date.sql"), params)
            cur.execute(read_sql("analytics/daily_user_stats/create_stage.sql"))
            cur.copy_expert(read_sql("analytics/daily_user_stats/copy_stage.sql"), spool)
            cur.execute(read_sql("analytics/daily_user_stats/check_stage.sql"), params)
            foreign, total = cur.fetchone()
            if foreign or total != rows:
                raise ValueError(
                    f"refusing to load {output_dir}: {foreign} of {total} staged rows are not dated {day}"
                    f" (expected {rows} rows)"
                )
            cur.execute(read_sql("analytics/daily_user_stats/replace_day.sql"), params)
    log.info("daily_user_stats: replaced %s with %d rows", day, rows)
    return rows
