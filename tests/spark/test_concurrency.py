"""analytics_jobs.concurrency: steps side by side return in order; a failing step cancels the others
(its own call's only, the jobs they start later included) and its own error is raised."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from pyspark.sql import SparkSession

from analytics_jobs.concurrency import run_side_by_side

pytestmark = pytest.mark.spark


def _long_query(spark: SparkSession, outcome: dict, key: str) -> Callable[[], None]:
    """About ten seconds of hashing on two cores, unless cancelled; records how it ended."""

    def run() -> None:
        try:
            spark.range(0, 2_000_000_000, 1, 2).selectExpr("sum(hash(id, id))").collect()
            outcome[key] = None
        except Exception as error:
            outcome[key] = error
            raise

    return run


def _when_jobs_run(spark: SparkSession, count: int, error: str) -> Callable[[], None]:
    """A step that raises ValueError(error) once `count` jobs are running."""

    def run() -> None:
        tracker = spark.sparkContext.statusTracker()
        deadline = time.monotonic() + 60
        while len(tracker.getActiveJobsIds()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(tracker.getActiveJobsIds()) >= count, "the other steps' queries never started"
        raise ValueError(error)

    return run


def _cancelled(outcome: dict, key: str) -> bool:
    return outcome.get(key) is not None and "cancel" in str(outcome[key]).lower()


def _no_job_left(spark: SparkSession) -> bool:
    tracker, deadline = spark.sparkContext.statusTracker(), time.monotonic() + 30
    while tracker.getActiveJobsIds() and time.monotonic() < deadline:  # the listener bus lags
        time.sleep(0.1)
    return not tracker.getActiveJobsIds()


def test_the_results_come_back_in_the_order_of_the_steps(spark: SparkSession) -> None:
    results = run_side_by_side(
        spark,
        lambda: spark.range(10).count(),
        lambda: spark.range(3).selectExpr("sum(id) AS s").first()["s"],
        lambda: "no Spark at all",
    )
    assert results == [10, 3, "no Spark at all"]


def test_a_failing_step_cancels_the_others_and_its_own_error_is_raised(spark: SparkSession) -> None:
    outcome: dict = {}
    with pytest.raises(ValueError, match="boom: a corrupt file"):
        run_side_by_side(
            spark, _long_query(spark, outcome, "long"), _when_jobs_run(spark, 1, "boom: a corrupt file")
        )
    assert _cancelled(outcome, "long"), outcome
    assert _no_job_left(spark)


def test_a_job_started_after_the_failure_is_cancelled_too(spark: SparkSession) -> None:
    outcome: dict = {}
    first_done, failed = threading.Event(), threading.Event()

    def between_jobs() -> None:
        spark.range(10).count()
        first_done.set()
        failed.wait(60)  # between two jobs when its sibling fails
        time.sleep(0.5)
        _long_query(spark, outcome, "later")()

    def failing() -> None:
        first_done.wait(60)
        failed.set()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_side_by_side(spark, between_jobs, failing)
    assert _cancelled(outcome, "later"), outcome
    assert _no_job_left(spark)


def test_a_nested_failure_raises_its_own_error_not_the_cancellation_of_a_sibling(
    spark: SparkSession,
) -> None:
    """As in daily_outputs: a call nested in one step (the event outputs) fails while a step beside
    it (the progress outputs, in a session of its own) runs. The nested call cancels only its own
    siblings; the outer call then cancels the other step and raises the nested error."""
    outcome: dict = {}
    other_session = spark.newSession()

    def events_side() -> None:
        try:
            run_side_by_side(
                spark, _long_query(spark, outcome, "inner"), _when_jobs_run(spark, 2, "inner boom")
            )
        finally:
            time.sleep(1)  # cleaning up (the ingest removes its scratch): the step beside runs on

    with pytest.raises(ValueError, match="inner boom"):
        run_side_by_side(spark, events_side, _long_query(other_session, outcome, "beside"))
    assert _cancelled(outcome, "inner"), outcome
    assert _cancelled(outcome, "beside"), outcome
    assert _no_job_left(spark)


def test_one_step_or_none_runs_in_the_callers_thread(spark: SparkSession) -> None:
    assert run_side_by_side(spark, threading.current_thread) == [threading.current_thread()]
    assert run_side_by_side(spark) == []
