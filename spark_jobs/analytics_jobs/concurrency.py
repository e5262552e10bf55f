"""Independent steps of one application, run side by side.

A day's application is a chain of Spark queries, and on a small day each spends as long on the
driver (analysis, optimisation, code generation) as its tasks spend on the executors, which often
leave a core idle (a stage's last task). Spark schedules the jobs of several threads at once: one
step's planning overlaps another's tasks, and its tasks take the core the other leaves idle
(docs/performance.md, eighth round).

Only steps that share nothing run side by side: no output of one is read by the other, and neither
changes the SQL settings of a session the other plans in (a setting changed while a query runs can
change that query's plan). When one fails, the others are cancelled: a write cut short that way is
left as a killed run leaves it, and the next run of the day replaces it (each run replaces its
outputs whole). A write to a place shared by several runs is made elsewhere and moved there last
(the ingest's per-date quarantine: `analytics_jobs.io.replace_dir`), so a cancellation never cuts
it short in place.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any

from pyspark import SparkContext
from pyspark.sql import SparkSession

# How often the jobs of the steps that are still running are cancelled again, once one step failed:
# a step between two jobs when the first cancellation comes starts its next job afterwards.
_CANCEL_EVERY_SECONDS = 0.2


def run_side_by_side(spark: SparkSession, *steps: Callable[[], Any]) -> list[Any]:
    """Run `steps` (functions of no argument that run Spark jobs of `spark`'s context) in threads of
    their own; return their results in the order given.

    Every job the steps start carries a tag of this call and the job tags of the caller's thread
    (so that a call nested in a step is cancelled with that step; no other local property is
    passed on). When a step fails, the jobs of this call's other steps are cancelled, again and
    again until every step has ended, and the error of the step that failed first is raised: not
    the cancellations it caused, and not another call's.
    """
    if len(steps) <= 1:
        return [step() for step in steps]
    sc = spark.sparkContext
    tag = f"side-by-side-{uuid.uuid4().hex}"

    # The caller thread's job tags go with each step's thread (a nested call is then cancelled with
    # its step), as plain strings: a Java object kept here would be released by py4j after the JVM
    # is gone, which it logs as an error at the interpreter's exit.
    tags = (*set(sc.getJobTags()), tag)

    def tagged(step: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            for each in tags:
                sc.addJobTag(each)
            return step()

        return run

    with ThreadPoolExecutor(max_workers=len(steps), thread_name_prefix="step") as pool:
        futures = [pool.submit(tagged(step)) for step in steps]
        try:
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:  # interrupted while waiting: stop the steps before leaving
            _cancel_until_ended(sc, tag, futures)
            raise
        failed = [f for f in futures if f in done and f.exception() is not None]
        if not failed:
            return [f.result() for f in futures]
        _cancel_until_ended(sc, tag, pending)
        raise failed[0].exception()


def _cancel_until_ended(sc: SparkContext, tag: str, futures: Iterable[Future]) -> None:
    pending = set(futures)
    while pending:
        sc.cancelJobsWithTag(tag)
        _, pending = wait(pending, timeout=_CANCEL_EVERY_SECONDS)
