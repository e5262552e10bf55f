"""scripts/generate_day.py against a real PostgreSQL started for this module (scripts/postgres.sh)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
POSTGRES_SH = REPO / "scripts" / "postgres.sh"
GENERATE = REPO / "scripts" / "generate_day.py"
SMALL = [
    "--users",
    "150",
    "--progress-per-day",
    "700",
    "--events",
    "3000",
    "--bad-share",
    "0.03",
    "--seed",
    "11",
]

# md5 over every column of every row, in a fixed order: equal digests mean equal content.
USERS_MD5 = "SELECT md5(string_agg(u::text, '|' ORDER BY id)) FROM users u"
PROGRESS_MD5 = "SELECT md5(string_agg(p::text, '|' ORDER BY id)) FROM progress p WHERE date <= %s"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A throw-away server; its folder is world-traversable because, as root, the server runs as postgres."""
    root = Path(tempfile.mkdtemp(prefix="gen-day-pg-"))
    root.chmod(0o755)
    data, port = root / "data", free_port()
    subprocess.run(["bash", str(POSTGRES_SH), "start", str(data), str(port)], check=True, capture_output=True)
    try:
        yield f"postgresql://etl@127.0.0.1:{port}"
    finally:
        subprocess.run(["bash", str(POSTGRES_SH), "stop", str(data)], check=False, capture_output=True)
        subprocess.run(["rm", "-rf", str(root)], check=False)


def generate(dsn: str, drop: Path, date: str, *extra: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the script finds its package itself
    done = subprocess.run(
        [sys.executable, str(GENERATE), "--date", date, "--source-dsn", dsn, "--drop-dir", str(drop), *extra],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    assert "peak RSS" in done.stderr
    return json.loads(done.stdout)


def query(dsn: str, sql: str, *params: object) -> list[tuple]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params or None)
        rows = cur.fetchall()
    conn.close()
    return rows


def digests(dsn: str, until: str) -> tuple[str, str]:
    return query(dsn, USERS_MD5)[0][0], query(dsn, PROGRESS_MD5, until)[0][0]


def file_digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_loads_the_week_so_far_and_the_drop(server: str, tmp_path: Path) -> None:
    dsn = f"{server}/source_week"  # does not exist yet: the generator creates it and the schema
    out = generate(dsn, tmp_path, "2024-01-17", *SMALL)

    per_day = dict(query(dsn, "SELECT date::text, count(*) FROM progress GROUP BY 1 ORDER BY 1"))
    assert (
        per_day
        == {"2024-01-15": 700, "2024-01-16": 700, "2024-01-17": 700}
        == out["progress"]["rows_per_day"]
    )
    assert query(dsn, "SELECT min(id), max(id) FROM progress") == [(1, 2100)]
    assert query(dsn, "SELECT count(*) FROM users") == [(150,)] == [(out["users"],)]
    orphans = query(
        dsn, "SELECT count(*) FROM progress p WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p.user_id)"
    )
    assert orphans[0][0] == sum(out["progress"]["orphan_rows_per_day"].values()) > 0
    checks = query(
        dsn,
        """SELECT bool_and(completed_at >= date AND completed_at < date + 1),
                  bool_and(time_spent_minutes BETWEEN 0 AND 120), bool_and(score BETWEEN 0 AND 100),
                  count(*) - count(score), count(DISTINCT subject)
           FROM progress""",
    )[0]
    assert checks[:3] == (True, True, True)
    assert checks[3] == out["progress"]["null_scores"] > 0
    assert checks[4] >= 10
    countries = query(dsn, "SELECT bool_and(country ~ '^[A-Z]{2}$'), count(*) - count(country) FROM users")[0]
    assert countries == (True, out["users_without_country"])

    folder = tmp_path / "user_events" / "2024-01-17"
    assert (folder / "_SUCCESS").exists()
    assert out["events"]["total_rows"] == 3000
    assert all(n > 0 for n in out["events"]["bad_rows_planted_by_reason"].values())


def test_a_fresh_rerun_gives_identical_content_and_replaces_changes(server: str, tmp_path: Path) -> None:
    dsn = f"{server}/source_rerun"
    first = generate(dsn, tmp_path / "a", "2024-01-17", *SMALL)
    before = digests(dsn, "2024-01-17")
    files_before = file_digests(tmp_path / "a" / "user_events" / "2024-01-17")

    query_sql = (
        "INSERT INTO users VALUES (gen_random_uuid(), 'Stray', 'stray@example.com', NULL, now()) RETURNING 1"
    )
    query(dsn, query_sql)
    query(dsn, "DELETE FROM progress WHERE id % 7 = 0 RETURNING 1")
    assert digests(dsn, "2024-01-17") != before

    again = generate(dsn, tmp_path / "b", "2024-01-17", *SMALL, "--fresh")
    assert digests(dsn, "2024-01-17") == before
    assert file_digests(tmp_path / "b" / "user_events" / "2024-01-17") == files_before
    assert again == {**first, "runtime": again["runtime"]}


def test_the_next_day_keeps_the_days_before_as_they_were(server: str, tmp_path: Path) -> None:
    dsn = f"{server}/source_next_day"
    generate(dsn, tmp_path, "2024-01-16", *SMALL)
    tuesday = digests(dsn, "2024-01-16")
    generate(dsn, tmp_path, "2024-01-17", *SMALL)
    assert digests(dsn, "2024-01-16") == tuesday
    assert query(dsn, "SELECT count(*) FROM progress") == [(2100,)]
    assert sorted(p.name for p in (tmp_path / "user_events").iterdir()) == ["2024-01-16", "2024-01-17"]


def test_a_fresh_new_week_holds_only_its_monday(server: str, tmp_path: Path) -> None:
    dsn = f"{server}/source_monday"
    generate(dsn, tmp_path, "2024-01-17", *SMALL)
    generate(dsn, tmp_path, "2024-01-22", *SMALL, "--fresh")
    assert query(dsn, "SELECT date::text, count(*) FROM progress GROUP BY 1") == [("2024-01-22", 700)]


# A day's rows without the identity column, which depends on the order rows were inserted in.
DAY_ROWS = """SELECT md5(string_agg(concat_ws('|', user_id, lesson_id, subject, date, time_spent_minutes, score,
                                           completed_at), '/' ORDER BY completed_at, user_id, lesson_id))
              FROM progress WHERE date = %s"""


def test_a_week_is_prepared_one_day_at_a_time(server: str, tmp_path: Path) -> None:
    """Each call adds its day to what is there: other days keep their rows (and ids), the users stay
    consistent, and a day added again replaces only its own rows."""
    dsn, fresh = f"{server}/source_add", f"{server}/source_add_reference"
    for day in ("2024-01-15", "2024-01-16", "2024-01-17", "2024-01-22"):
        generate(dsn, tmp_path / "add", day, *SMALL)
    per_day = dict(query(dsn, "SELECT date::text, count(*) FROM progress GROUP BY 1 ORDER BY 1"))
    assert per_day == {"2024-01-15": 700, "2024-01-16": 700, "2024-01-17": 700, "2024-01-22": 700}
    assert sorted(p.name for p in (tmp_path / "add" / "user_events").iterdir()) == [
        "2024-01-15", "2024-01-16", "2024-01-17", "2024-01-22",
    ]  # fmt: skip
    # The same rows as a fresh generation of each day; one population, no user twice.
    reference = {}
    for day in per_day:
        generate(fresh, tmp_path / "ref", day, *SMALL, "--fresh")
        reference[day] = query(fresh, DAY_ROWS, day)
        assert query(dsn, DAY_ROWS, day) == reference[day], day
    assert query(dsn, "SELECT count(*), count(DISTINCT id) FROM users") == [(150, 150)]
    assert query(dsn, "SELECT bool_and(created_at < '2024-01-15') FROM users") == [(True,)]

    # Adding a day again replaces that day's rows only.
    ids_before = query(
        dsn, "SELECT date::text, min(id), max(id) FROM progress WHERE date <> '2024-01-16' GROUP BY 1"
    )
    query(dsn, "UPDATE progress SET score = 250 WHERE date = '2024-01-16' RETURNING 1")
    generate(dsn, tmp_path / "add", "2024-01-16", *SMALL)
    assert query(dsn, DAY_ROWS, "2024-01-16") == reference["2024-01-16"]
    assert query(dsn, "SELECT count(*) FROM progress") == [(2800,)]
    after = query(
        dsn, "SELECT date::text, min(id), max(id) FROM progress WHERE date <> '2024-01-16' GROUP BY 1"
    )
    assert sorted(after) == sorted(ids_before)


def test_a_bad_date_is_refused(server: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(GENERATE),
            "--date",
            "2024-02-30",
            "--source-dsn",
            f"{server}/x",
            "--drop-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "2024-02-30" in done.stderr
    assert not list(tmp_path.iterdir())
