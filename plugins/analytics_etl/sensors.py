"""Waiting for the producer's `_SUCCESS` flag of a day's event drop, on the triggerer.

The wait is deferrable: between looks no worker slot is held and no reschedule round trip is made
(reschedule mode under LocalExecutor hits Airflow issue #71172 and turns a clean time-out into
retries). Airflow's `FileTrigger` does the looking on a local disk; on an object store (an `s3://`
flag) the trigger asks the store itself, the blocking call in a thread so the triggerer's event loop
never waits on the network. The deadline lives in our trigger, so the run fails naming the flag
both on the triggerer and in `airflow dags test`, which runs a trigger in line without its time-out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from airflow.providers.standard.triggers.file import FileTrigger
from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout
from airflow.triggers.base import BaseTrigger, TriggerEvent

from analytics_etl import settings
from analytics_etl.storage import on_store, root_path

# Past our own deadline, Airflow's deferral time-out is the safety net (a triggerer that was down).
DEFERRAL_GRACE = dt.timedelta(minutes=1)


def flag_exists(flag_path: str) -> bool:
    """Whether the flag file exists, on a local disk or the store (asked afresh, no cached listing)."""
    flag = root_path(flag_path)
    if not isinstance(flag, Path):
        flag.fs.invalidate_cache(flag.parent.path)
    return flag.is_file()


class DropFlagTrigger(BaseTrigger):
    """Fires once: `{"found": True}` when `flag_path` exists, `{"found": False}` at `deadline` (epoch s)."""

    def __init__(self, flag_path: str, poke_interval: float, deadline: float) -> None:
        super().__init__()
        self.flag_path = flag_path
        self.poke_interval = poke_interval
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"flag_path": self.flag_path, "poke_interval": self.poke_interval, "deadline": self.deadline},
        )

    async def _look_on_store(self) -> AsyncIterator[bool]:
        """Yields once the flag exists on the store (looked at every `poke_interval` s, in a thread)."""
        while not await asyncio.to_thread(flag_exists, self.flag_path):
            await asyncio.sleep(self.poke_interval)
        yield True

    async def run(self) -> AsyncIterator[TriggerEvent]:
        if on_store(self.flag_path):
            looking = self._look_on_store()
        else:  # FileTrigger takes a glob: the flag's own path must match only itself.
            looking = FileTrigger(glob.escape(self.flag_path), poke_interval=self.poke_interval).run()
        found = False
        try:
            async with asyncio.timeout(max(0.0, self.deadline - time.time())):
                found = await anext(looking, None) is not None
        except TimeoutError:
            pass
        finally:
            await looking.aclose()
        yield TriggerEvent({"found": found, "flag_path": self.flag_path, "deadline": self.deadline})


class DropReadySensor(BaseSensorOperator):
    """Succeeds once `flag_path` exists, waiting on the triggerer.

    The wait bounds come from variables `etl_drop_timeout_seconds` (default 6 h: the drop normally
    lands before 02:00) and `etl_drop_poke_seconds` (default 5 min). A flag already there succeeds
    at once, without a deferral. On time-out the task fails, without retries, naming the flag.
    """

    template_fields = ("flag_path",)

    def __init__(self, *, flag_path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.flag_path = flag_path

    def poke(self, context: Any) -> bool:
        return flag_exists(self.flag_path)

    def execute(self, context: Any) -> None:
        if self.poke(context):
            self.log.info("the drop is complete: %s exists", self.flag_path)
            return
        timeout = settings.drop_timeout_seconds()
        poke_interval = settings.drop_poke_seconds()
        self.log.info("deferring until %s exists (at most %.0f s)", self.flag_path, timeout)
        self.defer(
            trigger=DropFlagTrigger(self.flag_path, poke_interval, time.time() + timeout),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=timeout) + DEFERRAL_GRACE,
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        if not event["found"]:
            raise self._timed_out(event["deadline"])
        self.log.info("the drop is complete: %s exists", self.flag_path)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any):
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except AirflowSensorTimeout as err:
            if self.flag_path in str(err):
                raise
            raise self._timed_out(None) from err

    def _timed_out(self, deadline: float | None) -> AirflowSensorTimeout:
        by = f" by {dt.datetime.fromtimestamp(deadline, dt.UTC):%Y-%m-%d %H:%M:%S} UTC" if deadline else ""
        return AirflowSensorTimeout(f"the event drop is not complete: {self.flag_path} did not appear{by}")
