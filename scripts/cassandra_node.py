"""One local Apache Cassandra node, run from Maven Central's jars (no distribution tarball, no Docker).

    scripts/cassandra.sh start | stop | status | resolve | lock

- `start` resolves the pinned server (`scripts/cassandra_server/pom.xml`) with Maven into its local
  repository, checks every jar against `dependencies.lock`, writes a one-node configuration under the
  node's folder (127.0.0.1 only), starts the server on the installed JDK with the JVM options of
  Cassandra's own distribution for that Java, waits until CQL answers and records the pid. Starting a
  running node is harmless; a port held by another program is named.
- `stop` stops exactly the recorded pid and waits for it to exit (a node flushes for seconds).
- `resolve` only resolves and checks the server's jars (scripts/bootstrap.sh calls it: the set-up is
  the one step that downloads; a test or a demo starting a node then finds everything cached).
- `lock` re-resolves and rewrites `dependencies.lock` (after a version change in the pom).

Standard library only: the demo, the stack, the test session and CI call it before or beside the
virtualenv. Settings are environment variables (`from_env`): ETL_CASSANDRA_DIR, ETL_CASSANDRA_PORT
(CQL, 19042), ETL_CASSANDRA_STORAGE_PORT (17000), ETL_CASSANDRA_JMX_PORT (17199), ETL_CASSANDRA_HEAP
(1G), ETL_MAVEN_REPO (Maven's own default, ~/.m2/repository).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from local_server import find_java, launch, pid_running, port_free, rss_mb, stop_pid, wait_ready
from maven_jars import JarsError, PinnedJars, local_dir

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "scripts" / "cassandra_server"
JARS = PinnedJars("the Cassandra server", SERVER, "scripts/cassandra.sh lock", cache="cassandra-server")
LOCK = JARS.lock
MAIN_CLASS = "org.apache.cassandra.service.CassandraDaemon"
READY_TIMEOUT = 240.0  # a cold first start on two busy cores takes ~15-40 s
STOP_TIMEOUT = 120.0


class NodeError(RuntimeError):
    """Something the operator has to act on; the message says what."""


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def resolve() -> list[Path]:
    """The server's classpath, every jar checked against the lock (scripts/maven_jars.py)."""
    try:
        return JARS.resolve()
    except JarsError as err:
        raise NodeError(str(err)) from None


def write_lock() -> None:
    try:
        count = JARS.write_lock()
    except JarsError as err:
        raise NodeError(str(err)) from None
    print(f"wrote {LOCK} ({count} jars)")


def _java() -> str:
    java = find_java()
    if not java:
        raise NodeError("java not found: Cassandra 5.0 needs a Java 17 (or 11) runtime")
    return java


def _java_major(java: str) -> int:
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    version = out.split('"')[1] if '"' in out else "0"
    return int(version.split(".")[0])


def _options(name: str) -> list[str]:
    """The JVM options of one of the distribution's jvm*.options files (lines starting with '-')."""
    opts = []
    for line in (SERVER / name).read_text().splitlines():
        line = line.strip()
        if line.startswith("-"):
            opts.extend(line.split(" ", 1) if line.startswith("--add-") else [line])
    return opts


def cql_answers(host: str, port: int, timeout: float = 2.0) -> bool:
    """True when a CQL server answers an OPTIONS request with SUPPORTED (the port alone opens early)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(bytes([0x04, 0, 0, 0, 0x05, 0, 0, 0, 0]))  # v4 request, stream 0, OPTIONS
            header = sock.recv(9)
            return len(header) == 9 and header[0] == 0x84 and header[4] == 0x06  # v4 response, SUPPORTED
    except OSError:
        return False


@dataclass(frozen=True)
class Node:
    root: Path
    cql_port: int
    storage_port: int
    jmx_port: int
    heap: str

    @classmethod
    def from_env(cls) -> Node:
        return cls(
            root=Path(os.environ.get("ETL_CASSANDRA_DIR") or local_dir() / "cassandra"),
            cql_port=_env_int("ETL_CASSANDRA_PORT", 19042),
            storage_port=_env_int("ETL_CASSANDRA_STORAGE_PORT", 17000),
            jmx_port=_env_int("ETL_CASSANDRA_JMX_PORT", 17199),
            # The distribution would take a quarter of the RAM (6 GB here); 1 GB carries the day's
            # loads on a machine that also runs Spark and Airflow.
            heap=os.environ.get("ETL_CASSANDRA_HEAP") or "1G",
        )

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.cql_port}"

    @property
    def pid_file(self) -> Path:
        return self.root / "cassandra.pid"

    @property
    def log(self) -> Path:
        return self.root / "logs" / "system.log"

    def pid(self) -> int | None:
        """The recorded pid, if that process is still this node's server."""
        return pid_running(self.pid_file, str(self.root / "conf"))

    def configure(self) -> None:
        values = {"@DATA@": str(self.root / "data"), "@LOGS@": str(self.root / "logs"),
                  "@CQL_PORT@": str(self.cql_port), "@STORAGE_PORT@": str(self.storage_port)}  # fmt: skip
        (self.root / "conf").mkdir(parents=True, exist_ok=True)
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        for name in ("cassandra.yaml", "logback.xml"):
            text = (SERVER / name).read_text()
            for key, value in values.items():
                text = text.replace(key, value)
            (self.root / "conf" / name).write_text(text)

    def argv(self, java: str, jars: list[Path]) -> list[str]:
        major = _java_major(java)
        if major not in (11, 17):
            raise NodeError(f"{java} is Java {major}: Cassandra 5.0 runs on Java 11 or 17")
        versioned = _options("jvm17-server.options") if major == 17 else []
        jamm = next(j for j in jars if j.name.startswith("jamm-"))
        conf = self.root / "conf"
        return [
            java, *_options("jvm-server.options"), *versioned,
            f"-Xms{self.heap}", f"-Xmx{self.heap}",
            f"-javaagent:{jamm}",  # cassandra-env.sh: jamm measures memtable sizes
            f"-Dcassandra.jmx.local.port={self.jmx_port}",  # JMX on loopback, as cassandra-env.sh
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.config=file://{conf}/cassandra.yaml",
            f"-Dcassandra.storagedir={self.root / 'data'}",
            f"-Dcassandra.logdir={self.root / 'logs'}",
            f"-Dlogback.configurationFile={conf}/logback.xml",
            # One node, its own seed: nobody to wait for. Without these a first start waits out the
            # 30 s ring delay before it takes its tokens.
            "-Dcassandra.ring_delay_ms=1000",
            "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            "-cp", os.pathsep.join(map(str, jars)),
            MAIN_CLASS,
        ]  # fmt: skip

    def start(self, wait: bool = True) -> int:
        pid = self.pid()
        if pid:
            print(f"Cassandra already running on {self.host} (pid {pid})", file=sys.stderr)
            return pid
        for name, port in (("ETL_CASSANDRA_PORT", self.cql_port), ("ETL_CASSANDRA_STORAGE_PORT", self.storage_port),
                           ("ETL_CASSANDRA_JMX_PORT", self.jmx_port)):  # fmt: skip
            if not port_free(port):
                raise NodeError(
                    f"port {port} on 127.0.0.1 is taken by another program: set {name} to a free port "
                    f"(Cassandra in {self.root} was not started)"
                )
        java = _java()
        jars = resolve()
        self.configure()
        started = time.monotonic()
        pid = launch(self.argv(java, jars), self.root / "logs" / "stdout.log", self.pid_file, self.root,
                     env={**os.environ, "MALLOC_ARENA_MAX": "4"})  # fmt: skip
        if wait:
            self.wait_ready(pid, started)
        return pid

    def wait_ready(self, pid: int, started: float) -> None:
        state = wait_ready(
            lambda: cql_answers("127.0.0.1", self.cql_port), pid, started + READY_TIMEOUT, self.log, 0.25
        )
        if state == "timeout":
            self.stop()
            raise NodeError(
                f"Cassandra did not answer CQL on {self.host} within {READY_TIMEOUT:.0f} s; see {self.log}"
            )
        if state != "ready":
            raise NodeError(f"Cassandra (pid {pid}) exited while starting; {self.log} ends:\n{state}")
        print(f"Cassandra started on {self.host} in {time.monotonic() - started:.1f} s "
              f"(pid {pid}, {rss_mb(pid)} MB RSS, data in {self.root / 'data'})", file=sys.stderr)  # fmt: skip

    def stop(self) -> None:
        pid = self.pid()
        if not pid:
            self.pid_file.unlink(missing_ok=True)
            return
        stop_pid(pid, STOP_TIMEOUT, "Cassandra")  # the node drains, flushes its memtables and exits
        self.pid_file.unlink(missing_ok=True)
        print(f"Cassandra on {self.host} stopped (pid {pid})", file=sys.stderr)

    def status(self) -> bool:
        pid = self.pid()
        if not pid:
            print(f"Cassandra: not running (would listen on {self.host}, data in {self.root / 'data'})")
            return False
        answers = "answers CQL" if cql_answers("127.0.0.1", self.cql_port) else "starting (no CQL yet)"
        print(f"Cassandra: running on {self.host}, pid {pid}, {rss_mb(pid)} MB RSS, {answers}")
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "resolve", "lock"])
    args = parser.parse_args(argv)
    node = Node.from_env()
    try:
        if args.command == "start":
            node.start()
        elif args.command == "stop":
            node.stop()
        elif args.command == "resolve":
            print(f"Cassandra server: {len(resolve())} jars resolved and checked against {LOCK.name}")
        elif args.command == "lock":
            write_lock()
        else:
            return 0 if node.status() else 3
    except NodeError as exc:
        print(f"cassandra: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
