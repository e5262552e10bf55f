"""The sinks' limits applied at ingest (contract 3, issue 10): a user_id that is not a UUID, a page over
2,048 bytes in UTF-8 and a duration no int column can sum are `invalid_value` in every format; values
exactly at a limit, in ASCII and in multi-byte text, are kept."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json

import ingest_user_events
import pyarrow as pa
import pytest
from pyspark.sql import SparkSession

from analytics_jobs.transforms.events import MAX_DURATION_MS
from tests.spark.ingest_fixtures import HEADER, STRUCT_PROPS, U1, event, write_lines, write_parquet

pytestmark = pytest.mark.spark

DAY = dt.date(2024, 1, 15)
ASCII_2048 = "/" + "a" * 2047
EURO_2048 = "/" + "€" * 682 + "a"  # 1 + 3 x 682 + 1 bytes, 684 characters
E_2048 = "é" * 1024  # 1,024 characters
# (event_id suffix, user_id, page, duration_ms) -> expected reason
CASES = [
    ("uuid_upper", U1.upper(), "/home", 1, None),
    ("not_uuid", "not-a-uuid", "/home", 1, "invalid_value"),
    ("uuid_braced", "{" + U1 + "}", "/home", 1, "invalid_value"),
    ("uuid_unhyphenated", U1.replace("-", ""), "/home", 1, "invalid_value"),
    ("page_ascii_2048", U1, ASCII_2048, 1, None),
    ("page_euro_2048", U1, EURO_2048, 1, None),
    ("page_e_2048", U1, E_2048, 1, None),
    ("page_ascii_2049", U1, ASCII_2048 + "b", 1, "invalid_value"),
    ("page_euro_2049", U1, EURO_2048 + "b", 1, "invalid_value"),
    ("page_e_2049", U1, E_2048 + "b", 1, "invalid_value"),
    ("duration_max", U1, "/home", MAX_DURATION_MS, None),
    ("duration_over", U1, "/home", MAX_DURATION_MS + 1, "invalid_value"),
]


def _events(prefix: str) -> list[dict]:
    return [
        event(f"{prefix}-{name}", user_id=user, page=page, duration_ms=duration)
        for name, user, page, duration, _ in CASES
    ]


def _csv_text(rows: list[dict]) -> list[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for r in rows:
        p = r["properties"]
        writer.writerow(
            [
                r["event_id"],
                r["event_type"],
                r["user_id"],
                r["timestamp"],
                p["page"],
                p["duration_ms"],
                p["device"],
            ]
        )
    return [HEADER, *out.getvalue().splitlines()]


@pytest.fixture(scope="module")
def ingested(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("limits")
    drop = root / "drop"
    drop.mkdir()
    write_lines(drop / "a.jsonl", _events("a"))
    write_lines(drop / "b.jsonl.gz", _events("b"), gz=True)
    write_lines(drop / "c.csv", _csv_text(_events("c")))
    write_lines(drop / "d.csv.gz", _csv_text(_events("d")), gz=True)
    rows = _events("e")
    write_parquet(
        drop / "e.parquet",
        {
            "event_id": [r["event_id"] for r in rows],
            "event_type": [r["event_type"] for r in rows],
            "user_id": [r["user_id"] for r in rows],
            "timestamp": [r["timestamp"] for r in rows],
            "properties": pa.array([r["properties"] for r in rows], STRUCT_PROPS),
        },
    )
    write_parquet(root / "users.parquet", {"id": [U1]})
    out = root / "out"
    args = argparse.Namespace(
        date=DAY, drop_folder=str(drop), users=str(root / "users.parquet"), events_out=str(out / "events"),
        quarantine=str(out / "quarantine"), report=str(out / "report.json"),
    )  # fmt: skip
    report = ingest_user_events.run(spark, args)
    kept = spark.read.parquet(str(out / "events")).collect()
    quarantined = [json.loads(line) for f in sorted((out / "quarantine").glob("*.json")) for line in f.open()]
    return {"report": report, "kept": kept, "quarantined": quarantined}


@pytest.mark.parametrize("prefix", ["a", "b", "c", "d", "e"])
def test_every_format_applies_the_limits(ingested: dict, prefix: str) -> None:
    verdicts = {r.event_id: None for r in ingested["kept"]}
    verdicts |= {q["event_id"]: q["reason"] for q in ingested["quarantined"]}
    assert {name: verdicts[f"{prefix}-{name}"] for name, *_ in CASES} == {
        name: want for name, *_, want in CASES
    }


def test_kept_values_are_unchanged(ingested: dict) -> None:
    pages = {r.page for r in ingested["kept"]}
    assert {ASCII_2048, EURO_2048, E_2048} <= pages
    assert {r.user_id for r in ingested["kept"]} == {U1}  # the upper-case id lower-cased
    assert max(r.duration_ms for r in ingested["kept"]) == MAX_DURATION_MS


def test_counted_once_under_invalid_value(ingested: dict) -> None:
    bad = sum(1 for *_, want in CASES if want)
    assert ingested["report"]["rejected"]["invalid_value"] == 5 * bad
    assert ingested["report"]["rows_kept"] == 5 * (len(CASES) - bad)
    assert all(q["raw"] for q in ingested["quarantined"])
