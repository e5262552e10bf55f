"""The reference's outputs and rejects against the platform's files of the same day, row by row.

Outputs are joined on their contract keys; numbers are equal within a relative 1e-6 (averages come
out of Spark as rounded decimals), everything else as text (uuids in lower case). Rejects compare as
a multiset of (source_file, line_number, reason).
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

KEYS = {
    "daily_user_stats": ("date", "user_id"),
    "page_view_stats": ("date", "hour", "page"),
    "user_engagement": ("user_id", "date"),
    "learning_progress": ("user_id", "subject", "week_start"),
}
COLUMNS = {
    "daily_user_stats": ("name", "email", "total_time", "lessons_completed", "average_score", "daily_rank"),
    "page_view_stats": ("view_count",),
    "user_engagement": (
        "total_events",
        "unique_pages",
        "session_count",
        "total_time_minutes",
        "engagement_score",
    ),
    "learning_progress": ("lessons_completed", "time_spent_minutes", "average_score"),
}
NUMERIC = re.compile(
    r"(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|FLOAT|DOUBLE|DECIMAL.*)"
)
SAMPLE = 5


def _parquet_files(path: Path) -> list[str]:
    if path.is_file():
        return [str(path)]
    return sorted(str(p) for p in path.rglob("*.parquet") if not p.name.startswith((".", "_")))


def _normalised(con: duckdb.DuckDBPyConnection, view: str, columns: tuple[str, ...]) -> str:
    """A select list over `view` that makes both sides comparable: keys and text as lower-case text."""
    types = dict(r[:2] for r in con.execute(f"DESCRIBE {view}").fetchall())
    missing = [c for c in columns if c not in types]
    if missing:
        raise KeyError(f"{view} has no column {missing}; it has {sorted(types)}")
    return ", ".join(
        f'CAST("{c}" AS DOUBLE) AS "{c}"'
        if NUMERIC.fullmatch(types[c])
        else f'lower(CAST("{c}" AS VARCHAR)) AS "{c}"'
        for c in columns
    )


def compare_output(table: str, reference: Path, platform: Path) -> dict:
    """{'table', 'reference_rows', 'platform_rows', 'differences', 'sample'} for one output table."""
    files = _parquet_files(platform)
    if not files:
        raise FileNotFoundError(f"no Parquet files of {table} under {platform}")
    keys, values = KEYS[table], COLUMNS[table]
    con = duckdb.connect()
    try:
        con.read_parquet(str(reference)).create_view("ref_raw")
        con.read_parquet(files).create_view("plat_raw")
        for side in ("ref", "plat"):
            select = _normalised(con, side + "_raw", keys + values)  # column names of the contract only
            con.execute(f"CREATE VIEW {side} AS SELECT {select} FROM {side}_raw")  # noqa: S608
        on = " AND ".join(f'r."{k}" IS NOT DISTINCT FROM p."{k}"' for k in keys)
        differ = " OR ".join(
            f'(r."{c}" IS DISTINCT FROM p."{c}" AND (r."{c}" IS NULL OR p."{c}" IS NULL'
            f' OR abs(r."{c}" - p."{c}") > 1e-6 * greatest(1, abs(r."{c}"))))'
            if _is_number(con, c)
            else f'r."{c}" IS DISTINCT FROM p."{c}"'
            for c in values
        )
        query = (
            f"SELECT r.*, p.* FROM ref AS r FULL OUTER JOIN plat AS p ON {on} "  # noqa: S608 - names are constants
            f'WHERE r."{keys[0]}" IS NULL OR p."{keys[0]}" IS NULL OR {differ}'
        )
        (count,) = con.execute(f"SELECT count(*) FROM ({query})").fetchone()  # noqa: S608
        sample = [list(map(str, row)) for row in con.execute(f"{query} LIMIT {SAMPLE}").fetchall()]
        (ref_rows,) = con.execute("SELECT count(*) FROM ref").fetchone()
        (plat_rows,) = con.execute("SELECT count(*) FROM plat").fetchone()
    finally:
        con.close()
    return {"table": table, "reference_rows": ref_rows, "platform_rows": plat_rows, "differences": count,
            "sample": sample}  # fmt: skip


def _is_number(con: duckdb.DuckDBPyConnection, column: str) -> bool:
    types = dict(r[:2] for r in con.execute("DESCRIBE ref").fetchall())
    return types[column] == "DOUBLE"


def quarantine_files(folder: Path) -> list[str]:
    names = (".json", ".jsonl", ".json.gz", ".jsonl.gz")
    return sorted(
        str(p)
        for p in folder.rglob("*")
        if p.is_file() and p.name.endswith(names) and not p.name.startswith((".", "_"))
    )


def compare_rejects(reference: Path, quarantine: Path) -> dict:
    """The reference's rejects against the platform's quarantine folder (JSON lines with reason,
    source_file and line_number, as docs/ingestion.md describes it)."""
    files = quarantine_files(quarantine)
    con = duckdb.connect()
    try:
        con.read_parquet(str(reference)).create_view("ref")
        if files:
            con.read_json(files, format="newline_delimited").create_view("quarantine_raw")
            con.execute(
                "CREATE VIEW plat AS SELECT CAST(source_file AS VARCHAR) AS source_file,"
                " CAST(line_number AS BIGINT) AS line_number, CAST(reason AS VARCHAR) AS reason FROM quarantine_raw"
            )
        else:
            con.execute("CREATE VIEW plat AS SELECT * FROM ref LIMIT 0")
        only_ref = con.execute(
            "SELECT * FROM (SELECT * FROM ref EXCEPT ALL SELECT * FROM plat) ORDER BY ALL LIMIT ?", [SAMPLE]
        ).fetchall()
        only_plat = con.execute(
            "SELECT * FROM (SELECT * FROM plat EXCEPT ALL SELECT * FROM ref) ORDER BY ALL LIMIT ?", [SAMPLE]
        ).fetchall()
        (differences,) = con.execute(
            "SELECT (SELECT count(*) FROM (SELECT * FROM ref EXCEPT ALL SELECT * FROM plat))"
            " + (SELECT count(*) FROM (SELECT * FROM plat EXCEPT ALL SELECT * FROM ref))"
        ).fetchone()
        (ref_rows,) = con.execute("SELECT count(*) FROM ref").fetchone()
        (plat_rows,) = con.execute("SELECT count(*) FROM plat").fetchone()
    finally:
        con.close()
    return {"table": "quarantine", "reference_rows": ref_rows, "platform_rows": plat_rows,
            "differences": differences, "sample": [["reference only", *map(str, r)] for r in only_ref]
            + [["platform only", *map(str, r)] for r in only_plat]}  # fmt: skip
