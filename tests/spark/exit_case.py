"""Run only by test_session_exit.py, in a child pytest (the name keeps it out of every other run).

What ends a real run, made certain: Java objects still held when the interpreter exits, released
after the JVM has gone (a Spark driver's JVM dies with its Python process), while py4j's finalizer
thread still runs.
"""

from __future__ import annotations

import atexit
import gc
import time

import pytest

pytestmark = pytest.mark.spark

HELD: list = []
GATEWAY: list = []


def _exit_as_a_run_does() -> None:
    for gateway in GATEWAY:
        gateway.proc.kill()
        gateway.proc.wait()
    HELD.clear()
    gc.collect()
    time.sleep(2.5)  # py4j's finalizer thread polls its queue every second


atexit.register(_exit_as_a_run_does)


def test_java_objects_outlive_the_session(spark):
    gateway = spark.sparkContext._gateway
    GATEWAY.append(gateway)
    HELD.extend(gateway.jvm.java.util.ArrayList() for _ in range(3))
    gateway.jvm.java.util.ArrayList()  # released at once: py4j's thread opens its connection
    gc.collect()
    time.sleep(2.5)
    assert spark.range(3).count() == 3
