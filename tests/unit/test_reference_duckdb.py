"""The DuckDB reference of benchmarks/day.py on tiny hand-made drops, against values worked out by hand
from the contract (and docs/ingestion.md for line numbers and empty values)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import demo_data as dd
from benchmarks.reference import lines
from benchmarks.reference.engine import Reference, data_files

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 15)  # a Monday: the week is 2024-01-15..21
U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"
U3 = "33333333-3333-4333-8333-333333333333"  # not in users
PAGE_2048 = "/" + "é" * 1023 + "x"  # 1 + 2046 + 1 bytes
PAGE_2049 = "/" + "a" * 2048


def ev(event_id: str | None, event_type: str, user_id: str, ts: str, **props: Any) -> str:
    doc: dict[str, Any] = {"event_type": event_type, "user_id": user_id, "timestamp": ts, "properties": props}
    if event_id is not None:
        doc["event_id"] = event_id
    return json.dumps(doc, ensure_ascii=False)


A_JSONL = [
    ev("E1", "page_view", U1.upper(), "2024-01-15T10:30:00Z", page="/home", duration_ms=5000),  # 1 duplicate
    "   ",  # 2: not a row, but it takes its number
    '{"event_id": "E2", "event_type": "page_view", "user_id": "' + U1,  # 3 malformed (cut short)
    ev("E3", "click", U2, "2024-01-15T11:00:00+01:00"),  # 4 missing_field: a click without a page
    ev("E4x", "purchase", U2, "2024-01-15T11:00:00Z", page="/shop"),  # 5 invalid_event_type
    ev("E5x", "session_start", U2, "2024-01-15T10:30:00"),  # 6 invalid_timestamp: no zone
    ev(None, "session_start", U2, "yesterday"),  # 7 missing_field comes before invalid_timestamp
    ev("E6x", "session_start", "not-a-uuid", "2024-01-15T10:30:00Z"),  # 8 invalid_value
    ev("E7x", "page_view", U2, "2024-01-15T10:30:00Z", page=PAGE_2049),  # 9 invalid_value
    ev("E10", "click", U2, "2024-01-15T13:15:00Z", page=PAGE_2048),  # 10 kept: exactly 2,048 bytes
    ev("E11x", "session_start", U2, "2024-01-14T23:59:59Z"),  # 11 out_of_window
    ev("E12x", "session_start", U2, "2024-01-15T01:00:00+02:00"),  # 12 out_of_window (23:00 the day before)
    ev("E1", "page_view", U1, "2024-01-15T11:00:00Z", page="/home"),  # 13 duplicate
    '{"event_id": "E13x"} x}',  # 14 malformed: text after the object
    '{"event_id": "E14x", "event_type": "click", "properties": "str"}',  # 15 malformed properties
    ev("E9", "session_start", U2, "2024-01-15T00:00Z"),  # 16 kept: midnight, minute precision
    ev("E15x", "session_start", U2, "2024-01-16T00:00:00.000Z"),  # 17 out_of_window
    ev("E16x", "session_start", U2, "2024-02-30T10:00:00Z"),  # 18 invalid_timestamp: no such day
    ev("E17x", "session_start", U2, "2024-01-15T24:00:00Z"),  # 19 invalid_timestamp: hour 24
    ev("E18x", "session_start", U2, "2024-01-15T10:00:00+19:00"),  # 20 invalid_timestamp: offset
]
B_CSV = [
    "event_id,event_type,user_id,timestamp,page,duration_ms,device",
    f"E4,session_end,{U1},2024-01-15T12:00:00+0530,,120000,desktop",  # row 1 kept (06:30Z)
    f'E5,page_view,{U2},2024-01-15T12:00:00Z,"/a,b",10,mobile',  # row 2 kept, page /a,b
    f'E6,page_view,{U2},2024-01-15T12:00:00Z,"/a,10,mobile',  # row 3 malformed: unbalanced quote
    "",  # a blank line: row number 4 is not used
    f"E7,page_view,{U2},2024-01-15T12:00:00Z,/x,10,mobile,extra",  # row 5 malformed: 8 fields
    f"E1,page_view,{U1},2024-01-15T10:30:00Z,/home,,",  # row 6 duplicate
    "E8,page_view,,2024-01-15T12:00:00Z,/x,,",  # row 7 missing_field: empty user_id
]

EXPECTED_REJECTS = sorted(
    [("a.jsonl", n, "duplicate") for n in (1, 13)]
    + [("a.jsonl", n, "malformed") for n in (3, 14, 15)]
    + [("a.jsonl", n, "missing_field") for n in (4, 7)]
    + [("a.jsonl", 5, "invalid_event_type")]
    + [("a.jsonl", n, "invalid_timestamp") for n in (6, 18, 19, 20)]
    + [("a.jsonl", n, "invalid_value") for n in (8, 9)]
    + [("a.jsonl", n, "out_of_window") for n in (11, 12, 17)]
    + [("b.csv", 3, "malformed"), ("b.csv", 5, "malformed"), ("b.csv", 6, "duplicate"), ("b.csv", 7, "missing_field")]
    + [("d.parquet", 1, "invalid_timestamp")]
)  # fmt: skip


def write_drop(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("\n".join(A_JSONL) + "\n", encoding="utf-8")
    (folder / "b.csv").write_text("\n".join(B_CSV) + "\n", encoding="utf-8")
    utc = pa.timestamp("us", tz="UTC")
    props = pa.map_(pa.string(), pa.string())
    pq.write_table(
        pa.table({
            "event_id": ["E70", "E1"], "event_type": ["page_view", "page_view"], "user_id": [U3, U1],
            "timestamp": pa.array([dt.datetime(2024, 1, 15, 9, tzinfo=dt.UTC), dt.datetime(2024, 1, 15, 8, tzinfo=dt.UTC)], utc),
            "properties": pa.array([[("page", "/home"), ("duration_ms", "7")], [("page", "/home")]], props),
        }),
        folder / "c.parquet",
    )  # fmt: skip
    pq.write_table(
        pa.table({"event_id": ["E80"], "event_type": ["session_start"], "user_id": [U1],
                  "timestamp": pa.array([dt.datetime(2024, 1, 15, 9)], pa.timestamp("us"))}),
        folder / "d.parquet",
    )  # fmt: skip
    (folder / "_SUCCESS").write_text("")
    (folder / ".hidden.jsonl").write_text("not read\n")
    (folder / "notes.txt").write_text("not read\n")


def source() -> tuple[pa.Table, pa.Table]:
    users = pa.table(
        {"id": [U1, U2], "name": ["Ann", "Bob"], "email": ["ann@example.com", "bob@example.com"]}
    )
    rows = [
        (U1, "math", D, 30, 8000),
        (U1, "math", D, 20, 8555),
        (U2, "physics", D, 50, None),
        (U3, "math", D, 10, 5000),  # an orphan: learning_progress only
        (U2, "physics", dt.date(2024, 1, 14), 40, 7000),  # the week before
        (U1, "math", dt.date(2024, 1, 21), 15, 9000),  # Sunday of the same week
    ]
    names = ("user_id", "subject", "date", "time_spent_minutes", "score_cents")
    progress = pa.table({n: pa.array([r[i] for r in rows]) for i, n in enumerate(names)})
    return users, progress


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("drop") / "user_events" / D.isoformat()
    write_drop(folder)
    ref = Reference(D, threads=2)
    ref.load_source(*source())
    ref.ingest(folder)
    result = ref.compute()
    yield ref, result
    ref.close()


def rows(ref: Reference, query: str) -> list[tuple]:
    return ref.con.execute(query).fetchall()


def test_counts_per_reason(reference) -> None:
    _, result = reference
    assert (result.rows_read, result.rows_kept, result.rows_rejected) == (28, 6, 22)
    assert result.rejected == {
        "malformed": 5, "missing_field": 3, "invalid_event_type": 1, "invalid_timestamp": 5,
        "invalid_value": 2, "out_of_window": 3, "duplicate": 3,
    }  # fmt: skip
    assert result.orphan_user == 1
    assert [(f["name"], f["format"], f["rows_read"]) for f in result.files] == [
        ("a.jsonl", "jsonl", 19), ("b.csv", "csv", 6), ("c.parquet", "parquet", 2), ("d.parquet", "parquet", 1)
    ]  # fmt: skip
    assert result.rows == {
        "daily_user_stats": 2,
        "page_view_stats": 3,
        "user_engagement": 3,
        "learning_progress": 3,
    }


def test_every_reject_with_its_file_and_line(reference, tmp_path: Path) -> None:
    ref, _ = reference
    ref.write(tmp_path)
    got = sorted(tuple(r.values()) for r in pq.read_table(tmp_path / "rejects.parquet").to_pylist())
    assert got == EXPECTED_REJECTS


def test_kept_events_and_the_earliest_copy_wins(reference) -> None:
    ref, _ = reference
    kept = rows(
        ref, "SELECT event_id, event_type, user_id, ts, page, duration_ms FROM kept ORDER BY event_id"
    )
    assert kept == [
        ("E1", "page_view", U1, dt.datetime(2024, 1, 15, 8), "/home", None),
        ("E10", "click", U2, dt.datetime(2024, 1, 15, 13, 15), PAGE_2048, None),
        ("E4", "session_end", U1, dt.datetime(2024, 1, 15, 6, 30), None, 120000),
        ("E5", "page_view", U2, dt.datetime(2024, 1, 15, 12), "/a,b", 10),
        ("E70", "page_view", U3, dt.datetime(2024, 1, 15, 9), "/home", 7),
        ("E9", "session_start", U2, dt.datetime(2024, 1, 15), None, None),
    ]


def test_outputs(reference) -> None:
    ref, _ = reference
    assert rows(ref, "SELECT hour, page, view_count FROM page_view_stats ORDER BY hour") == [
        (8, "/home", 1), (9, "/home", 1), (12, "/a,b", 1)
    ]  # fmt: skip
    engagement = rows(ref, "SELECT * FROM user_engagement ORDER BY user_id")
    assert [e[:6] for e in engagement] == [(U1, D, 2, 1, 0, 2), (U2, D, 3, 2, 1, 0), (U3, D, 1, 1, 0, 0)]
    assert [e[6] for e in engagement] == pytest.approx([1.0, 2.0, 0.7])
    stats = rows(ref, "SELECT user_id, name, total_time, lessons_completed, average_score::VARCHAR, daily_rank "
                      "FROM daily_user_stats ORDER BY user_id")  # fmt: skip
    assert stats == [(U1, "Ann", 50, 2, "82.78", 1), (U2, "Bob", 50, 1, None, 1)]
    progress = rows(ref, "SELECT * FROM learning_progress ORDER BY user_id")
    assert [p[:5] for p in progress] == [
        (U1, "math", D, 3, 65), (U2, "physics", D, 1, 50), (U3, "math", D, 1, 10)
    ]  # fmt: skip
    assert progress[0][5] == pytest.approx((80 + 85.55 + 90) / 3)
    assert progress[1][5] is None and progress[2][5] == pytest.approx(50.0)


def test_only_data_files_in_name_order(tmp_path: Path) -> None:
    write_drop(tmp_path / "f")
    (tmp_path / "f" / "sub.jsonl").mkdir()
    assert data_files(tmp_path / "f") == [
        ("a.jsonl", "jsonl"), ("b.csv", "csv"), ("c.parquet", "parquet"), ("d.parquet", "parquet")
    ]  # fmt: skip


def test_csv_with_another_header_is_malformed_and_gzip_empty_files_count_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "user_events" / D.isoformat()
    folder.mkdir(parents=True)
    (folder / "a.csv").write_text(
        "event_type,event_id,user_id,timestamp,page,duration_ms,device\n" + B_CSV[1] + "\n"
    )
    with gzip.open(folder / "b.csv.gz", "wt") as f:
        f.write(
            "\ufeffEVENT_ID, event_type,user_id,timestamp,page,duration_ms,device\r\n" + B_CSV[1] + "\r\n"
        )
    (folder / "c.csv").write_text(B_CSV[0] + "\n")  # a header only: 0 rows
    (folder / "d.jsonl").write_bytes(b"")
    (folder / "e.parquet").write_bytes(b"")
    with Reference(D) as ref:
        ref.load_source(*source())
        ref.ingest(folder)
        result = ref.compute()
    assert (result.rows_read, result.rows_kept, result.rejected["malformed"]) == (2, 1, 1)
    assert [f["rows_read"] for f in result.files] == [1, 1, 0, 0, 0]


@pytest.mark.parametrize("block", [1, 2, 5, 1 << 20])
def test_lines_are_physical_lines_whatever_the_block(tmp_path: Path, block: int) -> None:
    path = tmp_path / "x.jsonl.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"\xef\xbb\xbfone\r\n\ntwo\n  \nthree \xff")
    got = [(r["line_number"], r["line"]) for b in lines.line_batches(path, block) for r in b.to_pylist()]
    assert got == [(1, "one"), (2, ""), (3, "two"), (4, "  "), (5, "three \ufffd")]


@pytest.mark.parametrize("layout", ["demo", "benchmark"])
def test_generated_days_are_judged_as_planted(tmp_path: Path, layout: str) -> None:
    cfg = dd.DayConfig(date=dt.date(2024, 1, 17), users=200, events=8000, bad_share=0.05, seed=4)
    pop = dd.build_population(cfg)
    write = dd.write_benchmark_drop if layout == "benchmark" else dd.write_event_drop
    stats = write(cfg, pop, tmp_path)
    with Reference(cfg.date) as ref:
        ref.load_source(pa.table({"id": [r[0] for r in pop.rows], "name": [r[1] for r in pop.rows],
                                  "email": [r[2] for r in pop.rows]}), source()[1])  # fmt: skip
        ref.ingest(dd.drop_folder(tmp_path, cfg.date))
        result = ref.compute()
    assert result.rejected == {r: stats.bad_by_reason[r] for r in dd.REASONS}
    assert (result.rows_kept, result.orphan_user) == (stats.good_rows, stats.orphan_user_rows)


# -- benchmarks/day.py's checks ------------------------------------------------------------------------------
def test_a_count_that_differs_from_the_run_record_fails_the_check() -> None:
    from benchmarks import day

    ref = {"rows_read": 10, "rows_kept": 7, "rows_rejected": 3, "orphan_user": 1,
           "rejected": {r: 0 for r in dd.REASONS} | {"malformed": 3},
           "rows": {"daily_user_stats": 4, "page_view_stats": 5, "user_engagement": 6, "learning_progress": 7}}  # fmt: skip
    record = {"rows_read": 10, "rows_kept": 7, "rows_rejected": 3, "orphan_user": 1,
              "rejected_by_reason": dict(ref["rejected"]), "rows_written": {"daily_user_stats": 4}}  # fmt: skip
    assert all(c["ok"] for c in day.check_counts(record, ref))
    record["rejected_by_reason"] = {**ref["rejected"], "malformed": 2, "invalid_value": 1}
    record["rows_written"]["cassandra"] = {"page_view_stats": 5, "user_engagement": 6, "learning_progress": 8}
    bad = [c["what"] for c in day.check_counts(record, ref) if not c["ok"]]
    assert bad == ["rejected.malformed", "rejected.invalid_value", "rows_written.cassandra.learning_progress"]


def test_an_output_row_that_differs_is_found(tmp_path: Path) -> None:
    from benchmarks.reference.compare import compare_output

    rows = {"user_id": [U1, U2], "subject": ["math", "art"], "week_start": [D, D], "lessons_completed": [1, 2],
            "time_spent_minutes": [10, 20], "average_score": [50.0, None]}  # fmt: skip
    pq.write_table(pa.table(rows), tmp_path / "ref.parquet")
    (tmp_path / "run").mkdir()
    pq.write_table(pa.table({**rows, "user_id": [U1.upper(), U2]}), tmp_path / "run" / "part-0.parquet")
    assert compare_output("learning_progress", tmp_path / "ref.parquet", tmp_path / "run")["differences"] == 0
    pq.write_table(
        pa.table({**rows, "average_score": [50.0000001, 1.0]}), tmp_path / "run" / "part-0.parquet"
    )
    result = compare_output("learning_progress", tmp_path / "ref.parquet", tmp_path / "run")
    assert result["differences"] == 1 and result["platform_rows"] == 2


def test_samples_are_attributed_to_the_task_that_ran() -> None:
    from benchmarks import day

    t0 = dt.datetime(2024, 1, 15, 2, tzinfo=dt.UTC)
    tasks = [{"task_id": "a", "start": t0.isoformat(), "end": (t0 + dt.timedelta(seconds=10)).isoformat()},
             {"task_id": "b", "start": (t0 + dt.timedelta(seconds=10.5)).isoformat(),
              "end": (t0 + dt.timedelta(seconds=20)).isoformat()}]  # fmt: skip
    at = t0.timestamp()
    samples = [day.Sample(at + 1, 300, 0, 0), day.Sample(at + 9, 320, 0, 0), day.Sample(at + 12, 330, 900, 40),
               day.Sample(at + 19, 310, 1200, 0), day.Sample(at + 30, 999, 999, 0)]  # fmt: skip
    day.attribute(tasks, samples)
    assert tasks[0]["peak_rss_mb"] == {
        "airflow_process": 320,
        "spark_driver_jvm": None,
        "spark_python_workers": None,
    }
    assert tasks[1]["peak_rss_mb"] == {
        "airflow_process": 330,
        "spark_driver_jvm": 1200,
        "spark_python_workers": 40,
    }
    assert (tasks[0]["spark"], tasks[1]["spark"]) == (False, True)
    assert tasks[0]["overlaps"] == tasks[1]["overlaps"] == []
