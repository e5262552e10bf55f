"""Where every file of a run lives under `etl_data_dir` (and where drops are read under `etl_drop_dir`).

One place decides the layout so that tasks, Spark jobs and tests agree on it. Everything a run
writes is keyed by the processed date *and* the run, so runs of different dates (and even two runs
of the same date) never touch each other's files; only the quarantine is per date, as the contract
fixes its path, and the latest run of a date replaces it.

`etl_data_dir` must be a filesystem that the Airflow workers and the Spark driver and executors all
see at the same path (a local disk in local mode, a shared mount on a cluster).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

# Tables the platform produces, in the order they are computed and validated.
OUTPUT_TABLES = ("daily_user_stats", "page_view_stats", "user_engagement", "learning_progress")

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def run_key(run_id: str) -> str:
    """A filesystem- and Hadoop-safe form of an Airflow run id (which holds ':' and '+')."""
    key = _UNSAFE.sub("_", run_id).strip("_.")
    if not key:
        raise ValueError(f"run id {run_id!r} has no usable characters")
    return key


@dataclass(frozen=True)
class RunPaths:
    """The files of one run of one date."""

    data_dir: Path
    drop_dir: Path
    date: dt.date
    key: str

    @classmethod
    def build(cls, data_dir: str | Path, drop_dir: str | Path, date: dt.date, run_id: str) -> RunPaths:
        return cls(Path(data_dir), Path(drop_dir), date, run_key(run_id))

    @property
    def _partition(self) -> str:
        return f"date={self.date.isoformat()}/run={self.key}"

    # -- inputs -------------------------------------------------------------------------------
    @property
    def drop_folder(self) -> Path:
        """The producer's folder of event files for the date."""
        return self.drop_dir / "user_events" / self.date.isoformat()

    @property
    def drop_success_flag(self) -> Path:
        return self.drop_folder / "_SUCCESS"

    # -- staging: extracted and cleaned inputs --------------------------------------------------
    @property
    def staging(self) -> Path:
        return self.data_dir / "staging" / self._partition

    @property
    def users(self) -> Path:
        """Parquet file: every row of source `users`."""
        return self.staging / "users.parquet"

    @property
    def progress_week(self) -> Path:
        """Parquet file: `progress` rows of the ISO week (Monday..Sunday) that holds the date."""
        return self.staging / "progress_week.parquet"

    @property
    def events(self) -> Path:
        """Parquet directory: the kept (clean, deduplicated, in-window) events of the date."""
        return self.staging / "events"

    @property
    def ingest_report(self) -> Path:
        """JSON file: rows read, kept, rejected per reason and orphan users of the event ingest."""
        return self.staging / "ingest_report.json"

    @property
    def ingest_scratch(self) -> Path:
        """What the ingest works in while it runs (removed when it ends): the judged rows, the duplicates,
        and the quarantine before it is moved into place."""
        return self.staging / "ingest_scratch"

    @property
    def spark_error(self) -> Path:
        """JSON file the Spark job writes when it fails: the cause, and whether a retry could help."""
        return self.staging / "spark_error.json"

    # -- curated outputs --------------------------------------------------------------------------
    def output(self, table: str) -> Path:
        """Parquet directory of one output table, written by its Spark job."""
        if table not in OUTPUT_TABLES:
            raise ValueError(f"unknown output table {table!r}")
        return self.data_dir / "curated" / table / self._partition

    # -- quarantine and validation ---------------------------------------------------------------
    @property
    def quarantine(self) -> Path:
        """Rejected event rows of the date, replaced by each run (path fixed by the contract)."""
        return self.data_dir / "quarantine" / "user_events" / f"date={self.date.isoformat()}"

    @property
    def validation(self) -> Path:
        """The run's Great Expectations validation result (JSON) lives here."""
        return self.data_dir / "validation" / self._partition

    @property
    def data_docs(self) -> Path:
        """Great Expectations data docs site, shared by all runs (one page per validation run)."""
        return self.data_dir / "data_docs"
