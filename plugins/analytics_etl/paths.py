"""Where every file of a run lives under `etl_data_dir` (and where drops are read under `etl_drop_dir`).

One place decides the layout so that tasks, Spark jobs and tests agree on it. Everything a run
writes is keyed by the processed date *and* the run, so runs of different dates (and even two runs
of the same date) never touch each other's files; only the quarantine is per date, as the contract
fixes its path, and the latest run of a date replaces it.

Each root is a local path or an `s3://bucket/prefix` URL on an object store (storage.py), on its own:
a local root must be a filesystem that the Airflow workers and the Spark driver and executors all
see at the same path (a local disk in local mode, a shared mount on a cluster); a root on a store is
seen by all of them through `aws_default` (Airflow: `ObjectStoragePath`; Spark: S3A, `spark_url`).

The layout is the same on both, with one difference where a store has no rename: on a local disk the
date's quarantine is written aside and renamed into `quarantine/user_events/date=D/`; on a store each
run writes `date=D/run=K/` and publishes it with the pointer `date=D/_PUBLISHED.json` (publish.py).
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from analytics_etl.storage import root_path

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

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

    data_dir: Path | ObjectStoragePath
    drop_dir: Path | ObjectStoragePath
    date: dt.date
    key: str

    @classmethod
    def build(cls, data_dir: str | Path, drop_dir: str | Path, date: dt.date, run_id: str) -> RunPaths:
        """The run's paths under two roots, each a local path or an `s3://` URL (storage.root_path)."""
        return cls(root_path(data_dir), root_path(drop_dir), date, run_key(run_id))

    @property
    def data_on_store(self) -> bool:
        """Whether `etl_data_dir` is on an object store (no rename: the quarantine is published)."""
        return not isinstance(self.data_dir, Path)

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
        and (local root) the quarantine before it is moved into place. Seen by every Spark process."""
        return self.staging / "ingest_scratch"

    @property
    def local_dir(self) -> Path:
        """This host's folder of the run for what Spark and the worker exchange on one host when
        `etl_data_dir` is on a store: the jobs' archive, the job's error file, the ingest's scratch."""
        return Path(tempfile.gettempdir()) / "analytics_etl_local" / self._partition

    @property
    def local_scratch(self) -> Path:
        """The ingest's scratch on this host's disk, for a root on a store when Spark runs on this
        host (`local[*]`): nothing is moved from the scratch there, so its bytes need not go to a
        store billed by the byte (docs/decisions.md). Spark on a cluster uses `ingest_scratch`."""
        return self.local_dir / "ingest_scratch"

    @property
    def spark_error(self) -> Path:
        """JSON file the Spark job writes when it fails: the cause, and whether a retry could help.
        In staging on a local root; on this host's disk (`local_dir`) when the root is a store (the
        driver runs beside the task in local and client mode)."""
        return (self.local_dir if self.data_on_store else self.staging) / "spark_error.json"

    @property
    def jobs_archive_dir(self) -> Path:
        """Where the Spark jobs' package is zipped for --py-files (a local file for spark-submit)."""
        return self.local_dir if self.data_on_store else self.staging

    # -- curated outputs --------------------------------------------------------------------------
    def output(self, table: str) -> Path:
        """Parquet directory of one output table, written by its Spark job."""
        if table not in OUTPUT_TABLES:
            raise ValueError(f"unknown output table {table!r}")
        return self.data_dir / "curated" / table / self._partition

    # -- quarantine and validation ---------------------------------------------------------------
    @property
    def quarantine(self) -> Path:
        """Rejected event rows of the date, replaced by each run (path fixed by the contract). On a
        store it holds the runs' prefixes and the pointer to the published one (publish.py)."""
        return self.data_dir / "quarantine" / "user_events" / f"date={self.date.isoformat()}"

    @property
    def quarantine_out(self) -> Path:
        """Where the run's Spark job writes the date's quarantine: the date's folder itself on a
        local disk (moved in from the scratch), the run's own prefix `run=K` on a store."""
        return self.quarantine / f"run={self.key}" if self.data_on_store else self.quarantine

    @property
    def validation(self) -> Path:
        """The run's Great Expectations validation result (JSON) lives here."""
        return self.data_dir / "validation" / self._partition

    @property
    def data_docs(self) -> Path:
        """Great Expectations data docs site, shared by all runs (one page per validation run)."""
        return self.data_dir / "data_docs"
