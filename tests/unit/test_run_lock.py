"""The advisory lock keys (run_lock.py): one 64-bit key per run location, the same in every process and
for every spelling of it; the locks themselves are tested on a real PostgreSQL in
tests/integration/test_run_lock.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics_etl.run_lock import RUN_NAMESPACE, SITE_NAMESPACE, location, lock_key

pytestmark = pytest.mark.unit

RUN = "s3://etl/data/staging/date=2024-01-15/run=manual_1"


def test_every_spelling_of_a_store_location_is_one_key():
    key = lock_key(RUN_NAMESPACE, RUN)
    assert lock_key(RUN_NAMESPACE, RUN.replace("s3://", "s3a://")) == key
    assert lock_key(RUN_NAMESPACE, RUN + "/") == key
    assert lock_key(RUN_NAMESPACE, RUN.replace("s3://", "s3://aws_default@")) == key  # str(ObjectStoragePath)
    assert location(RUN) == "s3a://etl/data/staging/date=2024-01-15/run=manual_1"
    assert -(2**63) <= key < 2**63


def test_local_paths_are_keyed_by_their_absolute_form(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert lock_key(RUN_NAMESPACE, "data/staging/run=1") == lock_key(
        RUN_NAMESPACE, tmp_path / "data/staging/run=1"
    )
    assert lock_key(RUN_NAMESPACE, tmp_path / "data/x/../staging/run=1") == lock_key(
        RUN_NAMESPACE, tmp_path / "data/staging/run=1"
    )


def test_other_runs_buckets_and_namespaces_get_other_keys():
    keys = {
        lock_key(RUN_NAMESPACE, RUN),
        lock_key(RUN_NAMESPACE, RUN.replace("manual_1", "manual_2")),
        lock_key(RUN_NAMESPACE, RUN.replace("s3://etl/", "s3://other/")),
        lock_key(RUN_NAMESPACE, "/etl/data/staging/date=2024-01-15/run=manual_1"),
        lock_key(SITE_NAMESPACE, RUN),
    }
    assert len(keys) == 5


def test_the_key_is_the_same_in_another_process():
    """No per-process hash seed: Python's hash() of a str would differ between the writer and the eraser."""
    code = "from analytics_etl.run_lock import lock_key, RUN_NAMESPACE; import sys; print(lock_key(RUN_NAMESPACE, sys.argv[1]))"
    plugins = str(Path(__file__).resolve().parents[2] / "plugins")
    env = {**os.environ, "PYTHONPATH": plugins, "PYTHONHASHSEED": "random"}
    out = subprocess.run(
        [sys.executable, "-c", code, RUN], env=env, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == lock_key(RUN_NAMESPACE, RUN)


def test_a_path_on_the_store_and_its_text_share_the_key(monkeypatch):
    """The erasure locks `root_path(...) / ...` (an ObjectStoragePath); a task may hand its text."""
    import json

    from analytics_etl.storage import root_path

    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps({"conn_type": "aws", "extra": {"endpoint_url": "http://127.0.0.1:9"}}),
    )
    path = root_path("s3://etl/data") / "staging" / "date=2024-01-15" / "run=manual_1"
    assert str(path).startswith("s3://aws_default@etl/")
    assert lock_key(RUN_NAMESPACE, path) == lock_key(RUN_NAMESPACE, str(path)) == lock_key(RUN_NAMESPACE, RUN)
