"""analytics_jobs.io: a path without a URI scheme is a local file, whatever fs.defaultFS says."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from analytics_jobs import io
from analytics_jobs.session import session_conf

pytestmark = pytest.mark.spark


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("hdfs://namenode:8020/data/events", "hdfs://namenode:8020/data/events"),
        ("s3a://bucket/key/events", "s3a://bucket/key/events"),
        ("file:///tmp/events", "file:///tmp/events"),
        ("file:/tmp/events", "file:/tmp/events"),
        ("/tmp/etl/events", "file:///tmp/etl/events"),
        ("/tmp/etl/../etl/a b/é", "file:///tmp/etl/a b/é"),  # normalised, not percent-encoded
        (Path("/tmp/etl/users.parquet"), "file:///tmp/etl/users.parquet"),
    ],
)
def test_to_uri(path: str | Path, expected: str) -> None:
    assert io.to_uri(path) == expected


def test_to_uri_resolves_a_relative_path_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert io.to_uri("out/events") == f"file://{Path(os.getcwd()).resolve()}/out/events"
    assert io.to_uri("C:/data") == f"file://{Path(os.getcwd()).resolve()}/C:/data"  # no drive letters


def test_parquet_paths_without_scheme_ignore_the_default_filesystem(
    spark: SparkSession, tmp_path: Path
) -> None:
    """With fs.defaultFS pointing at a filesystem that does not exist, a plain path still reads and
    writes the local disk."""
    path = tmp_path / "a b" / "events"
    df = spark.createDataFrame([("e1", "click")], "event_id string, event_type string")
    spark.conf.set("fs.defaultFS", "nosuchfs://cluster/")
    try:
        assert io.write_parquet(df, str(path)) == 1
        rows = io.read_parquet(spark, str(path), df.schema).collect()
    finally:
        spark.conf.unset("fs.defaultFS")
    assert [tuple(r) for r in rows] == [("e1", "click")]
    assert any(p.suffix == ".parquet" for p in path.iterdir())


def test_session_conf_changes_settings_for_one_block_and_puts_them_back(spark: SparkSession) -> None:
    key, unset = "spark.sql.adaptive.advisoryPartitionSizeInBytes", "spark.etl.test.not_set"
    before = spark.conf.get(key)
    with pytest.raises(RuntimeError), session_conf(spark, {key: "4m", unset: "x"}):
        assert (spark.conf.get(key), spark.conf.get(unset)) == ("4m", "x")
        raise RuntimeError("the query failed")
    assert spark.conf.get(key) == before
    assert spark.conf.get(unset, None) is None


def test_replace_dir_puts_the_source_in_the_place_of_the_target(spark: SparkSession, tmp_path: Path) -> None:
    source, target = tmp_path / "scratch" / "quarantine", tmp_path / "quarantine" / "date=2024-01-15"
    source.mkdir(parents=True)
    (source / "part-new.json").write_text("new\n")
    target.mkdir(parents=True)
    (target / "part-old.json").write_text("old\n")
    io.replace_dir(spark, io.to_uri(source), io.to_uri(target))
    assert sorted(p.name for p in target.iterdir()) == ["part-new.json"]
    assert (target / "part-new.json").read_text() == "new\n"
    assert not source.exists()


def test_replace_dir_creates_the_target_s_parent(spark: SparkSession, tmp_path: Path) -> None:
    source, target = tmp_path / "scratch", tmp_path / "a" / "b" / "date=2024-01-15"
    source.mkdir()
    (source / "part.json").write_text("x\n")
    io.replace_dir(spark, io.to_uri(source), io.to_uri(target))
    assert (target / "part.json").read_text() == "x\n"


def test_replace_dir_without_a_source_keeps_the_target(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    (tmp_path / "target" / "part-old.json").write_text("old\n")
    with pytest.raises(FileNotFoundError, match=r"could not move .*missing to .*target"):
        io.replace_dir(spark, io.to_uri(tmp_path / "missing"), io.to_uri(tmp_path / "target"))
    assert (tmp_path / "target" / "part-old.json").read_text() == "old\n"


def test_remove_dir_removes_a_tree_and_accepts_a_missing_one(spark: SparkSession, tmp_path: Path) -> None:
    (tmp_path / "scratch" / "judged").mkdir(parents=True)
    (tmp_path / "scratch" / "judged" / "part.parquet").write_bytes(b"x")
    io.remove_dir(spark, io.to_uri(tmp_path / "scratch"))
    io.remove_dir(spark, io.to_uri(tmp_path / "scratch"))
    assert not (tmp_path / "scratch").exists()


def test_same_filesystem_compares_scheme_and_authority(spark: SparkSession, tmp_path: Path) -> None:
    local = io.to_uri(tmp_path / "a")
    assert io.same_filesystem(spark, local, io.to_uri(tmp_path / "b"))
    # An FTP filesystem connects on its first operation only: no server is needed to tell it apart.
    assert not io.same_filesystem(spark, local, "ftp://127.0.0.1:1/scratch")


class _AnotherMover:
    """The filesystem of `replace_dir`, with another mover of the same target (a second run of the
    date) putting its own directory in place right after `step` (`delete` or `mkdirs`), once."""

    def __init__(self, fs, target: Path, step: str) -> None:
        self.fs, self.target, self.step, self.done = fs, target, step, False

    def __getattr__(self, name: str):
        method = getattr(self.fs, name)
        if name != self.step:
            return method

        def then_the_other(*args):
            result = method(*args)
            if not self.done:
                self.done = True
                self.target.mkdir(parents=True, exist_ok=True)
                (self.target / "part-other.json").write_text("other\n")
            return result

        return then_the_other


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("delete", ["part-new.json"]),  # back before the check: deleted again, this one's goes in
        ("mkdirs", ["part-other.json"]),  # back just before the rename: the other's stays, whole
    ],
)
def test_two_movers_of_one_target_leave_one_whole_directory(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, expected: list[str]
) -> None:
    source, target = tmp_path / "scratch" / "quarantine", tmp_path / "date=2024-01-15"
    source.mkdir(parents=True)
    (source / "part-new.json").write_text("new\n")
    real = io._filesystem
    monkeypatch.setattr(io, "_filesystem", lambda spark, path: _AnotherMover(real(spark, path), target, step))
    io.replace_dir(spark, io.to_uri(source), io.to_uri(target))
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith(".")) == expected
