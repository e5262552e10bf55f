"""Driving a deployment of `scripts/stack.sh` from the tests as an operator would: the script, the
REST API with a JWT from `/auth/token`, the Spark master's JSON, the Airflow CLI."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from stack_config import ADMIN_USER, StackConfig  # noqa: E402

from tests.integration.conftest import SPARK_CDS_DIR  # noqa: E402

DAG_ID = "daily_analytics_etl"
# Debian's chromium, headless, as the build machines run it.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
TERMINAL = {"success", "failed"}
# What the tests set as the stack's operator: quick pokes for their drops, and the class archive the
# test session's first Spark run writes (each stack would otherwise write its own, ~25 s on its first run).
TEST_VARIABLES = {
    "etl_drop_poke_seconds": "2",
    # Longer than a stack test module lives: the stack's own nightly run of yesterday (it is unpaused) must
    # keep waiting for its drop. Failed after a shorter wait, it became the latest date of the history
    # and monitoring pages on a slow machine, and their default window no longer held the tests' days.
    "etl_drop_timeout_seconds": "7200",
    "etl_spark_cds_dir": str(SPARK_CDS_DIR),
    # The tests' days are in 2024: the stack's nightly analytics_retention (unpaused) would otherwise
    # delete their files as older than the default 30 days while the tests read them.
    "etl_retention_days": "3650",
}


def free_port_block(size: int) -> int:
    """The first of `size` consecutive free ports on 127.0.0.1."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + size >= 65535:
            continue
        sockets = []
        try:
            for port in range(first, first + size):
                sock = socket.socket()
                sock.bind(("127.0.0.1", port))
                sockets.append(sock)
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError(f"no block of {size} free ports")


@dataclass
class Stack:
    env: dict[str, str]

    @classmethod
    def for_tests(cls, name: str = "stack-test") -> Stack:
        """A stack of its own under .local/<name> (and its own PostgreSQL), on free ports."""
        local = REPO / ".local"
        env = dict(os.environ)
        env.update(
            ETL_STACK_DIR=str(local / name),
            ETL_PG_DATA=str(local / f"postgres-{name}"),
            ETL_PG_PORT=str(free_port_block(1)),
            ETL_STACK_API_PORT=str(free_port_block(1)),
            ETL_STACK_SPARK_PORT=str(free_port_block(1)),
            ETL_STACK_SPARK_UI_PORT=str(free_port_block(3)),
            ETL_STACK_CASSANDRA_PORT=str(free_port_block(1)),
            ETL_STACK_CASSANDRA_STORAGE_PORT=str(free_port_block(1)),
            ETL_STACK_CASSANDRA_JMX_PORT=str(free_port_block(1)),
            ETL_STACK_PROMETHEUS_PORT=str(free_port_block(1)),
            ETL_STACK_PUSHGATEWAY_PORT=str(free_port_block(1)),
            ETL_STACK_ALERTMANAGER_PORT=str(free_port_block(1)),
            ETL_STACK_S3_PORT=str(free_port_block(1)),
        )
        env.pop("CASSANDRA_HOST", None)  # the stack starts its own node
        env.pop("ETL_STACK_ROOTS", None)  # local roots, unless a test moves them
        return cls(env)

    @property
    def cfg(self) -> StackConfig:
        saved = dict(os.environ)
        try:
            os.environ.clear()  # exactly the stack's environment (not the session's CASSANDRA_HOST)
            os.environ.update(self.env)
            return StackConfig.from_env()
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def script(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(REPO / "scripts" / "stack.sh"), *args], env=self.env, capture_output=True, text=True,
            timeout=timeout,
        )  # fmt: skip

    def airflow(self, *args: str) -> subprocess.CompletedProcess:
        return self.script("airflow", *args, timeout=300)

    # -- REST ---------------------------------------------------------------------------------------
    def token(self) -> str:
        password = json.loads(self.cfg.password_file.read_text())[ADMIN_USER]
        status, body = self.request(
            "POST", "/auth/token", {"username": ADMIN_USER, "password": password}, None
        )
        assert status in (200, 201), body
        return body["access_token"]

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = "auto"):
        headers = {"Content-Type": "application/json"}
        if token == "auto":
            token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.cfg.api_url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        status, payload = self.request(method, path, body)
        assert 200 <= status < 300, f"{method} {path}: {status} {payload}"
        return payload

    def dag_runs(self, **query: str) -> list[dict]:
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns?limit=100&{params}")["dag_runs"]

    def wait_backfills_completed(self, timeout: float = 180) -> list[dict]:
        """The scheduler marks a backfill completed every 30 s after its last run ends; until then
        Airflow refuses another backfill of the DAG."""
        deadline = time.monotonic() + timeout
        while True:
            backfills = self.api("GET", f"/api/v2/backfills?dag_id={DAG_ID}&limit=100")["backfills"]
            if all(b["completed_at"] for b in backfills):
                return backfills
            assert time.monotonic() < deadline, f"backfills not completed after {timeout:.0f} s: {backfills}"
            time.sleep(3)

    def wait_run(self, run_id: str, timeout: float = 900) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}")["state"]
            if state in TERMINAL:
                return state
            time.sleep(3)
        raise AssertionError(f"run {run_id} not finished after {timeout:.0f} s")

    def task_state(self, run_id: str, task_id: str) -> str | None:
        return self.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}")["state"]

    def task_log(self, run_id: str, task_id: str, try_number: int = 1) -> str:
        path = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        return json.dumps(self.api("GET", path + "?full_content=true"))

    def spark_apps(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.cfg.spark_ui_url}/json/", timeout=10) as response:
            master = json.load(response)
        return master["activeapps"] + master["completedapps"]

    # -- data ---------------------------------------------------------------------------------------
    def analytics(self):
        return psycopg2.connect(host="127.0.0.1", port=self.cfg.pg_port, user="etl", dbname="analytics")

    def generate_day(self, day: str, complete: bool = True, **sizes: int) -> None:
        generate(day, self.cfg.pg_url("source"), self.cfg.drop_dir, complete, **sizes)


SMALL_DAY = {"users": 300, "events": 3000, "progress-per-day": 600}


def generate(day: str, source_dsn: str, drop_dir: Path, complete: bool = True, **sizes: int) -> None:
    """scripts/generate_day.py (same arguments, same rows); without `_SUCCESS` if not `complete`."""
    args = [f"--{k}={v}" for k, v in {**SMALL_DAY, **sizes}.items()]
    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "generate_day.py"), "--date", day, "--source-dsn", source_dsn,
         "--drop-dir", str(drop_dir), *args],
        check=True, capture_output=True,
    )  # fmt: skip
    if not complete:
        (drop_dir / "user_events" / day / "_SUCCESS").unlink()


@contextmanager
def logged_in(stack: Stack, width: int = 1400, height: int = 900) -> Iterator[object]:
    """A Playwright page in Chromium, logged into the deployment's UI as the admin user."""
    from playwright.sync_api import sync_playwright

    password = json.loads(stack.cfg.password_file.read_text())[ADMIN_USER]
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(stack.cfg.api_url + "/")
            page.fill("input[name=username]", ADMIN_USER)
            page.fill("input[name=password]", password)
            page.locator("button[type=submit]").click()
            page.wait_for_url(stack.cfg.api_url + "/", timeout=60_000)
            yield page
        finally:
            browser.close()
