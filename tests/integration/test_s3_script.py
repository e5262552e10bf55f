"""scripts/s3.sh as an operator uses it: start, start again, status, stop, a port taken; the
credentials stay in their 0600 file."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
from pathlib import Path

import psutil
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.integration

SCRIPT = str(Path(__file__).resolve().parents[2] / "scripts" / "s3.sh")


def s3_sh(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SCRIPT, *args], env=env, capture_output=True, text=True, timeout=180)


@pytest.fixture
def store_env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "ETL_S3_DIR": str(tmp_path / "s3"), "ETL_S3_PORT": str(free_port()),
            "ETL_S3_BUCKETS": "drops,platform"}  # fmt: skip


def test_start_twice_status_and_stop_by_its_pid(store_env, tmp_path):
    root, port = tmp_path / "s3", store_env["ETL_S3_PORT"]
    assert s3_sh(store_env, "status").returncode == 3
    started = s3_sh(store_env, "start")
    try:
        assert started.returncode == 0, started.stderr
        assert f"S3 store started on http://127.0.0.1:{port}" in started.stderr
        pid = int((root / "s3proxy.pid").read_text())
        listening = {
            c.laddr for c in psutil.Process(pid).net_connections("inet") if c.status == psutil.CONN_LISTEN
        }
        assert {addr.ip for addr in listening} == {"127.0.0.1"} and int(port) in {a.port for a in listening}

        again = s3_sh(store_env, "start")
        assert (
            again.returncode == 0
            and f"already running on http://127.0.0.1:{port} (pid {pid})" in again.stderr
        )
        status = s3_sh(store_env, "status")
        assert status.returncode == 0 and f"pid {pid}" in status.stdout and "answers" in status.stdout

        # The generated credentials: this user's only, and on no output or command line.
        creds = json.loads((root / "credentials.json").read_text())
        for private in (root / "credentials.json", root / "conf" / "s3proxy.properties"):
            assert stat.S_IMODE(private.stat().st_mode) == 0o600, private
        assert stat.S_IMODE(root.stat().st_mode) == 0o700
        secret = creds["secret_key"]
        assert secret not in started.stderr + started.stdout + status.stdout
        assert not any(secret in arg for arg in psutil.Process(pid).cmdline())

        # A real S3 server: the buckets are there, and it refuses a wrong secret.
        import boto3
        from botocore.exceptions import ClientError

        def client(secret_key: str):
            return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                                aws_access_key_id=creds["access_key"], aws_secret_access_key=secret_key)  # fmt: skip

        assert sorted(b["Name"] for b in client(secret).list_buckets()["Buckets"]) == ["drops", "platform"]
        with pytest.raises(ClientError, match="SignatureDoesNotMatch|AccessDenied"):
            client(secret + "x").list_buckets()
    finally:
        stopped = s3_sh(store_env, "stop")
    assert stopped.returncode == 0 and f"stopped (pid {pid})" in stopped.stderr, stopped.stderr
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert s3_sh(store_env, "status").returncode == 3
    assert not (root / "s3proxy.pid").exists()
    again = s3_sh(store_env, "stop")
    assert again.returncode == 0 and again.stderr == ""

    # Started again, it keeps its credentials and its data.
    restarted = s3_sh(store_env, "start")
    try:
        assert restarted.returncode == 0, restarted.stderr
        assert json.loads((root / "credentials.json").read_text()) == creds
    finally:
        assert s3_sh(store_env, "stop").returncode == 0


def test_a_port_taken_by_another_program_is_named_and_nothing_starts(store_env, tmp_path):
    port = int(store_env["ETL_S3_PORT"])
    with socket.socket() as other:
        other.bind(("127.0.0.1", port))
        other.listen()
        result = s3_sh(store_env, "start")
    assert result.returncode == 1
    assert f"port {port} on 127.0.0.1 is taken by another program: set ETL_S3_PORT" in result.stderr
    assert not (tmp_path / "s3" / "s3proxy.pid").exists()
