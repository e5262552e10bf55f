"""Independent steps of one application, run side by side.

A day's application is a chain of Spark queries, and on a small day each spends as long on the
driver (analysis, optimisation, code generation) as its tasks spend on the executors, which often
leave a core idle (a stage's last task). Spark schedules the jobs of several threads at once: one
step's planning overlaps another's tasks, and its tasks take the core the other leaves idle
(docs/performance.md, eighth round).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from typing import Any

from pyspark.sql import SparkSession


def run_side_by_side(spark: SparkSession, *steps: Callable[[], Any]) -> list[Any]:
    """Run `steps` (functions of no argument that run Spark jobs of `spark`'s context) in threads of
    their own; return their results in the order given.

    When a step fails, the jobs still running for the others are cancelled (the application is
    failing: their results would be thrown away) and that step's error is raised, not the
    cancellations it caused.
    """
    if len(steps) == 1:
        return [steps[0]()]
    with ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="step") as pool:
        futures = [pool.submit(step) for step in steps]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is None:
            return [f.result() for f in futures]
        if pending:
            spark.sparkContext.cancelAllJobs()
            wait(pending)
        raise failed.exception()
