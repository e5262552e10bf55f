"""The demo data generator, without a database: determinism, shape of the data, and the event drop read
back with json/csv/pyarrow and judged by an independent reading of contract section 3."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import json
import re
import tracemalloc
import uuid
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import demo_data as dd

pytestmark = pytest.mark.unit

WED = dt.date(2024, 1, 17)
CFG = dd.DayConfig(date=WED, users=300, progress_per_day=2000, events=6000, bad_share=0.05, seed=7)


@pytest.fixture(scope="module")
def pop() -> dd.Population:
    return dd.build_population(CFG)


# -- configuration, users ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "first", "count"),
    [
        (dt.date(2024, 1, 15), dt.date(2024, 1, 15), 1),
        (WED, dt.date(2024, 1, 15), 3),
        (dt.date(2024, 1, 21), dt.date(2024, 1, 15), 7),
    ],
)
def test_days_run_from_monday_to_the_date(day: dt.date, first: dt.date, count: int) -> None:
    days = dd.DayConfig(date=day).days
    assert (days[0], days[-1], len(days)) == (first, day, count)


@pytest.mark.parametrize("kwargs", [{"users": 0}, {"events": -1}, {"bad_share": 0.9}])
def test_config_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        dd.DayConfig(date=WED, **kwargs)


def test_same_seed_same_users_on_every_date_other_seed_other_users(pop: dd.Population) -> None:
    again = dd.build_population(dd.DayConfig(date=WED, users=300, seed=7))
    next_week = dd.build_population(dd.DayConfig(date=WED + dt.timedelta(days=7), users=300, seed=7))
    other = dd.build_population(dd.DayConfig(date=WED, users=300, seed=8))
    assert again.rows == pop.rows
    assert [r[:4] for r in next_week.rows] == [r[:4] for r in pop.rows]
    assert not {r[0] for r in other.rows} & {r[0] for r in pop.rows}


def test_users_look_real(pop: dd.Population) -> None:
    ids = [r[0] for r in pop.rows]
    assert len(set(ids)) == len(ids) == 300
    assert all(uuid.UUID(i).version == 4 for i in ids)
    emails = [r[2] for r in pop.rows]
    assert len(set(emails)) == len(emails)
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z0-9.]+\.[a-z]+", e) for e in emails)
    countries = Counter(r[3] for r in pop.rows)
    assert countries[None] > 0
    assert all(c is None or re.fullmatch(r"[A-Z]{2}", c) for c in countries)
    week_start = dt.datetime(2024, 1, 15, tzinfo=dt.UTC)
    assert all(dt.datetime.fromisoformat(r[4]) < week_start for r in pop.rows)
    assert not set(pop.orphan_ids) & set(ids)


# -- progress ------------------------------------------------------------------------------------------
def test_progress_is_deterministic_and_a_day_does_not_depend_on_the_run_date(pop: dd.Population) -> None:
    monday = dt.date(2024, 1, 15)
    rows = list(dd.iter_progress_day(CFG, pop, monday))
    assert rows == list(dd.iter_progress_day(CFG, pop, monday))
    run_on_monday = dd.DayConfig(date=monday, users=300, progress_per_day=2000, seed=7)
    assert rows == list(dd.iter_progress_day(run_on_monday, dd.build_population(run_on_monday), monday))
    other_seed = dd.DayConfig(date=WED, users=300, progress_per_day=2000, seed=8)
    assert rows != list(dd.iter_progress_day(other_seed, dd.build_population(other_seed), monday))


def test_progress_rows_have_the_source_shape(pop: dd.Population) -> None:
    stats = dd.ProgressStats()
    rows = list(dd.iter_progress_week(CFG, pop, stats))
    assert len(rows) == 3 * 2000
    assert Counter(r[3] for r in rows) == {"2024-01-15": 2000, "2024-01-16": 2000, "2024-01-17": 2000}
    for _user, lesson, subject, day, minutes, score, completed in rows:
        assert uuid.UUID(lesson) and subject in dd.SUBJECTS
        assert 0 <= minutes <= 120
        assert score is None or (
            Decimal("0") <= Decimal(score) <= Decimal("100") and len(score.split(".")[1]) == 2
        )
        assert dt.datetime.fromisoformat(completed).date().isoformat() == day
    for day in ("2024-01-15", "2024-01-16", "2024-01-17"):
        times = [r[6] for r in rows if r[3] == day]
        assert times == sorted(times), "rows come in completed_at order, like an OLTP table"
    assert 0 < stats.zero_minute_rows < 0.02 * len(rows)
    assert 0.11 < sum(r[5] is None for r in rows) / len(rows) < 0.19
    assert stats.null_scores == sum(r[5] is None for r in rows)
    assert len({r[2] for r in rows}) >= 10


def test_progress_has_orphans_and_a_skewed_activity(pop: dd.Population) -> None:
    stats = dd.ProgressStats()
    rows = list(dd.iter_progress_week(CFG, pop, stats))
    known = {r[0] for r in pop.rows}
    orphans = [r for r in rows if r[0] not in known]
    assert 0 < len(orphans) == sum(stats.orphan_rows_per_day.values())
    assert {r[0] for r in orphans} <= set(pop.orphan_ids)
    per_user = sorted(Counter(r[0] for r in rows if r[0] in known).values(), reverse=True)
    top_decile = sum(per_user[: len(pop.rows) // 10])
    assert top_decile > 0.3 * sum(per_user), "heavy users dominate"
    assert len(per_user) < len(pop.rows), "some users are dormant"
    median, mean = per_user[len(per_user) // 2], sum(per_user) / len(per_user)
    assert median < 0.7 * mean, "many light users"


def test_no_user_learns_more_than_a_day_in_a_day() -> None:
    cfg = dd.DayConfig(date=WED, users=3, progress_per_day=600, seed=1)
    stats = dd.ProgressStats()
    totals: Counter[tuple[str, str]] = Counter()
    for row in dd.iter_progress_week(cfg, dd.build_population(cfg), stats):
        totals[row[0], row[3]] += row[4]
    assert max(totals.values()) <= 1440
    assert stats.clipped_to_day_budget > 0


# -- COPY streaming ---------------------------------------------------------------------------------------
def test_copy_line_escapes_text_format() -> None:
    assert dd.copy_line(["a\tb", None, 3, "x\\y\nz"]) == "a\\tb\t\\N\t3\tx\\\\y\\nz\n"


@pytest.mark.parametrize("size", [1, 7, 8192, -1])
def test_copy_stream_returns_every_byte_then_eof(size: int) -> None:
    lines = [f"row {i}\n" for i in range(1000)]
    stream, chunks = dd.CopyStream(iter(lines), chunk_lines=64), []
    while chunk := stream.read(size):
        chunks.append(chunk)
    assert b"".join(chunks).decode() == "".join(lines)
    assert stream.read(size) == b""


def test_copy_stream_of_progress_runs_in_bounded_memory(pop: dd.Population) -> None:
    cfg = dd.DayConfig(date=dt.date(2024, 1, 15), users=300, progress_per_day=20_000, seed=7)
    lines = (dd.copy_line(r) for r in dd.iter_progress_week(cfg, pop, dd.ProgressStats()))
    stream = dd.CopyStream(lines, chunk_lines=500)
    tracemalloc.start()
    try:
        total = 0
        while chunk := stream.read(1 << 20):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > 20_000 * 100  # ~2.5 MB of COPY text went through
    assert peak < 1024 * 1024, "memory is bounded by the chunk, not by the rows"


# -- the event drop, read back ----------------------------------------------------------------------------
ISO_WITH_ZONE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)")
EVENT_TYPES = {"page_view", "click", "session_start", "session_end"}
UUID_TEXT = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MALFORMED = object()


def read_drop(folder: Path) -> list[tuple[str, int, Any]]:
    """(file, row number, event dict or MALFORMED) for every row of every data file, in name order."""
    rows: list[tuple[str, int, Any]] = []
    for path in sorted(p for p in folder.iterdir() if p.name != "_SUCCESS"):
        opener = gzip.open if path.name.endswith(".gz") else open
        if ".jsonl" in path.name:
            with opener(path, "rt", encoding="utf-8") as f:
                rows += [(path.name, n, _json_event(line)) for n, line in enumerate(f, 1)]
        elif ".csv" in path.name:
            with opener(path, "rt", encoding="utf-8", newline="") as f:
                reader = csv.reader(f)
                assert next(reader) == list(dd.CSV_COLUMNS)
                rows += [(path.name, n, _csv_event(fields)) for n, fields in enumerate(reader, 1)]
        else:
            rows += [
                (path.name, n, _parquet_event(r)) for n, r in enumerate(pq.read_table(path).to_pylist(), 1)
            ]
    return rows


def _json_event(line: str) -> Any:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return MALFORMED
    return event if isinstance(event, dict) else MALFORMED


def _csv_event(fields: list[str]) -> Any:
    if len(fields) != len(dd.CSV_COLUMNS):
        return MALFORMED
    values = {k: v for k, v in zip(dd.CSV_COLUMNS, fields, strict=True) if v != ""}
    props = {k: values.pop(k) for k in ("page", "duration_ms", "device") if k in values}
    return {**values, "properties": props}


def _parquet_event(row: dict[str, Any]) -> dict[str, Any]:
    props = row.pop("properties") or {}
    props = dict(props) if isinstance(props, list) else props  # a map arrives as (key, value) pairs
    return {
        **{k: v for k, v in row.items() if v is not None},
        "properties": {k: v for k, v in props.items() if v is not None},
    }


def _instant(ts: Any) -> dt.datetime | None:
    if isinstance(ts, dt.datetime):
        return ts
    if not isinstance(ts, str) or not ISO_WITH_ZONE.fullmatch(ts):
        return None
    try:
        return dt.datetime.fromisoformat(ts).astimezone(dt.UTC)
    except ValueError:
        return None


def _non_negative_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value >= 0
    return isinstance(value, str) and value.isdigit()


def reason_of(event: Any, day: dt.date) -> str | None:
    """Contract section 3, in the table's order; duplicates are decided afterwards."""
    if event is MALFORMED:
        return "malformed"
    props = event.get("properties") or {}
    if any(event.get(k) in (None, "") for k in ("event_id", "event_type", "user_id", "timestamp")):
        return "missing_field"
    if event["event_type"] in ("page_view", "click") and props.get("page") in (None, ""):
        return "missing_field"
    if event["event_type"] not in EVENT_TYPES:
        return "invalid_event_type"
    instant = _instant(event["timestamp"])
    if instant is None:
        return "invalid_timestamp"
    if "duration_ms" in props and not _non_negative_int(props["duration_ms"]):
        return "invalid_value"
    if not UUID_TEXT.fullmatch(event["user_id"]) or len(str(props.get("page", "")).encode()) > 2048:
        return "invalid_value"
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    if not start <= instant < start + dt.timedelta(days=1):
        return "out_of_window"
    return None


def judge(rows: list[tuple[str, int, Any]], day: dt.date) -> tuple[Counter[str], list[tuple[str, int, dict]]]:
    """Rejections per reason, and the kept rows."""
    rejected: Counter[str] = Counter()
    passing = []
    for file, n, event in rows:
        reason = reason_of(event, day)
        if reason:
            rejected[reason] += 1
        else:
            passing.append((_instant(event["timestamp"]), file, n, event))
    kept, seen = [], set()
    for _, file, n, event in sorted(passing, key=lambda r: r[:3]):
        if event["event_id"] in seen:
            rejected["duplicate"] += 1
        else:
            seen.add(event["event_id"])
            kept.append((file, n, event))
    return rejected, kept


@pytest.fixture(scope="module")
def drop(tmp_path_factory: pytest.TempPathFactory, pop: dd.Population) -> tuple[Path, dd.EventStats]:
    root = tmp_path_factory.mktemp("drop")
    stats = dd.write_event_drop(CFG, pop, root)
    return dd.drop_folder(root, WED), stats


def test_drop_has_every_format_and_success_last(drop: tuple[Path, dd.EventStats]) -> None:
    folder, stats = drop
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([*dd.EVENT_FILES, "_SUCCESS"])
    flag = folder / "_SUCCESS"
    assert flag.read_bytes() == b""
    assert all(flag.stat().st_mtime_ns >= (folder / f).stat().st_mtime_ns for f in dd.EVENT_FILES)
    assert pq.read_schema(folder / "events_e.parquet").field("properties").type.num_fields == 3
    f_schema = pq.read_schema(folder / "events_f.parquet")
    map_type = f_schema.field("properties").type
    assert pa.types.is_map(map_type) and map_type.key_type == map_type.item_type == pa.string()
    assert str(f_schema.field("timestamp").type) == "timestamp[us, tz=UTC]"
    assert sum(stats.rows_per_file.values()) == CFG.events
    assert all(n > 0 for n in stats.rows_per_file.values())


def test_files_parse_back_with_the_counts_of_the_summary(drop: tuple[Path, dd.EventStats]) -> None:
    folder, stats = drop
    rows = read_drop(folder)
    assert Counter(file for file, _, _ in rows) == stats.rows_per_file


def test_every_reason_and_variant_is_planted_and_judged_as_planted(drop: tuple[Path, dd.EventStats]) -> None:
    folder, stats = drop
    assert set(stats.bad_by_variant) == set(dd.BAD_VARIANTS)
    assert sum(stats.bad_by_reason.values()) == round(CFG.events * CFG.bad_share)
    rejected, kept = judge(read_drop(folder), WED)
    assert rejected == stats.bad_by_reason
    assert len(kept) == stats.good_rows


def test_bad_rows_are_spread_over_every_file(drop: tuple[Path, dd.EventStats]) -> None:
    folder, _ = drop
    bad_files = {file for file, _, event in read_drop(folder) if reason_of(event, WED)}
    assert bad_files == set(dd.EVENT_FILES)


def test_kept_events_are_inside_the_day_in_several_zones(
    drop: tuple[Path, dd.EventStats], pop: dd.Population
) -> None:
    folder, stats = drop
    _, kept = judge(read_drop(folder), WED)
    start = dt.datetime(2024, 1, 17, tzinfo=dt.UTC)
    assert all(start <= _instant(e["timestamp"]) < start + dt.timedelta(days=1) for _, _, e in kept)
    text_ts = [e["timestamp"] for _, _, e in kept if isinstance(e["timestamp"], str)]
    assert any(t.endswith("Z") for t in text_ts)
    assert any(re.search(r"\+0[1-9]:\d\d$", t) for t in text_ts) and any(
        re.search(r"-0\d:\d\d$", t) for t in text_ts
    )
    assert any(t[11:13] != _instant(t).strftime("%H") for t in text_ts), "an offset shifts the local hour"
    known = {r[0] for r in pop.rows}
    orphan_rows = [e for _, _, e in kept if e["user_id"] not in known]
    assert 0 < len(orphan_rows) == stats.orphan_user_rows < 0.05 * len(kept)
    assert Counter(e["event_type"] for _, _, e in kept) == stats.good_by_event_type


def test_duplicates_are_later_copies_in_another_format(drop: tuple[Path, dd.EventStats]) -> None:
    folder, stats = drop
    by_id: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for file, _, event in read_drop(folder):
        if not reason_of(event, WED):
            by_id[event["event_id"]].append((_instant(event["timestamp"]), file))
    copies = [sorted(v) for v in by_id.values() if len(v) > 1]
    assert len(copies) == stats.bad_by_reason["duplicate"] > 0
    for (first, first_file), (later, later_file) in copies:
        assert later > first
        assert dd.FORMAT_FAMILY[first_file] != dd.FORMAT_FAMILY[later_file]


def test_sessions_are_complete_stories(drop: tuple[Path, dd.EventStats]) -> None:
    folder, _ = drop
    _, kept = judge(read_drop(folder), WED)
    types = Counter(e["event_type"] for _, _, e in kept)
    assert types["page_view"] > types["session_start"] > 0
    assert abs(types["session_start"] - types["session_end"]) <= 1  # the last session may be cut
    ends = [e for _, _, e in kept if e["event_type"] == "session_end"]
    assert all(int(e["properties"]["duration_ms"]) > 0 and "page" not in e["properties"] for e in ends)


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_same_bytes_and_rerun_replaces_the_folder(
    tmp_path: Path, drop: tuple[Path, dd.EventStats], pop: dd.Population
) -> None:
    folder = dd.drop_folder(tmp_path, WED)
    folder.mkdir(parents=True)
    (folder / "stale.jsonl").write_text('{"event_id": "left over"}\n')
    dd.write_event_drop(CFG, pop, tmp_path)
    assert _digests(folder) == _digests(drop[0])
    other = dd.DayConfig(date=WED, users=300, events=6000, bad_share=0.05, seed=8)
    dd.write_event_drop(other, dd.build_population(other), tmp_path)
    changed = _digests(folder)
    assert all(changed[f] != _digests(drop[0])[f] for f in dd.EVENT_FILES)


def test_small_drops_still_plant_every_reason(tmp_path: Path) -> None:
    cfg = dd.DayConfig(date=WED, users=5, events=50, bad_share=0.2, seed=3)
    stats = dd.write_event_drop(cfg, dd.build_population(cfg), tmp_path)
    assert set(stats.bad_by_reason) == set(dd.REASONS)
    rejected, _ = judge(read_drop(dd.drop_folder(tmp_path, WED)), WED)
    assert rejected == stats.bad_by_reason


def test_no_bad_rows_when_the_share_is_zero(tmp_path: Path) -> None:
    cfg = dd.DayConfig(date=WED, users=20, events=500, bad_share=0.0, seed=3)
    stats = dd.write_event_drop(cfg, dd.build_population(cfg), tmp_path)
    rejected, kept = judge(read_drop(dd.drop_folder(tmp_path, WED)), WED)
    assert not rejected and len(kept) == stats.good_rows == 500


def test_summary_reports_what_was_planted(drop: tuple[Path, dd.EventStats], pop: dd.Population) -> None:
    progress = dd.ProgressStats()
    list(dd.iter_progress_week(CFG, pop, progress))
    out = dd.summary(CFG, pop, progress, drop[1])
    assert out["users"] == 300
    assert out["progress"]["rows_per_day"] == {"2024-01-15": 2000, "2024-01-16": 2000, "2024-01-17": 2000}
    assert out["events"]["total_rows"] == 6000
    assert list(out["events"]["bad_rows_planted_by_reason"]) == list(dd.REASONS)
    json.dumps(out)


@pytest.mark.parametrize(("n", "k"), [(0, 0), (10, 0), (10, 10), (1000, 37)])
def test_selection_sets_exactly_k_flags(n: int, k: int) -> None:
    flags = list(dd.selection(dd.seeded(1, "x"), n, k))
    assert (len(flags), sum(flags)) == (n, k)


# -- the benchmark layout ------------------------------------------------------------------------------------
BENCH = dd.DayConfig(date=WED, users=400, events=20_000, bad_share=0.03, seed=5, progress_week=1000)


@pytest.fixture(scope="module")
def bench_drop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dd.EventStats]:
    root = tmp_path_factory.mktemp("bench")
    stats = dd.write_benchmark_drop(BENCH, dd.build_population(BENCH), root, duplicate_share=0.01, jobs=2)
    return dd.drop_folder(root, WED), stats


def test_benchmark_layout_has_eleven_files_sized_by_share(bench_drop: tuple[Path, dd.EventStats]) -> None:
    folder, stats = bench_drop
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([*(f.name for f in dd.BENCHMARK_FILES), "_SUCCESS"])
    assert sum(stats.rows_per_file.values()) == BENCH.events
    share: Counter[str] = Counter()
    for f in dd.BENCHMARK_FILES:
        fmt = f.name.split(".", 1)[1]
        share["parquet" if f.kind.startswith("parquet") else fmt] += (
            stats.rows_per_file[f.name] / BENCH.events
        )
    assert {k: round(v, 3) for k, v in share.items()} == {
        "jsonl": 0.40, "jsonl.gz": 0.20, "csv": 0.15, "csv.gz": 0.10, "parquet": 0.15
    }  # fmt: skip
    assert pa.types.is_map(pq.read_schema(folder / "events_10.parquet").field("properties").type)
    assert pq.read_schema(folder / "events_09.parquet").field("properties").type.num_fields == 3


def test_benchmark_faults_are_judged_as_planted(bench_drop: tuple[Path, dd.EventStats]) -> None:
    folder, stats = bench_drop
    rows = read_drop(folder)
    assert Counter(file for file, _, _ in rows) == stats.rows_per_file
    rejected, kept = judge(rows, WED)
    assert rejected == stats.bad_by_reason
    assert len(kept) == stats.good_rows
    assert set(stats.bad_by_variant) == {*dd.BENCHMARK_VARIANTS, "later_copy_other_format"}
    assert sum(stats.bad_by_reason.values()) - stats.bad_by_reason["duplicate"] == round(BENCH.events * 0.03)
    assert stats.bad_by_reason["duplicate"] == round(BENCH.events * 0.01)
    assert all(stats.bad_by_reason[r] > 0 for r in dd.REASONS)


def test_benchmark_new_rules_and_limits(bench_drop: tuple[Path, dd.EventStats]) -> None:
    folder, stats = bench_drop
    rows = read_drop(folder)
    pages = [len(e["properties"]["page"].encode()) for _, _, e in rows
             if e is not MALFORMED and len(str(e.get("properties", {}).get("page", "")).encode()) >= 2048]  # fmt: skip
    assert 2048 in pages and any(n > 2048 for n in pages)
    _, kept = judge(rows, WED)
    kept_pages = {e["properties"].get("page") for _, _, e in kept}
    assert {len(p.encode()) for p in kept_pages if p and len(p) > 100} == {2048}
    assert any(p and len(p) < 2048 and len(p.encode()) == 2048 for p in kept_pages), "multi-byte at the limit"
    assert any(e["user_id"] != e["user_id"].lower() for _, _, e in kept), "upper-case uuids are kept"
    assert set(stats.edge_by_variant) == {
        "page_of_2048_bytes",
        "user_id_upper_case",
        "timestamp_compact_zone",
    }
    texts = [e["timestamp"] for _, _, e in kept if isinstance(e["timestamp"], str)]
    for form in (r"T\d\d:\d\dZ", r":\d\d[+-]\d{4}", r":\d\d[+-]\d\d"):  # minutes only, +hhmm, +hh
        assert any(re.search(form + "$", t) for t in texts), form


def test_benchmark_duplicates_are_later_copies_in_another_format(
    bench_drop: tuple[Path, dd.EventStats],
) -> None:
    folder, stats = bench_drop
    kind = {f.name: f.kind for f in dd.BENCHMARK_FILES}
    by_id: dict[str, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for file, _, event in read_drop(folder):
        if not reason_of(event, WED):
            by_id[event["event_id"]].append((_instant(event["timestamp"]), file))
    copies = [sorted(v) for v in by_id.values() if len(v) > 1]
    assert len(copies) == stats.bad_by_reason["duplicate"]
    for (first, first_file), (later, later_file) in copies:
        assert first < later
        assert dd.FAMILY_OF_KIND[kind[first_file]] != dd.FAMILY_OF_KIND[kind[later_file]]


def test_benchmark_bytes_do_not_depend_on_the_number_of_processes(
    tmp_path: Path, bench_drop: tuple[Path, dd.EventStats]
) -> None:
    stats = dd.write_benchmark_drop(BENCH, dd.build_population(BENCH), tmp_path, duplicate_share=0.01, jobs=1)
    assert _digests(dd.drop_folder(tmp_path, WED)) == _digests(bench_drop[0])
    assert stats == bench_drop[1]


def test_benchmark_faults_can_be_omitted(tmp_path: Path) -> None:
    cfg = dd.DayConfig(date=WED, users=50, events=3000, bad_share=0.05, seed=2)
    omit = ("user_id_not_uuid", "page_over_2048_bytes")
    stats = dd.write_benchmark_drop(cfg, dd.build_population(cfg), tmp_path, omit=omit)
    assert not set(omit) & set(stats.bad_by_variant)
    assert sum(stats.bad_by_reason.values()) == round(3000 * 0.05) + round(3000 * 0.01)
    with pytest.raises(ValueError, match="unknown fault"):
        dd.write_benchmark_drop(cfg, dd.build_population(cfg), tmp_path, omit=("no_such_fault",))


def test_benchmark_tiny_day_still_adds_up(tmp_path: Path) -> None:
    cfg = dd.DayConfig(date=WED, users=3, events=11, bad_share=0.5, seed=2)
    stats = dd.write_benchmark_drop(cfg, dd.build_population(cfg), tmp_path, duplicate_share=0.2)
    assert sum(stats.rows_per_file.values()) == 11
    rejected, kept = judge(read_drop(dd.drop_folder(tmp_path, WED)), WED)
    assert rejected == stats.bad_by_reason and len(kept) == stats.good_rows


@pytest.mark.parametrize(
    ("total", "weights"), [(10, [1, 1, 1]), (0, [0.4, 0.6]), (1001, [0.12] * 3 + [0.64])]
)
def test_apportion_adds_up(total: int, weights: list[float]) -> None:
    parts = dd.apportion(total, weights)
    assert sum(parts) == total and all(
        abs(p - total * w / sum(weights)) < 1 for p, w in zip(parts, weights, strict=True)
    )


def test_progress_week_spreads_its_rows_over_the_days_so_far() -> None:
    cfg = dd.DayConfig(date=WED, users=50, progress_week=1000, seed=1)
    assert [cfg.progress_rows_on(d) for d in cfg.days] == [334, 333, 333]
    stats = dd.ProgressStats()
    assert len(list(dd.iter_progress_week(cfg, dd.build_population(cfg), stats))) == 1000
