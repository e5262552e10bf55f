"""Which calendar day (UTC) a run processes.

A run processes exactly one day D. It is, in order of precedence:
1. the `date` given in the run's conf or the trigger form's `date` Param (`YYYY-MM-DD`);
2. the run's `partition_key`: scheduled and backfill runs of `DailyAfterCutoffTimetable` are
   partitioned by day, so the run at 02:00 on D+1 and a backfill of D both carry the key D; a manual
   run carries one when it was given one;
3. the start of the run's data interval (a run created before the DAG was partitioned, or with a
   logical date);
4. for a run with none of these (a manual trigger without a date), the last complete day before
   the run was created.

A bad requested date raises `InvalidRunDate` naming the value, before anything is touched. So does a
run whose `date` names another day than its partition key, or than the data interval of a scheduled
or backfill run (the backfill form and `--dag-run-conf` pass run parameters to every run of a range):
such a run never silently processes another day.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class InvalidRunDate(ValueError):
    """The requested date is not a real calendar date written YYYY-MM-DD."""


def parse_run_date(value: Any) -> dt.date:
    """Parse a requested date strictly: a string `YYYY-MM-DD` naming a real calendar day."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise InvalidRunDate(f"invalid date {value!r}: expected a calendar date written YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError as err:
        raise InvalidRunDate(f"invalid date {value!r}: {err}") from None


def _utc_date(moment: dt.datetime) -> dt.date:
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: Airflow hands out aware datetimes")
    return moment.astimezone(dt.UTC).date()


# Run types whose day is their data interval's, whatever their conf says.
INTERVAL_RUN_TYPES = ("scheduled", "backfill")


def resolve_run_date(
    requested: Any,
    data_interval_start: dt.datetime | None,
    run_after: dt.datetime | None,
    run_type: Any = None,
    partition_key: str | None = None,
) -> dt.date:
    """The day a run processes (see the module docstring for the rules)."""
    run_type = getattr(run_type, "value", run_type)
    own, what = None, ""
    if partition_key:
        own, what = parse_run_date(partition_key), f"the partition key of this {run_type} run"
    elif data_interval_start is not None:
        own, what = _utc_date(data_interval_start), f"the day of this {run_type} run's data interval"
    if requested is not None and requested != "":
        day = parse_run_date(requested)
        binding = partition_key or run_type in INTERVAL_RUN_TYPES
        if own is not None and binding and day != own:
            raise InvalidRunDate(
                f"conf date {day.isoformat()} is not {own.isoformat()}, {what}: "
                f"a run processes its own day only"
            )
        return day
    if own is not None:
        return own
    if run_after is not None:
        return _utc_date(run_after) - dt.timedelta(days=1)
    raise InvalidRunDate("the run has no date: give one as conf {'date': 'YYYY-MM-DD'}")


def iso_week(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the ISO week holding `day`."""
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


@dataclass(frozen=True)
class RunDate:
    """The processed day and the bounds derived from it, as handed from task to task."""

    date: dt.date

    @property
    def week_start(self) -> dt.date:
        return iso_week(self.date)[0]

    @property
    def week_end(self) -> dt.date:
        return iso_week(self.date)[1]

    def as_xcom(self) -> dict[str, str]:
        return {
            "date": self.date.isoformat(),
            "week_start": self.week_start.isoformat(),
            "week_end": self.week_end.isoformat(),
        }
