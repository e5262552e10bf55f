"""The Spark task: the provider's SparkSubmitOperator with two decisions of the platform.

- **No `spark_default` connection means `local[*]`** (contract section 1), where the provider
  would submit to YARN.
- **A deterministic failure fails at once.** The job writes the cause of a failure to its
  `--error-file` (`analytics_jobs.failures`): one line naming the file and the fault, and whether a
  retry could help. A corrupt input fails the task with `AirflowFailException` (no retries) and that
  line as its error, which is what `etl_runs.error` and the alert carry, instead of
  `Cannot execute: spark-submit ...` and the last Java frames. Anything else keeps its retries.
- **The JIT follows the day's size.** A JVM's flags are fixed before the job runs, so the task looks
  at the drop (gzip files by their uncompressed size): below `etl_spark_quick_jit_below_mb` the
  application runs with C1 only (`quick_jit`), which saves the CPU a small day would otherwise spend
  compiling Spark's planning code with C2; a large day keeps C2 for its per-row code
  (docs/performance.md).
- **Class-data sharing** (`etl_spark_cds_dir`, off by default): the driver JVM maps an archive of the
  classes a run loaded instead of loading and verifying them again. The first run writes it under a
  name of its own and the task renames it into place only after a successful run; the key names the
  Spark jars and the Java runtime, so an upgrade writes a new one. A JVM that finds the archive
  unusable runs without it.
- **The ingest's Java functions** (`spark_jobs/jvm`, built by `scripts/build_jar.sh`) go with every
  job as `--jars` when built; without them the jobs give the same result, slower.
- **Object storage** (`s3a://` or `s3://` among the job's arguments): Spark's S3A connector, pinned in
  `scripts/s3a_connector/` and resolved by `scripts/s3.sh resolve`, goes on the driver's and the
  executors' class path, the store's endpoint and region from `aws_default` on the command line, and
  its keys in a properties file readable by this user only, in a private folder removed when the
  job ends: never in the task log, the command line or the process list (docs/decisions.md). The
  arguments' `s3://` URLs (as the run's XCom names them) reach the job as `s3a://` (`spark_url`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.providers.common.compat.sdk import AirflowException, AirflowNotFoundException
from airflow.sdk.exceptions import AirflowFailException

from analytics_etl.defaults import PROJECT_ROOT, SPARK_JOBS
from analytics_etl.metrics import SPARK_SECONDS_XCOM, keep_xcom
from analytics_etl.settings import quick_jit_below_bytes, spark_cds_dir
from analytics_etl.storage import STORE_CONN_ID, is_object_store, root_path, s3a_settings, spark_url

DEFAULT_MASTER = "local[*]"
ERROR_FILE_ARG = "--error-file"
# Spark settings of every job: UTC sessions, no console progress bars in the task log, and a driver
# JVM whose optimising JIT (C2) waits for code that is really hot. A day's application lives for
# seconds to minutes: with HotSpot's defaults C2 spends much of the CPU of a small day compiling
# Spark's planning code, run a few thousand times (demo day: 17-20% less CPU in all). The per-row
# code still reaches C2 early at any size; 1M rows processed warm cost the same CPU
# (docs/performance.md). In local mode the executors are this JVM.
_DRIVER_JIT = (
    "-XX:Tier4InvocationThreshold=50000 -XX:Tier4MinInvocationThreshold=6000 "
    "-XX:Tier4CompileThreshold=150000 -XX:Tier4BackEdgeThreshold=400000"
)
# C1 only: quick compiles of everything, no optimising recompiles. Per row 2.4x the CPU of C2's code
# when warm, which a small day never reaches; in local mode the executors are the driver's JVM.
QUICK_JIT = "-XX:TieredStopAtLevel=1"
SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.extraJavaOptions": _DRIVER_JIT,
}
# Every Spark task runs in this Airflow pool, so a long backfill queues instead of starting a JVM per
# run at once. Its size is a deployment setting (Admin > Pools; scripts/stack.sh and the compose file
# create it with one slot, what two cores carry). `airflow dags test` ignores pools.
SPARK_POOL = "analytics_spark"
JOBS_JAR = SPARK_JOBS / "jvm" / "analytics-jobs.jar"
S3A_LOCK = PROJECT_ROOT / "scripts" / "s3a_connector" / "dependencies.lock"
_CLASS_PATHS = ("spark.driver.extraClassPath", "spark.executor.extraClassPath")


_GZIP_MAGIC = b"\x1f\x8b"


def gzip_bytes(path: Path | Any) -> int:
    """The uncompressed size of a gzip file, from its trailer (ISIZE: the size modulo 2**32 of its
    last member), and never less than the file itself. A file that is not gzip after all (no gzip
    header), or cannot be read here, counts as its own bytes: the job reports a bad file itself. A
    file of several members counts only its last one, an estimate on the low side."""
    size = path.stat().st_size
    if size < 18:  # a header and a trailer at least
        return size
    try:
        with path.open("rb") as f:
            if f.read(2) != _GZIP_MAGIC:
                return size
            f.seek(-4, 2)
            return max(size, int.from_bytes(f.read(4), "little"))
    except OSError:
        return size


def input_bytes(folder: str | Path) -> int:
    """Bytes of the files under `folder`, a gzip file by its uncompressed size (0 when the folder
    does not exist: the job reports that itself).

    What the JIT choice follows is the rows to parse, and a gzip file of text holds 4-7 times the
    rows of a plain file of its size: counted by its compressed size, a day of gzip files would look
    small enough for C1 only and run its rows on C1's slower code. A folder on the store (`s3://`
    text) is listed there, a gzip file's trailer read with a ranged GET."""
    root = root_path(folder) if isinstance(folder, str) else folder
    if isinstance(root, Path):
        files = (p for p in root.rglob("*") if p.is_file())
    else:
        root.fs.invalidate_cache(root.path)
        found = root.fs.find(root.path) if root.exists() else []
        files = (root / key.removeprefix(root.path).lstrip("/") for key in found if not key.endswith("/"))
    return sum(gzip_bytes(p) if p.suffix == ".gz" else p.stat().st_size for p in files)


def with_java_option(
    conf: dict[str, str], option: str, keys: tuple[str, ...] = ("spark.driver.extraJavaOptions",)
) -> dict[str, str]:
    """`conf` with `option` added to the Java options `keys` (a new dict: SPARK_CONF is shared)."""
    conf = dict(conf)
    for key in keys:
        conf[key] = f"{conf.get(key, '')} {option}".strip()
    return conf


def quick_jit(conf: dict[str, str]) -> dict[str, str]:
    """`conf` with the driver and the executors on C1 only."""
    return with_java_option(
        conf, QUICK_JIT, ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions")
    )


def _spark_home() -> Path:
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"])
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    return Path(spec.origin).parent if spec and spec.origin else Path(sys.prefix)


def class_archive(folder: str | Path, class_path: str = "") -> Path:
    """The archive of this Spark installation and Java runtime in `folder`; a driver class path
    (the S3A connector's) has archives of its own: a JVM refuses an archive of another class path."""
    jars = sorted(p.name for p in (_spark_home() / "jars").glob("*.jar"))
    java = os.environ.get("JAVA_HOME", "") or os.path.realpath(shutil.which("java") or "java")
    key = hashlib.sha256("\n".join([*jars, java, *filter(None, [class_path])]).encode()).hexdigest()[:16]
    return Path(folder) / f"spark-driver-{key}.jsa"


def s3a_jars() -> list[Path]:
    """Spark's S3A connector: the jars of scripts/s3a_connector/dependencies.lock in Maven's local
    repository, where `scripts/s3.sh resolve` (run by scripts/bootstrap.sh) put and checked them."""
    repo = Path(os.environ.get("ETL_MAVEN_REPO") or Path.home() / ".m2" / "repository")
    lines = [line.split() for line in S3A_LOCK.read_text().splitlines() if line.strip() and line[0] != "#"]
    jars = [repo / rel for _sha, rel in lines]
    missing = [str(j) for j in jars if not j.is_file()]
    if missing:
        raise AirflowException(
            f"Spark's S3A connector is not resolved ({missing[0]}): run scripts/s3.sh resolve"
        )
    return jars


def write_properties(path: Path, values: dict[str, str], head: str = "") -> None:
    """A Java properties file of `values` (after the text `head`), created readable by this user only."""
    if any("\n" in v or "\r" in v for v in values.values()):
        raise ValueError("a property value holds a line break")
    text = "".join(f"{key}={value.replace(chr(92), chr(92) * 2)}\n" for key, value in values.items())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(head + text)


def connection_exists(conn_id: str) -> bool:
    try:
        SparkSubmitHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return False
    return True


def spark_runs_here(conn_id: str) -> bool:
    """Whether the jobs of `conn_id` run in this host's JVM (`local[...]`, also without the
    connection: DEFAULT_MASTER), so that a path on this host's disk is seen by the whole job."""
    try:
        master = SparkSubmitHook.get_connection(conn_id).host or ""
    except AirflowNotFoundException:
        master = DEFAULT_MASTER
    return master.strip().lower().startswith("local")


def read_failure(path: str | Path) -> tuple[bool, str] | None:
    """(deterministic, message) from a job's error file; None when it wrote none."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    return bool(data.get("deterministic")), str(data.get("message", ""))


class SparkJobOperator(SparkSubmitOperator):
    """spark-submit of one of `spark_jobs/`, with `--error-file` added to its arguments; with
    `sized_by` (a folder), C1 only when that folder holds less than `etl_spark_quick_jit_below_mb`."""

    template_fields = (*SparkSubmitOperator.template_fields, "error_file", "sized_by", "run_staging")

    def __init__(
        self, *, error_file: str, sized_by: str | None = None, run_staging: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.error_file = error_file
        self.run_staging = run_staging  # the job writes this run's files: its writer lock is held
        self.sized_by = sized_by

    def _choose_jit(self) -> None:
        if not self.sized_by:
            return
        size, below = input_bytes(self.sized_by), quick_jit_below_bytes()
        quick = size < below
        self.log.info(
            "input %s: %.1f MB (gzip files counted uncompressed), %s %.0f MB: %s", self.sized_by, size / 2**20,
            "below" if quick else "not below",
            below / 2**20, "C1 only (quick JIT)" if quick else "default JIT",
        )  # fmt: skip
        if quick:
            self.conf = quick_jit(self.conf or {})

    def _share_classes(self) -> tuple[Path, Path] | None:
        """Use the class archive, or write one; returns (where this run writes it, the archive), or
        None when it writes none."""
        folder = spark_cds_dir()
        if not folder:
            return None
        archive = class_archive(folder, (self.conf or {}).get(_CLASS_PATHS[0], ""))
        if archive.exists():
            self.log.info("class-data sharing: the driver maps %s", archive)
            self.conf = with_java_option(self.conf or {}, f"-XX:SharedArchiveFile={archive}")
            return None
        archive.parent.mkdir(parents=True, exist_ok=True)
        dump = archive.with_name(f"{archive.stem}.{uuid.uuid4().hex[:8]}.writing")
        self.log.info("class-data sharing: no archive yet, this run writes %s", archive)
        self.conf = with_java_option(self.conf or {}, f"-XX:ArchiveClassesAtExit={dump}")
        return dump, archive

    def _ship_jobs_jar(self) -> None:
        if JOBS_JAR.is_file():
            self.jars = ",".join(filter(None, [self.jars, str(JOBS_JAR)]))
        else:
            self.log.warning("%s is not built (scripts/build_jar.sh): the ingest reads JSON slower", JOBS_JAR)

    def _object_store(self) -> Path | None:
        """When the job reads or writes an object store: the S3A connector on the class path, the
        store's settings from `aws_default`, its keys in a 0600 properties file; returns the private
        folder of that file (removed after the job), or None."""
        if not any(is_object_store(str(arg)) for arg in self.application_args or []):
            return None
        # Hadoop names the store's paths s3a:// (the run's XCom has s3:// URLs, as Airflow does).
        self.application_args = [
            spark_url(str(arg)) if is_object_store(str(arg)) else arg for arg in self.application_args
        ]
        jars = os.pathsep.join(map(str, s3a_jars()))
        public, secret = s3a_settings(STORE_CONN_ID)
        conf = dict(self.conf or {})
        for key in _CLASS_PATHS:
            conf[key] = os.pathsep.join(filter(None, [conf.get(key), jars]))
        self.conf = conf | public
        endpoint = public.get("spark.hadoop.fs.s3a.endpoint", "AWS")
        if not secret:
            self.log.info(
                "object store %s: S3A connector on the class path, no keys in %s", endpoint, STORE_CONN_ID
            )
            return None
        folder = Path(tempfile.mkdtemp(prefix="etl-spark-"))  # mode 0700
        properties = folder / "s3a.properties"
        # A properties file of the deployment's own (the operator's argument) keeps its settings.
        head = Path(self.properties_file).read_text(encoding="utf-8") + "\n" if self.properties_file else ""
        write_properties(properties, secret, head)
        self.properties_file = str(properties)
        self.log.info("object store %s: S3A connector on the class path, keys of %s in a 0600 properties file",
                      endpoint, STORE_CONN_ID)  # fmt: skip
        return folder

    def _get_hook(self) -> SparkSubmitHook:
        hook = super()._get_hook()
        if not connection_exists(self._conn_id):
            self.log.info("no %s connection: running Spark in %s", self._conn_id, DEFAULT_MASTER)
            hook._connection["master"] = DEFAULT_MASTER
            hook._is_yarn = hook._is_yarn_cluster_mode = hook._is_kubernetes = False
            hook._should_track_driver_status = False
        return hook

    def execute(self, context: Any) -> None:
        """The job, under the run's writer lock (run_lock.py) when it writes a run's files."""
        from analytics_etl.run_lock import writing

        if not self.run_staging:
            return self._submit(context)
        with writing(self.run_staging):
            return self._submit(context)

    def _submit(self, context: Any) -> None:
        error_file = Path(self.error_file)
        error_file.unlink(missing_ok=True)  # a previous try's
        self.application_args = [*(self.application_args or []), ERROR_FILE_ARG, str(error_file)]
        self._choose_jit()
        self._ship_jobs_jar()
        private = self._object_store()
        dump, archive = self._share_classes() or (None, None)
        started = time.monotonic()
        try:
            result = super().execute(context)
            if dump is not None and dump.exists():
                os.replace(dump, archive)  # whole, from a run that succeeded
            return result
        except AirflowException as err:
            failure = read_failure(error_file)
            if failure is None:
                raise
            deterministic, message = failure
            if deterministic:
                raise AirflowFailException(message) from None
            raise AirflowException(message) from err
        finally:
            if dump is not None:
                dump.unlink(missing_ok=True)
            if private is not None:
                shutil.rmtree(private, ignore_errors=True)
            # The application's wall time (spark-submit to its exit), for the run's metrics.
            keep_xcom(SPARK_SECONDS_XCOM, round(time.monotonic() - started, 3))
