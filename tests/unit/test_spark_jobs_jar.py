"""Every Spark task ships the ingest's Java functions when they are built (spark_jobs/jvm)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics_etl import spark
from analytics_etl.spark import SparkJobOperator

pytestmark = pytest.mark.unit


def _operator(tmp_path: Path, jars: str | None = None) -> SparkJobOperator:
    return SparkJobOperator(task_id="t", application="job.py", error_file=str(tmp_path / "e.json"), jars=jars)


def test_the_built_jar_goes_with_the_job_beside_other_jars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jar = tmp_path / "analytics-jobs.jar"
    jar.write_bytes(b"PK")
    monkeypatch.setattr(spark, "JOBS_JAR", jar)
    op = _operator(tmp_path)
    op._ship_jobs_jar()
    assert op.jars == str(jar)
    op = _operator(tmp_path, jars="/opt/other.jar")
    op._ship_jobs_jar()
    assert op.jars == f"/opt/other.jar,{jar}"


def test_without_the_jar_the_job_runs_as_before_and_the_log_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []

    class Log:
        def warning(self, message: str, *args: object) -> None:
            warnings.append(message % args)

    monkeypatch.setattr(SparkJobOperator, "log", property(lambda self: Log()))
    monkeypatch.setattr(spark, "JOBS_JAR", tmp_path / "missing.jar")
    op = _operator(tmp_path, jars="/opt/other.jar")
    op._ship_jobs_jar()
    assert op.jars == "/opt/other.jar"
    assert warnings == [
        f"{tmp_path / 'missing.jar'} is not built (scripts/build_jar.sh): the ingest reads JSON slower"
    ]


def test_the_default_jar_path_is_where_build_jar_writes_it() -> None:
    script = (spark.SPARK_JOBS.parent / "scripts" / "build_jar.sh").read_text()
    assert spark.JOBS_JAR == spark.SPARK_JOBS / "jvm" / "analytics-jobs.jar"
    assert 'jar="$REPO_ROOT/spark_jobs/jvm/analytics-jobs.jar"' in script
