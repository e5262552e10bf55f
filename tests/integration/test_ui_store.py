"""The UI's reads with `etl_data_dir` on the real S3 store: data docs pages and quarantine samples come
from the store, and nothing outside the root's prefix in its bucket is ever served, whatever the
request or the run record says (traversal, encoded text, absolute keys, other prefixes, other buckets)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from analytics_etl.ui import guard, routes, store

pytestmark = pytest.mark.integration

D = dt.date(2024, 1, 15)
K0, K1 = "scheduled__2024-01-16T02_00_00_00_00", "manual__2024-01-16T09_30_00_00_00"
Q = "quarantine/user_events/date=2024-01-15"


@pytest.fixture
def site(s3_server, s3_root, monkeypatch):
    """The root with a data docs site and a published quarantine; secrets beside it and in another bucket."""
    client, bucket = s3_server.client(), s3_server.bucket
    prefix = s3_root.removeprefix(f"s3://{bucket}/")

    def put(key: str, body: str) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=body.encode())

    put(f"{prefix}/data_docs/index.html", "<html>index</html>")
    put(f"{prefix}/data_docs/static/style.css", "css")
    put(f"{prefix}/data_docs/.hidden", "hidden")
    put(f"{prefix}/data_docs/%2F", "a key really named %2F")
    put(f"{prefix}/data_docs/validations/daily_user_stats/2024-01-15_{K1}/v.html", "<html>page</html>")
    put(f"{prefix}/validation/date=2024-01-15/run={K1}/result.json", json.dumps({"success": True}))
    put(f"{prefix}/secret.txt", "inside the root but outside the site")
    put(f"{prefix}-sibling/data_docs/index.html", "another deployment's site")
    rows1 = [{"reason": "malformed", "line": 3}, {"reason": "duplicate", "line": 7}]
    put(f"{prefix}/{Q}/run={K1}/part-00000.json", "".join(json.dumps(r) + "\n" for r in rows1))
    put(f"{prefix}/{Q}/run={K1}/part-00001.json", json.dumps({"reason": "out_of_window", "line": 1}) + "\n")
    put(f"{prefix}/{Q}/run={K0}/part-00000.json", json.dumps({"reason": "killed run's", "line": 1}) + "\n")
    files = [{"name": f"run={K1}/part-0000{i}.json", "size": 0} for i in (0, 1)]
    put(f"{prefix}/{Q}/_PUBLISHED.json", json.dumps({"run": K1, "files": files}))
    if "other-bucket" not in [b["Name"] for b in client.list_buckets()["Buckets"]]:
        client.create_bucket(Bucket="other-bucket")
    client.put_object(Bucket="other-bucket", Key=f"{prefix}/data_docs/index.html", Body=b"other bucket")
    monkeypatch.setenv("AIRFLOW_VAR_ETL_DATA_DIR", s3_root)
    return store.data_dir()


def body(response) -> str:
    return response.body.decode()


def test_data_docs_pages_are_served_from_the_store(site):
    response = routes.data_docs("index.html")  # relative to the site, as the app's URLs are
    assert response.status_code == 200 and body(response) == "<html>index</html>"
    assert response.media_type == "text/html"
    assert (
        body(routes.data_docs(f"validations/daily_user_stats/2024-01-15_{K1}/v.html")) == "<html>page</html>"
    )
    assert body(routes.data_docs("%2F")) == "a key really named %2F"  # literal text, decoded once


@pytest.mark.parametrize(
    "attempt",
    [
        "../secret.txt", "static/../../secret.txt", "../../../other-bucket/data_docs/index.html",
        "%2e%2e/secret.txt", "static/%2e%2e/%2e%2e/secret.txt", "..%2Fsecret.txt", "%2E%2E%2Fsecret.txt",
        "/etc/passwd", "/index.html", "static//style.css", "./index.html", "..\\secret.txt",
        "index.html\x00.png", ".hidden", "", "static", "static/", "missing.html",
        "s3://other-bucket/data_docs/index.html", "s3:/other-bucket/index.html", "../../t-sibling/index.html",
    ],
)  # fmt: skip
def test_traversal_encoded_absolute_and_other_bucket_requests_are_404(site, attempt):
    assert routes.data_docs(attempt).status_code == 404


def test_a_record_naming_anything_outside_the_root_reads_nothing(site, s3_server, s3_root):
    bucket, prefix = s3_server.bucket, s3_root.removeprefix(f"s3://{s3_server.bucket}/")
    good = f"{s3_root}/validation/date=2024-01-15/run={K1}/result.json"
    assert store.validation_document(site, {"validation_result": good}) == {"success": True}
    s3a = good.replace("s3://", "s3a://")
    assert store.validation_document(site, {"validation_result": s3a}) == {"success": True}
    as_airflow_writes_it = str(site / "validation" / "date=2024-01-15" / f"run={K1}" / "result.json")
    assert as_airflow_writes_it.startswith("s3://aws_default@")
    assert store.validation_document(site, {"validation_result": as_airflow_writes_it}) == {"success": True}
    for bad in [
        f"s3://other-bucket/{prefix}/data_docs/index.html",
        f"s3://{bucket}/{prefix}-sibling/data_docs/index.html",
        f"s3://{bucket}/{prefix}/data_docs/../../{prefix}-sibling/data_docs/index.html",
        f"s3://someone@{bucket}/{prefix}/secret.txt",
        f"s3://aws_default:pw@{bucket}/{prefix}/secret.txt",
        f"s3://{bucket}:9000/{prefix}/secret.txt",
        f"http://{bucket}/{prefix}/secret.txt",
        "/etc/passwd",
        f"s3://{bucket}/{prefix}",  # the root itself
    ]:
        with pytest.raises(guard.Refused):
            guard.inside(site, bad)
        assert store.validation_document(site, {"validation_result": bad}) is None, bad
    page = f"{s3_root}/data_docs/validations/daily_user_stats/2024-01-15_{K1}/v.html"
    assert store.data_docs_relative(site, page) == f"validations/daily_user_stats/2024-01-15_{K1}/v.html"
    assert store.data_docs_relative(site, f"{s3_root}/secret.txt") is None  # inside the root, not the site


def test_quarantine_samples_come_from_the_files_the_pointer_names(site, s3_server, s3_root):
    folder = store.quarantine_folder(site, {"date": D, "run_id": "scheduled__2024-01-16T02:00:00+00:00"})
    assert store.display(folder) == f"{s3_root}/{Q}" and folder.is_dir()
    rows = list(store.quarantine_rows(site, folder))
    assert rows == [
        {"reason": "malformed", "line": 3},
        {"reason": "duplicate", "line": 7},
        {"reason": "out_of_window", "line": 1},
    ]  # fmt: skip  (never the killed run's)

    client, bucket = s3_server.client(), s3_server.bucket
    key = f"{s3_root.removeprefix(f's3://{bucket}/')}/{Q}/_PUBLISHED.json"
    for forged in [
        "../../secret.txt",
        f"run={K1}/../../../secret.txt",
        "/secret.txt",
        f"run={K0}/part-00000.json",
    ]:
        client.put_object(
            Bucket=bucket,
            Key=key,
            Body=json.dumps({"run": K1, "files": [{"name": forged, "size": 1}]}).encode(),
        )
        assert list(store.quarantine_rows(site, folder)) == [], forged
    client.delete_object(Bucket=bucket, Key=key)
    assert list(store.quarantine_rows(site, folder)) == []  # nothing published: nothing shown
