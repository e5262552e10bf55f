"""The schedule: at 02:00 UTC every day, process the previous calendar day; one partition per day.

Every run of the schedule or of a backfill is an Airflow *partitioned* run whose `partition_key` is
the day it processes, `YYYY-MM-DD` (Airflow 3.2+): the runs list, the run page, the backfill and the
Asset events the loads emit all show the day, and a consumer DAG can be scheduled per day with
`PartitionedAssetTimetable` (docs/assets.md). Partitioned runs have no logical date and no data
interval: the day is the key.

The run for day D is released at 02:00 on D+1 (`cutoff` after the day ends: the two hours let late
writers of the source and the drops finish). `airflow backfill create --from-date A --to-date B`
processes A .. B, each day exactly once, days not yet over excepted. A manual run carries a key
only when given one (the trigger form's Partition Key, the REST API's `partition_key`): Airflow 3.3
hands a timetable neither the conf nor the key of a manual trigger, so a run given only a `date` stays
unkeyed (docs/decisions.md). `resolve_run` takes its day from the `date` conf, the key or, lacking
both, the last complete day (analytics_etl.dates).

It is registered by `plugins/analytics_etl_plugin.py` so that the scheduler can deserialize it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from airflow.exceptions import InvalidPartitionKeyError
from airflow.sdk import timezone
from airflow.timetables.base import DagRunInfo, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable

CRON = "0 2 * * *"
DAY = dt.timedelta(days=1)


def midnight(day: dt.date) -> dt.datetime:
    return timezone.coerce_datetime(dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))


def partition_key(day: dt.date) -> str:
    return day.isoformat()


class DailyAfterCutoffTimetable(CronDataIntervalTimetable):
    """One partition per UTC day D, keyed `YYYY-MM-DD`, each run released `cutoff` after D ends.

    The cron base gives the manual runs without a key their data interval (the last complete day).
    """

    partitioned = True

    def __init__(self, cutoff: dt.timedelta = dt.timedelta(hours=2)) -> None:
        super().__init__("0 0 * * *", timezone="UTC")
        self.cutoff = cutoff
        self.description = "At 02:00 UTC, for the previous day (one partition per day)"

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

    def info(self, day: dt.date) -> DagRunInfo:
        """The run of day D: released at D+1 00:00 + cutoff, keyed D."""
        return DagRunInfo(
            run_after=midnight(day + DAY) + self.cutoff,
            data_interval=None,
            partition_date=midnight(day),
            partition_key=partition_key(day),
        )

    def last_due_day(self, now: dt.datetime | None = None) -> dt.date:
        """The newest day whose run is released by `now`."""
        now = now or timezone.utcnow()
        return (now.astimezone(dt.UTC) - self.cutoff).date() - DAY

    def next_dagrun_info_v2(
        self, *, last_dagrun_info: DagRunInfo | None, restriction: TimeRestriction
    ) -> DagRunInfo | None:
        if last_dagrun_info is not None and last_dagrun_info.partition_date is not None:
            day = last_dagrun_info.partition_date.astimezone(dt.UTC).date() + DAY
        elif restriction.earliest is not None:
            earliest = restriction.earliest.astimezone(dt.UTC)
            day = earliest.date() if earliest == midnight(earliest.date()) else earliest.date() + DAY
        else:
            day = self.last_due_day()
        if not restriction.catchup:  # no run for the days missed while the DAG was off
            day = max(day, self.last_due_day())
        if restriction.latest is not None and midnight(day) > restriction.latest:
            return None
        return self.info(day)

    def iter_partition_dagrun_infos(
        self, *, earliest: dt.datetime, latest: dt.datetime
    ) -> Iterable[DagRunInfo]:
        """A backfill from A to B: days A .. B (UTC), both included, but no day that is not over yet."""
        day = earliest.astimezone(dt.UTC).date()
        last = min(latest.astimezone(dt.UTC).date(), timezone.utcnow().date() - DAY)
        while day <= last:
            yield self.info(day)
            day += DAY

    def _decode_partition_date(self, partition_key: str) -> dt.datetime:
        """A key given at trigger time: a real calendar day `YYYY-MM-DD`, else the trigger is refused."""
        from analytics_etl.dates import InvalidRunDate, parse_run_date

        try:
            return midnight(parse_run_date(partition_key))
        except InvalidRunDate as err:
            raise InvalidPartitionKeyError(f"partition key of daily_analytics_etl: {err}") from None

    def generate_run_id(self, *, run_type: Any, run_after: Any, data_interval: Any, **extra: Any) -> str:
        """`scheduled__2024-01-15__<created>`: the day first, so the runs list reads by day (a
        backfill that reprocesses a day creates a second run of it, hence the creation time).
        Airflow passes the key for scheduled and backfill runs only: a manual run's id is its time."""
        key = extra.get("partition_key")
        if not key:
            return super().generate_run_id(
                run_type=run_type, run_after=run_after, data_interval=data_interval, **extra
            )
        return run_type.generate_run_id(suffix=f"{key}__{timezone.utcnow():%Y%m%dT%H%M%S}")
