"""The Spark application's JIT follows the size of the day's drop (docs/performance.md)."""

from __future__ import annotations

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
    (tmp_path / "sub" / "b.csv.gz").write_bytes(b"y" * 24)
    assert input_bytes(tmp_path) == 1024
    assert input_bytes(tmp_path / "missing") == 0


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

    monkeypatch.setattr(settings, "_variable", lambda key, default=None: "1.5")
    assert settings.quick_jit_below_bytes() == int(1.5 * 2**20)
    monkeypatch.setattr(settings, "_variable", lambda key, default=None: "lots")
    with pytest.raises(ValueError, match="etl_spark_quick_jit_below_mb must be a number of MB, got 'lots'"):
        settings.quick_jit_below_bytes()
    monkeypatch.setattr(settings, "_variable", lambda key, default=None: "-1")
    with pytest.raises(ValueError, match="must not be negative"):
        settings.quick_jit_below_bytes()
