"""Statements live in `sql/` and `cql/` files, never inline in Python: this reads them."""

from __future__ import annotations

from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = PROJECT_ROOT / "sql"
CQL_DIR = PROJECT_ROOT / "cql"


@cache
def read_sql(relative: str) -> str:
    """The text of `sql/<relative>`; raises FileNotFoundError naming the path when it is missing."""
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def migrations() -> list[tuple[str, str]]:
    """(version, statement text) of every analytics migration, in version order."""
    files = sorted((SQL_DIR / "analytics" / "migrations").glob("*.sql"))
    return [(f.stem, f.read_text(encoding="utf-8")) for f in files]
