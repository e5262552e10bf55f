"""The event ingest's report (written by `spark_jobs/ingest_user_events.py`) and the reject-ratio guard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REASONS = (
    "malformed",
    "missing_field",
    "invalid_event_type",
    "invalid_timestamp",
    "invalid_value",
    "out_of_window",
    "duplicate",
)


class RejectRatioExceeded(ValueError):
    """Too large a share of the drop was rejected to trust the day's numbers."""


def read_report(path: str | Path) -> dict[str, Any]:
    """The report of the ingest, on a local disk or a store (`s3://` text, storage.root_path)."""
    from analytics_etl.storage import root_path

    report = json.loads(root_path(path).read_text(encoding="utf-8"))
    rejected = report.get("rejected", {})
    if set(rejected) != set(REASONS):
        raise ValueError(
            f"{path}: rejected reasons {sorted(rejected)} differ from the contract's {list(REASONS)}"
        )
    if report["rows_read"] != report["rows_kept"] + sum(rejected.values()):
        raise ValueError(f"{path}: rows_read {report['rows_read']} != kept + rejected; a row went missing")
    return report


def check_reject_ratio(report: dict[str, Any], max_ratio: float) -> float:
    """The share of rejected rows; raises when it exceeds `max_ratio` (an empty drop has ratio 0)."""
    read = report["rows_read"]
    ratio = report["rows_rejected"] / read if read else 0.0
    if ratio > max_ratio:
        worst = sorted(report["rejected"].items(), key=lambda kv: -kv[1])[:3]
        raise RejectRatioExceeded(
            f"{report['rows_rejected']} of {read} event rows rejected ({ratio:.2%}) exceeds "
            f"etl_max_reject_ratio {max_ratio:.2%}; most: "
            + ", ".join(f"{reason}={count}" for reason, count in worst)
        )
    return ratio
