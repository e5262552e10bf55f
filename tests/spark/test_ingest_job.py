"""The ingest entry point run for real with spark-submit on a small mixed drop.

Expected values are written by hand: 9 rows over three files, 4 kept, two malformed and one rejection
of each of missing_field, invalid_timestamp and duplicate; one kept event of an unknown user.
fs.defaultFS points at a filesystem that does not exist: every path without a scheme must be local.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pyspark
import pytest

from tests.spark.ingest_fixtures import (
    HEADER,
    STRUCT_PROPS,
    U1,
    U2,
    U9,
    UTC_MICROS,
    event,
    write_lines,
    write_parquet,
)

pytestmark = [pytest.mark.spark, pytest.mark.slow]

JOB = Path(__file__).resolve().parents[2] / "spark_jobs" / "ingest_user_events.py"
TWO_OBJECTS = json.dumps(event("k7", timestamp="2024-03-10T10:00:00Z")) + json.dumps(event("k8"))


def spark_submit(*args: str) -> subprocess.CompletedProcess:
    spark_home = os.environ.get("SPARK_HOME") or str(Path(pyspark.__file__).parent)
    env = {**os.environ, "SPARK_HOME": spark_home, "PYSPARK_PYTHON": sys.executable}
    command = [
        f"{spark_home}/bin/spark-submit",
        "--master",
        "local[2]",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.sql.shuffle.partitions=4",
        "--conf",
        "spark.hadoop.fs.defaultFS=nosuchfs://cluster/",
        str(JOB),
        *args,
    ]
    return subprocess.run(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300
    )


def test_spark_submit_on_a_mixed_drop(tmp_path: Path) -> None:
    drop = tmp_path / "user_events" / "2024-03-10"
    drop.mkdir(parents=True)
    write_lines(
        drop / "1.jsonl.gz",
        [
            event("k1", timestamp="2024-03-10T08:00:00Z"),  # 1 kept
            "{broken",  # 2 malformed
            event("k2", event_type="click", timestamp="2024-03-10T01:00+01", user_id=U9),  # 3 kept: 00:00 UTC
            TWO_OBJECTS,  # 4 malformed: two objects on one line
        ],
        gz=True,
    )
    write_lines(
        drop / "2.csv",
        [
            HEADER,
            f'k3,page_view,{U2.upper()},2024-03-10T09:00:00Z,"/a,""b""",250,mobile',  # 1 kept, user lower case
            f"k4,page_view,{U1},2024-03-10T09:00:00,/a,,",  # 2 invalid_timestamp
            f"k1,page_view,{U1},2024-03-10T07:59:59Z,/first,,",  # 3 kept: earlier than 1.jsonl.gz:1
        ],
    )
    write_parquet(
        drop / "3.parquet",
        {
            "event_id": ["k5", "k6"],
            "event_type": ["session_end", "session_start"],
            "user_id": [U1, None],
            "timestamp": pa.array([dt.datetime(2024, 3, 10, 23, 59, 59, tzinfo=dt.UTC)] * 2, UTC_MICROS),
            "properties": pa.array(
                [{"page": None, "duration_ms": 60000, "device": None}, None], STRUCT_PROPS
            ),
        },
    )
    (drop / "_SUCCESS").write_bytes(b"")
    users = write_parquet(tmp_path / "users.parquet", {"id": [U1, U2], "name": ["A", "B"]})
    out = tmp_path / "data"
    stale = out / "quarantine" / "old-run.json"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"reason": "stale"}\n')

    proc = spark_submit(
        "--date",
        "2024-03-10",
        "--drop-folder",
        str(drop),
        "--users",
        str(users),
        "--events-out",
        str(out / "events"),
        "--quarantine",
        str(out / "quarantine"),
        "--report",
        str(out / "report.json"),
    )
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert "ignored (not data files): ['_SUCCESS']" in proc.stdout

    report = json.loads((out / "report.json").read_text())
    assert report == {
        "date": "2024-03-10",
        "rows_read": 9,
        "rows_kept": 4,
        "rows_rejected": 5,
        "rejected": {
            "malformed": 2,
            "missing_field": 1,
            "invalid_event_type": 0,
            "invalid_timestamp": 1,
            "invalid_value": 0,
            "out_of_window": 0,
            "duplicate": 1,
        },
        "orphan_user": 1,
        "files": [
            {"name": "1.jsonl.gz", "format": "jsonl.gz", "rows_read": 4},
            {"name": "2.csv", "format": "csv", "rows_read": 3},
            {"name": "3.parquet", "format": "parquet", "rows_read": 2},
        ],
        "ignored_files": ["_SUCCESS"],
    }
    assert not list(out.glob(".report.json.*")), "temporary report file left behind"

    kept = pq.read_table(out / "events").to_pylist()
    utc = dt.UTC
    assert sorted(kept, key=lambda r: r["event_id"]) == [
        {
            "event_id": "k1",
            "event_type": "page_view",
            "user_id": U1,
            "timestamp": dt.datetime(2024, 3, 10, 7, 59, 59, tzinfo=utc),
            "page": "/first",
            "duration_ms": None,
            "device": None,
            "source_file": "2.csv",
            "line_number": 3,
        },
        {
            "event_id": "k2",
            "event_type": "click",
            "user_id": U9,
            "timestamp": dt.datetime(2024, 3, 10, 0, 0, tzinfo=utc),
            "page": "/home",
            "duration_ms": 1000,
            "device": "desktop",
            "source_file": "1.jsonl.gz",
            "line_number": 3,
        },
        {
            "event_id": "k3",
            "event_type": "page_view",
            "user_id": U2,
            "timestamp": dt.datetime(2024, 3, 10, 9, tzinfo=utc),
            "page": '/a,"b"',
            "duration_ms": 250,
            "device": "mobile",
            "source_file": "2.csv",
            "line_number": 1,
        },
        {
            "event_id": "k5",
            "event_type": "session_end",
            "user_id": U1,
            "timestamp": dt.datetime(2024, 3, 10, 23, 59, 59, tzinfo=utc),
            "page": None,
            "duration_ms": 60000,
            "device": None,
            "source_file": "3.parquet",
            "line_number": 1,
        },
    ]

    quarantine = [
        json.loads(line)
        for path in (out / "quarantine").iterdir()
        if path.suffix == ".json"
        for line in path.read_text(encoding="utf-8").splitlines()
    ]
    assert not stale.exists(), "the quarantine of an earlier run was not replaced"
    assert sorted(quarantine, key=lambda q: (q["source_file"], q["line_number"])) == [
        {
            "reason": "duplicate",
            "source_file": "1.jsonl.gz",
            "line_number": 1,
            "raw": json.dumps(event("k1", timestamp="2024-03-10T08:00:00Z")),
            "event_id": "k1",
        },
        {
            "reason": "malformed",
            "source_file": "1.jsonl.gz",
            "line_number": 2,
            "raw": "{broken",
            "event_id": None,
        },
        {
            "reason": "malformed",
            "source_file": "1.jsonl.gz",
            "line_number": 4,
            "raw": TWO_OBJECTS,
            "event_id": None,
        },
        {
            "reason": "invalid_timestamp",
            "source_file": "2.csv",
            "line_number": 2,
            "raw": f"k4,page_view,{U1},2024-03-10T09:00:00,/a,,",
            "event_id": "k4",
        },
        {
            "reason": "missing_field",
            "source_file": "3.parquet",
            "line_number": 2,
            "raw": '{"event_id":"k6","event_type":"session_start","user_id":null,'
            '"timestamp":"2024-03-10T23:59:59.000Z","properties":null}',
            "event_id": "k6",
        },
    ]
