"""users and the ISO week's progress from the source PostgreSQL, read-only, through COPY to CSV files.

The reference reads the source itself (not the platform's Parquet extract), so an extract that lost
or changed rows would show up as a difference.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg2

from .engine import sql


def copy_source(dsn: str, day: dt.date, out_dir: Path) -> tuple[Path, Path]:
    """Writes users.csv and progress_week.csv (COPY's CSV, no header) under `out_dir`."""
    week_start = day - dt.timedelta(days=day.weekday())
    out_dir.mkdir(parents=True, exist_ok=True)
    users, progress = out_dir / "users.csv", out_dir / "progress_week.csv"
    conn = psycopg2.connect(dsn)
    try:
        conn.set_session(readonly=True)
        with conn.cursor() as cur:
            with open(users, "w", encoding="utf-8") as f:
                cur.copy_expert(sql("copy_users"), f)
            statement = cur.mogrify(
                sql("copy_progress_week"),
                {"week_start": week_start, "week_end": week_start + dt.timedelta(days=6)},
            ).decode()
            with open(progress, "w", encoding="utf-8") as f:
                cur.copy_expert(statement, f)
        conn.rollback()
    finally:
        conn.close()
    return users, progress
