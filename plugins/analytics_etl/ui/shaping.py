"""Pure functions from what a run left behind (its `etl_runs` row, its GX result document, the
quarantine's rows) to what the views show. No I/O here, so the unit tests feed them plain dicts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from analytics_etl.quality import GateFailure  # the gate's own record of a failed expectation

RAW_SHOWN = 300  # characters of a rejected line shown; the quarantine keeps the whole line


# -- data quality ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TableVerdict:
    table: str
    success: bool
    evaluated: int
    failed: int
    rows: int | None
    page: str | None  # absolute path of the table's GX data docs page


@dataclass(frozen=True)
class Quality:
    success: bool
    date: str
    failures: list[GateFailure]
    tables: list[TableVerdict]  # failed tables first

    @property
    def first_page(self) -> TableVerdict | None:
        """The page to show at once: the first failed table's, else the first table's."""
        return next((t for t in self.tables if t.page), None)

    def page_of(self, table: str | None) -> TableVerdict | None:
        """The page asked for (a table's "page" link), else `first_page`."""
        return next((t for t in self.tables if t.page and t.table == table), None) or self.first_page


def quality(document: Mapping[str, Any]) -> Quality:
    """The verdict of `checkpoint_result.json` (written by `analytics_etl.quality.run_gate`)."""
    pages = (document.get("data_docs") or {}).get("pages") or {}
    row_counts = document.get("row_counts") or {}
    tables = []
    for validation in document.get("validation_results") or []:
        name = validation.get("suite_name", "?")
        stats = validation.get("statistics") or {}
        tables.append(
            TableVerdict(
                table=name,
                success=bool(validation.get("success")),
                evaluated=int(stats.get("evaluated_expectations") or 0),
                failed=int(stats.get("unsuccessful_expectations") or 0),
                rows=row_counts.get(name),
                page=pages.get(name),
            )
        )
    tables.sort(key=lambda t: (t.success, t.table))
    failures = [
        GateFailure(
            table=f.get("table", "?"),
            expectation=f.get("expectation", "?"),
            columns=tuple(f.get("columns") or ()),
            unexpected_count=f.get("unexpected_count"),
            element_count=f.get("element_count"),
            sample=f.get("sample") or "",
            expected=f.get("expected") or "",  # absent from the results of runs before issue 22
        )
        for f in document.get("failures") or []
    ]
    return Quality(bool(document.get("success")), str(document.get("date", "")), failures, tables)


# -- rejects ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Reject:
    source_file: str
    line_number: int | None
    event_id: str | None
    raw: str


@dataclass(frozen=True)
class Reason:
    reason: str
    count: int
    share: float  # of the rows read
    samples: list[Reject] = field(default_factory=list)


def reasons(record: Mapping[str, Any], samples: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Reason]:
    """Counts per reason from the run record (the ingest's own counts), most frequent first, each
    with the sampled quarantine rows of that reason."""
    counts = record.get("rejected_by_reason") or {}
    read = record.get("rows_read") or 0
    shaped = [
        Reason(
            reason=reason,
            count=int(count),
            share=int(count) / read if read else 0.0,
            samples=[_reject(row) for row in samples.get(reason, ())],
        )
        for reason, count in counts.items()
        if int(count) > 0
    ]
    return sorted(shaped, key=lambda r: (-r.count, r.reason))


def _reject(row: Mapping[str, Any]) -> Reject:
    raw = str(row.get("raw") if row.get("raw") is not None else "")
    if len(raw) > RAW_SHOWN:
        raw = raw[: RAW_SHOWN - 1] + "…"
    line = row.get("line_number")
    return Reject(
        source_file=str(row.get("source_file") or "?"),
        line_number=int(line) if line is not None else None,
        event_id=row.get("event_id"),
        raw=raw,
    )


SCAN_LIMIT = 200_000  # quarantined rows read at most for a spread sample, once every reason has one


def sample_by_reason(
    rows: Iterable[Mapping[str, Any]], wanted: Iterable[str], per_reason: int, scan_limit: int = SCAN_LIMIT
) -> dict[str, list[Mapping[str, Any]]]:
    """Up to `per_reason` rows of each wanted reason, spread across the source files (and so across
    the drop's formats): the first row of each file, then the second, files in name order; shown in
    file and line order. Reading stops once every reason has rows from `per_reason` files, or has a
    full sample and `scan_limit` rows were read (a quarantine can hold millions of rows)."""
    wanted = set(wanted)
    by_file: dict[str, dict[str, list[Mapping[str, Any]]]] = {reason: {} for reason in wanted}

    def spread_enough(read: int) -> bool:
        return all(
            len(files) >= per_reason or (read >= scan_limit and sum(map(len, files.values())) >= per_reason)
            for files in by_file.values()
        )

    for read, row in enumerate(rows, start=1):
        files = by_file.get(row.get("reason"))
        if files is None:
            continue
        bucket = files.setdefault(str(row.get("source_file")), [])
        if len(bucket) < per_reason:
            bucket.append(row)
        if spread_enough(read):
            break
    found = {}
    for reason, files in by_file.items():
        if not files:
            continue
        rounds = zip_longest(*(files[name] for name in sorted(files)))
        chosen = [row for layer in rounds for row in layer if row is not None][:per_reason]
        found[reason] = sorted(chosen, key=lambda r: (str(r.get("source_file")), r.get("line_number") or 0))
    return found


def reject_ratio(record: Mapping[str, Any]) -> float | None:
    read = record.get("rows_read")
    rejected = record.get("rows_rejected")
    if not read or rejected is None:
        return None
    return rejected / read


# -- history ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    """One day of the history: its latest run."""

    date: dt.date
    run_id: str
    status: str
    rows_read: int | None
    rows_kept: int | None
    rows_rejected: int | None
    reject_ratio: float | None
    duration_seconds: float | None
    outcome: str  # "passed", "failed" (the gate said no) or "none" (no verdict: failed earlier, running)


def history(rows: Iterable[Mapping[str, Any]]) -> list[Point]:
    """One point per date, oldest first, from rows of `sql/ui/history.sql` (the latest run per date)."""
    points = []
    for row in rows:
        started, ended = row.get("started_at"), row.get("ended_at")
        duration = (ended - started).total_seconds() if started and ended else None
        verdict = row.get("validation_success")
        points.append(
            Point(
                date=row["date"],
                run_id=row["run_id"],
                status=row["status"],
                rows_read=row.get("rows_read"),
                rows_kept=row.get("rows_kept"),
                rows_rejected=row.get("rows_rejected"),
                reject_ratio=reject_ratio(row),
                duration_seconds=duration,
                outcome="none" if verdict is None else ("passed" if verdict else "failed"),
            )
        )
    return sorted(points, key=lambda p: p.date)


def window(latest: dt.date | None, end: dt.date | None, days: int, today: dt.date) -> tuple[dt.date, dt.date]:
    """The `days` days shown: ending at `end` when asked, else at the latest date with a finished run
    (so a backfill of old dates is on the page), else today. Near year 1 the window is shorter
    rather than an error: any date a user can type gives a page."""
    last = end or latest or today
    return last - dt.timedelta(days=min(days - 1, (last - dt.date.min).days)), last


def fitted_start(start: dt.date, end: dt.date, dates: Iterable[dt.date], at_least: int) -> dt.date:
    """The first day the charts show when no window length was asked for: the first day with a run
    in [start, end], so that a few days spread over the axis instead of crowding its right edge; but at
    least `at_least` days (fewer near year 1), and the whole window when it holds no run."""
    first = min(dates, default=None)
    if first is None:
        return start
    shortest = end - dt.timedelta(days=min(at_least - 1, (end - dt.date.min).days))
    return max(start, min(first, shortest))


class BadDate(ValueError):
    """A requested date that is not a calendar date."""


class BadDays(ValueError):
    """A requested window length that is not a whole number of days in range."""


MAX_DAYS = 731  # two years: ~1.3 MB of SVG (a year is ~630 kB, drawn in ~0.1 s); ten years would be 6 MB


def parse_days(raw: str | None) -> int | None:
    """The window length asked for (`?days=`), None when empty (fit the window to its runs)."""
    if raw is None or not raw.strip():
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DAYS:
        shown = raw if len(raw) <= 40 else raw[:39] + "…"
        raise BadDays(f"{shown!r} is not a number of days: give a whole number from 1 to {MAX_DAYS}")
    return int(text)


def parse_end(raw: str | None) -> dt.date | None:
    """The `end` a user typed (YYYY-MM-DD), None when empty; BadDate, naming it, otherwise."""
    if raw is None or not raw.strip():
        return None
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        shown = raw if len(raw) <= 40 else raw[:39] + "…"
        raise BadDate(f"{shown!r} is not a date: give one as YYYY-MM-DD, e.g. 2024-01-15") from None
