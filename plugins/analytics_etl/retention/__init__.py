"""Retention of the platform's own files under `etl_data_dir` (contract section 6, docs/lifecycle.md).

  policy     which runs' files go: a pure decision over the folders found and the `etl_runs` records
  tree       the folders of each run (from `RunPaths`) and their removal, never outside etl_data_dir
  store      `etl_runs` read, `retention_log` written
  data_docs  the shared GX data docs index rebuilt without the removed results
  task       the DAG's task: all of it in order, dry run or not

The sinks and `etl_runs` are never written here.
"""

from __future__ import annotations

from typing import Any

from analytics_etl.alerts import remember_error
from analytics_etl.defaults import DEFAULT_ARGS as _PLATFORM_ARGS
from analytics_etl.retention.task import apply_retention

# The platform's owner and retries, without its run-record callback: that one marks runs of
# daily_analytics_etl failed in etl_runs, and retention never writes etl_runs. The failing task's
# error is kept for the DAG-level alert.
DEFAULT_ARGS: dict[str, Any] = {**_PLATFORM_ARGS, "on_failure_callback": remember_error}

__all__ = ["DEFAULT_ARGS", "apply_retention"]
