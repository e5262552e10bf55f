"""Retries of the Cassandra sink's writer, with the driver replaced by a function. No server."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from cassandra import InvalidRequest, Unavailable, WriteTimeout

from analytics_etl.cassandra import writer

pytestmark = pytest.mark.unit

D = dt.date(2024, 1, 17)  # a Wednesday
MONDAY = dt.date(2024, 1, 15)
U1 = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
U2 = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


# -- retries ----------------------------------------------------------------------------------------
RETRYABLE = (WriteTimeout, Unavailable)


def test_retries_only_the_failed_statements_with_growing_backoff():
    calls: list[list] = []
    sleeps: list[float] = []
    failures = {"b": 2, "c": 1}  # how many times each parameter still fails

    def run(pending):
        calls.append(list(pending))
        outcomes = []
        for p in pending:
            if failures.get(p[0], 0):
                failures[p[0]] -= 1
                outcomes.append((False, WriteTimeout("timed out", write_type=0)))
            else:
                outcomes.append((True, None))
        return outcomes

    writer.run_with_retries(
        run, [("a",), ("b",), ("c",)], max_retries=3, retryable=RETRYABLE, sleep=sleeps.append
    )
    assert calls == [[("a",), ("b",), ("c",)], [("b",), ("c",)], [("b",)]]
    assert sleeps == [writer.backoff_seconds(0), writer.backoff_seconds(1)]
    assert sleeps[1] > sleeps[0]


def test_gives_up_after_max_retries():
    sleeps: list[float] = []

    def run(pending):
        return [(False, Unavailable("down"))] * len(pending)

    with pytest.raises(RuntimeError, match="1 of 1 Cassandra statements still failed after 2 retries"):
        writer.run_with_retries(run, [("a",)], max_retries=2, retryable=RETRYABLE, sleep=sleeps.append)
    assert len(sleeps) == 2


def test_a_non_retryable_error_is_raised_at_once():
    sleeps: list[float] = []

    def run(pending):
        return [(False, InvalidRequest("bad"))]

    with pytest.raises(InvalidRequest):
        writer.run_with_retries(run, [("a",)], max_retries=5, retryable=RETRYABLE, sleep=sleeps.append)
    assert sleeps == []


def test_backoff_is_capped():
    assert writer.backoff_seconds(0) == writer.BACKOFF_BASE_SECONDS
    assert writer.backoff_seconds(50) == writer.BACKOFF_CAP_SECONDS


def test_the_drivers_write_timeout_and_unavailable_are_retryable():
    retryable = writer.retryable_errors()
    assert issubclass(WriteTimeout, retryable) and issubclass(Unavailable, retryable)
    assert not issubclass(InvalidRequest, retryable)
