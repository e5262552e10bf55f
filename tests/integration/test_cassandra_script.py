"""scripts/cassandra.sh as an operator uses it: start, start again, status, stop, a port taken."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = str(Path(__file__).resolve().parents[2] / "scripts" / "cassandra.sh")


def cassandra_sh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def node_env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ETL_CASSANDRA_DIR": str(tmp_path / "node"),
        "ETL_CASSANDRA_PORT": str(free_port()),
        "ETL_CASSANDRA_STORAGE_PORT": str(free_port()),
        "ETL_CASSANDRA_JMX_PORT": str(free_port()),
    }


def test_start_twice_status_and_stop_by_its_pid(node_env, tmp_path):
    started = cassandra_sh(node_env, "start")
    try:
        assert started.returncode == 0, started.stderr
        assert f"Cassandra started on 127.0.0.1:{node_env['ETL_CASSANDRA_PORT']}" in started.stderr
        pid = int((tmp_path / "node" / "cassandra.pid").read_text())
        server = psutil.Process(pid)
        listening = {c.laddr for c in server.net_connections("inet") if c.status == psutil.CONN_LISTEN}
        assert {addr.ip for addr in listening} == {"127.0.0.1"}, listening
        assert int(node_env["ETL_CASSANDRA_PORT"]) in {addr.port for addr in listening}

        again = cassandra_sh(node_env, "start")
        assert (
            again.returncode == 0
            and f"already running on 127.0.0.1:{node_env['ETL_CASSANDRA_PORT']} (pid {pid})" in again.stderr
        )
        status = cassandra_sh(node_env, "status")
        assert status.returncode == 0 and "answers CQL" in status.stdout, status.stdout
    finally:
        stopped = cassandra_sh(node_env, "stop")
    assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stderr, stopped.stderr
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert cassandra_sh(node_env, "status").returncode == 3
    assert not (tmp_path / "node" / "cassandra.pid").exists()


def test_a_port_taken_by_another_program_is_named_and_nothing_starts(node_env, tmp_path):
    port = int(node_env["ETL_CASSANDRA_STORAGE_PORT"])
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        result = cassandra_sh(node_env, "start")
    assert result.returncode == 1
    assert (
        f"port {port} on 127.0.0.1 is taken by another program: set ETL_CASSANDRA_STORAGE_PORT"
        in result.stderr
    )
    assert not (tmp_path / "node" / "cassandra.pid").exists()
