"""One local S3-compatible object store: S3Proxy from Maven Central's jars on its filesystem backend
(no Docker, no mocking library: a real server speaking the S3 protocol on 127.0.0.1).

    scripts/s3.sh start | stop | status | resolve | lock

- `start` resolves the pinned server (`scripts/s3_server/pom.xml`, checked against its
  `dependencies.lock`), writes its configuration under the store's folder, creates the buckets
  (ETL_S3_BUCKETS, folders of the data directory), starts it on the installed Java, waits until it
  answers S3 requests and records the pid. Starting a running store is harmless; a port held by
  another program is named.
- `stop` stops exactly the recorded pid and waits for it to exit.
- `status` exits 3 when the store is not running.
- `resolve` resolves and checks the server's jars and Spark's S3A connector
  (`scripts/s3a_connector/`): scripts/bootstrap.sh calls it, so nothing downloads later.
- `lock` rewrites both lock files (after a version change in a pom).

Credentials: an access key and a secret generated on the first start (or ETL_S3_ACCESS_KEY and
ETL_S3_SECRET_KEY) kept in `<folder>/credentials.json` (mode 0600, the folder 0700), where the
scripts and the tests read them; they are never printed and never on a command line (S3Proxy reads
them from its own 0600 properties file).

Standard library only. Settings (`from_env`): ETL_S3_DIR (.local/s3), ETL_S3_PORT (19300),
ETL_S3_BUCKETS (`etl`, comma-separated), ETL_S3_HEAP (256m), ETL_MAVEN_REPO.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from local_server import find_java, launch, pid_running, port_free, rss_mb, stop_pid, wait_ready
from maven_jars import JarsError, PinnedJars, local_dir

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "scripts" / "s3_server"
JARS = PinnedJars("the S3 server (S3Proxy)", SERVER, "scripts/s3.sh lock")
CONNECTOR = PinnedJars("Spark's S3A connector", REPO / "scripts" / "s3a_connector", "scripts/s3.sh lock")
MAIN_CLASS = "org.gaul.s3proxy.Main"
REGION = "us-east-1"
READY_TIMEOUT = 90.0  # ~3 s on a quiet machine
STOP_TIMEOUT = 30.0


class StoreError(RuntimeError):
    """Something the operator has to act on; the message says what."""


def answers(port: int, timeout: float = 2.0) -> bool:
    """True when an S3 server answers on 127.0.0.1:`port`: an anonymous GET / is refused with an S3
    error document (AccessDenied) or lists buckets."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read(4096)
    except OSError:
        return False
    finally:
        conn.close()
    return response.status in (200, 403) and (b"<Error>" in body or b"ListAllMyBucketsResult" in body)


def _private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable by this user only, from the first byte."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    tmp.replace(path)


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


@dataclass(frozen=True)
class Store:
    root: Path
    port: int
    buckets: tuple[str, ...] = ("etl",)
    heap: str = "256m"

    @classmethod
    def from_env(cls) -> Store:
        buckets = tuple(
            b.strip() for b in (os.environ.get("ETL_S3_BUCKETS") or "etl").split(",") if b.strip()
        )
        return cls(
            root=Path(os.environ.get("ETL_S3_DIR") or local_dir() / "s3"),
            port=int(os.environ.get("ETL_S3_PORT") or 19300),
            buckets=buckets,
            heap=os.environ.get("ETL_S3_HEAP") or "256m",
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def conf(self) -> Path:
        return self.root / "conf" / "s3proxy.properties"

    @property
    def pid_file(self) -> Path:
        return self.root / "s3proxy.pid"

    @property
    def log(self) -> Path:
        return self.root / "logs" / "s3proxy.log"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials.json"

    def credentials(self) -> Credentials:
        """The store's keys: from credentials.json, else ETL_S3_ACCESS_KEY / ETL_S3_SECRET_KEY, else
        generated; written to credentials.json (0600) on first use."""
        try:
            data = json.loads(self.credentials_file.read_text())
            return Credentials(data["access_key"], data["secret_key"])
        except (OSError, ValueError, KeyError):
            pass
        creds = Credentials(
            os.environ.get("ETL_S3_ACCESS_KEY") or "ETL" + secrets.token_hex(8).upper(),
            os.environ.get("ETL_S3_SECRET_KEY") or secrets.token_urlsafe(30),
        )
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
        _private(self.credentials_file, json.dumps(creds.__dict__) + "\n")
        return creds

    def connection(self) -> dict:
        """The Airflow connection of this store (Amazon provider's `aws` type), for
        AIRFLOW_CONN_AWS_DEFAULT as JSON."""
        creds = self.credentials()
        return {
            "conn_type": "aws",
            "login": creds.access_key,
            "password": creds.secret_key,
            "extra": {"endpoint_url": self.endpoint, "region_name": REGION},
        }

    def pid(self) -> int | None:
        """The recorded pid, if that process is still this store's server."""
        return pid_running(self.pid_file, str(self.conf))

    def configure(self) -> None:
        creds = self.credentials()
        for folder in (self.conf.parent, self.log.parent, self.data):
            folder.mkdir(parents=True, exist_ok=True)
        for bucket in self.buckets:  # the filesystem backend's buckets are the data folder's folders
            (self.data / bucket).mkdir(exist_ok=True)
        _private(self.conf, "\n".join([
            f"s3proxy.endpoint={self.endpoint}",
            "s3proxy.authorization=aws-v2-or-v4",
            # botocore (1.36+) sends a CRC32 header with every request that needs a checksum
            # (DeleteObjects); S3Proxy 2.7 refuses a header it does not know with NotImplemented.
            "s3proxy.ignore-unknown-headers=true",
            f"s3proxy.identity={creds.access_key}",
            f"s3proxy.credential={creds.secret_key}",
            # jclouds' filesystem backend: S3Proxy's newer filesystem-nio2 lists a folder as an object
            # without a size, on which S3A's delete and rename fail.
            "jclouds.provider=filesystem",
            f"jclouds.filesystem.basedir={self.data}",
            "jclouds.identity=local",  # the backend's own login: a local folder has none
            "jclouds.credential=local",
            "",
        ]))  # fmt: skip

    def argv(self, java: str, jars: list[Path]) -> list[str]:
        return [
            java, f"-Xmx{self.heap}", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-Djava.net.preferIPv4Stack=true",  # an IPv4 socket on 127.0.0.1, not a v4-mapped v6 one
            f"-Dlogback.configurationFile={SERVER / 'logback.xml'}",
            "-cp", os.pathsep.join(map(str, jars)),
            MAIN_CLASS, "--properties", str(self.conf),
        ]  # fmt: skip

    def start(self, wait: bool = True) -> int:
        pid = self.pid()
        if pid:
            print(f"S3 store already running on {self.endpoint} (pid {pid})", file=sys.stderr)
            return pid
        if not port_free(self.port):
            raise StoreError(
                f"port {self.port} on 127.0.0.1 is taken by another program: set ETL_S3_PORT to a free "
                f"port (the S3 store in {self.root} was not started)"
            )
        java = _java()
        try:
            jars = JARS.resolve()
        except JarsError as err:
            raise StoreError(str(err)) from None
        self.configure()
        started = time.monotonic()
        pid = launch(self.argv(java, jars), self.log, self.pid_file, self.root)
        if wait:
            self.wait_ready(pid, started)
        return pid

    def wait_ready(self, pid: int, started: float) -> None:
        state = wait_ready(lambda: answers(self.port), pid, started + READY_TIMEOUT, self.log)
        if state == "timeout":
            self.stop()
            raise StoreError(
                f"S3Proxy did not answer on {self.endpoint} within {READY_TIMEOUT:.0f} s; see {self.log}"
            )
        if state != "ready":
            raise StoreError(f"S3Proxy (pid {pid}) exited while starting; {self.log} ends:\n{state}")
        print(f"S3 store started on {self.endpoint} in {time.monotonic() - started:.1f} s (pid {pid}, "
              f"{rss_mb(pid)} MB RSS, buckets {', '.join(self.buckets)} in {self.data})", file=sys.stderr)  # fmt: skip

    def stop(self) -> None:
        pid = self.pid()
        if not pid:
            self.pid_file.unlink(missing_ok=True)
            return
        stop_pid(pid, STOP_TIMEOUT, "S3Proxy")
        self.pid_file.unlink(missing_ok=True)
        print(f"S3 store on {self.endpoint} stopped (pid {pid})", file=sys.stderr)

    def status(self) -> bool:
        pid = self.pid()
        if not pid:
            print(f"S3 store: not running (would listen on {self.endpoint}, data in {self.data})")
            return False
        state = "answers" if answers(self.port) else "starting (no answer yet)"
        print(f"S3 store: running on {self.endpoint}, pid {pid}, {rss_mb(pid)} MB RSS, {state}")
        return True


def _java() -> str:
    java = find_java()
    if not java:
        raise StoreError("java not found: S3Proxy needs a Java 17 runtime")
    return java


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["start", "stop", "status", "resolve", "lock"])
    args = parser.parse_args(argv)
    store = Store.from_env()
    try:
        if args.command == "start":
            store.start()
        elif args.command == "stop":
            store.stop()
        elif args.command == "resolve":
            for jars in (JARS, CONNECTOR):
                print(f"{jars.name}: {len(jars.resolve())} jars resolved and checked against {jars.lock}")
        elif args.command == "lock":
            for jars in (JARS, CONNECTOR):
                print(f"wrote {jars.lock} ({jars.write_lock()} jars)")
        else:
            return 0 if store.status() else 3
    except (StoreError, JarsError) as exc:
        print(f"s3: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
