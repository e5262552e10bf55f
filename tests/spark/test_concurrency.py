"""analytics_jobs.concurrency: steps side by side return in order; a failing step cancels the others."""

from __future__ import annotations

import time

import pytest
from pyspark.sql import SparkSession

from analytics_jobs.concurrency import run_side_by_side

pytestmark = pytest.mark.spark


def test_the_results_come_back_in_the_order_of_the_steps(spark: SparkSession) -> None:
    results = run_side_by_side(
        spark,
        lambda: spark.range(10).count(),
        lambda: spark.range(3).selectExpr("sum(id) AS s").first()["s"],
        lambda: "no Spark at all",
    )
    assert results == [10, 3, "no Spark at all"]


def test_a_failing_step_cancels_the_others_and_its_own_error_is_raised(spark: SparkSession) -> None:
    outcome: dict[str, BaseException | None] = {}

    def long_query() -> None:
        try:  # about ten seconds of hashing on two cores, unless it is cancelled
            spark.range(0, 2_000_000_000, 1, 2).selectExpr("sum(hash(id, id))").collect()
            outcome["long"] = None
        except Exception as error:
            outcome["long"] = error
            raise

    def failing_step() -> None:
        tracker = spark.sparkContext.statusTracker()
        deadline = time.monotonic() + 60
        while not tracker.getActiveJobsIds() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert tracker.getActiveJobsIds(), "the long query never started"
        raise ValueError("boom: a corrupt file")

    with pytest.raises(ValueError, match="boom: a corrupt file"):
        run_side_by_side(spark, long_query, failing_step)
    # The long query did not run to its end: its job was cancelled, and no job is left running.
    assert outcome["long"] is not None and "cancel" in str(outcome["long"]).lower()
    assert not spark.sparkContext.statusTracker().getActiveJobsIds()


def test_a_single_step_runs_in_the_callers_thread(spark: SparkSession) -> None:
    import threading

    assert run_side_by_side(spark, lambda: threading.current_thread()) == [threading.current_thread()]
