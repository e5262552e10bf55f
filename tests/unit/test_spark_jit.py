"""The Spark application's JIT follows the size of the day's drop (docs/performance.md)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from analytics_etl import spark
from analytics_etl.spark import QUICK_JIT, SPARK_CONF, SparkJobOperator, input_bytes, quick_jit

pytestmark = pytest.mark.unit


def test_quick_jit_adds_c1_only_to_driver_and_executors_without_touching_the_shared_conf() -> None:
    before = dict(SPARK_CONF)
    conf = quick_jit(SPARK_CONF)
    assert SPARK_CONF == before
    assert (
        conf["spark.driver.extraJavaOptions"] == f"{SPARK_CONF['spark.driver.extraJavaOptions']} {QUICK_JIT}"
    )
    assert conf["spark.executor.extraJavaOptions"] == QUICK_JIT
    assert conf["spark.sql.session.timeZone"] == "UTC"


def test_input_bytes_sums_the_files_below_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.parquet").write_bytes(b"y" * 24)
    assert input_bytes(tmp_path) == 1024
    assert input_bytes(tmp_path / "missing") == 0


def test_a_gzip_file_counts_by_its_uncompressed_size(tmp_path: Path) -> None:
    text = b'{"event_id": "e1"}\n' * 50_000
    (tmp_path / "a.jsonl.gz").write_bytes(gzip.compress(text))
    assert (tmp_path / "a.jsonl.gz").stat().st_size < len(text) // 20
    (tmp_path / "b.csv").write_bytes(b"x" * 100)
    assert input_bytes(tmp_path) == len(text) + 100


def test_a_file_named_gz_that_is_not_gzip_counts_as_its_size(tmp_path: Path) -> None:
    (tmp_path / "tiny.gz").write_bytes(b"abc")  # shorter than any gzip file
    (tmp_path / "zeros.gz").write_bytes(b"\x00" * 100)  # a trailer of 0 bytes
    (tmp_path / "text.gz").write_bytes(b"not gzip, its last four bytes read as 2 GB: zzzz")
    assert input_bytes(tmp_path) == 3 + 100 + 48


@pytest.mark.parametrize(
    ("size", "threshold_mb", "quick"), [(1000, 1, True), (2**20, 1, False), (10, 0, False)]
)
def test_the_operator_chooses_c1_below_the_threshold_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, threshold_mb: int, quick: bool
) -> None:
    (tmp_path / "events.jsonl").write_bytes(b"x" * size)
    monkeypatch.setattr(spark, "quick_jit_below_bytes", lambda: threshold_mb * 2**20)
    op = SparkJobOperator(
        task_id="t", application="job.py", error_file=str(tmp_path / "e.json"), sized_by=str(tmp_path),
        conf=SPARK_CONF,
    )  # fmt: skip
    op._choose_jit()
    assert (QUICK_JIT in op.conf.get("spark.driver.extraJavaOptions", "")) is quick
    assert (QUICK_JIT in op.conf.get("spark.executor.extraJavaOptions", "")) is quick
    assert QUICK_JIT not in SPARK_CONF["spark.driver.extraJavaOptions"]


def test_the_threshold_variable_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from analytics_etl import settings

    monkeypatch.setattr(settings, "variable", lambda key, default=None: "1.5")
    assert settings.quick_jit_below_bytes() == int(1.5 * 2**20)
    monkeypatch.setattr(settings, "variable", lambda key, default=None: "lots")
    with pytest.raises(ValueError, match="etl_spark_quick_jit_below_mb must be a number of MB, got 'lots'"):
        settings.quick_jit_below_bytes()
    monkeypatch.setattr(settings, "variable", lambda key, default=None: "-1")
    with pytest.raises(ValueError, match="must not be negative"):
        settings.quick_jit_below_bytes()


def test_class_data_sharing_is_off_unless_its_folder_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spark, "spark_cds_dir", lambda: None)
    op = SparkJobOperator(
        task_id="t", application="job.py", error_file=str(tmp_path / "e.json"), conf=SPARK_CONF
    )
    assert op._share_classes() is None
    assert op.conf == SPARK_CONF


def test_the_first_run_writes_the_archive_under_its_own_name_and_later_runs_map_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cds"
    monkeypatch.setattr(spark, "spark_cds_dir", lambda: str(folder))
    first = SparkJobOperator(
        task_id="t", application="job.py", error_file=str(tmp_path / "e.json"), conf=SPARK_CONF
    )
    dump, archive = first._share_classes()
    assert archive == spark.class_archive(folder)
    assert dump.parent == folder and dump != archive and dump.suffix == ".writing"
    assert first.conf["spark.driver.extraJavaOptions"].endswith(f"-XX:ArchiveClassesAtExit={dump}")
    assert "SharedArchiveFile" not in first.conf["spark.driver.extraJavaOptions"]
    assert SPARK_CONF["spark.driver.extraJavaOptions"] in first.conf["spark.driver.extraJavaOptions"]

    archive.write_bytes(b"archive")  # what the task renames the dump to after a successful run
    later = SparkJobOperator(
        task_id="t", application="job.py", error_file=str(tmp_path / "e.json"), conf=SPARK_CONF
    )
    assert later._share_classes() is None
    assert later.conf["spark.driver.extraJavaOptions"].endswith(f"-XX:SharedArchiveFile={archive}")
    assert "ArchiveClassesAtExit" not in later.conf["spark.driver.extraJavaOptions"]


def test_the_archive_key_changes_with_the_spark_jars_and_the_java_runtime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "spark"
    (home / "jars").mkdir(parents=True)
    (home / "jars" / "spark-core_2.13-4.1.3.jar").write_bytes(b"")
    monkeypatch.setenv("SPARK_HOME", str(home))
    monkeypatch.setenv("JAVA_HOME", "/usr/lib/jvm/java-17")
    one = spark.class_archive(tmp_path)
    (home / "jars" / "spark-core_2.13-4.1.3.jar").rename(home / "jars" / "spark-core_2.13-4.1.4.jar")
    two = spark.class_archive(tmp_path)
    monkeypatch.setenv("JAVA_HOME", "/usr/lib/jvm/java-21")
    three = spark.class_archive(tmp_path)
    assert len({one, two, three}) == 3 and all(p.suffix == ".jsa" for p in (one, two, three))
