"""scripts/postgres.sh: a port another server holds is named, with the setting that moves it."""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from tests.integration.conftest import LOCAL, REPO

pytestmark = pytest.mark.integration


def test_a_taken_port_is_named_with_the_way_out() -> None:
    # Under the project's local folder: the server's user cannot reach pytest's temporary folders.
    data = LOCAL / "postgres-taken-port"
    shutil.rmtree(data, ignore_errors=True)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(REPO / "scripts" / "postgres.sh"), "start", str(data), str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1, result.stderr
    assert f"PostgreSQL did not start on 127.0.0.1:{port}" in result.stderr
    assert f"port {port} is taken (another checkout's server?): set ETL_PG_PORT" in result.stderr
    assert not (data / "postmaster.pid").exists()  # it never started: nothing is left to stop
    shutil.rmtree(data)
