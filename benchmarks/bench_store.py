"""The day benchmark with both roots on an object store (`benchmarks/day.py --roots store`), and the bytes
a run writes, wherever its roots are.

The store is the project's own S3Proxy (scripts/s3_server.py) with a bucket `bench`, under
<work-dir>/s3 on its own port; started here when it is not running, and stopped again only then.
The cached drop is put into the bucket once per day key (`_SUCCESS` last, as a producer would);
the run reads and writes the store through the Airflow connection `aws_default` and Spark's S3A.

S3Proxy's filesystem backend keeps each object as a plain file at `<data>/<bucket>/<key>`: the checks
and the byte counts read those files, so that they need no S3 client and cost no request; what they
read is what the store serves.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "scripts"), str(REPO / "plugins")]

from s3_server import Store, answers  # noqa: E402

from analytics_etl.paths import OUTPUT_TABLES, RunPaths  # noqa: E402

BUCKET = "bench"


@dataclass
class BenchStore:
    store: Store
    started_here: bool = False

    @classmethod
    def start(cls, work_dir: Path, port: int) -> BenchStore:
        store = Store(root=work_dir / "s3", port=port, buckets=(BUCKET,))
        running = store.pid() is not None and answers(port)
        if not running:
            store.start()
        else:
            store.configure()  # the bucket exists (a folder of the backend)
        return cls(store, started_here=not running)

    def stop(self) -> None:
        if self.started_here:
            self.store.stop()

    def written_bytes(self) -> int | None:
        """What the store's process has written to its disk so far (`write_bytes` of /proc/<pid>/io,
        counted as pages are dirtied, threads included): every PUT, multipart part and server-side
        COPY lands there, so the difference over a run is the bytes the run made the store write.
        None when the process or the counter cannot be read (not Linux, another user's process)."""
        pid = self.store.pid()
        try:
            fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
            return int(fields["write_bytes"])
        except (OSError, KeyError, ValueError):
            return None

    def url(self, key: str) -> str:
        return f"s3://{BUCKET}/{key}"

    def backing(self, key: str) -> Path:
        """The local file (or folder) that holds `key` (or the keys under it) in the filesystem backend."""
        return self.store.data / BUCKET / key

    def connection_json(self) -> str:
        return json.dumps(self.store.connection())

    def client(self):
        import boto3

        creds = self.store.credentials()
        return boto3.client("s3", endpoint_url=self.store.endpoint, region_name="us-east-1",
                            aws_access_key_id=creds.access_key, aws_secret_access_key=creds.secret_key)  # fmt: skip

    def put_drop(self, drop_dir: Path, day_key: str) -> tuple[str, float]:
        """The cached drop's files into `days/<key>/drops/` once (`_SUCCESS` last); its URL and the
        seconds the upload took (0 when the bucket already held it)."""
        prefix = f"days/{day_key}/drops"
        files = sorted(
            (p for p in drop_dir.rglob("*") if p.is_file()), key=lambda p: (p.name == "_SUCCESS", str(p))
        )
        if all(self.backing(f"{prefix}/{p.relative_to(drop_dir)}").is_file() for p in files):
            return self.url(prefix), 0.0
        started = time.monotonic()
        s3 = self.client()
        for path in files:
            s3.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(drop_dir).as_posix()}")
        return self.url(prefix), time.monotonic() - started

    def remove(self, key: str) -> None:
        """Every object under the prefix `key`, through the S3 API."""
        s3 = self.client()
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=key.rstrip("/") + "/")
        names = [o["Key"] for page in pages for o in page.get("Contents", [])]
        for start in range(0, len(names), 1000):
            s3.delete_objects(
                Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in names[start : start + 1000]]}
            )


def tree_bytes(folder: Path) -> int:
    """Bytes of the files under `folder` (0 when it is not there); files vanishing meanwhile are skipped."""
    total = 0
    stack = [str(folder)]
    while stack:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


@dataclass(eq=False)  # a thread: hashed by identity
class DiskPeaks(threading.Thread):
    """The largest size each named folder reached while the run went on, sampled every `interval` s:
    the ingest's scratch comes and goes within the run, so only its peak says what it cost."""

    folders: dict[str, Path]
    interval: float = 1.0
    peaks: dict[str, int] = field(default_factory=dict)  # above what the folder held at the start
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        super().__init__(daemon=True)
        self.starts = {name: tree_bytes(folder) for name, folder in self.folders.items()}

    def run(self) -> None:
        while not self.stop.is_set():
            for name, folder in self.folders.items():
                grown = tree_bytes(folder) - self.starts[name]
                self.peaks[name] = max(self.peaks.get(name, 0), grown)
            self.stop.wait(self.interval)


def run_bytes(data_dir: Path, date, run_id: str) -> dict[str, int]:
    """What the run left under the (local, or the store's backing) data folder, per area."""
    paths = RunPaths.build(data_dir, "", date, run_id)
    return {
        "staging": tree_bytes(paths.staging),
        "curated": sum(tree_bytes(paths.output(t)) for t in OUTPUT_TABLES),
        "quarantine": tree_bytes(paths.quarantine),
        "validation": tree_bytes(paths.validation),
    }
