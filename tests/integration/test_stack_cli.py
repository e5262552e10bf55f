"""`scripts/stack.sh airflow ...` and `eval "$(scripts/stack.sh env)"` as an operator uses them, against
a real metadata database (the stack's `airflow` database on the test session's PostgreSQL server) but
without the stack's services: what the CLI prints, which `airflow` the shell finds, and what a second
backfill is told while the first one is still open."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from psycopg2 import sql

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
STACK = [sys.executable, str(REPO / "scripts" / "stack.py")]
DAG_ID = "daily_analytics_etl"


@pytest.fixture(scope="module")
def stack_env(postgres, tmp_path_factory):
    """The environment `scripts/stack.sh` runs stack.py with, its metadata database migrated."""
    root = tmp_path_factory.mktemp("stack-cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "ETL_"))}
    env.update(ETL_STACK_DIR=str(root), ETL_PG_PORT=str(postgres.port), ETL_PG_DATA=str(root / "pg"))
    admin = postgres.connect()
    admin.autocommit = True
    with admin.cursor() as cur:  # the stack's fixed name: this server is the test session's own
        cur.execute("DROP DATABASE IF EXISTS airflow WITH (FORCE)")
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("airflow")))
    for args in (["db", "migrate"], ["dags", "reserialize"], ["dags", "pause", DAG_ID]):
        done = subprocess.run(
            [*STACK, "airflow", *args], env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    yield env
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS airflow WITH (FORCE)")
    admin.close()


def stack_airflow(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*STACK, "airflow", *args], env=env, capture_output=True, text=True, timeout=300)


def test_the_cli_prints_no_warning_about_graphviz_or_pathspec_but_still_its_errors(stack_env):
    listed = stack_airflow(stack_env, "dags", "list", "-o", "plain")
    output = listed.stdout + listed.stderr
    assert listed.returncode == 0 and DAG_ID in output, output[-3000:]
    assert "graphviz" not in output and "GitWildMatchPattern" not in output, output[-3000:]
    refused = stack_airflow(stack_env, "dags", "trigger", "no_such_dag")
    assert refused.returncode != 0 and "no_such_dag" in refused.stdout + refused.stderr


def test_eval_stack_env_puts_the_deployments_airflow_on_the_path(stack_env):
    script = 'eval "$("$0" "$1" env)"; command -v airflow; airflow dags list -o plain'
    done = subprocess.run(
        ["bash", "-c", script, *STACK], env={**stack_env, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = done.stdout.splitlines()[0]
    assert Path(found) == Path(sys.executable).parent / "airflow"
    assert DAG_ID in done.stdout  # the deployment's metadata database, not a default AIRFLOW_HOME
    assert "graphviz" not in done.stdout + done.stderr


def backfill(stack_env: dict[str, str], first: str, last: str) -> subprocess.CompletedProcess:
    return stack_airflow(
        stack_env, "backfill", "create", "--dag-id", DAG_ID, "--from-date", first, "--to-date", last
    )


def test_a_second_backfill_while_the_first_is_open_says_why_and_when(stack_env):
    first = backfill(stack_env, "2024-01-01", "2024-01-02")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # No scheduler runs here, so the first one stays open: what an operator meets for ~30 s after
    # a backfill's last run ends, or while it runs.
    second = backfill(stack_env, "2024-01-10", "2024-01-11")
    output = second.stdout + second.stderr
    assert second.returncode != 0
    assert "Traceback" not in output and "AlreadyRunningBackfill" not in output, output[-3000:]
    assert "one backfill per DAG at a time" in output and "30 s" in output
    assert f"/api/v2/backfills?dag_id={DAG_ID}" in output
