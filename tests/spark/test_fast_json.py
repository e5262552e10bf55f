"""The fast JSON reader (spark_jobs/jvm) against Spark's from_json: the same candidates for every
line, and it takes the plain lines itself (the speed-up of docs/performance.md, fourth round)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from analytics_jobs import jvm
from analytics_jobs.transforms import events
from tests.spark.ingest_fixtures import U1, event

pytestmark = pytest.mark.spark

DAY = dt.date(2024, 1, 15)
PLAIN = json.dumps(event("p1"))
OBJ2 = json.dumps(event("p2"))


def _with_properties(properties: str) -> str:
    return PLAIN[: PLAIN.index('"properties"')] + f'"properties": {properties}}}'


def _many_keys(extra: int) -> str:
    """PLAIN (8 keys) with `extra` more keys in an unknown object."""
    return '{"x": {' + ", ".join(f'"k{i}": {i}' for i in range(extra - 1)) + "}, " + PLAIN[1:]


# (line, whether the fast reader answers it itself)
LINES = [
    (PLAIN, True),
    (PLAIN + " \t", True),
    ("  " + PLAIN, True),
    (json.dumps({**event("p3"), "extra": {"deep": [1, {"x": None}], "n": 1.5}, "z": None}), True),
    (json.dumps(event("p4", duration_ms="5000")), True),
    (json.dumps(event("p5", duration_ms=0)), False),  # zero and -0: one way (parse_json_lines)
    (_with_properties('{"page": "/a", "duration_ms": -0, "device": "x"}'), False),
    (_with_properties('{"page": "/a", "duration_ms": -5}'), True),
    (_with_properties('{"duration_ms": 123456789012345678901234567890}'), True),
    (_with_properties('{"page": "/a", "other": {"page": 1}, "duration_ms": 7}'), True),
    (_with_properties("null"), True),
    (json.dumps(event("p6", properties=None)), True),
    (json.dumps(event(None, event_type=None, user_id=None, timestamp=None)), True),
    (json.dumps({**event("p7"), "event_id": None}), True),
    ("{}", True),
    (json.dumps(event("p8", page='caf\u00e9 "q" \\ \n \U0001f600')), True),
    (json.dumps(event("p9", page="/x" * 1100)), True),
    (json.dumps(event("p10", user_id=U1.upper(), device="")), True),
    # a float, an exponent: from_json re-prints them (1.5, 1000.0)
    (_with_properties('{"duration_ms": 1.50}'), False),
    (_with_properties('{"duration_ms": 1e3}'), False),
    # not a string where one is expected: from_json re-prints or refuses
    (json.dumps({**event("x"), "event_id": 123}), False),
    (json.dumps({**event("x"), "event_type": True}), False),
    (json.dumps({**event("x"), "user_id": {"a": 1}}), False),
    (json.dumps({**event("x"), "timestamp": [1]}), False),
    (json.dumps(event("x", page=5)), False),
    (json.dumps(event("x", device=["d"])), False),
    (_with_properties("[]"), False),
    (_with_properties('"x"'), False),
    (_with_properties("1"), False),
    # keys twice or in another case
    (PLAIN[:-1] + ', "event_id": "again"}', False),
    (PLAIN[:-1] + ', "properties": {"page": "/b"}}', False),
    (_with_properties('{"page": "/a", "page": "/b"}'), False),
    (PLAIN.replace('"event_id"', '"Event_ID"'), False),
    (PLAIN.replace('"properties"', '"PROPERTIES"'), False),
    (PLAIN.replace('"page"', '"Page"'), False),
    # not exactly one object
    (PLAIN + PLAIN, False),
    (PLAIN + " x}", False),
    (PLAIN + "],[" + OBJ2, False),
    (PLAIN + '},{"a": 1', False),
    (PLAIN + ', "w": 1', False),
    (PLAIN + ", " + OBJ2, False),
    (PLAIN + "}", False),
    ("null", False),
    ("[" + PLAIN + "]", False),
    ('"text"', False),
    ("17", False),
    ('{"event_id": "p11"', False),
    (PLAIN.replace('"', "'"), False),
    ('{"event_id": "a", /* c */ "event_type": "click"}', False),
    ('{"event_id": NaN}', False),
    ('{event_id: "a"}', False),
    ('{"event_id": "a",}', False),
    ('{"event_id": "a\tb"}', False),
    ("\ufeff" + PLAIN, False),
    ('{"event_id": "\\ud800"}', True),
    ("{" + '"a":[' * 2000 + "]" * 2000 + "}", False),
    # from_json reads inside a wrapper one level deeper, against Jackson's limit of 1000
    ('{"a":' + "[" * 998 + "]" * 998 + ", " + PLAIN[1:], True),
    ('{"a":' + "[" * 999 + "]" * 999 + ", " + PLAIN[1:], False),
    # Jackson's field-name table: at most 150 keys, nested ones included
    (_many_keys(150 - 8), True),
    (_many_keys(151 - 8), False),
    # escaped key names are the names
    (PLAIN.replace('"event_id"', '"event\\u005fid"'), True),
    (PLAIN.replace('"properties"', '"propert\\u0069es"'), True),
    # zero durations behind what the slow path's regular expression cannot see through
    (_with_properties('{"page": "/a", "x": {"a": 1}, "duration_ms": -0}'), False),
    (_with_properties('{"page": "/a", "properties": {"duration_ms": -5}, "duration_ms": 0}'), False),
]


def _lines(spark: SparkSession):
    rows = [("f.jsonl", n, line) for n, (line, _) in enumerate(LINES, start=2)]
    rows.append(("f.jsonl", 1, "\ufeff" + PLAIN))  # a byte-order mark on line 1 is not text
    return spark.createDataFrame(rows, events.LINES_SCHEMA)


@pytest.fixture(scope="module")
def fast_json(spark: SparkSession) -> str:
    assert jvm.register_fast_json(spark), "spark_jobs/jvm/analytics-jobs.jar is not on the classpath"
    return jvm.FAST_JSON_EVENT


def test_the_fast_reader_answers_the_plain_lines_and_leaves_the_rest(
    spark: SparkSession, fast_json: str
) -> None:
    answered = {
        r.line_number: r.read
        for r in _lines(spark)
        .select("line_number", F.call_function(fast_json, F.col("value")).isNotNull().alias("read"))
        .collect()
    }
    assert answered == {1: False, **{n: read for n, (_, read) in enumerate(LINES, start=2)}}


def test_both_readers_give_the_same_candidates_and_verdicts(spark: SparkSession, fast_json: str) -> None:
    lines = _lines(spark)
    fast = events.classify(events.parse_json_lines(lines, fast_json), DAY)
    assert fast_json in fast._jdf.queryExecution().optimizedPlan().toString()
    slow = events.classify(events.parse_json_lines(lines), DAY)
    got = sorted(fast.collect(), key=lambda r: r.line_number)
    want = sorted(slow.collect(), key=lambda r: r.line_number)
    assert len(got) == len(LINES) + 1
    for mine, theirs in zip(got, want, strict=True):
        assert mine.asDict() == theirs.asDict()
    verdicts = {r.line_number: r.reason for r in got}
    assert verdicts[2] is None and verdicts[1] is None  # kept, the BOM line too
    assert verdicts[8] == "invalid_value"  # duration -0
    assert verdicts[7] is None  # duration 0
    assert sum(r is None for r in verdicts.values()) >= 10


def test_a_zero_duration_on_a_line_of_many_strings_is_judged_without_overflowing_the_stack(
    spark: SparkSession, fast_json: str
) -> None:
    """The slow path's -0 check runs a regular expression that recurses once per token: on a line
    of 700 strings it overflowed the task's stack and killed the application. It now runs on lines
    of at most 400 quotes; a zero duration on a longer line is taken as 0."""
    strings = ", ".join(['"x"'] * 700)
    long = _with_properties('{"page": "/a", "a": [' + strings + '], "duration_ms": 0}')
    long_minus = long.replace('"duration_ms": 0', '"duration_ms": -0')
    rows = spark.createDataFrame([("f.jsonl", 2, long), ("f.jsonl", 3, long_minus)], events.LINES_SCHEMA)
    for reader in (fast_json, None):
        got = events.classify(events.parse_json_lines(rows, reader), DAY).orderBy("line_number").collect()
        assert [(r.reason, r.duration_ms) for r in got] == [(None, 0), (None, 0)]


def test_without_the_jar_the_ingest_reads_every_line_with_from_json(
    spark: SparkSession, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(jvm, "FAST_JSON_EVENT", "analytics_no_such_function")
    monkeypatch.setattr(jvm, "_FAST_JSON_CLASS", "analytics_jobs.NoSuchClass")
    assert jvm.register_fast_json(spark) is False
    assert "analytics_jobs.NoSuchClass not found" in caplog.text
    plan = events.parse_json_lines(_lines(spark))._jdf.queryExecution().optimizedPlan().toString()
    assert "analytics_fast_json_event" not in plan and "from_json" in plan
