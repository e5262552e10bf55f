"""SparkJobOperator with an object-store path among its arguments: the S3A connector on the class
path, the store's public settings on the command line, its keys only in a 0600 file."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowException

from analytics_etl import spark
from analytics_etl.spark import SPARK_CONF, SparkJobOperator, class_archive, write_properties

pytestmark = pytest.mark.unit

SECRET = "s3cr3t+/key"


@pytest.fixture
def connector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """A Maven repository holding the jars of a lock file like scripts/s3a_connector's."""
    repo, lock = tmp_path / "m2", tmp_path / "dependencies.lock"
    rels = [
        "org/apache/hadoop/hadoop-aws/3.4.2/hadoop-aws-3.4.2.jar",
        "software/amazon/awssdk/bundle/2.29.52/bundle-2.29.52.jar",
    ]
    lock.write_text("# header\n" + "".join(f"{'0' * 64}  {rel}\n" for rel in rels))
    for rel in rels:
        (repo / rel).parent.mkdir(parents=True)
        (repo / rel).write_bytes(b"PK")
    monkeypatch.setattr(spark, "S3A_LOCK", lock)
    monkeypatch.setenv("ETL_MAVEN_REPO", str(repo))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "AKIDLOCAL", "password": SECRET,
        "extra": {"endpoint_url": "http://127.0.0.1:19300"},
    }))  # fmt: skip
    return [repo / rel for rel in rels]


def _operator(tmp_path: Path, *args: str) -> SparkJobOperator:
    return SparkJobOperator(task_id="t", application="job.py", error_file=str(tmp_path / "e.json"),
                            application_args=list(args), conf=SPARK_CONF)  # fmt: skip


def test_a_job_on_local_paths_is_left_as_it_was(tmp_path: Path, connector) -> None:
    op = _operator(tmp_path, "--events-out", str(tmp_path / "events"), "--date", "2024-01-15")
    assert op._object_store() is None
    assert op.conf == SPARK_CONF and op.properties_file is None


def test_a_job_on_the_store_gets_the_connector_and_its_keys_only_in_a_private_file(
    tmp_path: Path, connector
) -> None:
    op = _operator(tmp_path, "--events-out", "s3a://platform/etl/staging/events", "--date", "2024-01-15")
    folder = op._object_store()
    try:
        class_path = ":".join(map(str, connector))
        assert (
            op.conf["spark.driver.extraClassPath"] == op.conf["spark.executor.extraClassPath"] == class_path
        )
        assert op.conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:19300"
        assert (
            op.conf["spark.sql.session.timeZone"] == "UTC" and "spark.driver.extraClassPath" not in SPARK_CONF
        )
        properties = Path(op.properties_file)
        assert properties.parent == folder and stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(properties.stat().st_mode) == 0o600
        assert properties.read_text() == (
            f"spark.hadoop.fs.s3a.access.key=AKIDLOCAL\nspark.hadoop.fs.s3a.secret.key={SECRET}\n"
        )
        command = op._get_hook()._build_spark_submit_command("job.py")
        assert command[command.index("--properties-file") + 1] == str(properties)
        assert not any(SECRET in arg or "AKIDLOCAL" in arg for arg in command)
    finally:
        import shutil

        shutil.rmtree(folder)


def test_without_the_resolved_connector_the_task_says_what_to_run(tmp_path: Path, connector) -> None:
    connector[1].unlink()
    op = _operator(tmp_path, "--drop-folder", "s3://drops/user_events/2024-01-15")
    with pytest.raises(
        AirflowException, match=r"S3A connector is not resolved .*bundle-2.29.52.jar.*scripts/s3.sh resolve"
    ):
        op._object_store()


def test_properties_are_escaped_and_a_line_break_refused(tmp_path: Path) -> None:
    write_properties(tmp_path / "a.properties", {"k": r"a\b=c"}, head="x=1\n")
    assert (tmp_path / "a.properties").read_text() == "x=1\nk=a\\\\b=c\n"
    with pytest.raises(ValueError, match="line break"):
        write_properties(tmp_path / "b.properties", {"k": "a\nspark.master=evil"})
    assert not (tmp_path / "b.properties").exists()


def test_a_class_path_has_a_class_archive_of_its_own(tmp_path: Path) -> None:
    plain = class_archive(tmp_path)
    assert class_archive(tmp_path, "") == plain
    assert class_archive(tmp_path, "/m2/hadoop-aws.jar") not in (
        plain,
        class_archive(tmp_path, "/m2/other.jar"),
    )
