"""The schedule: at 02:00 UTC every day, process the previous calendar day.

Plain `schedule="0 2 * * *"` gives runs whose logical date is the 02:00 tick itself, so a backfill
from A to B would process A-1 .. B-1 and the UI would show each run under the wrong day. This
timetable gives every run the data interval `[D 00:00, D+1 00:00)` UTC with logical date D, and
holds it until 02:00 on D+1 (the two hours let late writers of the source and the drops finish).
So the run at 02:00 on D+1 processes D, and `airflow backfill create --from-date A --to-date B`
processes A .. B, each day exactly once.

It is registered by `plugins/analytics_etl_plugin.py` so that the scheduler can deserialize it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable

CRON = "0 2 * * *"


class DailyAfterCutoffTimetable(CronDataIntervalTimetable):
    """Daily UTC intervals `[D, D+1)`, each run released `cutoff` after the interval ends."""

    def __init__(self, cutoff: dt.timedelta = dt.timedelta(hours=2)) -> None:
        super().__init__("0 0 * * *", timezone="UTC")
        self.cutoff = cutoff
        self.description = "At 02:00 UTC, for the previous day"

    @property
    def summary(self) -> str:
        return CRON

    def serialize(self) -> dict[str, Any]:
        return {"cutoff_seconds": int(self.cutoff.total_seconds())}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> DailyAfterCutoffTimetable:
        return cls(dt.timedelta(seconds=data.get("cutoff_seconds", 7200)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DailyAfterCutoffTimetable) and other.cutoff == self.cutoff

    def __hash__(self) -> int:
        return hash(self.cutoff)

    def next_dagrun_info(
        self, *, last_automated_data_interval: DataInterval | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        info = super().next_dagrun_info(
            last_automated_data_interval=last_automated_data_interval, restriction=restriction
        )
        if info is None or info.data_interval is None:
            return info
        return DagRunInfo(
            run_after=info.data_interval.end + self.cutoff,
            data_interval=info.data_interval,
        )
