"""Retention's selection and removal on a fake `etl_data_dir` laid out by RunPaths (no database, no GX)."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from analytics_etl import settings
from analytics_etl.paths import OUTPUT_TABLES, RunPaths, run_key
from analytics_etl.retention import policy, store, tree
from analytics_etl.retention.policy import EXPIRED, SUPERSEDED, EtlRun

pytestmark = pytest.mark.unit

TODAY = dt.date(2024, 3, 1)
DAYS = 30  # dates before 2024-01-31 expire
OLD = dt.date(2024, 1, 20)
EDGE = dt.date(2024, 1, 31)  # exactly DAYS old: kept
NEW = dt.date(2024, 2, 20)


def at(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def run_id(day: dt.date, n: int) -> str:
    return f"manual__{day.isoformat()}T0{n}:00:00+00:00"


def record(day: dt.date, n: int, status: str, *, in_progress: bool = False) -> EtlRun:
    """The n-th run of `day`, started n hours after D+1 00:00 and ended half an hour later."""
    started = at(day + dt.timedelta(days=1), n)
    ended = None if status == "running" else started + dt.timedelta(minutes=30)
    return EtlRun(run_id(day, n), day, status, started, ended, in_progress=in_progress)


def write_run(data: Path, day: dt.date, n: int) -> RunPaths:
    """Every file a run writes (staging, curated, validation, its data docs results and pages) and the
    date's quarantine; sizes are known: 10 bytes per file."""
    paths = RunPaths.build(data, data.parent / "drops", day, run_id(day, n))
    files = [paths.users, paths.events / "part-0.parquet", paths.validation / "checkpoint_result.json"]
    files += [paths.output(t) / "part-0.parquet" for t in OUTPUT_TABLES]
    files += [paths.output(t) / "_SUCCESS" for t in OUTPUT_TABLES]
    gx_run = f"{day.isoformat()}_{paths.key}"
    for suite in OUTPUT_TABLES:
        files.append(paths.data_docs / "_results" / suite / gx_run / "20240101T000000Z" / "b.json")
        files.append(paths.data_docs / "validations" / suite / gx_run / "20240101T000000Z" / "b.html")
    files.append(paths.quarantine / "part-0.json")
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"0123456789")
    return paths


RUN_FILES = 2 + 1 + 2 * len(OUTPUT_TABLES) + 2 * len(OUTPUT_TABLES)  # without the quarantine


def tree_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() or p.is_symlink()}


def deleted_runs(plan: policy.Plan) -> dict[tuple[dt.date, str | None], str]:
    return {(d.target.date, d.target.run_key): d.reason for d in plan.deletions}


def make_plan(data: Path, runs: list[EtlRun]) -> policy.Plan:
    return policy.plan(tree.scan(data), runs, TODAY, DAYS)


@pytest.fixture(autouse=True)
def _site_lock_without_a_database(monkeypatch):
    """The data docs site lock is a PostgreSQL advisory lock: no server in a unit test, so none is
    taken here (tests/integration/test_run_lock.py tests it across real processes)."""
    import contextlib

    monkeypatch.setattr(tree, "site_lock", lambda site: contextlib.nullcontext())


# -- the layout ------------------------------------------------------------------------------------
def test_scan_finds_every_kind_of_every_run_and_nothing_else(tmp_path):
    data = tmp_path / "data"
    paths = write_run(data, NEW, 1)
    # Look-alikes that are not partitions of RunPaths' layout are never targets.
    for stray in [
        data / "staging" / "date=2024-02-30" / "run=x" / "f",  # no such day
        data / "staging" / "date=2024-02-20" / "notarun" / "f",
        data / "curated" / "unknown_table" / "date=2024-02-20" / "run=x" / "f",
        data / "other" / "date=2024-02-20" / "run=x" / "f",
        data / "data_docs" / "expectations" / "daily_user_stats.html",
        data / "data_docs" / "index.html",
    ]:
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_text("x")

    targets = tree.scan(data)

    by_kind = {}
    for t in targets:
        by_kind.setdefault(t.kind, []).append(t.path)
    assert by_kind["staging"] == [paths.staging]
    assert sorted(by_kind["curated"]) == sorted(paths.output(t) for t in OUTPUT_TABLES)
    assert by_kind["validation"] == [paths.validation]
    assert len(by_kind["data_docs"]) == 2 * len(OUTPUT_TABLES)
    assert by_kind["quarantine"] == [paths.quarantine]
    assert {t.run_key for t in targets if t.kind != "quarantine"} == {paths.key}
    assert {t.date for t in targets} == {NEW}


# -- the policy ------------------------------------------------------------------------------------
def test_expired_dates_lose_everything_and_the_window_edge_is_kept(tmp_path):
    data = tmp_path / "data"
    write_run(data, OLD, 1)
    write_run(data, EDGE, 1)
    runs = [record(OLD, 1, "success"), record(EDGE, 1, "success")]

    plan = make_plan(data, runs)

    assert plan.oldest_kept_date == EDGE
    assert deleted_runs(plan) == {
        (OLD, run_key(run_id(OLD, 1))): EXPIRED,
        (OLD, None): EXPIRED,
    }
    assert {d.target.kind for d in plan.deletions} == set(policy.KINDS)
    assert {(k.date, k.why) for k in plan.kept} == {
        (EDGE, "latest successful run"),
        (EDGE, "the date is inside the window"),
    }


def test_superseded_runs_go_and_the_latest_successful_run_stays(tmp_path):
    data = tmp_path / "data"
    for n in (1, 2, 3):
        write_run(data, NEW, n)
    runs = [record(NEW, 1, "success"), record(NEW, 2, "failed"), record(NEW, 3, "success")]

    plan = make_plan(data, runs)

    assert deleted_runs(plan) == {
        (NEW, run_key(run_id(NEW, 1))): SUPERSEDED,
        (NEW, run_key(run_id(NEW, 2))): SUPERSEDED,
    }
    kept = {k.run_key: k.why for k in plan.kept}
    assert kept[run_key(run_id(NEW, 3))] == "latest successful run"
    assert kept[None] == "the date is inside the window"  # the quarantine belongs to the latest run


def test_a_failed_latest_run_and_the_older_successful_one_both_stay(tmp_path):
    data = tmp_path / "data"
    for n in (1, 2, 3, 4):
        write_run(data, NEW, n)
    runs = [
        record(NEW, 1, "failed"),  # before the success: superseded
        record(NEW, 2, "success"),  # the sinks hold its result
        record(NEW, 3, "failed"),  # superseded by the later failed attempt
        record(NEW, 4, "failed"),  # why the date's last attempt failed
    ]

    plan = make_plan(data, runs)

    assert set(deleted_runs(plan)) == {(NEW, run_key(run_id(NEW, 1))), (NEW, run_key(run_id(NEW, 3)))}
    kept = {k.run_key: k.why for k in plan.kept}
    assert kept[run_key(run_id(NEW, 2))] == "latest successful run"
    assert kept[run_key(run_id(NEW, 4))] == "latest run (failed)"


def test_a_date_that_never_succeeded_keeps_its_latest_run_only(tmp_path):
    data = tmp_path / "data"
    write_run(data, NEW, 1)
    write_run(data, NEW, 2)
    plan = make_plan(data, [record(NEW, 1, "failed"), record(NEW, 2, "failed")])
    assert set(deleted_runs(plan)) == {(NEW, run_key(run_id(NEW, 1)))}


def test_the_latest_successful_run_is_the_one_that_finished_last(tmp_path):
    """Two runs of a date at once: the sinks hold the result of the one whose load came last."""
    data = tmp_path / "data"
    write_run(data, NEW, 1)
    write_run(data, NEW, 2)
    first = record(NEW, 1, "success")
    second = record(NEW, 2, "success")
    first = EtlRun(first.run_id, NEW, "success", first.started_at, second.ended_at + dt.timedelta(minutes=5))
    plan = make_plan(data, [first, second])
    kept = {k.run_key: k.why for k in plan.kept}
    assert kept[run_key(first.run_id)] == "latest successful run"
    assert kept[run_key(second.run_id)] == "latest run (success)"
    assert deleted_runs(plan) == {}


def test_a_run_in_progress_is_never_touched_even_on_an_expired_date(tmp_path):
    data = tmp_path / "data"
    write_run(data, OLD, 1)
    write_run(data, OLD, 2)
    write_run(data, NEW, 1)
    write_run(data, NEW, 2)
    runs = [
        record(OLD, 1, "success"),
        record(OLD, 2, "running", in_progress=True),  # a backfill of an old date, right now
        record(NEW, 1, "running", in_progress=True),  # older than the latest success, yet running
        record(NEW, 2, "success"),
    ]

    plan = make_plan(data, runs)

    assert deleted_runs(plan) == {(OLD, run_key(run_id(OLD, 1))): EXPIRED}
    kept = {(k.date, k.run_key): k.why for k in plan.kept}
    assert kept[(OLD, run_key(run_id(OLD, 2)))] == "in progress"
    assert kept[(OLD, None)] == "a run of the date is in progress"  # it is about to replace it
    assert kept[(NEW, run_key(run_id(NEW, 1)))] == "in progress"


def test_a_record_left_running_by_a_dead_run_counts_as_a_failed_run(tmp_path):
    data = tmp_path / "data"
    for n in (1, 2, 3):
        write_run(data, NEW, n)
    runs = [record(NEW, 1, "running"), record(NEW, 2, "success"), record(NEW, 3, "running")]
    plan = make_plan(data, runs)  # in_progress False: Airflow said their DAG runs had ended
    assert set(deleted_runs(plan)) == {(NEW, run_key(run_id(NEW, 1)))}
    assert {k.run_key: k.why for k in plan.kept}[run_key(run_id(NEW, 3))] == "latest run (running)"


def test_run_folders_without_a_record_stay_inside_the_window_and_go_once_expired(tmp_path):
    data = tmp_path / "data"
    write_run(data, OLD, 1)
    write_run(data, NEW, 1)
    write_run(data, NEW, 2)
    plan = make_plan(data, [record(NEW, 2, "success")])
    assert deleted_runs(plan) == {(OLD, run_key(run_id(OLD, 1))): EXPIRED, (OLD, None): EXPIRED}
    kept = {(k.date, k.run_key): k.why for k in plan.kept}
    assert kept[(NEW, run_key(run_id(NEW, 1)))] == "no etl_runs record: not known to be superseded"
    assert all(d.run is None for d in plan.deletions)


def test_a_retention_of_less_than_a_day_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        policy.plan([], [], TODAY, 0)


# -- removal -----------------------------------------------------------------------------------------
def month(data: Path) -> list[EtlRun]:
    """An expired date, a date with a superseded run, and an untouched one."""
    write_run(data, OLD, 1)
    write_run(data, NEW, 1)
    write_run(data, NEW, 2)
    write_run(data, EDGE, 1)
    return [
        record(OLD, 1, "success"),
        record(NEW, 1, "success"),
        record(NEW, 2, "success"),
        record(EDGE, 1, "success"),
    ]


def test_execute_deletes_exactly_the_plan_and_counts_files_and_bytes(tmp_path):
    data = tmp_path / "data"
    runs = month(data)
    keep_new = RunPaths.build(data, "", NEW, run_id(NEW, 2))
    keep_edge = RunPaths.build(data, "", EDGE, run_id(EDGE, 1))
    expected = {
        f
        for f in tree_files(data)
        if f"date={OLD.isoformat()}" not in f
        and f"{OLD.isoformat()}_" not in f
        and run_key(run_id(NEW, 1)) not in f
    }
    recorded = []

    report = tree.execute(make_plan(data, runs), data, dry_run=False, record=recorded.append)

    assert tree_files(data) - {"data_docs/.lock"} == expected  # the gate's site lock, taken to delete
    assert keep_new.staging.is_dir() and keep_edge.quarantine.is_dir()
    assert report.refused == [] and report.failed == [] and report.skipped_dates == []
    assert {o.action for o in report.outcomes} == {tree.DELETED}
    assert sum(o.files for o in report.outcomes) == 2 * RUN_FILES + 1  # two runs and one quarantine
    assert sum(o.bytes for o in report.outcomes) == 10 * (2 * RUN_FILES + 1)
    assert [o.deletion.target.date for o in recorded[0]][0] == OLD  # one call per date, oldest first
    assert len(recorded) == 2
    # The expired date's partitions are gone entirely, not left as empty folders.
    assert not (data / "staging" / f"date={OLD.isoformat()}").exists()
    assert not (data / "curated" / "daily_user_stats" / f"date={OLD.isoformat()}").exists()
    assert (data / "staging" / f"date={NEW.isoformat()}").is_dir()


def test_a_dry_run_deletes_nothing_and_reports_what_the_real_run_then_deletes(tmp_path):
    data = tmp_path / "data"
    runs = month(data)
    before = tree_files(data)

    dry = tree.execute(make_plan(data, runs), data, dry_run=True, still_as_planned=lambda d: False)

    assert tree_files(data) == before
    assert {o.action for o in dry.outcomes} == {tree.DRY_RUN}
    real = tree.execute(make_plan(data, runs), data, dry_run=False)

    def counts(report):
        return [(o.deletion.target.path, o.deletion.reason, o.files, o.bytes) for o in report.outcomes]

    assert counts(dry) == counts(real)
    assert tree_files(data) != before


def test_a_date_whose_runs_changed_since_the_plan_is_left_alone(tmp_path):
    data = tmp_path / "data"
    runs = month(data)
    before = tree_files(data)
    report = tree.execute(make_plan(data, runs), data, dry_run=False, still_as_planned=lambda d: d != OLD)
    assert report.skipped_dates == [OLD]
    assert {o.deletion.target.date for o in report.outcomes} == {NEW}
    assert {f for f in before if f"date={OLD.isoformat()}" in f} <= tree_files(data)


def test_symbolic_links_out_of_the_data_dir_are_refused_and_never_followed(tmp_path):
    data = tmp_path / "data"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.parquet").write_bytes(b"do not delete")
    write_run(data, OLD, 1)
    # A whole partition that is a link out of etl_data_dir: refused.
    escaping = RunPaths.build(data, "", OLD, run_id(OLD, 2)).output("daily_user_stats")
    escaping.parent.mkdir(parents=True, exist_ok=True)
    escaping.symlink_to(outside, target_is_directory=True)
    # A link out of etl_data_dir inside a run folder: the link goes, never what it points to.
    inner = RunPaths.build(data, "", OLD, run_id(OLD, 1)).staging / "events" / "linked"
    inner.symlink_to(outside, target_is_directory=True)
    # A parent of partitions linked out of etl_data_dir: everything under it is refused.
    (data / "validation").rename(tmp_path / "validation_elsewhere")
    (data / "validation").symlink_to(tmp_path / "validation_elsewhere", target_is_directory=True)

    plan = make_plan(data, [])
    report = tree.execute(plan, data, dry_run=False)

    assert sorted(str(o.deletion.target.path) for o in report.refused) == sorted(
        [str(escaping), str(RunPaths.build(data, "", OLD, run_id(OLD, 1)).validation)]
    )
    assert (outside / "precious.parquet").read_bytes() == b"do not delete"
    assert escaping.is_symlink()
    assert (tmp_path / "validation_elsewhere" / f"date={OLD.isoformat()}").is_dir()
    assert not inner.is_symlink() and not inner.parent.exists()
    assert report.failed == []
    # A refused deletion's row says why; a link removed inside a run is not counted as a file.
    rows = store.log_rows("retention_run", report.outcomes, data)
    refused = [r for r in rows if r["action"] == tree.REFUSED]
    assert refused and all("outside" in r["error"] and str(data.resolve()) in r["error"] for r in refused)
    staging = next(r for r in rows if r["kind"] == "staging" and r["run_key"] == run_key(run_id(OLD, 1)))
    assert staging["files"] == 2 and staging["bytes"] == 20, staging  # users, events part: not the link


def test_links_are_removed_but_not_counted_as_files(tmp_path):
    data = tmp_path / "data"
    paths = write_run(data, OLD, 1)
    counted = tree.execute(make_plan(data, []), data, dry_run=True)
    (paths.staging / "events" / "to_users").symlink_to(paths.users)  # a link inside, to a file inside
    (paths.staging / "dangling").symlink_to(tmp_path / "nowhere")
    dry = tree.execute(make_plan(data, []), data, dry_run=True)
    assert [(o.files, o.bytes) for o in dry.outcomes] == [(o.files, o.bytes) for o in counted.outcomes]
    done = tree.execute(make_plan(data, []), data, dry_run=False)
    assert [(o.files, o.bytes) for o in done.outcomes] == [(o.files, o.bytes) for o in counted.outcomes]
    assert not paths.staging.exists() and not (paths.staging / "dangling").is_symlink()


def test_tree_escapes(tmp_path):
    root = (tmp_path / "data").resolve()
    (root / "a").mkdir(parents=True)
    os.symlink(tmp_path, root / "up")
    assert not tree.escapes(root, root / "a")
    assert tree.escapes(root, root)
    assert tree.escapes(root, root / "up")
    assert tree.escapes(root, root / "a" / ".." / "..")


# -- what is recorded ----------------------------------------------------------------------------------
def test_log_rows_add_up_per_date_run_and_kind(tmp_path):
    data = tmp_path / "data"
    runs = month(data)
    report = tree.execute(make_plan(data, runs), data, dry_run=True)

    rows = store.log_rows("retention_run", report.outcomes, data)

    by_key = {(r["date"], r["run_key"], r["kind"]): r for r in rows}
    assert {r["action"] for r in rows} == {"dry_run"}
    curated = by_key[(NEW, run_key(run_id(NEW, 1)), "curated")]
    assert curated["files"] == 2 * len(OUTPUT_TABLES) and curated["bytes"] == 20 * len(OUTPUT_TABLES)
    assert curated["reason"] == SUPERSEDED and curated["run_status"] == "success"
    assert curated["run_id"] == run_id(NEW, 1)
    assert sorted(curated["paths"]) == sorted(
        f"curated/{t}/date={NEW.isoformat()}/run={run_key(run_id(NEW, 1))}" for t in OUTPUT_TABLES
    )
    docs = by_key[(OLD, run_key(run_id(OLD, 1)), "data_docs")]
    assert docs["files"] == 2 * len(OUTPUT_TABLES) and docs["reason"] == EXPIRED
    quarantine = by_key[(OLD, None, "quarantine")]
    assert quarantine["files"] == 1 and quarantine["run_id"] is None
    assert sum(r["files"] for r in rows) == 2 * RUN_FILES + 1
    assert len(rows) == 2 * len(policy.KINDS[:4]) + 1


# -- the setting ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "days"), [(None, 30), ("7", 7), (" 90 ", 90), (45, 45)])
def test_retention_days(monkeypatch, raw, days):
    monkeypatch.setattr(settings, "variable", lambda key, default=None: default if raw is None else raw)
    assert settings.retention_days() == days


@pytest.mark.parametrize("raw", ["0", "-3", "thirty", "1.5", ""])
def test_bad_retention_days_are_refused_naming_the_value(monkeypatch, raw):
    monkeypatch.setattr(settings, "variable", lambda key, default=None: raw)
    with pytest.raises(ValueError, match="etl_retention_days"):
        settings.retention_days()


# -- the task's glue ---------------------------------------------------------------------------------------
class FakeTi:
    def __init__(self, count):
        self.count = count
        self.asked = []

    def get_dr_count(self, dag_id, run_ids, states):
        self.asked.append((dag_id, tuple(run_ids), tuple(states)))
        if isinstance(self.count, Exception):
            raise self.count
        return self.count


@pytest.mark.parametrize(("count", "in_progress"), [(1, True), (0, False), (RuntimeError("no comms"), True)])
def test_a_running_record_is_in_progress_unless_airflow_says_its_dag_run_ended(count, in_progress):
    from analytics_etl.retention.task import _with_activity

    ti = FakeTi(count)
    run = _with_activity(record(NEW, 1, "running"), ti)
    assert run.in_progress is in_progress
    assert ti.asked == [("daily_analytics_etl", (run_id(NEW, 1),), ("queued", "running"))]
    finished = FakeTi(1)
    assert _with_activity(record(NEW, 2, "failed"), finished).in_progress is False
    assert finished.asked == []


def test_retention_failures_never_write_etl_runs():
    """The platform's task callback marks daily_analytics_etl runs failed in etl_runs: not used here."""
    from analytics_etl.alerts import remember_error
    from analytics_etl.defaults import DEFAULT_ARGS as PLATFORM
    from analytics_etl.retention import DEFAULT_ARGS

    assert DEFAULT_ARGS["on_failure_callback"] is remember_error
    assert {k: v for k, v in DEFAULT_ARGS.items() if k != "on_failure_callback"} == {
        k: v for k, v in PLATFORM.items() if k != "on_failure_callback"
    }


# -- on an object store: the quarantine's run prefixes that the pointer does not name --------------------
def unpublished(day: dt.date, n: int) -> policy.Target:
    key = run_key(run_id(day, n))
    return policy.Target("quarantine", day, key, Path(f"quarantine/user_events/date={day}/run={key}"))


def test_unpublished_rejects_go_once_a_later_run_of_the_date_has_ended():
    date_target = policy.Target("quarantine", NEW, None, Path(f"quarantine/user_events/date={NEW}"))
    targets = [date_target, unpublished(NEW, 1), unpublished(NEW, 3)]
    runs = [record(NEW, 1, "failed"), record(NEW, 2, "success"), record(NEW, 3, "running", in_progress=True)]
    result = policy.plan(targets, runs, TODAY, DAYS)
    assert deleted_runs(result) == {(NEW, run_key(run_id(NEW, 1))): SUPERSEDED}
    kept = {(k.date, k.run_key): k.why for k in result.kept}
    assert kept[(NEW, run_key(run_id(NEW, 3)))] == "its unpublished rejects: in progress"
    assert kept[(NEW, None)] == "the date is inside the window"


@pytest.mark.parametrize(
    ("runs", "why"),
    [
        ([record(NEW, 1, "failed")], "no later run of the date has ended"),  # the date's latest attempt
        (
            [record(NEW, 1, "failed"), record(NEW, 2, "running", in_progress=True)],
            "no later run of the date has ended",
        ),
        ([record(NEW, 2, "success")], "no etl_runs record: not known to be superseded"),
    ],
)
def test_unpublished_rejects_stay_while_nothing_later_has_ended(runs, why):
    result = policy.plan([unpublished(NEW, 1)], runs, TODAY, DAYS)
    assert result.deletions == []
    assert [k.why for k in result.kept] == [f"its unpublished rejects: {why}"]


def test_an_expired_dates_quarantine_goes_whole_and_its_run_prefixes_are_not_counted_twice():
    date_target = policy.Target("quarantine", OLD, None, Path(f"quarantine/user_events/date={OLD}"))
    runs = [record(OLD, 1, "failed"), record(OLD, 2, "success")]
    result = policy.plan([date_target, unpublished(OLD, 1)], runs, TODAY, DAYS)
    assert deleted_runs(result) == {(OLD, None): EXPIRED}
