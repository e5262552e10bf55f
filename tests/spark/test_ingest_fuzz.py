"""Fuzzed drops (issue 9): hypothesis writes JSON-lines and CSV files of random valid and invalid rows into
one drop, the real ingest (`ingest_user_events.run`) reads it, and its report, quarantine and kept events
must equal what `contract_oracle` (an independent plain-Python reading of the contract) says.

Spark costs seconds per example, so each example is a whole drop of several files and dozens of rows,
and there are few: one explicit drop with every kind of row, then `FUZZ_EXAMPLES` (default 5)
generated ones. Generation is derandomized (the same examples on every run, CI included) and not
shrunk (a shrink would rerun Spark hundreds of times): on a failure the test prints every file of the
drop and every row where the two sides disagree. Set `FUZZ_EXAMPLES=200` for a longer local hunt,
`FUZZ_RANDOM=1` for new examples, `FUZZ_SHRINK=1` to let hypothesis shrink a failure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

import ingest_user_events
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, Phase, example, given, note, settings
from hypothesis import strategies as st
from pyspark.sql import SparkSession

from tests.spark import contract_oracle as oracle
from tests.spark.ingest_fixtures import HEADER, U1, U2, write_parquet

DAY = dt.date(2024, 2, 29)  # a leap day: 02-29 is real, 02-30 is not
MIDNIGHT = dt.datetime.combine(DAY, dt.time(), dt.UTC)
MICROS_PER_DAY = 86_400_000_000
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))


class Raw(str):
    """A JSON token written as is (`5000.0`, `5e3`, `42`); in CSV, its text."""


ABSENT = object()  # the key is left out (JSON) or the field empty (CSV)


# --- values ----------------------------------------------------------------------------------------

MISSING_VALUES = [ABSENT, None, "", " ", "\t", "  "]
MISSING = st.sampled_from(MISSING_VALUES)
EVENT_IDS = st.sampled_from(["e1", "e2", "e3", "E1", " e1", "é1", "42", Raw("42"), "e,1", 'e"1'])
EVENT_TYPES = st.sampled_from(sorted(oracle.EVENT_TYPES))
BAD_EVENT_TYPES_VALUES = ["PAGE_VIEW", "Click", "login", " click", "click ", Raw("7"), True]
BAD_EVENT_TYPES = st.sampled_from(BAD_EVENT_TYPES_VALUES)
USERS = st.sampled_from([U1, U1.upper(), f" {U1} ", U2, U2.upper(), "AbCdEf01-0000-4000-8000-00000000000F"])
BAD_USERS_VALUES = [
    "not-a-uuid",
    "{" + U1 + "}",
    U1.replace("-", ""),
    U1[:-1],
    U1 + "0",
    "g" + U1[1:],
    U1.replace("-", "_"),
    Raw("42"),
    True,
]
BAD_USERS = st.sampled_from(BAD_USERS_VALUES)
DURATIONS = st.one_of(
    st.integers(0, oracle.MAX_DURATION_MS),
    st.integers(0, 10**7).map(str),
    st.sampled_from(
        [oracle.MAX_DURATION_MS, str(oracle.MAX_DURATION_MS), 0, "0", "007", ABSENT, None, "", " "]
    ),
)
BAD_DURATIONS_VALUES = [
    oracle.MAX_DURATION_MS + 1,
    str(oracle.MAX_DURATION_MS + 1),
    -1,
    "-5",
    "+5",
    " 5",
    "5 ",
    "1.5",
    "12abc",
    "9" * 20,
    Raw("9" * 20),
    Raw("5000.0"),
    Raw("5e3"),
    Raw("-0"),  # Jackson re-prints the integer -0 as 0: the platform checks the line's token
    True,
]
BAD_DURATIONS = st.sampled_from(BAD_DURATIONS_VALUES)
DEVICES = st.sampled_from(["desktop", "mobile", ABSENT, None, "", " ", Raw("3")])
# Printable text without control characters, surrogates or exotic spaces and line separators.
PAGE_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl", "Zp"), blacklist_characters="\ufeff")
    | st.just(" "),
    min_size=1,
    max_size=12,
)


PAGE_CHARS = ["a", "é", "€", "😀"]


def sized_page(char: str, size: int) -> str:
    """A page of exactly `size` UTF-8 bytes, mostly `char` (1 to 4 bytes)."""
    body = char * ((size - 1) // len(char.encode()))
    page = "/" + body + "b" * (size - 1 - len(body.encode()))
    assert len(page.encode()) == size
    return page


BAD_PAGES_VALUES = [sized_page(c, size) for c in PAGE_CHARS for size in (2049, 2050)]
BAD_PAGES = st.sampled_from(BAD_PAGES_VALUES)
PAGES = st.one_of(
    st.sampled_from(["/home", "/a,b", '/q"x', "/é", "/ü/€", "/😀", " /pad ", Raw("42"), True]),
    PAGE_TEXT,
    st.builds(sized_page, st.sampled_from(PAGE_CHARS), st.sampled_from([2047, 2048])),
)

OFFSETS = [("Z", 0), ("+00:00", 0), ("-00:00", 0), ("+01:00", 60), ("-05:30", -330), ("+0530", 330)]
OFFSETS += [("+02", 120), ("-08", -480), ("+14:00", 840), ("-12:00", -720), ("+18:00", 1080)]
BAD_TIMESTAMPS_VALUES = [
    "2024-02-29T10:00:00",  # no zone
    "2024-02-29 10:00:00Z",
    "2024-02-29t10:00:00Z",
    "2024-02-29T10:00:00z",
    "2024-02-29",
    "2024-02-29T10Z",
    "2024-2-29T10:00:00Z",
    "2024-02-29T1:00:00Z",
    "2024-02-30T10:00:00Z",
    "2023-02-29T10:00:00Z",
    "2024-02-29T25:00:00Z",
    "2024-02-29T10:60:00Z",
    "2024-02-29T10:00:00+19:00",
    "2024-02-29T10:00:00+05:60",
    "2024-02-29T10:00:00+1",
    "2024-02-29T10:00:00.1234567890Z",
    "2024-02-29T10:00:00.Z",
    "2024-02-29T10:00:00 Z",
    "Thu, 29 Feb 2024 10:00:00 GMT",
    "1709200800",
    Raw("1709200800"),
    "yesterday",
]
BAD_TIMESTAMPS = st.sampled_from(BAD_TIMESTAMPS_VALUES)
IN_DAY = st.integers(0, MICROS_PER_DAY - 1).map(lambda us: MIDNIGHT + dt.timedelta(microseconds=us))
INSTANTS = st.one_of(
    IN_DAY,
    IN_DAY,
    IN_DAY,
    st.sampled_from(
        [
            MIDNIGHT,
            MIDNIGHT + dt.timedelta(days=1, microseconds=-1),
            MIDNIGHT - dt.timedelta(microseconds=1),  # out of window
            MIDNIGHT + dt.timedelta(days=1),  # out of window
            MIDNIGHT + dt.timedelta(hours=30),  # out of window
        ]
    ),
)


@st.composite
def timestamps(draw: st.DrawFn, pool: list[dt.datetime]) -> str:
    """An ISO-8601 text of an instant (often one of the drop's few shared instants, for ties), in any
    zone and precision the docs allow, fractions beyond microseconds included."""
    instant = draw(st.sampled_from(pool) | INSTANTS)
    zone, minutes = draw(st.sampled_from(OFFSETS))
    local = instant + dt.timedelta(minutes=minutes)
    text = local.strftime("%Y-%m-%dT%H:%M")
    digits = draw(st.sampled_from([None, 0, 1, 3, 6, 7, 9]))
    if digits is not None:
        text += local.strftime(":%S")
        fraction = f"{local.microsecond:06d}"[:digits]
        if digits > 6:
            fraction += draw(st.text("0123456789", min_size=digits - 6, max_size=digits - 6))
        text += "." + fraction if digits else ""
    return text + zone


# --- rows ------------------------------------------------------------------------------------------

FIELDS = ("event_id", "event_type", "user_id", "timestamp", "page", "duration_ms", "device")
JSON_DAMAGE = ["truncated", "trailing_text", "two_objects", "array", "single_quotes", "scalar", "comma"]
CSV_DAMAGE = [
    "extra_field",
    "short",
    "stray_quote",
    "unclosed_quote",
    "quoted_newline",
    "after_quote",
    "before_quote",
]


@dataclass
class Row:
    values: dict[str, object]  # field -> str | Raw | int | bool | None (JSON null) | ABSENT
    properties: str = "object"  # JSON: object | null | absent | bad (a string, which is malformed)
    damage: str | None = None  # a break of the line's syntax (JSON_DAMAGE or CSV_DAMAGE)
    padding: str = ""  # JSON: whitespace around the object (valid JSON)


FAULT_VALUES = {
    "event_id": [MISSING_VALUES],
    "event_type": [MISSING_VALUES, BAD_EVENT_TYPES_VALUES],
    "user_id": [MISSING_VALUES, BAD_USERS_VALUES],
    "timestamp": [MISSING_VALUES, BAD_TIMESTAMPS_VALUES],
    "page": [MISSING_VALUES, BAD_PAGES_VALUES],
    "duration_ms": [BAD_DURATIONS_VALUES],
}
FAULTS = {field: [st.sampled_from(values) for values in kinds] for field, kinds in FAULT_VALUES.items()}
ROW_FAULTS = [*[(f, i) for f, bad in FAULTS.items() for i in range(len(bad))], "properties", "damage"]


@st.composite
def rows(draw: st.DrawFn, pool: list[dt.datetime]) -> Row:
    """A valid row, or one with a fault and maybe more (the first in the contract's order counts)."""
    values = {
        "event_id": draw(EVENT_IDS),
        "event_type": draw(EVENT_TYPES),
        "user_id": draw(USERS),
        "timestamp": draw(timestamps(pool)),
        "page": draw(PAGES),
        "duration_ms": draw(DURATIONS),
        "device": draw(DEVICES),
    }
    row = Row(values, padding=draw(st.sampled_from(["", "", "", " ", "\t"])))
    if not draw(st.booleans()):  # the simplest example hypothesis starts with is valid rows
        return row
    faults = [draw(st.sampled_from(ROW_FAULTS))]
    faults += draw(st.lists(st.sampled_from(ROW_FAULTS), max_size=2)) if draw(st.integers(0, 3)) == 0 else []
    for fault in faults:
        if fault == "properties":
            row.properties = draw(st.sampled_from(["null", "absent", "bad"]))
        elif fault == "damage":
            row.damage = draw(st.sampled_from(JSON_DAMAGE + CSV_DAMAGE))
        else:
            field, i = fault
            values[field] = draw(FAULTS[field][i])
    return row


BLANK_LINES = st.sampled_from(["", " ", "\t", "  \t "])


def _json_value(value: object, ascii_only: bool) -> str:
    if isinstance(value, Raw):
        return str(value)
    return json.dumps(value, ensure_ascii=ascii_only)


def _json_object(pairs: dict[str, object], ascii_only: bool) -> str:
    items = [f"{json.dumps(k)}: {_json_value(v, ascii_only)}" for k, v in pairs.items() if v is not ABSENT]
    return "{" + ", ".join(items) + "}"


def json_line(row: Row, ascii_only: bool) -> str:
    top = {k: row.values[k] for k in oracle.REQUIRED}
    props = {k: row.values[k] for k in ("page", "duration_ms", "device")}
    if row.properties == "object":
        top["properties"] = Raw(_json_object(props, ascii_only))
    elif row.properties == "null":
        top["properties"] = None
    elif row.properties == "bad":
        top["properties"] = "page=/home"
    text = _json_object(top, ascii_only)
    damaged = {
        "truncated": text[: len(text) // 2],
        "trailing_text": text + " x}",
        "two_objects": text + text,
        "array": f"[{text}]",
        "single_quotes": text.replace('"', "'"),
        "scalar": json.dumps(str(row.values["event_id"])),
        "comma": text[:-1] + ",}",
    }
    return row.padding + damaged.get(row.damage, text) + row.padding


def _csv_text(value: object) -> str:
    if value is ABSENT or value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv_field(text: str, quote: bool) -> str:
    if quote or "," in text or '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return text


def csv_lines(row: Row, quote_all: bool) -> list[str]:
    """One physical line, or two for a quoted line break (which the docs make two malformed lines)."""
    if row.properties in ("null", "absent"):
        values = {**row.values, "page": ABSENT, "duration_ms": ABSENT, "device": ABSENT}
    else:
        values = row.values
    fields = [_csv_field(_csv_text(values[k]), quote_all) for k in FIELDS]
    if row.damage == "extra_field":
        fields.append("x")
    elif row.damage == "short":
        fields.pop()
    elif row.damage == "stray_quote":
        fields[4] = '/a"b'
    elif row.damage == "unclosed_quote":
        fields[4] = '"/a,b'
    elif row.damage == "after_quote":  # text after a closing quote: Spark's CSV parser keeps it
        fields[4] = '"/a"b'
    elif row.damage == "before_quote":  # a space before an opening quote
        fields[4] = ' "/a"'
    elif row.damage == "quoted_newline":
        return [",".join(fields[:4]) + ',"/a', 'b",' + ",".join(fields[5:])]
    return [",".join(fields)]


# --- files -----------------------------------------------------------------------------------------

# Names that need percent-encoding in a URI ("a b", "p%41") included: Spark reports them encoded.
NAMES = ["a", "b", "B", "c1", "ä", "z", "0", "a-b", "p+q", "a b", "p%41"]
CSV_HEADERS = st.sampled_from(
    [HEADER] * 8
    + [HEADER.upper(), " Event_ID , event_type,user_id,timestamp,page,duration_ms,device "]
    + [HEADER.replace("page,duration_ms", "duration_ms,page"), HEADER.replace(",device", "")]
)


@st.composite
def file_lines(draw: st.DrawFn, fmt: str, pool: list[dt.datetime]) -> list[str]:
    items = draw(
        st.lists(st.one_of(rows(pool), rows(pool), rows(pool), BLANK_LINES), min_size=6, max_size=24)
    )
    ascii_only, quote_all = draw(st.booleans()), draw(st.booleans())
    lines = [draw(CSV_HEADERS)] if fmt == "csv" else []
    for item in items:
        if isinstance(item, str):
            lines.append(item)
        elif fmt == "csv":
            lines.extend(csv_lines(item, quote_all))
        else:
            lines.append(json_line(item, ascii_only))
    return lines


@st.composite
def drops(draw: st.DrawFn) -> dict[str, bytes]:
    """A drop of 3 to 6 files (JSON lines and CSV, some gzipped), name -> bytes."""
    pool = draw(st.lists(IN_DAY | INSTANTS, min_size=1, max_size=3))
    names = draw(st.lists(st.sampled_from(NAMES), min_size=3, max_size=6, unique=True))
    files = {}
    for i, name in enumerate(names):
        fmt = "jsonl" if i % 2 == 0 else "csv"
        lines = draw(file_lines(fmt, pool))
        shape = draw(st.sampled_from(["rows"] * 10 + ["empty", "header only"]))
        lines = {"rows": lines, "empty": [], "header only": lines[:1] if fmt == "csv" else []}[shape]
        end = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
        text = end.join(lines) + (end if draw(st.booleans()) else "")
        data = (oracle.BOM if draw(st.integers(0, 5)) == 0 else "").encode() + text.encode()
        if text and draw(st.booleans()):
            name, data = f"{name}.{fmt}.gz", gzip.compress(data, mtime=0)
        else:
            name = f"{name}.{fmt}"
        files[name] = data
        numbered = "\n".join(f"{n:3}: {line!r}" for n, line in enumerate(lines, 1))
        note(f"--- {name}: {len(data)} bytes, lines ended by {end!r} ---\n{numbered}")
    return files


def every_kind_drop() -> dict[str, bytes]:
    """The explicit example, run first every time: one row per fault value of every field, every
    damage and `properties` fault, values at the limits, blank lines, in JSON lines and in CSV (plain,
    all quoted, CRLF, gzipped); every row shares its event_id with its copies in the other files, so
    the valid ones are duplicates decided by file name."""
    base = {"event_type": "click", "user_id": U1, "page": "/home", "duration_ms": 5, "device": "d"}
    base["timestamp"] = "2024-02-29T10:00:00Z"
    cases: list[Row] = [Row(base)]
    for field, kinds in FAULT_VALUES.items():
        cases += [Row({**base, field: value}) for values in kinds for value in values]
    cases += [Row({**base, "page": sized_page(c, 2048)}) for c in PAGE_CHARS]
    cases += [Row({**base, "duration_ms": d}) for d in (oracle.MAX_DURATION_MS, "007", "", None, ABSENT)]
    cases += [Row({**base, "user_id": u}) for u in (U1.upper(), f" {U1} ", U2)]
    cases += [Row({**base, "timestamp": f"2024-02-29T11:00{z}"}) for z in ("+01:00", "+0100", "+01")]
    cases += [Row({**base, "timestamp": t}) for t in ("2024-02-29T00:00Z", "2024-03-01T00:00:00.000Z")]
    cases += [Row({**base, "timestamp": "2024-02-28T23:59:59.9999999Z"})]
    cases += [Row(base, properties=p) for p in ("null", "absent", "bad")]
    cases += [Row({**base, "event_type": "session_end"}, properties=p) for p in ("null", "absent")]
    cases += [Row(base, damage=d) for d in JSON_DAMAGE + CSV_DAMAGE]
    cases += [Row(base, padding=p) for p in (" ", "\t")]
    for i, row in enumerate(cases):
        row.values.setdefault("event_id", f"k{i % 40}")
        row.values = {k: row.values[k] for k in FIELDS}
    json_lines = [json_line(row, ascii_only=False) for row in cases] + ["", " ", "\t"]
    csv_plain = [HEADER, *(line for row in cases for line in csv_lines(row, quote_all=False)), "  "]
    csv_quoted = [HEADER, *(line for row in cases for line in csv_lines(row, quote_all=True))]
    files = {
        "every.jsonl": "\n".join(json_lines) + "\n",
        "every.csv": "\n".join(csv_plain),
        "every_quoted.csv": oracle.BOM + "\r\n".join(csv_quoted) + "\r\n",
    }
    data = {name: text.encode() for name, text in files.items()}
    data["every.jsonl.gz"] = gzip.compress(data["every.jsonl"], mtime=0)
    return data


# --- running the ingest ----------------------------------------------------------------------------


def run_ingest(spark: SparkSession, root: Path, files: dict[str, bytes]) -> dict:
    drop = root / "drop"
    drop.mkdir(parents=True)
    for name, data in files.items():
        (drop / name).write_bytes(data)
    (drop / "_SUCCESS").write_bytes(b"")
    users = write_parquet(root / "users.parquet", {"id": [U1]})
    out = root / "out"
    args = argparse.Namespace(
        date=DAY,
        drop_folder=str(drop),
        users=str(users),
        events_out=str(out / "events"),
        quarantine=str(out / "quarantine"),
        report=str(out / "report.json"),
    )
    report = ingest_user_events.run(spark, args)
    quarantine = [
        json.loads(line)
        for path in sorted((out / "quarantine").glob("*.json"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    kept = pq.read_table(out / "events").to_pylist()
    return {"report": report, "quarantine": quarantine, "kept": kept}


def _platform_rows(result: dict) -> dict[tuple[str, int], list[dict]]:
    """(file, line) -> what the platform said about that row (a list, to see a row said twice)."""
    said: dict[tuple[str, int], list[dict]] = {}
    for q in result["quarantine"]:
        said.setdefault((q["source_file"], q["line_number"]), []).append(q)
    for k in result["kept"]:
        said.setdefault((k["source_file"], k["line_number"]), []).append({**k, "reason": None})
    return said


def _utc(value: dt.datetime) -> dt.datetime:
    """A kept timestamp as an aware UTC datetime (pyarrow gives a naive one for INT96 Parquet)."""
    value = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def row_disagreements(verdicts: list[oracle.Verdict], result: dict) -> list[str]:
    """Every row where the platform's verdict differs from the oracle's, as readable lines."""
    said = _platform_rows(result)
    problems = []
    for v in verdicts:
        got = said.pop((v.source_file, v.line_number), [])
        if len(got) != 1 or got[0]["reason"] != v.reason:
            problems.append(
                f"{v.source_file}:{v.line_number} oracle={v.reason} platform={[g['reason'] for g in got]} "
                f"raw={v.raw!r}"
            )
        elif v.reason is None:
            kept = got[0]
            expected = (v.user_id.strip(oracle.WHITESPACE).lower(), v.instant, v.event_id)
            if (kept["user_id"], _utc(kept["timestamp"]), kept["event_id"]) != expected:
                problems.append(f"{v.source_file}:{v.line_number} kept as {kept} but expected {expected}")
        elif got[0]["raw"] != v.raw or (
            v.reason != "malformed" and not oracle.is_blank(v.event_id) and got[0]["event_id"] != v.event_id
        ):
            problems.append(f"{v.source_file}:{v.line_number} quarantined as {got[0]}, raw {v.raw!r}")
    problems += [f"{key} only in the platform's output: {rows}" for key, rows in said.items()]
    return problems


def expected_report(verdicts: list[oracle.Verdict]) -> dict:
    counts = oracle.report(verdicts, users={U1})
    per_file = counts.pop("files_rows_read")
    counts["files"] = {name: per_file.get(name, 0) for name in per_file}
    return counts


def actual_report(report: dict) -> dict:
    keys = ("rows_read", "rows_kept", "rows_rejected", "rejected", "orphan_user")
    return {
        **{k: report[k] for k in keys},
        "files": {f["name"]: f["rows_read"] for f in report["files"] if f["rows_read"]},
    }


def _settings() -> settings:
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if os.environ.get("FUZZ_SHRINK"):
        phases.append(Phase.shrink)
    return settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not os.environ.get("FUZZ_RANDOM"),
        database=None,
        phases=phases,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


@pytest.mark.spark
@pytest.mark.slow
@_settings()
@given(files=drops())
@example(files=every_kind_drop())
def test_ingest_agrees_with_the_contract_oracle(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, files: dict[str, bytes]
) -> None:
    verdicts = oracle.judge_drop(files, DAY)
    result = run_ingest(spark, tmp_path_factory.mktemp("fuzz"), files)
    problems = row_disagreements(verdicts, result)
    assert not problems, "rows where the ingest and the oracle disagree:\n" + "\n".join(problems)
    assert actual_report(result["report"]) == expected_report(verdicts)


# --- the oracle itself, on the docs' own examples (no Spark) ----------------------------------------


def _line(**changes: object) -> str:
    doc = {"event_id": "e1", "event_type": "click", "user_id": U1, "timestamp": "2024-02-29T10:00:00Z"}
    doc["properties"] = {"page": "/home", "duration_ms": 5000, "device": "desktop"}
    for key, value in changes.items():
        target = doc["properties"] if key in ("page", "duration_ms", "device") else doc
        if value is ABSENT:
            target.pop(key, None)
        else:
            target[key] = value
    return json.dumps(doc, ensure_ascii=False)


def _reason(line: str) -> str | None:
    (verdict,) = oracle.judge_drop({"x.jsonl": line.encode()}, DAY)
    return verdict.reason


@pytest.mark.unit
@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (_line(), None),
        ("  " + _line() + "\t", None),
        (_line() + _line(), "malformed"),
        (_line() + " x}", "malformed"),
        ("[" + _line() + "]", "malformed"),
        ("null", "malformed"),
        ("{'event_id': 'e1'}", "malformed"),
        (_line(properties="x"), "malformed"),
        (_line(properties=None, event_type="session_start"), None),
        (_line(properties=None), "missing_field"),
        (_line(event_id=" "), "missing_field"),
        (_line(user_id=ABSENT), "missing_field"),
        (_line(page=""), "missing_field"),
        (_line(page="", event_type="Click"), "invalid_event_type"),
        (_line(event_type="login", timestamp="x"), "invalid_event_type"),
        (_line(timestamp="2024-02-29T10:00:00"), "invalid_timestamp"),
        (_line(timestamp="2024-02-29T10Z"), "invalid_timestamp"),
        (_line(timestamp="2024-02-29 10:00:00Z"), "invalid_timestamp"),
        (_line(timestamp="2024-02-29T10:00:00+18:01"), "invalid_timestamp"),
        (_line(timestamp="2024-02-29T10:30Z"), None),
        (_line(timestamp="2024-02-29T12:00:00.123456789+02"), None),
        (_line(timestamp="2024-02-29T00:00:00.000Z"), None),
        (_line(timestamp="2024-03-01T00:00:00.000Z"), "out_of_window"),
        (_line(timestamp="2024-02-29T00:30+01:00"), "out_of_window"),
        (_line(duration_ms="5000"), None),
        (_line(duration_ms=oracle.MAX_DURATION_MS), None),
        (_line(duration_ms=oracle.MAX_DURATION_MS + 1), "invalid_value"),
        (_line(duration_ms=-5), "invalid_value"),
        (_line(duration_ms=True), "invalid_value"),
        (_line(duration_ms="12abc"), "invalid_value"),
        (_line().replace("5000", "5000.0"), "invalid_value"),
        (_line().replace("5000", "5e3"), "invalid_value"),
        (_line(duration_ms=""), None),
        (_line(user_id=f" {U1.upper()} "), None),
        (_line(user_id=U1.replace("-", "")), "invalid_value"),
        (_line(page="/" + "€" * 682 + "a"), None),
        (_line(page="é" * 1024 + "b"), "invalid_value"),
        (_line(page="/" + "€" * 682 + "a", timestamp="2024-02-28T10:00Z"), "out_of_window"),
    ],
)
def test_the_oracle_reads_the_docs_examples(line: str, reason: str | None) -> None:
    assert _reason(line) == reason


@pytest.mark.unit
def test_the_oracle_numbers_lines_and_decides_duplicates_as_the_docs_say() -> None:
    header = " Event_ID ,EVENT_TYPE,user_id,timestamp,page,duration_ms,device"
    files = {
        "b.csv": f"{header}\r\ne1,session_start,{U1},2024-02-29T10:00Z,,,\r\n \r\n"
        f'e2,click,{U1},2024-02-29T09:00Z,"/a,""b""",,\r\ne3,click,{U1},2024-02-29T09:00Z,/a"b,,\r\n',
        "a.jsonl": "\ufeff"
        + _line(event_id="e1", timestamp="2024-02-29T11:00+01:00")
        + "\n\n"
        + _line(event_id="e2", timestamp="2024-02-29T08:59:59.9999999Z", duration_ms=-1)
        + "\n",
        "c.csv": header.replace("page,duration_ms", "duration_ms,page") + f"\ne4,click,{U1},x,,,\n",
    }
    verdicts = oracle.judge_drop({k: v.encode() for k, v in files.items()}, DAY)
    assert [(v.source_file, v.line_number, v.reason, v.event_id) for v in verdicts] == [
        ("a.jsonl", 1, None, "e1"),  # ties with b.csv:1 at 10:00 UTC; a.jsonl is first by name
        ("a.jsonl", 3, "invalid_value", "e2"),  # earlier, but a rejected copy takes no part
        ("b.csv", 1, "duplicate", "e1"),
        ("b.csv", 3, None, "e2"),  # physical line 4 - 1; the blank line is not a row
        ("b.csv", 4, "malformed", None),
        ("c.csv", 1, "malformed", None),  # a reordered header: every row malformed
    ]
    assert verdicts[3].raw == f'e2,click,{U1},2024-02-29T09:00Z,"/a,""b""",,'


@pytest.mark.spark
@pytest.mark.slow
def test_file_names_that_need_percent_encoding(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> None:
    def line(event_id: str, timestamp: str) -> str:
        doc = {"event_id": event_id, "event_type": "session_start", "user_id": U1, "timestamp": timestamp}
        return json.dumps(doc) + "\n"

    foreign = HEADER.replace("page,duration_ms", "duration_ms,page")
    files = {
        "a b.jsonl": line("e1", "2024-02-29T10:00Z") + line("e1", "2024-02-29T11:00Z"),
        "p%41.jsonl": line("e2", "2024-02-29T10:00Z"),
        "c d.csv": f"{foreign}\ne3,session_start,{U1},2024-02-29T10:00Z,,,\n",
    }
    data = {name: text.encode() for name, text in files.items()}
    verdicts = oracle.judge_drop(data, DAY)
    result = run_ingest(spark, tmp_path_factory.mktemp("names"), data)
    assert row_disagreements(verdicts, result) == []
    assert actual_report(result["report"]) == expected_report(verdicts)


CLICK = f"click,{U1},2024-02-29T10:00Z"


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "text", "reasons"),
    [
        pytest.param(
            "q.csv",
            f'{HEADER}\nc1,{CLICK},"/a"b,,\nc2,{CLICK}, "/a",,\nc3,{CLICK},/a"b,,\nc4,{CLICK},"/a""",,\n'
            f'c5,{CLICK},"/a""b",,\n',
            ["malformed", "malformed", "malformed", None, None],
            id="csv-not-rfc4180",
        ),
        pytest.param(
            "z.jsonl",
            _line(event_id="n", duration_ms=ABSENT).replace('"device"', '"duration_ms": -0, "device"')
            + "\n"
            + _line(event_id="z", duration_ms=ABSENT).replace('"device"', '"duration_ms": 0, "device"')
            + "\n"
            + _line(event_id="p", page='"duration_ms": -0', duration_ms=0)
            + "\n",
            ["invalid_value", None, None],
            id="json-negative-zero",
        ),
        pytest.param("z.csv", f"{HEADER}\nc1,{CLICK},/a,-0,\n", ["invalid_value"], id="csv-negative-zero"),
    ],
)
def test_rows_the_lenient_parsers_once_let_through(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory, name: str, text: str, reasons: list
) -> None:
    """Found by the fuzzing: Spark's CSV parser keeps text around quotes that RFC 4180 does not allow,
    and Jackson re-prints the JSON integer -0 as `0`. The oracle and the platform agree on them now."""
    data = {name: text.encode()}
    verdicts = oracle.judge_drop(data, DAY)
    assert [v.reason for v in verdicts] == reasons
    result = run_ingest(spark, tmp_path_factory.mktemp("known"), data)
    assert row_disagreements(verdicts, result) == []
