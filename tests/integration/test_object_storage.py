"""storage.root_path on the real S3 store (the session's S3Proxy): the Airflow side writes, lists,
reads and deletes under an `s3://` root through ObjectStoragePath and `aws_default`; the test checks
with its own client what is really in the bucket."""

from __future__ import annotations

import os
import time

import pytest

from analytics_etl.storage import remove_tree, root_path

pytestmark = pytest.mark.integration


def test_write_list_read_and_delete_a_prefix_under_an_s3_root(s3_server, s3_root):
    root = root_path(s3_root)
    prefix = s3_root.removeprefix(f"s3://{s3_server.bucket}/")
    run = root / "staging" / "date=2024-01-15" / "run=manual_1"
    (run / "ingest_report.json").write_text('{"rows_read": 84}')
    payload = os.urandom(6 * 2**20 + 17)  # more than one multipart part of s3fs (5 MiB)
    with (run / "users.parquet").open("wb") as f:
        f.write(payload)
    (root / "staging" / "date=2024-01-16" / "run=manual_2" / "ingest_report.json").write_text("{}")

    assert s3_server.keys(prefix) == [
        f"{prefix}/staging/date=2024-01-15/run=manual_1/ingest_report.json",
        f"{prefix}/staging/date=2024-01-15/run=manual_1/users.parquet",
        f"{prefix}/staging/date=2024-01-16/run=manual_2/ingest_report.json",
    ]
    assert sorted(p.name for p in (root / "staging").iterdir()) == ["date=2024-01-15", "date=2024-01-16"]
    assert sorted(p.name for p in run.iterdir()) == ["ingest_report.json", "users.parquet"]
    assert (run / "ingest_report.json").read_text() == '{"rows_read": 84}'
    assert (run / "users.parquet").read_bytes() == payload
    assert (run / "users.parquet").stat().st_size == len(payload)
    assert (run / "ingest_report.json").exists() and not (run / "missing.json").exists()

    (run / "ingest_report.json").unlink()
    assert s3_server.keys(f"{prefix}/staging/date=2024-01-15/") == [
        f"{prefix}/staging/date=2024-01-15/run=manual_1/users.parquet"
    ]
    started = time.monotonic()
    remove_tree(root / "staging" / "date=2024-01-15")  # a whole prefix
    assert time.monotonic() - started < 9  # no folder marker deleted before its objects (10 s each)
    assert s3_server.keys(prefix) == [f"{prefix}/staging/date=2024-01-16/run=manual_2/ingest_report.json"]
    assert not (root / "staging" / "date=2024-01-15").exists()
    left = s3_server.client().list_objects_v2(
        Bucket=s3_server.bucket, Prefix=f"{prefix}/staging/date=2024-01-15"
    )
    assert left["KeyCount"] == 0, left.get("Contents")  # no folder marker left either
    remove_tree(root / "staging" / "date=2024-01-15")  # gone already: nothing to do
    remove_tree(root / "staging" / "date=2024-01-16" / "run=manual_2" / "ingest_report.json")  # one object
    assert s3_server.keys(prefix) == []


def test_a_wrong_secret_is_refused_by_the_store(s3_server, s3_root, monkeypatch):
    import json

    conn = json.loads(s3_server.connection_json())
    conn["password"] += "x"
    # Another connection id: Airflow keeps one store per connection id for the process.
    monkeypatch.setenv("AIRFLOW_CONN_AWS_WRONG_SECRET", json.dumps(conn))
    with pytest.raises(PermissionError):
        (root_path(s3_root, conn_id="aws_wrong_secret") / "x.txt").write_text("refused")
    assert s3_server.keys(s3_root.removeprefix(f"s3://{s3_server.bucket}/")) == []


def test_a_local_root_keeps_working_as_before(tmp_path):
    root = root_path(str(tmp_path))
    (root / "staging" / "run").mkdir(parents=True)
    (root / "staging" / "run" / "a.json").write_text("{}")
    (root / "b.json").write_text("{}")
    assert [p.name for p in (root / "staging").iterdir()] == ["run"]
    remove_tree(root / "staging")
    remove_tree(root / "b.json")
    remove_tree(root / "missing")
    assert list(root.iterdir()) == []


def test_the_size_of_a_drop_on_the_store_counts_gzip_files_uncompressed(s3_server, s3_root):
    """The Spark task's JIT choice (spark.input_bytes) lists the drop on the store and reads a gzip
    file's trailer there, as it does on a local disk."""
    import gzip

    from analytics_etl.spark import input_bytes

    prefix = s3_root.removeprefix(f"s3://{s3_server.bucket}/")
    text = os.urandom(3000).hex().encode()  # 6,000 bytes that gzip cannot shrink to nothing
    plain = b'{"event_id": "e1"}\n' * 10
    client = s3_server.client()
    client.put_object(
        Bucket=s3_server.bucket, Key=f"{prefix}/user_events/D/b.csv.gz", Body=gzip.compress(text * 5)
    )
    client.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/user_events/D/a.jsonl", Body=plain)
    client.put_object(Bucket=s3_server.bucket, Key=f"{prefix}/user_events/D/_SUCCESS", Body=b"")
    assert input_bytes(f"{s3_root}/user_events/D") == len(text) * 5 + len(plain)
    assert input_bytes(f"{s3_root}/user_events/missing") == 0


def test_the_metrics_read_the_gates_result_on_the_store(s3_server, s3_root):
    """The run's metrics callback counts the expectations of a validation result kept on the store."""
    import json

    from analytics_etl.metrics.callbacks import expectation_counts

    result = f"{s3_root}/validation/date=2024-01-15/run=manual_1/checkpoint_result.json"
    stats = [{"evaluated_expectations": 12, "unsuccessful_expectations": 1}, {"evaluated_expectations": 9}]
    document = {"validation_results": [{"statistics": s} for s in stats]}
    key = result.removeprefix(f"s3://{s3_server.bucket}/")
    s3_server.client().put_object(Bucket=s3_server.bucket, Key=key, Body=json.dumps(document).encode())
    assert expectation_counts(result) == (21, 1)
    assert expectation_counts(f"{s3_root}/validation/missing.json") is None
