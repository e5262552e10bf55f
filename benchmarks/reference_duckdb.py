"""A single-node reference implementation of the data contract in DuckDB: one day, from the same inputs.

    .venv/bin/python benchmarks/reference_duckdb.py --date 2024-01-21 \\
        --drop-dir .local/bench/days/<key>/drops --source-dsn postgresql://etl@127.0.0.1:54329/bench_source \\
        [--threads 2] [--outputs DIR] [--json PATH]

Reads every data file of `<drop-dir>/user_events/<date>/` (JSON lines, CSV, plain or gzip, and
Parquet) and `users` and the ISO week's `progress` from the source PostgreSQL (read-only, COPY to CSV:
the reference does not use the platform's extract). Applies contract section 3 (every reason in order,
the duplicate rule, line numbers as in docs/ingestion.md) and computes the four outputs of section 4.
Prints JSON: rows read, kept and rejected per reason, orphan_user, rows per output and per file,
seconds per phase and in total, peak RSS of this process. With --outputs, writes the four outputs and
the rejects (source_file, line_number, reason) as Parquet for comparison.

Written from the contract and docs/ingestion.md, not from the platform's Spark code. Where the two
could read a hostile line differently (DuckDB's JSON parser accepts a trailing comma and NaN, which
Spark's rejects), the generated days of benchmarks/day.py plant no such line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference.engine import Reference
from reference.source import copy_source


def run(day: dt.date, drop_dir: Path, source_dsn: str, threads: int = 2, outputs: Path | None = None) -> dict:
    started = time.perf_counter()
    folder = drop_dir / "user_events" / day.isoformat()
    with tempfile.TemporaryDirectory(prefix="reference-source-") as tmp:
        copy_started = time.perf_counter()
        users, progress = copy_source(source_dsn, day, Path(tmp))
        copied = time.perf_counter() - copy_started
        with Reference(day, threads=threads) as ref:
            ref.load_source_csv(users, progress)
            ref.ingest(folder)
            result = ref.compute()
            if outputs is not None:
                ref.write(outputs)
    out = result.as_dict()
    out["seconds"] = {"copy_source": copied, **out["seconds"], "total": time.perf_counter() - started}
    out["seconds"] = {k: round(v, 3) for k, v in out["seconds"].items()}
    out["threads"] = threads
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--drop-dir", type=Path, required=True, help="root of the drops (etl_drop_dir)")
    parser.add_argument("--source-dsn", required=True, help="the source PostgreSQL (read only)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--outputs", type=Path, help="write the outputs and the rejects as Parquet here")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    out = run(args.date, args.drop_dir, args.source_dsn, args.threads, args.outputs)
    text = json.dumps(out, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
