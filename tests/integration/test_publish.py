"""publish.py: a date's quarantine published by its pointer on the real S3 store (the session's
S3Proxy, checked with the test's own client), and read in today's layout on a local disk."""

from __future__ import annotations

import json

import pytest

from analytics_etl.publish import (
    POINTER,
    PublishError,
    publish_quarantine,
    published_quarantine_files,
    read_pointer,
)
from analytics_etl.storage import root_path

pytestmark = pytest.mark.integration


def _write_run(folder, key: str, parts: dict[str, str], *, complete: bool = True) -> None:
    for name, text in parts.items():
        (folder / f"run={key}" / name).write_text(text)
    if complete:
        (folder / f"run={key}" / "_SUCCESS").write_text("")


def test_a_run_is_published_by_its_pointer_and_the_other_runs_go(s3_server, s3_root):
    prefix = s3_root.removeprefix(f"s3://{s3_server.bucket}/")
    date = f"{s3_root}/quarantine/user_events/date=2024-01-15"
    folder = root_path(date)
    assert published_quarantine_files(date) == [] and read_pointer(date) is None  # nothing yet

    _write_run(folder, "manual_1", {"part-00000.json": '{"reason": "malformed"}\n'})
    publish_quarantine(folder, "manual_1")
    # A killed run left a prefix without _SUCCESS; the next run writes its own.
    _write_run(folder, "killed", {"part-00000.json": '{"reason": "duplicate"}\n'}, complete=False)
    _write_run(folder, "manual_2", {"part-00000.json": "a\nb\n", "part-00001.json": "c\n", ".x.crc": "y"})
    # Not published yet: readers still see run manual_1 only, whatever else is in the folder.
    assert [p.name for p in published_quarantine_files(date)] == ["part-00000.json"]
    assert published_quarantine_files(date)[0].read_text() == '{"reason": "malformed"}\n'

    published = publish_quarantine(date, "manual_2")

    base = f"{prefix}/quarantine/user_events/date=2024-01-15"
    assert s3_server.keys(base + "/") == [
        f"{base}/{POINTER}",
        f"{base}/run=manual_2/.x.crc",
        f"{base}/run=manual_2/_SUCCESS",
        f"{base}/run=manual_2/part-00000.json",
        f"{base}/run=manual_2/part-00001.json",
    ]
    body = s3_server.client().get_object(Bucket=s3_server.bucket, Key=f"{base}/{POINTER}")["Body"].read()
    assert json.loads(body) == {
        "run": "manual_2",
        "files": [
            {"name": "run=manual_2/part-00000.json", "size": 4},
            {"name": "run=manual_2/part-00001.json", "size": 2},
        ],
    }
    assert published == read_pointer(date)
    files = published_quarantine_files(date)
    assert [f.read_text() for f in files] == ["a\nb\n", "c\n"]


def test_an_incomplete_run_is_not_published(s3_server, s3_root):
    folder = root_path(f"{s3_root}/quarantine/user_events/date=2024-01-15")
    _write_run(folder, "done", {"part-0.json": "x\n"})
    publish_quarantine(folder, "done")
    _write_run(folder, "half", {"part-0.json": "y\n"}, complete=False)
    with pytest.raises(PublishError, match="no _SUCCESS"):
        publish_quarantine(folder, "half")
    assert read_pointer(folder).run == "done"  # the published run stays, nothing was deleted
    assert (folder / "run=half" / "part-0.json").exists()


def test_a_pointer_naming_files_outside_its_run_is_refused(s3_server, s3_root):
    folder = root_path(f"{s3_root}/quarantine/user_events/date=2024-01-15")
    for name in ("run=other/part-0.json", "run=a/../../../secret.json", "run=a/sub/part-0.json"):
        (folder / POINTER).write_text(json.dumps({"run": "a", "files": [{"name": name, "size": 1}]}))
        with pytest.raises(PublishError, match="outside run=a"):
            published_quarantine_files(folder)
    (folder / POINTER).write_text("not json")
    with pytest.raises(PublishError, match="not a quarantine pointer"):
        read_pointer(folder)


def test_a_local_date_keeps_todays_layout(tmp_path):
    folder = tmp_path / "quarantine" / "user_events" / "date=2024-01-15"
    assert published_quarantine_files(folder) == []
    folder.mkdir(parents=True)
    for name in ("part-00001.json", "part-00000.json", "_SUCCESS", ".part-00000.json.crc"):
        (folder / name).write_text("x\n")
    assert published_quarantine_files(str(folder)) == [folder / "part-00000.json", folder / "part-00001.json"]
    assert read_pointer(folder) is None
    with pytest.raises(PublishError, match="local disk"):
        publish_quarantine(folder, "manual_1")
