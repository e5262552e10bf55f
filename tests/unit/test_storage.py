"""plugins/analytics_etl/storage.py without a store: which roots are object-store URLs, how Spark
names them, and the S3A settings of an `aws_default` connection."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from analytics_etl.storage import STORE_CONN_ID, is_object_store, root_path, s3a_settings, spark_url

pytestmark = pytest.mark.unit

H = "spark.hadoop.fs.s3a."


@pytest.mark.parametrize(
    ("root", "expected"),
    [("s3://bucket/prefix", True), ("S3A://bucket", True), ("/data/etl", False), ("relative/dir", False),
     ("file:///data/etl", False), ("hdfs://nn/etl", False), ("gs://bucket/x", False)],
)  # fmt: skip
def test_only_s3_and_s3a_urls_are_object_store_roots(root: str, expected: bool) -> None:
    assert is_object_store(root) is expected


def test_a_local_root_stays_a_local_path(tmp_path: Path) -> None:
    assert root_path(str(tmp_path)) == tmp_path and isinstance(root_path(str(tmp_path)), Path)
    assert root_path(f"file://{tmp_path}") == tmp_path
    assert root_path("relative/dir") == Path("relative/dir")


def test_an_object_store_root_is_an_object_storage_path_on_the_connection() -> None:
    # Not aws_default: Airflow keeps the filesystem of a connection id for the process, and the
    # integration tests point aws_default at their store.
    path = root_path("s3a://platform/etl/", conn_id="aws_unit")
    assert (path.protocol, path.bucket, path.key, path.conn_id) == ("s3", "platform", "etl", "aws_unit")
    assert inspect.signature(root_path).parameters["conn_id"].default == STORE_CONN_ID == "aws_default"
    child = path / "staging" / "date=2024-01-15"
    assert (child.bucket, child.key, child.conn_id) == ("platform", "etl/staging/date=2024-01-15", "aws_unit")


@pytest.mark.parametrize(
    "bad", ["s3:///no-bucket", "s3://user@bucket/x", "s3://bucket:9000/x", "s3://b/x?y=1"]
)
def test_a_malformed_store_url_is_refused_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match="is not an object-store root"):
        root_path(bad)


def test_spark_names_store_paths_with_s3a_and_local_paths_unchanged(tmp_path: Path) -> None:
    assert spark_url("s3://platform/etl/curated/") == "s3a://platform/etl/curated"
    assert (
        spark_url(root_path("s3://platform/etl", conn_id="aws_unit") / "events")
        == "s3a://platform/etl/events"
    )
    assert spark_url(tmp_path / "events") == str(tmp_path / "events")
    assert spark_url("/data/etl") == "/data/etl"


def test_s3a_settings_keep_the_keys_apart_from_the_public_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "AKIDEXAMPLE", "password": "s3cr3t/with+chars",
        "extra": {"endpoint_url": "http://127.0.0.1:19300", "region_name": "eu-west-1"},
    }))  # fmt: skip
    public, secret = s3a_settings()
    assert secret == {f"{H}access.key": "AKIDEXAMPLE", f"{H}secret.key": "s3cr3t/with+chars"}
    assert public == {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        f"{H}endpoint.region": "eu-west-1",
        f"{H}endpoint": "http://127.0.0.1:19300",
        f"{H}path.style.access": "true",
        f"{H}connection.ssl.enabled": "false",
        f"{H}aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
    }
    assert "s3cr3t" not in json.dumps(public)


def test_session_credentials_use_s3a_temporary_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": "ASIAEXAMPLE", "password": "secret",
        "extra": {"aws_session_token": "token-1"},
    }))  # fmt: skip
    public, secret = s3a_settings()
    assert secret[f"{H}session.token"] == "token-1"
    assert (
        public[f"{H}aws.credentials.provider"] == "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
    )
    assert f"{H}endpoint" not in public and f"{H}path.style.access" not in public  # AWS itself


def test_without_the_connection_s3a_keeps_its_own_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_AWS_DEFAULT", raising=False)
    assert s3a_settings("no_such_connection") == ({}, {})
