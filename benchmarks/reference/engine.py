"""The contract's day in one DuckDB process: the drop's rows judged, the duplicate rule, the four outputs.

Written from `shared/CONTRACT.md` sections 3 and 4 and the conventions of `docs/ingestion.md`
(line numbers, empty values, timestamp forms), not from the platform's Spark code. Every statement is
in `sql/`; Python only lists the files, splits text files into numbered lines (`lines.py`) and picks
the expressions for a Parquet file's schema.
"""

from __future__ import annotations

import datetime as dt
import gzip
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from . import lines

SQL_DIR = Path(__file__).resolve().parent / "sql"
REASONS = (
    "malformed",
    "missing_field",
    "invalid_event_type",
    "invalid_timestamp",
    "invalid_value",
    "out_of_window",
    "duplicate",
)
OUTPUTS = ("daily_user_stats", "page_view_stats", "user_engagement", "learning_progress")
FORMATS = (".jsonl.gz", ".jsonl", ".csv.gz", ".csv", ".parquet")  # longest suffix first
CSV_COLUMNS = ("event_id", "event_type", "user_id", "timestamp", "page", "duration_ms", "device")
USERS_CSV = pa.schema([("id", pa.string()), ("name", pa.string()), ("email", pa.string())])
PROGRESS_CSV = pa.schema(
    [("user_id", pa.string()), ("subject", pa.string()), ("date", pa.date32()),
     ("time_spent_minutes", pa.int64()), ("score_cents", pa.int64())]
)  # fmt: skip


def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def data_files(folder: Path) -> list[tuple[str, str]]:
    """(name, format) of the drop's data files in name order; markers, hidden files, other suffixes
    and folders are not data (docs/ingestion.md "Which files are read")."""
    if not folder.is_dir():
        raise FileNotFoundError(f"drop folder {folder} does not exist")
    found = []
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if path.is_dir() or path.name.startswith((".", "_")):
            continue
        fmt = next((s[1:] for s in FORMATS if path.name.endswith(s)), None)
        if fmt is not None:
            found.append((path.name, fmt))
    return found


def csv_header_ok(path: Path) -> bool:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as f:
        first = f.readline().removeprefix(lines.BOM).rstrip(b"\r\n").decode("utf-8", "replace")
    names = tuple(c.strip().strip('"').strip().lower() for c in first.split(","))
    return names == CSV_COLUMNS


def _text(column: str, types: dict[str, str]) -> str:
    return f'CAST("{column}" AS VARCHAR)' if column in types else "NULL::VARCHAR"


def parquet_expressions(con: duckdb.DuckDBPyConnection, types: dict[str, str]) -> dict[str, str]:
    """The expressions of parse_parquet.sql for a file whose columns have `types` (DuckDB type names)."""
    exprs = {c: _text(c, types) for c in ("event_id", "event_type", "user_id")}
    ts = types.get("timestamp")
    exprs |= {"ts_text": "NULL::VARCHAR", "ts_instant": "NULL::TIMESTAMP", "ts_no_zone": "false"}
    if ts == "TIMESTAMP WITH TIME ZONE":
        exprs["ts_instant"] = "timezone('UTC', \"timestamp\")"
    elif ts is not None and ts.startswith("TIMESTAMP"):
        exprs["ts_no_zone"] = '"timestamp" IS NOT NULL'
    elif ts is not None:
        exprs["ts_text"] = _text("timestamp", types)
    props = types.get("properties")
    keys = ("page", "duration_text", "device")
    exprs |= {k: "NULL::VARCHAR" for k in keys} | {"malformed": "false"}
    if props is None:
        return exprs
    if props.startswith("STRUCT("):
        inner = {row[0] for row in con.execute(sql("struct_fields")).fetchall()}
        for key, name in zip(keys, ("page", "duration_ms", "device"), strict=True):
            if name in inner:
                exprs[key] = f'CAST(properties."{name}" AS VARCHAR)'
    elif props.startswith("MAP(VARCHAR,"):
        for key, name in zip(keys, ("page", "duration_ms", "device"), strict=True):
            exprs[key] = f"CAST(properties['{name}'] AS VARCHAR)"
    else:
        exprs["malformed"] = "properties IS NOT NULL"
    return exprs


@dataclass
class Result:
    date: str
    rows_read: int = 0
    rows_kept: int = 0
    rows_rejected: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    orphan_user: int = 0
    files: list[dict[str, Any]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Reference:
    """One day of the contract in one DuckDB connection with `threads` threads."""

    def __init__(self, day: dt.date, threads: int = 2, temp_dir: str | Path | None = None) -> None:
        self.day = day
        self._tmp = tempfile.TemporaryDirectory(prefix="reference-duckdb-") if temp_dir is None else None
        spill = Path(temp_dir) if temp_dir is not None else Path(self._tmp.name)
        self.con = duckdb.connect(config={"threads": threads, "temp_directory": str(spill / "spill")})
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.execute(sql("macros"))
        self.con.execute(sql("schema"))
        week_start = day - dt.timedelta(days=day.weekday())
        self.con.execute(
            "INSERT INTO run_params VALUES (?, ?, ?)", [day, week_start, week_start + dt.timedelta(days=6)]
        )
        self.result = Result(date=day.isoformat())

    def close(self) -> None:
        self.con.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> Reference:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inputs ----------------------------------------------------------------------------------------
    def load_source(self, users: pa.Table, progress: pa.Table) -> None:
        """users (id, name, email) and the week's progress (user_id, subject, date, time_spent_minutes,
        score_cents) as Arrow tables."""
        started = time.perf_counter()
        self.con.register("users_csv", users)
        self.con.register("progress_csv", progress)
        self.con.execute(sql("load_source"))
        self.con.unregister("users_csv")
        self.con.unregister("progress_csv")
        self.result.seconds["load_source"] = time.perf_counter() - started

    def load_source_csv(self, users_csv: Path, progress_csv: Path) -> None:
        """The CSV files of source.copy_source (PostgreSQL COPY ... FORMAT csv, no header)."""
        self.load_source(_read_copy_csv(users_csv, USERS_CSV), _read_copy_csv(progress_csv, PROGRESS_CSV))

    def ingest(self, folder: Path) -> None:
        """Judges every row of every data file of `folder` (in name order), then the duplicate rule."""
        started = time.perf_counter()
        for file_id, (name, fmt) in enumerate(data_files(folder)):
            self.con.execute("INSERT INTO files VALUES (?, ?, ?)", [file_id, name, fmt])
            path = folder / name
            if path.stat().st_size == 0:
                continue  # a data file with 0 rows; an empty Parquet file has no footer to read
            header_ok = csv_header_ok(path) if fmt.startswith("csv") else True
            self.con.execute("DELETE FROM file_params")
            self.con.execute("INSERT INTO file_params VALUES (?, ?)", [file_id, header_ok])
            with self._parsed(path, fmt):
                self.con.execute(sql("judge"))
        self.con.execute(sql("duplicates"))
        self.result.seconds["events"] = time.perf_counter() - started

    @contextmanager
    def _parsed(self, path: Path, fmt: str) -> Iterator[None]:
        """Defines the view `parsed` over one file, for as long as the caller uses it."""
        if fmt == "parquet":
            self.con.read_parquet(str(path), file_row_number=True).create_view("parquet_source", replace=True)
            types = dict(r[:2] for r in self.con.execute("DESCRIBE parquet_source").fetchall())
            self.con.execute(sql("parse_parquet").format(**parquet_expressions(self.con, types)))
            yield
            return
        # The stream is read once into a table: a query over the stream itself would run on one thread.
        self.con.register("line_stream", lines.reader(path))
        try:
            self.con.execute(sql("load_lines"))
        finally:
            self.con.unregister("line_stream")
        self.con.execute(sql("parse_json" if fmt.startswith("jsonl") else "parse_csv"))
        yield

    # -- outputs ----------------------------------------------------------------------------------------
    def compute(self) -> Result:
        started = time.perf_counter()
        for table in OUTPUTS:
            self.con.execute(sql(table))
        res = self.result
        res.files = [
            {"name": n, "format": f, "rows_read": r} for n, f, r in self.con.execute(sql("counts")).fetchall()
        ]
        res.rows_read = sum(f["rows_read"] for f in res.files)
        by_reason = dict(self.con.execute("SELECT reason, count(*) FROM rejects GROUP BY reason").fetchall())
        res.rejected = {r: by_reason.get(r, 0) for r in REASONS}
        res.rows_rejected = sum(res.rejected.values())
        (res.rows_kept,) = self.con.execute("SELECT count(*) FROM kept").fetchone()
        (res.orphan_user,) = self.con.execute(sql("orphan_user")).fetchone()
        res.rows = {t: self.con.table(t).aggregate("count(*)").fetchone()[0] for t in OUTPUTS}
        if res.rows_read != res.rows_kept + res.rows_rejected:
            raise AssertionError(f"reference lost rows: read {res.rows_read} != kept + rejected")
        res.seconds["outputs"] = time.perf_counter() - started
        return res

    def write(self, out_dir: Path) -> None:
        """The four outputs, and the rejects as (source_file, line_number, reason), as Parquet files."""
        started = time.perf_counter()
        out_dir.mkdir(parents=True, exist_ok=True)
        for table in OUTPUTS:
            self.con.table(table).write_parquet(str(out_dir / f"{table}.parquet"))
        self.con.sql(sql("rejects_out")).write_parquet(str(out_dir / "rejects.parquet"))
        self.result.seconds["write"] = time.perf_counter() - started


def _read_copy_csv(path: Path, schema: pa.Schema) -> pa.Table:
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=schema.names),
        convert_options=pacsv.ConvertOptions(
            column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False
        ),
    )
