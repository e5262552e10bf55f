"""What every server the project runs itself needs: Java, a free port on 127.0.0.1, a start that
records the pid, a wait until it answers, whether that pid still runs, its memory, and a stop of
exactly that pid that waits for it to exit.

Standard library only (scripts/cassandra_node.py, scripts/s3_server.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def pid_running(pid_file: Path, marker: str) -> int | None:
    """The pid recorded in `pid_file`, if that process still runs and its command line holds `marker`
    (a pid reused by another program is not ours)."""
    try:
        pid = int(pid_file.read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if marker.encode() in cmdline and pid_alive(pid) else None


def rss_mb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


def stop_pid(pid: int, timeout: float, what: str) -> None:
    """SIGTERM to `pid` and wait for it to exit; SIGKILL after `timeout` seconds."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            print(f"{what} (pid {pid}) still running {timeout:.0f} s after SIGTERM: killed", file=sys.stderr)
            os.kill(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.1)
        time.sleep(0.1)


def find_java() -> str | None:
    """JAVA_HOME's java, else the one on PATH; None when there is none."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return java if java and Path(java).exists() else None


def launch(argv: list[str], log: Path, pid_file: Path, cwd: Path, env: dict[str, str] | None = None) -> int:
    """Start a server in its own session, its output appended to `log`, and record its pid."""
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=cwd, env=env)  # fmt: skip
    pid_file.write_text(str(proc.pid))
    return proc.pid


def wait_ready(ready: Callable[[], bool], pid: int, deadline: float, log: Path, poll: float = 0.1) -> str:
    """Poll `ready` until it holds: "ready"; "timeout" past `deadline` (time.monotonic()); or, when
    the process exits first, the last lines of its log."""
    while not ready():
        if not pid_alive(pid):
            tail = log.read_text(errors="replace").splitlines()[-15:] if log.exists() else []
            return "\n".join(tail) or "(empty log)"
        if time.monotonic() > deadline:
            return "timeout"
        time.sleep(poll)
    return "ready"
