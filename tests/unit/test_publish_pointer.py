"""The quarantine's publish pointer (publish.py) as every reader parses it: what is a pointer, what is not,
and the pointer with new sizes and nothing else changed. The store side is tested on the real S3 server
in tests/integration/test_publish.py, test_store_housekeeping.py and test_ui_store.py."""

from __future__ import annotations

import json

import pytest

from analytics_etl.publish import Published, PublishedFile, PublishError

pytestmark = pytest.mark.unit

K = "manual__2024-01-16T09_30_00_00_00"


def test_a_pointer_names_its_run_and_files_and_new_sizes_change_nothing_else():
    text = json.dumps({"run": K, "files": [{"name": f"run={K}/part-00000.json", "size": 90}]})
    pointer = Published.parse(text, "here")
    assert (pointer.run, pointer.files) == (K, (PublishedFile(f"run={K}/part-00000.json", 90),))
    again = pointer.with_sizes({f"run={K}/part-00000.json": 61}).as_json()
    assert again == {"run": K, "files": [{"name": f"run={K}/part-00000.json", "size": 61}]}
    assert Published.parse(json.dumps(again), "here").files[0].size == 61


@pytest.mark.parametrize(
    "text",
    [
        "not json", "[]", json.dumps({"files": []}), json.dumps({"run": K}),
        json.dumps({"run": "../x", "files": []}), json.dumps({"run": 7, "files": []}),
        json.dumps({"run": K, "files": [{"name": "../../secret.txt", "size": 1}]}),
        json.dumps({"run": K, "files": [{"name": f"run={K}/../../secret.txt", "size": 1}]}),
        json.dumps({"run": K, "files": [{"name": f"/run={K}/part-0.json", "size": 1}]}),
        json.dumps({"run": K, "files": [{"name": "run=other/part-0.json", "size": 1}]}),
        json.dumps({"run": K, "files": [{"name": f"run={K}/part-0.json", "size": "big"}]}),
    ],
)  # fmt: skip
def test_anything_else_is_refused_naming_where_it_was_read(text):
    with pytest.raises(PublishError, match="s3://etl/q/_PUBLISHED.json"):
        Published.parse(text, "s3://etl/q/_PUBLISHED.json")
