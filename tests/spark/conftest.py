"""One local SparkSession for the whole test session (starting a JVM costs seconds)."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
from pyspark import SparkContext
from pyspark.sql import SparkSession

from analytics_jobs.session import SESSION_CONF

ROOT = Path(__file__).resolve().parents[2]
JOBS_JAR = ROOT / "spark_jobs" / "jvm" / "analytics-jobs.jar"


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """With the ingest's Java functions, as the DAG runs it (built here if need be)."""
    subprocess.run([str(ROOT / "scripts" / "build_jar.sh")], check=True)
    # py4j logs "Closing down clientserver connection" at interpreter exit, after pytest has closed
    # the streams its handlers write to ("--- Logging error ---").
    logging.getLogger("py4j").setLevel(logging.WARNING)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("analytics-etl-tests")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.default.parallelism", "2")
        .config("spark.ui.enabled", "false")
        .config("spark.jars", str(JOBS_JAR))
        .config(map=SESSION_CONF)  # the jobs' own session settings
        .getOrCreate()
    )
    yield session
    session.stop()
    # Close the py4j gateway while pytest's streams are open. Left to interpreter exit, py4j's finalizer
    # thread goes on releasing JVM objects after the JVM is gone, and logs each failure through the
    # root logger, whose handler writes to a stream pytest has closed by then: a "--- Logging error
    # ---" traceback after a green summary (issue 22, item 11). A closed gateway sends nothing more.
    gateway = SparkContext._gateway
    if gateway is not None:
        gateway.shutdown()
        SparkContext._gateway = SparkContext._jvm = None
