"""Waiting for the producer's `_SUCCESS` flag of a day's event drop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout

from analytics_etl import settings


class DropReadySensor(BaseSensorOperator):
    """Succeeds once `flag_path` exists; runs in reschedule mode so no worker slot is held between pokes.

    The wait bounds come from variables `etl_drop_timeout_seconds` (default 6 h: the drop normally
    lands before 02:00) and `etl_drop_poke_seconds` (default 5 min). On time-out the run fails with a
    message naming the missing flag.
    """

    template_fields = ("flag_path",)

    def __init__(self, *, flag_path: str, **kwargs: Any) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.flag_path = flag_path

    def poke(self, context: Any) -> bool:
        self.log.info("waiting for %s", self.flag_path)
        return Path(self.flag_path).is_file()

    def execute(self, context: Any) -> Any:
        self.timeout = settings.drop_timeout_seconds()
        self.poke_interval = settings.drop_poke_seconds()
        try:
            return super().execute(context)
        except AirflowSensorTimeout as err:
            raise AirflowSensorTimeout(
                f"the event drop is not complete: {self.flag_path} did not appear within {self.timeout:.0f} s"
            ) from err
