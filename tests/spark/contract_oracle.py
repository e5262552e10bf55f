"""An independent, plain-Python reading of the contract's rules for JSON-lines and CSV event files.

Written from `../shared/CONTRACT.md` sections 3 and docs/ingestion.md ("Rows and line numbers",
"Rules, in order", "Limits", "Decisions where the contract is silent"), not from the Spark code: its
value in the fuzz test is that it can disagree with the platform. Slow and simple on purpose (every
row is a Python object); it is meant for drops of a few hundred rows.

What it reads: `.jsonl`, `.jsonl.gz`, `.csv`, `.csv.gz`. Parquet is not covered.

Its decisions, each from the docs:
- a physical line ends at LF, CR or CRLF; a UTF-8 byte-order mark at the start of a file is ignored;
  whitespace-only lines are not rows but keep their line number;
- JSON lines: the line must be exactly one JSON object (whitespace around it is JSON's own and
  allowed); `properties` an object or null; a non-string scalar is taken as its JSON text;
- CSV: line 1 is the header (7 contract columns in order, compared trimmed and case-insensitively,
  else every row is malformed); each other physical line is one RFC 4180 record with exactly 7
  fields; a quote that does not open or close a quoted field makes the line malformed; the line
  number is the physical line - 1;
- empty or whitespace-only means absent, in every field;
- the rules in the contract's order, the first failing one is the reason; duplicates only among rows
  that passed every other rule, by `event_id` as given, earliest UTC instant (truncated to
  microseconds) kept, ties by file name (code points) then line.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

REASONS = (
    "malformed",
    "missing_field",
    "invalid_event_type",
    "invalid_timestamp",
    "invalid_value",
    "out_of_window",
    "duplicate",
)
EVENT_TYPES = frozenset({"page_view", "click", "session_start", "session_end"})
NEEDS_PAGE = frozenset({"page_view", "click"})
REQUIRED = ("event_id", "event_type", "user_id", "timestamp")
CSV_COLUMNS = ("event_id", "event_type", "user_id", "timestamp", "page", "duration_ms", "device")
MAX_PAGE_BYTES = 2048
# total_time_minutes is a Cassandra int: (2^31 - 1) minutes in milliseconds (docs/ingestion.md, Limits).
MAX_DURATION_MS = (2**31 - 1) * 60_000
MAX_OFFSET_MINUTES = 18 * 60
WHITESPACE = " \t\n\r\f\v"
BOM = "\ufeff"

_LINE_END = re.compile(r"\r\n|\r|\n")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DIGITS = re.compile(r"[0-9]+")
_TIMESTAMP = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})T(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]{1,9}))?)?"
    r"(?:(?P<z>Z)|(?P<sign>[+-])(?P<oh>[0-9]{2})(?::?(?P<om>[0-9]{2}))?)"
)


@dataclass(frozen=True)
class Verdict:
    """One row of one file: `reason` None means kept."""

    source_file: str
    line_number: int
    reason: str | None
    event_id: str | None  # as given; None when the row could not be read into fields
    user_id: str | None  # as given
    instant: dt.datetime | None  # UTC, microseconds; only for rows with a valid timestamp
    raw: str


def is_blank(value: str | None) -> bool:
    return value is None or value.strip(WHITESPACE) == ""


def physical_lines(data: bytes) -> list[str]:
    """The file's lines without their terminators; a last empty piece after a final terminator is
    not a line."""
    text = data.decode("utf-8")
    if text.startswith(BOM):
        text = text[1:]
    lines = _LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def parse_timestamp(text: str) -> dt.datetime | None:
    """The UTC instant of an ISO-8601 timestamp with a zone, truncated to microseconds; None when the
    text is not one (docs: `YYYY-MM-DDTHH:MM[:SS[.f{1,9}]](Z|±hh:mm|±hhmm|±hh)`, a real instant,
    offset at most ±18:00)."""
    m = _TIMESTAMP.fullmatch(text)
    if m is None:
        return None
    micros = int(((m["fraction"] or "") + "000000")[:6])
    try:
        local = dt.datetime.fromisoformat(m["date"]).replace(
            hour=int(m["hour"]), minute=int(m["minute"]), second=int(m["second"] or 0), microsecond=micros
        )
    except ValueError:
        return None
    if m["z"]:
        return local.replace(tzinfo=dt.UTC)
    hours, minutes = int(m["oh"]), int(m["om"] or 0)
    offset = hours * 60 + minutes
    if minutes >= 60 or offset > MAX_OFFSET_MINUTES:
        return None
    sign = 1 if m["sign"] == "+" else -1
    return (local - dt.timedelta(minutes=sign * offset)).replace(tzinfo=dt.UTC)


def _valid_duration(text: str) -> bool:
    return _DIGITS.fullmatch(text) is not None and int(text) <= MAX_DURATION_MS


def judge_fields(fields: dict[str, str | None], day: dt.date) -> tuple[str | None, dt.datetime | None]:
    """(first failing reason or None, UTC instant) of a row read into text fields (None = absent),
    before duplicates."""
    if any(is_blank(fields[k]) for k in REQUIRED):
        return "missing_field", None
    event_type, page, duration = fields["event_type"], fields["page"], fields["duration_ms"]
    if event_type in NEEDS_PAGE and is_blank(page):
        return "missing_field", None
    if event_type not in EVENT_TYPES:
        return "invalid_event_type", None
    instant = parse_timestamp(fields["timestamp"])
    if instant is None:
        return "invalid_timestamp", None
    if (
        (not is_blank(duration) and not _valid_duration(duration))
        or _UUID.fullmatch(fields["user_id"].strip(WHITESPACE)) is None
        or (not is_blank(page) and len(page.encode("utf-8")) > MAX_PAGE_BYTES)
    ):
        return "invalid_value", instant
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    if not start <= instant < start + dt.timedelta(days=1):
        return "out_of_window", instant
    return None, instant


# --- JSON lines -----------------------------------------------------------------------------------


def _reject_constant(token: str) -> None:
    raise ValueError(f"{token} is not JSON")


def _json_text(value: object) -> str | None:
    """A field's text: strings as they are, other scalars as their JSON text (numbers keep their
    token because the parser hands them over as text)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def json_fields(line: str) -> dict[str, str | None] | None:
    """The line's fields as text, or None when it is malformed."""
    try:
        doc = json.loads(line, parse_int=str, parse_float=str, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    props = doc.get("properties")
    if props is not None and not isinstance(props, dict):
        return None
    props = props or {}
    fields = {k: _json_text(doc.get(k)) for k in REQUIRED}
    fields.update({k: _json_text(props.get(k)) for k in ("page", "duration_ms", "device")})
    return fields


# --- CSV ------------------------------------------------------------------------------------------


def _quoted(line: str, start: int) -> tuple[str, int] | None:
    """The value of the quoted field opening at `start` and the index after its closing quote."""
    parts, i = [], start + 1
    while True:
        close = line.find('"', i)
        if close < 0:
            return None  # never closed
        parts.append(line[i:close])
        if line.startswith('"', close + 1):
            parts.append('"')
            i = close + 2
            continue
        return "".join(parts), close + 1


def csv_fields(line: str) -> list[str] | None:
    """One physical line as an RFC 4180 record, or None when it is not one."""
    fields, i = [], 0
    while True:
        if line.startswith('"', i):
            quoted = _quoted(line, i)
            if quoted is None:
                return None
            value, i = quoted
            if i < len(line) and line[i] != ",":
                return None  # text after a closing quote
        else:
            end = line.find(",", i)
            end = len(line) if end < 0 else end
            value = line[i:end]
            if '"' in value:
                return None  # a quote inside an unquoted field
            i = end
        fields.append(value)
        if i == len(line):
            return fields
        i += 1  # the comma


def csv_header_ok(line: str) -> bool:
    names = csv_fields(line)
    return names is not None and tuple(n.strip(WHITESPACE).lower() for n in names) == CSV_COLUMNS


def csv_row_fields(line: str) -> dict[str, str | None] | None:
    values = csv_fields(line)
    if values is None or len(values) != len(CSV_COLUMNS):
        return None
    return {k: (None if v == "" else v) for k, v in zip(CSV_COLUMNS, values, strict=True)}


# --- a drop ---------------------------------------------------------------------------------------


def file_format(name: str) -> str | None:
    for suffix in ("jsonl.gz", "jsonl", "csv.gz", "csv"):
        if name.endswith("." + suffix) and not name.startswith((".", "_")):
            return suffix
    return None


def _rows(name: str, data: bytes) -> list[tuple[int, str, dict[str, str | None] | None]]:
    """(line number, raw line, fields or None when malformed) of every row of one file."""
    fmt = file_format(name)
    lines = physical_lines(gzip.decompress(data) if fmt.endswith(".gz") and data else data)
    if fmt.startswith("jsonl"):
        return [(n, line, json_fields(line)) for n, line in enumerate(lines, 1) if not is_blank(line)]
    if not lines:
        return []
    header_ok = csv_header_ok(lines[0])
    return [
        (n, line, csv_row_fields(line) if header_ok else None)
        for n, line in enumerate(lines[1:], 1)
        if not is_blank(line)
    ]


def judge_drop(files: dict[str, bytes], day: dt.date) -> list[Verdict]:
    """Every row of every JSON-lines and CSV file of a drop (name -> bytes), with its final verdict,
    in file name order then line order."""
    verdicts = []
    for name in sorted(n for n in files if file_format(n)):
        for number, raw, fields in _rows(name, files[name]):
            if fields is None:
                verdicts.append(Verdict(name, number, "malformed", None, None, None, raw))
                continue
            reason, instant = judge_fields(fields, day)
            verdicts.append(
                Verdict(name, number, reason, fields["event_id"], fields["user_id"], instant, raw)
            )
    return _mark_duplicates(verdicts)


def _mark_duplicates(verdicts: list[Verdict]) -> list[Verdict]:
    passing: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(verdicts):
        if v.reason is None:
            passing[v.event_id].append(i)
    out = list(verdicts)
    for indexes in passing.values():
        ordered = sorted(indexes, key=lambda i: (out[i].instant, out[i].source_file, out[i].line_number))
        for i in ordered[1:]:
            v = out[i]
            out[i] = Verdict(
                v.source_file, v.line_number, "duplicate", v.event_id, v.user_id, v.instant, v.raw
            )
    return out


def report(verdicts: list[Verdict], users: set[str] | frozenset[str] = frozenset()) -> dict:
    """The counts the ingest's report holds, from the verdicts; `users` are lower-case user ids."""
    reasons = Counter(v.reason for v in verdicts)
    kept = [v for v in verdicts if v.reason is None]
    per_file = Counter(v.source_file for v in verdicts)
    return {
        "rows_read": len(verdicts),
        "rows_kept": len(kept),
        "rows_rejected": len(verdicts) - len(kept),
        "rejected": {r: reasons.get(r, 0) for r in REASONS},
        "orphan_user": sum(v.user_id.strip(WHITESPACE).lower() not in users for v in kept),
        "files_rows_read": dict(per_file),
    }
