"""The event ingest on one hand-made drop holding every rule in every format.

The drop is ingested once (in-process, with the session's SparkSession) and every test reads the
outputs. Expected reasons, numbers and values are written out by hand below, never computed by the
code under test. Day D is 2024-01-15.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import ingest_user_events
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from analytics_jobs import drops
from analytics_jobs.session import session_conf
from analytics_jobs.transforms import events
from tests.spark.ingest_fixtures import (
    HEADER,
    LOCAL_MICROS,
    MAP_PROPS,
    STRUCT_PROPS,
    U1,
    U2,
    U9,
    UTC_MICROS,
    event,
    write_lines,
    write_parquet,
)

pytestmark = pytest.mark.spark

DAY = dt.date(2024, 1, 15)
UTC = dt.UTC


def _a_events() -> list:
    return [
        event("a-ok"),  # 1 kept
        "   ",  # 2 whitespace only: not a row
        "not json",  # 3 malformed
        "[1, 2]",  # 4 malformed: not an object
        json.dumps(event("a-trail")) + " x",  # 5 malformed: text after the object
        {**event("a-props"), "properties": "str"},  # 6 malformed: properties not an object
        event(None),  # 7 missing_field: event_id
        event("a-emptytype", event_type=""),  # 8 missing_field
        event("a-nopage", properties=None),  # 9 missing_field: page_view without page
        event("a-clickempty", event_type="click", page=""),  # 10 missing_field
        event("a-nop", event_type="session_start", properties=None),  # 11 kept
        event("a-type", event_type="purchase"),  # 12 invalid_event_type
        event("a-nozone", timestamp="2024-01-15T10:00:00"),  # 13 invalid_timestamp
        event("a-feb30", timestamp="2024-02-30T10:00:00Z"),  # 14 invalid_timestamp
        event("a-neg", duration_ms=-5),  # 15 invalid_value
        event("a-float", duration_ms=5000.0),  # 16 invalid_value
        event("a-strdur", duration_ms="5000"),  # 17 kept, 5000
        event("a-before", timestamp="2024-01-14T23:59:59.999Z"),  # 18 out_of_window
        event("a-start", timestamp="2024-01-15T00:00:00.000Z"),  # 19 kept
        event("a-end", timestamp="2024-01-16T00:00:00.000Z"),  # 20 out_of_window
        event("a-into", timestamp="2024-01-16T00:30:00+01:00"),  # 21 kept: 2024-01-15 23:30 UTC
        event("a-outof", timestamp="2024-01-15T23:30:00-0100"),  # 22 out_of_window: 2024-01-16 00:30
        event("a-many1", event_type="bad", user_id=None, timestamp="x", duration_ms=-1),  # 23 missing
        event("a-many2", event_type="bad", timestamp="x", duration_ms=-1),  # 24 invalid_event_type
        event("a-frac", timestamp="2024-01-15T12:00:00.123456+05:30"),  # 25 kept: 06:30:00.123456
        event("dup-in", timestamp="2024-01-15T10:00:00Z"),  # 26 kept
        event("dup-in", timestamp="2024-01-15T10:00:00Z"),  # 27 duplicate: same time, later line
        event("dup-x", timestamp="2024-01-15T12:00:00Z"),  # 28 duplicate: c_events.csv has 09:00
        event("a-orphan", user_id=U9),  # 29 kept, orphan
        event("a-upper", user_id=U1.upper()),  # 30 kept, not an orphan
    ]


def _b_events() -> list:
    return [
        "{oops",  # 1 malformed
        event("b-miss", timestamp=""),  # 2 missing_field
        event("b-type", event_type="PAGE_VIEW"),  # 3 invalid_event_type
        event("b-ts", timestamp="15/01/2024 10:00"),  # 4 invalid_timestamp
        event("b-dur", duration_ms="12abc"),  # 5 invalid_value
        event("b-win", timestamp="2024-01-17T10:00:00Z"),  # 6 out_of_window
        event("dup-gz", timestamp="2024-01-15T11:00:00Z"),  # 7 duplicate: line 8 is earlier in time
        event("dup-gz", timestamp="2024-01-15T10:59:59Z"),  # 8 kept
        event("b-ok", event_type="session_end", page=None, duration_ms=120000),  # 9 kept
    ]


C_EVENTS = [  # data row numbers in the comments (header excluded)
    f'c-ok,page_view,{U1},2024-01-15T08:00:00Z,"/search?q=a,b",1500,mobile',  # 1 kept
    f'c-quote,click,{U1},2024-01-15T08:01:00Z,"/say ""hi""",,',  # 2 kept
    f"c-utf8,page_view,{U2},2024-01-15T08:02:00+00:00,/café/ü,10,tablet",  # 3 kept
    f"c-short,page_view,{U1},2024-01-15T08:03:00Z,/x,10",  # 4 malformed: 6 fields
    f"c-long,page_view,{U1},2024-01-15T08:04:00Z,/x,10,d,extra",  # 5 malformed: 8 fields
    f'c-open,page_view,{U1},2024-01-15T08:05:00Z,"/x,10,d',  # 6 malformed: open quote
    "",  # (7) empty line: not a row
    f",page_view,{U1},2024-01-15T08:06:00Z,/x,10,d",  # 8 missing_field
    f"c-type,view,{U1},2024-01-15T08:07:00Z,/x,10,d",  # 9 invalid_event_type
    f"c-ts,page_view,{U1},2024-01-15 08:08:00Z,/x,10,d",  # 10 invalid_timestamp
    f"c-dur,page_view,{U1},2024-01-15T08:09:00Z,/x,5000.0,d",  # 11 invalid_value
    f"c-win,page_view,{U1},2024-01-14T08:10:00Z,/x,10,d",  # 12 out_of_window
    f"dup-x,page_view,{U1},2024-01-15T09:00:00Z,/x,10,d",  # 13 kept: earliest dup-x
    f"dup-tie,page_view,{U1},2024-01-15T13:00:00Z,/x,10,d",  # 14 kept: tie, first file by name
    f"c-many,,{U1},not-a-time,,-3,d",  # 15 missing_field (also bad time and duration)
]

D_EVENTS = [
    '"d-bad,page_view',  # 1 malformed
    f"d-miss,click,{U1},2024-01-15T10:00:00Z,,10,d",  # 2 missing_field: click without page
    f"d-type,Click,{U1},2024-01-15T10:00:00Z,/x,10,d",  # 3 invalid_event_type
    f"d-ts,page_view,{U1},2024-01-15T10:00:00+1,/x,10,d",  # 4 invalid_timestamp: one-digit offset
    f"d-dur,page_view,{U1},2024-01-15T10:00:00Z,/x,-1,d",  # 5 invalid_value
    f"d-win,page_view,{U1},2024-01-16T00:00:00Z,/x,,d",  # 6 out_of_window
    f"dup-tie,page_view,{U1},2024-01-15T13:00:00Z,/y,10,d",  # 7 duplicate: c_events.csv wins the tie
    f"d-ok,session_start,{U9},2024-01-15T10:00:00Z,,,",  # 8 kept, orphan
]


def _ts(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def build_drop(folder: Path) -> None:
    folder.mkdir(parents=True)
    write_lines(folder / "a_events.jsonl", _a_events())
    write_lines(folder / "b_events.jsonl.gz", _b_events(), gz=True)
    write_lines(folder / "c_events.csv", [HEADER, *C_EVENTS])
    write_lines(folder / "d_events.csv.gz", [HEADER, *D_EVENTS], gz=True)
    p = {"page": "/e", "duration_ms": 100, "device": "web"}
    write_parquet(
        folder / "e_struct.parquet",
        {
            "event_id": ["e-ok", "e-miss", "e-type", "e-ts", "e-dur", "e-win", "dup-px", "e-nullprops"],
            "event_type": ["page_view"] * 2 + ["scroll"] + ["page_view"] * 4 + ["session_start"],
            "user_id": [U1, None, U1, U1, U1, U1, U1, U1],
            "timestamp": ["2024-01-15T14:00:00Z"] * 3
            + ["2024-01-15T14:00:00", "2024-01-15T14:00:00Z", "2024-01-16T00:00:00Z"]
            + ["2024-01-15T15:00:00Z", "2024-01-15T14:00:00Z"],
            "properties": pa.array([p, p, p, p, {**p, "duration_ms": -7}, p, p, None], STRUCT_PROPS),
        },
    )
    m = [("page", "/f"), ("duration_ms", "30")]
    write_parquet(
        folder / "f_map.parquet",
        {
            "event_id": ["f-ok", "f-miss", "f-type", "f-ts", "f-dur", "f-win", "dup-px"],
            "event_type": ["click", "click", "pageview", "click", "click", "click", "click"],
            "user_id": [U2] * 7,
            "timestamp": ["2024-01-15T16:00:00+02:00", "2024-01-15T16:00:00Z", "2024-01-15T16:00:00Z"]
            + ["2024-01-15T16:00:00.Z", "2024-01-15T16:00:00Z", "2024-01-14T23:59:59+00:00"]
            + ["2024-01-15T15:00:00Z"],
            "properties": pa.array(
                [m, [("duration_ms", "1")], m, m, [("page", "/f"), ("duration_ms", "1.5")], m, m], MAP_PROPS
            ),
        },
    )
    write_parquet(
        folder / "g_typed.parquet",
        {
            "event_id": ["g-start", "g-end", "g-before", "g-null", "g-type", "g-dur", "dup-x"],
            "event_type": ["page_view", "page_view", "page_view", "page_view", "Session_Start"]
            + ["page_view", "page_view"],
            "user_id": [U1] * 7,
            "timestamp": pa.array(
                [_ts(2024, 1, 15), _ts(2024, 1, 16), _ts(2024, 1, 14, 23, 59, 59, 999999), None]
                + [_ts(2024, 1, 15, 1), _ts(2024, 1, 15, 2), _ts(2024, 1, 15, 9)],
                UTC_MICROS,
            ),
            "properties": pa.array([p, p, p, p, p, {**p, "duration_ms": -1}, p], STRUCT_PROPS),
        },
    )
    write_parquet(
        folder / "h_badprops.parquet",
        {"event_id": ["h-1"], "event_type": ["click"], "user_id": [U1]}
        | {"timestamp": ["2024-01-15T10:00:00Z"], "properties": ["/page"]},
    )
    write_parquet(
        folder / "i_ntz.parquet",
        {"event_id": ["i-1"], "event_type": ["session_start"], "user_id": [U1]}
        | {"timestamp": pa.array([dt.datetime(2024, 1, 15, 10)], LOCAL_MICROS)},
    )
    (folder / "empty.jsonl").write_bytes(b"")
    write_lines(folder / "header_only.csv", [HEADER])
    (folder / "zero.parquet").write_bytes(b"")
    (folder / "_SUCCESS").write_bytes(b"")
    write_lines(folder / ".hidden.jsonl", [event("hidden")])
    (folder / "readme.txt").write_text("not data\n")


EXPECTED_REASONS = {
    "a_events.jsonl": {
        **dict.fromkeys([1, 11, 17, 19, 21, 25, 26, 29, 30]),
        **dict.fromkeys([3, 4, 5, 6], "malformed"),
        **dict.fromkeys([7, 8, 9, 10, 23], "missing_field"),
        **dict.fromkeys([12, 24], "invalid_event_type"),
        **dict.fromkeys([13, 14], "invalid_timestamp"),
        **dict.fromkeys([15, 16], "invalid_value"),
        **dict.fromkeys([18, 20, 22], "out_of_window"),
        **dict.fromkeys([27, 28], "duplicate"),
    },
    "b_events.jsonl.gz": {
        1: "malformed",
        2: "missing_field",
        3: "invalid_event_type",
        4: "invalid_timestamp",
        5: "invalid_value",
        6: "out_of_window",
        7: "duplicate",
        8: None,
        9: None,
    },
    "c_events.csv": {
        **dict.fromkeys([1, 2, 3, 13, 14]),
        **dict.fromkeys([4, 5, 6], "malformed"),
        **dict.fromkeys([8, 15], "missing_field"),
        9: "invalid_event_type",
        10: "invalid_timestamp",
        11: "invalid_value",
        12: "out_of_window",
    },
    "d_events.csv.gz": {
        1: "malformed",
        2: "missing_field",
        3: "invalid_event_type",
        4: "invalid_timestamp",
        5: "invalid_value",
        6: "out_of_window",
        7: "duplicate",
        8: None,
    },
    "e_struct.parquet": {
        1: None,
        2: "missing_field",
        3: "invalid_event_type",
        4: "invalid_timestamp",
        5: "invalid_value",
        6: "out_of_window",
        7: None,
        8: None,
    },
    "f_map.parquet": {
        1: None,
        2: "missing_field",
        3: "invalid_event_type",
        4: "invalid_timestamp",
        5: "invalid_value",
        6: "out_of_window",
        7: "duplicate",
    },
    "g_typed.parquet": {
        1: None,
        2: "out_of_window",
        3: "out_of_window",
        4: "missing_field",
        5: "invalid_event_type",
        6: "invalid_value",
        7: "duplicate",
    },
    "h_badprops.parquet": {1: "malformed"},
    "i_ntz.parquet": {1: "invalid_timestamp"},
}


@pytest.fixture(scope="module")
def ingested(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("ingest")
    build_drop(root / "drop")
    write_parquet(root / "users.parquet", {"id": [U1, U2], "name": ["A", "B"]})
    args = argparse.Namespace(
        date=DAY,
        drop_folder=str(root / "drop"),
        users=str(root / "users.parquet"),
        events_out=str(root / "out" / "events"),
        quarantine=str(root / "out" / "quarantine"),
        report=str(root / "out" / "report.json"),
    )
    ingest_user_events.run(spark, args)
    kept = {(r.source_file, r.line_number): r for r in spark.read.parquet(args.events_out).collect()}
    quarantined = [
        json.loads(line)
        for path in sorted(Path(args.quarantine).glob("*.json"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    return {
        "report": json.loads(Path(args.report).read_text()),
        "kept": kept,
        "quarantine": {(q["source_file"], q["line_number"]): q for q in quarantined},
        "quarantine_rows": len(quarantined),
        "events_schema": spark.read.parquet(args.events_out).schema,
    }


# HotSpot's HugeMethodLimit: a method of more bytecode is never compiled, and runs interpreted.
_JIT_HUGE_METHOD_BYTES = 8000


def test_the_judging_code_stays_small_enough_for_the_jit(spark: SparkSession, tmp_path: Path) -> None:
    """Every generated method of the parse-and-judge query (every format) is one the JIT compiles.
    Once one outgrew 8,000 bytes (seven `startswith` per value), every text row cost twice as much."""
    build_drop(tmp_path / "drop")
    drop = drops.list_drop(tmp_path / "drop")
    judged = events.classify(ingest_user_events.candidates(spark, drop).rows, DAY)
    debug = getattr(spark._jvm.org.apache.spark.sql.execution.debug, "package$").__getattr__("MODULE$")
    stages = debug.codegenStringSeq(judged._jdf.queryExecution().executedPlan())
    sizes = [stages.apply(i)._3().maxMethodCodeSize() for i in range(stages.size())]
    assert len(sizes) >= 4, sizes  # JSON, CSV and Parquet branches, and the line filter
    assert max(sizes) <= _JIT_HUGE_METHOD_BYTES, sizes


def test_every_row_gets_the_expected_reason(ingested: dict) -> None:
    actual: dict[str, dict[int, str | None]] = {}
    for (name, line), _ in ingested["kept"].items():
        actual.setdefault(name, {})[line] = None
    for (name, line), q in ingested["quarantine"].items():
        assert (name, line) not in ingested["kept"], "a row both kept and rejected"
        actual.setdefault(name, {})[line] = q["reason"]
    assert actual == EXPECTED_REASONS
    assert ingested["quarantine_rows"] == 62  # no row quarantined twice


def test_report_totals_per_reason_file_and_orphans(ingested: dict) -> None:
    report = ingested["report"]
    assert report["date"] == "2024-01-15"
    assert (report["rows_read"], report["rows_kept"], report["rows_rejected"]) == (84, 22, 62)
    assert list(report["rejected"].items()) == [
        ("malformed", 10),
        ("missing_field", 12),
        ("invalid_event_type", 8),
        ("invalid_timestamp", 8),
        ("invalid_value", 8),
        ("out_of_window", 10),
        ("duplicate", 6),
    ]
    assert report["orphan_user"] == 2  # a-orphan and d-ok; the upper-case U1 is a known user
    assert report["files"] == [
        {"name": "a_events.jsonl", "format": "jsonl", "rows_read": 29},
        {"name": "b_events.jsonl.gz", "format": "jsonl.gz", "rows_read": 9},
        {"name": "c_events.csv", "format": "csv", "rows_read": 14},
        {"name": "d_events.csv.gz", "format": "csv.gz", "rows_read": 8},
        {"name": "e_struct.parquet", "format": "parquet", "rows_read": 8},
        {"name": "empty.jsonl", "format": "jsonl", "rows_read": 0},
        {"name": "f_map.parquet", "format": "parquet", "rows_read": 7},
        {"name": "g_typed.parquet", "format": "parquet", "rows_read": 7},
        {"name": "h_badprops.parquet", "format": "parquet", "rows_read": 1},
        {"name": "header_only.csv", "format": "csv", "rows_read": 0},
        {"name": "i_ntz.parquet", "format": "parquet", "rows_read": 1},
        {"name": "zero.parquet", "format": "parquet", "rows_read": 0},
    ]
    assert report["ignored_files"] == [".hidden.jsonl", "_SUCCESS", "readme.txt"]


def test_kept_events_schema(ingested: dict) -> None:
    assert [(f.name, f.dataType.simpleString()) for f in ingested["events_schema"].fields] == [
        ("event_id", "string"),
        ("event_type", "string"),
        ("user_id", "string"),
        ("timestamp", "timestamp"),
        ("page", "string"),
        ("duration_ms", "bigint"),
        ("device", "string"),
        ("source_file", "string"),
        ("line_number", "bigint"),
    ]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (("a_events.jsonl", 1), ("a-ok", "page_view", U1, _ts(2024, 1, 15, 10), "/home", 1000, "desktop")),
        (("a_events.jsonl", 11), ("a-nop", "session_start", U1, _ts(2024, 1, 15, 10), None, None, None)),
        (
            ("a_events.jsonl", 17),
            ("a-strdur", "page_view", U1, _ts(2024, 1, 15, 10), "/home", 5000, "desktop"),
        ),
        (("a_events.jsonl", 19), ("a-start", "page_view", U1, _ts(2024, 1, 15), "/home", 1000, "desktop")),
        (  # the upper-case user_id is kept lower case: one user downstream
            ("a_events.jsonl", 30),
            ("a-upper", "page_view", U1, _ts(2024, 1, 15, 10), "/home", 1000, "desktop"),
        ),
        (
            ("a_events.jsonl", 21),
            ("a-into", "page_view", U1, _ts(2024, 1, 15, 23, 30), "/home", 1000, "desktop"),
        ),
        (
            ("a_events.jsonl", 25),
            ("a-frac", "page_view", U1, _ts(2024, 1, 15, 6, 30, 0, 123456), "/home", 1000, "desktop"),
        ),
        (
            ("b_events.jsonl.gz", 8),
            ("dup-gz", "page_view", U1, _ts(2024, 1, 15, 10, 59, 59), "/home", 1000, "desktop"),
        ),
        (
            ("c_events.csv", 1),
            ("c-ok", "page_view", U1, _ts(2024, 1, 15, 8), "/search?q=a,b", 1500, "mobile"),
        ),
        (("c_events.csv", 2), ("c-quote", "click", U1, _ts(2024, 1, 15, 8, 1), '/say "hi"', None, None)),
        (("c_events.csv", 3), ("c-utf8", "page_view", U2, _ts(2024, 1, 15, 8, 2), "/café/ü", 10, "tablet")),
        (("c_events.csv", 13), ("dup-x", "page_view", U1, _ts(2024, 1, 15, 9), "/x", 10, "d")),
        (("c_events.csv", 14), ("dup-tie", "page_view", U1, _ts(2024, 1, 15, 13), "/x", 10, "d")),
        (("d_events.csv.gz", 8), ("d-ok", "session_start", U9, _ts(2024, 1, 15, 10), None, None, None)),
        (
            ("e_struct.parquet", 8),
            ("e-nullprops", "session_start", U1, _ts(2024, 1, 15, 14), None, None, None),
        ),
        (("f_map.parquet", 1), ("f-ok", "click", U2, _ts(2024, 1, 15, 14), "/f", 30, None)),
        (("g_typed.parquet", 1), ("g-start", "page_view", U1, _ts(2024, 1, 15), "/e", 100, "web")),
    ],
)
def test_kept_event_values(ingested: dict, where: tuple[str, int], expected: tuple) -> None:
    row = ingested["kept"][where]
    actual = (row.event_id, row.event_type, row.user_id, row.timestamp, row.page, row.duration_ms, row.device)
    expected_utc = expected[3].replace(tzinfo=None)  # Spark returns naive datetimes in the session zone
    assert actual == (*expected[:3], expected_utc, *expected[4:])


def test_quarantine_keeps_raw_text_and_event_id(ingested: dict) -> None:
    q = ingested["quarantine"]
    assert q[("a_events.jsonl", 3)] == {
        "reason": "malformed",
        "source_file": "a_events.jsonl",
        "line_number": 3,
        "raw": "not json",
        "event_id": None,
    }
    assert q[("c_events.csv", 6)]["raw"] == f'c-open,page_view,{U1},2024-01-15T08:05:00Z,"/x,10,d'
    assert q[("c_events.csv", 11)]["event_id"] == "c-dur"
    assert q[("a_events.jsonl", 27)]["raw"] == json.dumps(event("dup-in", timestamp="2024-01-15T10:00:00Z"))
    assert q[("a_events.jsonl", 27)]["event_id"] == "dup-in"
    assert q[("d_events.csv.gz", 7)]["raw"] == D_EVENTS[6]  # a CSV duplicate: numbered after the header
    assert json.loads(q[("f_map.parquet", 7)]["raw"]) == {
        "event_id": "dup-px",
        "event_type": "click",
        "user_id": U2,
        "timestamp": "2024-01-15T15:00:00Z",
        "properties": {"page": "/f", "duration_ms": "30"},
    }
    assert json.loads(q[("g_typed.parquet", 2)]["raw"])["timestamp"] == "2024-01-16T00:00:00.000Z"


def _split_drop(folder: Path) -> tuple[list[str], list[drops.DropFile]]:
    lines = [f'{{"n": {i}, "pad": "{"x" * (i % 7)}"}}' for i in range(1, 401)]
    write_lines(folder / "big.jsonl", lines)
    (folder / "small.jsonl").write_text('{"n": 1}\n\n{"n": 3}\n')
    return lines, drops.list_drop(folder).of("jsonl")


@pytest.fixture
def small_splits(spark: SparkSession) -> Iterator[None]:
    """Files of more than 2 KB are read in several splits (as a 128 MB split size does at scale)."""
    # openCostInBytes as it is, so that it is restored too: plan_splits changes it.
    opened = spark.conf.get("spark.sql.files.openCostInBytes")
    with session_conf(
        spark, {"spark.sql.files.maxPartitionBytes": "2048", "spark.sql.files.openCostInBytes": opened}
    ):
        yield


def test_line_numbers_survive_split_files(spark: SparkSession, tmp_path: Path, small_splits: None) -> None:
    """A plain file read by several tasks: every line keeps its own number."""
    lines, files = _split_drop(tmp_path)
    text = drops.read_text_lines(spark, files, events.is_row_line(F.col("value")))
    assert text.lines.rdd.getNumPartitions() > 3
    got = text.lines.collect()
    numbered = {(r.source_file, r.line_number): r.value for r in got}
    assert len(numbered) == len(got) == 403
    assert all(numbered[("big.jsonl", i)] == lines[i - 1] for i in range(1, 401))
    assert [numbered[("small.jsonl", i)] for i in (1, 2, 3)] == ['{"n": 1}', "", '{"n": 3}']
    # Only the file read in several splits needs (and gets) the count pass.
    assert text.row_counts == {"big.jsonl": 400}


def test_one_split_per_task_whatever_the_parallelism(
    spark: SparkSession, tmp_path: Path, small_splits: None
) -> None:
    """Small files are never packed into one task: a line's position in its task is its position
    in its split, which the numbering relies on."""
    for i in range(6):
        (tmp_path / f"f{i}.jsonl").write_text('{"n": 1}\n{"n": 2}\n')
    text = drops.read_text_lines(spark, drops.list_drop(tmp_path).of("jsonl"))
    assert text.lines.rdd.getNumPartitions() == 6
    assert sorted((r.source_file, r.line_number) for r in text.lines.collect()) == [
        (f"f{i}.jsonl", n) for i in range(6) for n in (1, 2)
    ]


def test_a_drop_is_cut_in_no_more_splits_than_there_are_cores(
    spark: SparkSession, tmp_path: Path, small_splits: None
) -> None:
    """The session's split size holds until the text files would make more splits than the cores
    can read at once; then the text bytes are shared out over the cores (Parquet files not counted)."""
    cores = spark.sparkContext.defaultParallelism
    (tmp_path / "a.jsonl").write_text("x" * 1000 + "\n")
    (tmp_path / "b.parquet").write_bytes(b"y" * 100_000)
    assert drops.split_bytes_for(spark, drops.list_drop(tmp_path)) == 2048
    (tmp_path / "c.csv.gz").write_bytes(b"z" * 9_001)
    assert drops.split_bytes_for(spark, drops.list_drop(tmp_path)) == -(-10_002 // cores)
    # A drop of one big and one tiny file: the big one in as many splits as cores (not one per
    # 2 KB), so counted; every line keeps its number.
    drop = tmp_path / "drop"
    drop.mkdir()
    lines, _ = _split_drop(drop)
    drops.plan_splits(spark, drops.split_bytes_for(spark, drops.list_drop(drop)))
    text = drops.read_text_lines(spark, drops.list_drop(drop).of("jsonl"))
    assert text.row_counts == {"big.jsonl": 400}
    assert text.lines.rdd.getNumPartitions() == cores + 1
    got = {r.line_number: r.value for r in text.lines.where(F.col("source_file") == "big.jsonl").collect()}
    assert got == dict(enumerate(lines, start=1))


def test_a_split_the_count_pass_did_not_see_is_left_unnumbered(spark: SparkSession, tmp_path: Path) -> None:
    """If the file were split differently when parsed than when counted (the split size changed in
    between), its later splits' lines get no number, which fails the run: never a wrong number."""
    lines, files = _split_drop(tmp_path)
    text = drops.read_text_lines(spark, files)  # counted as one split per file
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "2048")
    try:
        got = text.lines.collect()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    numbered = [r for r in got if r.line_number is not None]
    assert len(got) == 403 and len(numbered) < 403
    assert all(r.value == lines[r.line_number - 1] for r in numbered if r.source_file == "big.jsonl")
    unnumbered = Counter(r.source_file for r in got if r.line_number is None)
    assert set(unnumbered) == {"big.jsonl"}  # the small file is one split either way
    with pytest.raises(drops.LineCountError, match=r"big\.jsonl: \d+ rows"):
        drops.verify_numbered(unnumbered)


def test_rows_lost_between_the_passes_fail_the_run() -> None:
    drops.verify_rows_read({"a.jsonl": 3, "b.csv": 2}, {"a.jsonl": 3, "b.csv": 2, "c.parquet": 7})
    with pytest.raises(
        drops.LineCountError, match=r"a\.jsonl: 3 counted, 2 parsed; b\.csv: 2 counted, 0 parsed"
    ):
        drops.verify_rows_read({"a.jsonl": 3, "b.csv": 2}, {"a.jsonl": 2})
    with pytest.raises(drops.LineCountError, match=r"a\.jsonl: 3 counted, 4 parsed"):
        drops.verify_rows_read({"a.jsonl": 3}, {"a.jsonl": 4})


def test_the_run_fails_before_writing_when_parsing_loses_a_line(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_splits: None
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    padding = "x" * 1000  # 3 KB: read in two splits, so its rows are counted
    write_lines(
        drop / "a.jsonl",
        [event("e1", device=padding), event("e2", device=padding), "", event("e3", device=padding)],
    )
    write_parquet(tmp_path / "users.parquet", {"id": [U1]})
    keep_rows = events.drop_blank_lines
    monkeypatch.setattr(  # a parse pass that loses line 2
        events, "drop_blank_lines", lambda lines: keep_rows(lines).where(F.col("line_number") != 2)
    )
    args = argparse.Namespace(
        date=DAY,
        drop_folder=str(drop),
        users=str(tmp_path / "users.parquet"),
        events_out=str(tmp_path / "events"),
        quarantine=str(tmp_path / "quarantine"),
        report=str(tmp_path / "report.json"),
    )
    with pytest.raises(drops.LineCountError, match=r"a\.jsonl: 3 counted, 2 parsed"):
        ingest_user_events.run(spark, args)
    assert not (tmp_path / "events").exists()
    assert not (tmp_path / "quarantine").exists()
    assert not (tmp_path / "report.json").exists()


def _judge_json_lines(spark: SparkSession, texts: list[str]) -> list:
    lines = spark.createDataFrame(
        [("j.jsonl", i, t) for i, t in enumerate(texts, start=1)], events.LINES_SCHEMA
    )
    return sorted(events.classify(events.parse_json_lines(lines), DAY).collect(), key=lambda r: r.line_number)


OBJ = json.dumps(event("j1"))
OBJ2 = json.dumps(event("j2"))


def test_a_json_line_is_exactly_one_object(spark: SparkSession) -> None:
    texts = [
        OBJ,  # 1 kept
        OBJ + " \t",  # 2 kept: trailing whitespace
        OBJ + OBJ2,  # 3 two objects
        OBJ + " x}",  # 4 text after the object, ending in a brace
        OBJ + "],[" + OBJ2,  # 5 would close a [ ] wrapper
        OBJ + '},{"a": 1',  # 6 would close a { } wrapper
        OBJ + ', "w": 1',  # 7 would continue a { } wrapper
        OBJ + ", " + OBJ2,  # 8 would continue a [ ] wrapper
        "null",  # 9
        "[" + OBJ + "]",  # 10 an array
        '{"event_id": "j3"',  # 11 unclosed
        OBJ.replace('"', "'"),  # 12 single quotes are not JSON
    ]
    rows = _judge_json_lines(spark, texts)
    assert [(r.line_number, r.reason) for r in rows] == [
        (1, None),
        (2, None),
        *[(n, "malformed") for n in range(3, 13)],
    ]
    assert (rows[0].event_id, rows[1].event_id) == ("j1", "j1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15T10:30:00Z", _ts(2024, 1, 15, 10, 30)),
        ("2024-01-15T10:30Z", _ts(2024, 1, 15, 10, 30)),  # minute precision
        ("2024-01-15T10:30+02", _ts(2024, 1, 15, 8, 30)),  # hour-only offset
        ("2024-01-15T10:30:15-05", _ts(2024, 1, 15, 15, 30, 15)),
        ("2024-01-15T10:30:00.5+02", _ts(2024, 1, 15, 8, 30, 0, 500000)),
        ("2024-01-15T10:30+02:30", _ts(2024, 1, 15, 8)),
        ("2024-01-15T10:30-0130", _ts(2024, 1, 15, 12)),
        ("2024-01-15T00:30+01", _ts(2024, 1, 14, 23, 30)),  # valid, but out of the window
        ("2024-01-15T10:30", None),  # no zone
        ("2024-01-15T10:30:00", None),  # no zone
        ("2024-01-15T10Z", None),  # hour only
        ("2024-01-15T10:30+2", None),
        ("2024-01-15T10:30+02:", None),
        ("2024-01-15T10:30+19", None),  # beyond +18:00
        ("2024-01-15T10:30z", None),
        ("2024-01-15T10:30:Z", None),
        ("2024-01-15T25:30Z", None),
        ("garbage", None),
    ],
)
def test_timestamp_forms(spark: SparkSession, text: str, expected: dt.datetime | None) -> None:
    (row,) = _judge_json_lines(spark, [json.dumps(event("t", timestamp=text))])
    if expected is None:
        assert (row.reason, row.timestamp) == ("invalid_timestamp", None)
    else:
        assert row.timestamp == expected.replace(tzinfo=None)
        assert row.reason == (None if expected.date() == DAY else "out_of_window")


def test_seconds_are_filled_in_as_the_regular_expression_did(spark: SparkSession) -> None:
    """`_iso_for_cast` (string functions) against the replacement it took over from, on texts that
    match ISO_TIMESTAMP, a line terminator after the zone included (Java's `$` allows one)."""
    minutes_only = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2})(Z|[+-].*)$"
    texts = ["2024-01-15T10:30Z", "2024-01-15T10:30+02", "2024-01-15T10:30-01:30", "2024-01-15T10:30+0130",
             "2024-01-15T10:30:15Z", "2024-01-15T10:30:15.123456789+02:00", "2024-01-15T10:30Z\n",
             "2024-01-15T10:30:00Z\r\n", "2024-01-15T10:30+02\r"]  # fmt: skip
    rows = (
        spark.createDataFrame([(t,) for t in texts], "t string")
        .select(
            F.col("t").rlike(events.ISO_TIMESTAMP).alias("iso"),
            events._iso_for_cast(F.col("t")).alias("ours"),
            F.regexp_replace("t", minutes_only, "$1:00$2").alias("regex"),
        )
        .collect()
    )
    assert all(r.iso for r in rows)
    assert [r.ours for r in rows] == [r.regex for r in rows]


def test_a_row_is_a_duplicate_only_where_its_place_is_listed_under_its_hash(spark: SparkSession) -> None:
    """`mark_duplicates` looks losers up by the hash of their place, then compares the place: a row
    whose place hashes like a loser's (as a colliding place would) but is not listed stays, as does
    a listed place under another hash; a rejected row is never looked up."""
    rows = [("a.jsonl", 1, None), ("a.jsonl", 2, None), ("b.jsonl", 1, None), ("b.jsonl", 2, "malformed")]
    classified = spark.createDataFrame(
        [(f, n, "same", r, f"raw {f}:{n}") for f, n, r in rows],
        "source_file string, line_number long, event_id string, reason string, raw string",
    )
    hash_of = {
        (r.source_file, r.line_number): r.p
        for r in classified.select(
            "source_file", "line_number", F.xxhash64("source_file", "line_number").alias("p")
        ).collect()
    }
    losers = spark.createDataFrame(
        [
            (hash_of[("a.jsonl", 1)], [("b.jsonl", 1)]),  # a.jsonl:1 shares the hash, not the place
            (hash_of[("b.jsonl", 1)], [("b.jsonl", 1)]),
            (hash_of[("b.jsonl", 2)], [("b.jsonl", 2)]),  # rejected: stays malformed
            (hash_of[("a.jsonl", 1)] + 1, [("a.jsonl", 2)]),  # a.jsonl:2 listed under another hash
        ],
        "_p long, _losers array<struct<source_file: string, line_number: long>>",
    )
    marked = events.mark_duplicates(classified, losers)
    got = {(r.source_file, r.line_number): (r.reason, r.raw) for r in marked.collect()}
    assert got == {
        ("a.jsonl", 1): (None, None),
        ("a.jsonl", 2): (None, None),
        ("b.jsonl", 1): ("duplicate", "raw b.jsonl:1"),
        ("b.jsonl", 2): ("malformed", "raw b.jsonl:2"),
    }
    assert sorted(map(tuple, events.loser_rows(losers).collect())) == [
        ("a.jsonl", 2), ("b.jsonl", 1), ("b.jsonl", 1), ("b.jsonl", 2)
    ]  # fmt: skip


def test_a_row_without_a_line_number_is_never_looked_up_among_the_losers(spark: SparkSession) -> None:
    """Unnumbered rows (the run fails on them, after counting) keep their verdict: no place of theirs
    is known, so none is a loser's, as with the join by file and line."""
    classified = spark.createDataFrame(
        [("f.jsonl", None, "same", None, "r1", None), ("f.jsonl", None, "same", None, "r2", None),
         ("f.jsonl", None, "other", None, "r3", None), ("f.jsonl", 7, "kept", None, "r4", None)],
        "source_file string, line_number long, event_id string, reason string, raw string, timestamp timestamp",
    )  # fmt: skip
    marked = events.mark_duplicates(classified, events.duplicate_losers(classified))
    assert sorted((r.event_id, r.reason) for r in marked.collect()) == [
        ("kept", None), ("other", None), ("same", None), ("same", None)
    ]  # fmt: skip


def test_a_long_run_of_one_id_keeps_only_its_first(spark: SparkSession) -> None:
    """One id on 3,000 passing rows: 2,999 losers, each listed under its own place."""
    lines = spark.createDataFrame(
        [("j.jsonl", n, json.dumps(event("same"))) for n in range(1, 3001)], events.LINES_SCHEMA
    )
    judged = events.classify(events.parse_json_lines(lines), DAY)
    losers = events.duplicate_losers(judged)
    assert losers.agg(F.max(F.size("_losers"))).first()[0] == 1
    marked = events.mark_duplicates(judged, losers)
    counts = {r.reason: r["count"] for r in marked.groupBy("reason").count().collect()}
    assert counts == {None: 1, "duplicate": 2999}
    assert marked.where(F.col("reason").isNull()).first().line_number == 1


def test_user_id_is_kept_trimmed_and_lower_case_event_id_as_given(spark: SparkSession) -> None:
    lines = spark.createDataFrame(
        [
            ("j.jsonl", 1, json.dumps(event("Ev-1", user_id=f" {U1.upper()}\t"))),
            ("j.jsonl", 2, json.dumps(event("EV-1", user_id=U2.upper()))),
        ],
        events.LINES_SCHEMA,
    )
    judged = events.mark_duplicates(events.classify(events.parse_json_lines(lines), DAY))
    rows = sorted(judged.collect(), key=lambda r: r.line_number)
    assert [(r.event_id, r.user_id, r.reason) for r in rows] == [
        ("Ev-1", U1, None),
        ("EV-1", U2, None),  # event ids compare exactly: not a duplicate of Ev-1
    ]


# Values around the trims' shortcut (only a value beginning or ending with whitespace is trimmed):
# every whitespace character at either end, inside only, none, multi-byte neighbours, NBSP and
# U+3000 (not whitespace here), and bytes that are not UTF-8 (hex, cast to string).
TRIM_CASES = [None, "", " ", "\t\r\n\f\u000b ", " a", "a ", "\ta\n", "a b", "a", "é", " é", "é\u000b",
              "\u00a0", "\u3000x\u3000", "\u00a0 ", " \u00a0", "ab\r", "\fab"]  # fmt: skip
TRIM_BYTES = ["C320", "20C3", "61E2", "FF", "E2", "20FF20", "E282", "0920C30A", "00", "0020", "2000", "0061"]


def test_blank_and_trimmed_values_are_the_plain_trims(spark: SparkSession) -> None:
    """The shortcut gives what btrim gives, for every value: text and bytes that are not UTF-8."""
    text = spark.createDataFrame([(v,) for v in TRIM_CASES], "v string")
    raw = spark.createDataFrame([(h,) for h in TRIM_BYTES], "h string").select(
        F.unhex("h").cast("string").alias("v")
    )
    v, ws = F.col("v"), F.lit(events._WHITESPACE)
    rows = (
        text.unionByName(raw)
        .select(
            events._is_blank(v).alias("blank"),
            (v.isNull() | (F.btrim(v, ws) == "")).alias("blank_by_btrim"),
            F.hex(events._trimmed(v)).alias("trimmed"),
            F.hex(F.btrim(v, ws)).alias("trimmed_by_btrim"),
        )
        .collect()
    )
    assert len(rows) == len(TRIM_CASES) + len(TRIM_BYTES)
    assert [(r.blank, r.trimmed) for r in rows] == [(r.blank_by_btrim, r.trimmed_by_btrim) for r in rows]
    # And the rule as the contract words it, for the text values.
    assert [r.blank for r in rows[: len(TRIM_CASES)]] == [events.is_blank_text(t) for t in TRIM_CASES]


def test_counting_a_character_counts_it_among_multi_byte_characters(spark: SparkSession) -> None:
    """`_count_of` counts characters, whatever else the value holds."""
    values = ['a,"é",b', "€,,€", '"""', "", "日本,語", ",\u00a0,", None]
    rows = (
        spark.createDataFrame([(v,) for v in values], "v string")
        .select(
            events._count_of(F.col("v"), ",").alias("commas"),
            events._count_of(F.col("v"), '"').alias("quotes"),
        )
        .collect()
    )
    expected = [(None, None) if v is None else (v.count(","), v.count('"')) for v in values]
    assert [(r.commas, r.quotes) for r in rows] == expected


# User ids whose lower case differs between ICU and the JVM, or becomes ASCII, or holds a letter
# whose case mapping depends on the locale (Turkish I), next to valid ones in both cases.
CASE_IDS = [U1.upper(), f"  {U2.upper()}\t", U1[:-1] + "\u212a", "\u0130" + U1[1:], U1[:-1] + "\uff21",
            "\u03a3" + U1[1:], U1.replace("a", "\u00c5", 1), "I" + U1[1:].upper(), U1]  # fmt: skip


@pytest.mark.parametrize("icu", ["true", "false"])
def test_user_ids_are_judged_alike_under_either_case_mapping(spark: SparkSession, icu: str) -> None:
    """The jobs lower with the JVM's case mapping (analytics_jobs.session turns ICU's off): a user id is
    kept only when it is an ASCII uuid, and both mappings lower those alike."""
    lines = spark.createDataFrame(
        [("j.jsonl", i, json.dumps(event(f"e{i}", user_id=u))) for i, u in enumerate(CASE_IDS, 1)],
        events.LINES_SCHEMA,
    )
    with session_conf(spark, {"spark.sql.icu.caseMappings.enabled": icu}):
        rows = sorted(
            events.classify(events.parse_json_lines(lines), DAY).collect(), key=lambda r: r.line_number
        )
    judged = [(r.reason, r.user_id if r.reason is None else None) for r in rows]
    assert judged == [
        (None, U1),
        (None, U2),
        *[("invalid_value", None)] * 6,
        (None, U1),
    ]


def test_missing_drop_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        drops.list_drop(tmp_path / "nope")


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (HEADER, True),
        ("\ufeffEvent_ID, event_type ,user_id,timestamp,page,duration_ms,device", True),
        ("event_type,event_id,user_id,timestamp,page,duration_ms,device", False),
        ("event_id,event_type,user_id,timestamp,page,duration_ms", False),
        (None, False),
    ],
)
def test_csv_header(header: str | None, ok: bool) -> None:
    assert events.csv_header_ok(header) is ok


def test_csv_with_a_foreign_header_is_malformed(spark: SparkSession) -> None:
    lines = spark.createDataFrame(
        [
            ("x.csv", 1, "id,type,user,ts,page,dur,device"),
            ("x.csv", 2, f"e1,click,{U1},2024-01-15T10:00:00Z,/p,1,d"),
        ],
        events.LINES_SCHEMA,
    )
    rows = events.classify(events.parse_csv_lines(lines, ["x.csv"]), DAY).collect()
    assert [(r.line_number, r.reason, r.event_id) for r in rows] == [(1, "malformed", None)]


def _ingest_args(root: Path) -> argparse.Namespace:
    """The ingest's arguments for a drop in root/drop and users in root/users.parquet."""
    return argparse.Namespace(
        date=DAY,
        drop_folder=str(root / "drop"),
        users=str(root / "users.parquet"),
        events_out=str(root / "events"),
        quarantine=str(root / "quarantine"),
        report=str(root / "report.json"),
    )


def test_a_lost_duplicate_of_an_unknown_user_is_no_orphan_event(spark: SparkSession, tmp_path: Path) -> None:
    """orphan_user counts kept events: an unknown user's duplicate is counted once, not twice, and
    a loser's own user does not count when its winner's user is known."""
    (tmp_path / "drop").mkdir()
    write_lines(
        tmp_path / "drop" / "a.jsonl",
        [
            event("twice", user_id=U9, timestamp="2024-01-15T10:00:00Z"),
            event("twice", user_id=U9, timestamp="2024-01-15T11:00:00Z"),  # loser, unknown user
            event("known", user_id=U1, timestamp="2024-01-15T10:00:00Z"),
            event("known", user_id=U9, timestamp="2024-01-15T12:00:00Z"),  # loser, unknown user
            event("alone", user_id=U9),  # kept, unknown user
        ],
    )
    write_parquet(tmp_path / "users.parquet", {"id": [U1, U2]})
    args = _ingest_args(tmp_path)
    report = ingest_user_events.run(spark, args)
    assert (report["rows_kept"], report["rejected"]["duplicate"], report["orphan_user"]) == (3, 2, 2)


def test_a_drop_without_data_files_reads_nothing(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "_SUCCESS").write_bytes(b"")
    write_parquet(tmp_path / "users.parquet", {"id": [U1]})
    args = _ingest_args(tmp_path)
    report = ingest_user_events.run(spark, args)
    assert (report["rows_read"], report["rows_kept"], report["rows_rejected"], report["orphan_user"]) == (
        0,
        0,
        0,
        0,
    )
    assert report["rejected"] == dict.fromkeys(events.REASONS, 0)
    assert (report["files"], report["ignored_files"]) == ([], ["_SUCCESS"])
    assert json.loads((tmp_path / "report.json").read_text()) == report
    written = spark.read.parquet(args.events_out)
    assert written.count() == 0
    assert written.schema.fieldNames() == [f.name for f in events.EVENT_SCHEMA.fields]


def _an_earlier_quarantine(args: argparse.Namespace) -> Path:
    """An earlier run's quarantine of the day: one file, whose survival the tests check."""
    earlier = Path(args.quarantine) / "part-00000-earlier.json"
    earlier.parent.mkdir(parents=True)
    earlier.write_text('{"reason": "malformed", "line_number": 7}\n', encoding="utf-8")
    return earlier


def test_a_failed_quarantine_write_leaves_the_earlier_quarantine(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The quarantine is per date: a write that fails half-way (or is cancelled by a side step of
    daily_outputs) must not have deleted the earlier run's, as a write in place does."""
    (tmp_path / "drop").mkdir()
    write_lines(tmp_path / "drop" / "a.jsonl", [event("ok"), "not json"])
    write_parquet(tmp_path / "users.parquet", {"id": [U1]})
    args = _ingest_args(tmp_path)
    earlier = _an_earlier_quarantine(args)
    rows = events.quarantine_rows
    monkeypatch.setattr(  # a quarantine query that fails on its executors, after the job started
        events,
        "quarantine_rows",
        lambda marked: rows(marked).withColumn("reason", F.raise_error(F.lit("boom"))),
    )
    with pytest.raises(Exception, match="boom"):
        ingest_user_events.run(spark, args)
    assert sorted(p.name for p in Path(args.quarantine).iterdir()) == [earlier.name]
    assert earlier.read_text(encoding="utf-8") == '{"reason": "malformed", "line_number": 7}\n'
    assert not (tmp_path / "report.json").exists()


def test_a_rerun_replaces_the_quarantine_whole(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "drop").mkdir()
    write_lines(tmp_path / "drop" / "a.jsonl", [event("ok"), "not json"])
    write_parquet(tmp_path / "users.parquet", {"id": [U1]})
    args = _ingest_args(tmp_path)
    earlier = _an_earlier_quarantine(args)
    ingest_user_events.run(spark, args)
    assert not earlier.exists()
    rows = [
        json.loads(line)
        for path in Path(args.quarantine).glob("*.json")
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert [(r["source_file"], r["line_number"], r["reason"]) for r in rows] == [("a.jsonl", 2, "malformed")]
    assert not (tmp_path / "events.scratch").exists()  # the staged quarantine went with the scratch


def test_a_scratch_on_another_filesystem_than_the_quarantine_fails_before_anything_is_written(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The quarantine is moved from the scratch, which a rename across filesystems cannot do."""
    (tmp_path / "drop").mkdir()
    write_lines(tmp_path / "drop" / "a.jsonl", [event("ok"), "not json"])
    write_parquet(tmp_path / "users.parquet", {"id": [U1]})
    args = argparse.Namespace(**vars(_ingest_args(tmp_path)), scratch="ftp://127.0.0.1:1/scratch")
    with pytest.raises(
        ValueError, match=r"scratch ftp://127\.0\.0\.1:1/scratch and the quarantine .* different"
    ):
        ingest_user_events.run(spark, args)
    assert not (tmp_path / "events").exists() and not (tmp_path / "quarantine").exists()
