"""A time axis for the charts: where a moment falls along it, ticks on calendar boundaries whatever the
span (seconds to centuries), and where a line breaks because two points are too far apart.

Pure, and not tied to the ETL: the history page puts one point per day on it, and a dashboard can put
scraped series on it. Times are UTC; an aware time is converted, a date stands for its midnight.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAY = dt.timedelta(days=1)
_EPOCH = dt.datetime(1970, 1, 1)
_MONDAY = dt.datetime(1970, 1, 5)  # week ticks fall on Mondays (ISO weeks)
_FIXED = {
    "second": dt.timedelta(seconds=1),
    "minute": dt.timedelta(minutes=1),
    "hour": dt.timedelta(hours=1),
    "day": DAY,
    "week": dt.timedelta(weeks=1),
    # Calendar units: approximate lengths, only to choose a step; their ticks fall on the 1st.
    "month": dt.timedelta(days=30.44),
    "year": dt.timedelta(days=365.25),
}


@dataclass(frozen=True)
class Step:
    """The distance between two ticks: `count` of `unit`."""

    unit: str
    count: int

    @property
    def length(self) -> dt.timedelta:
        return _FIXED[self.unit] * self.count


STEPS = tuple(
    Step(unit, count)
    for unit, counts in (
        ("second", (1, 5, 15, 30)),
        ("minute", (1, 5, 15, 30)),
        ("hour", (1, 3, 6, 12)),
        ("day", (1, 2)),
        ("week", (1, 2)),
        ("month", (1, 2, 3, 6)),
        ("year", (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)),
    )
    for count in counts
)


def utc(at: dt.datetime | dt.date) -> dt.datetime:
    """`at` as a naive UTC datetime (a date is its midnight)."""
    if not isinstance(at, dt.datetime):
        return dt.datetime(at.year, at.month, at.day)
    return at.astimezone(dt.UTC).replace(tzinfo=None) if at.tzinfo else at


def shift(at: dt.datetime, by: dt.timedelta) -> dt.datetime:
    """`at + by`, stopping at the ends of the calendar (year 1, year 9999) instead of overflowing."""
    try:
        return at + by
    except OverflowError:
        return dt.datetime.max if by > dt.timedelta(0) else dt.datetime.min


@dataclass(frozen=True)
class TimeAxis:
    """The span from `start` to `end`. Two points further apart than `max_step` are not joined by a
    line (the gap shows), and no tick step is finer than `finest` (a day, for daily figures)."""

    start: dt.datetime
    end: dt.datetime
    max_step: dt.timedelta
    finest: dt.timedelta = dt.timedelta(0)

    @classmethod
    def of_days(cls, first: dt.date, last: dt.date) -> TimeAxis:
        """The days `first` to `last`: a day's point at its midnight, half a day of room at either end,
        a line only between consecutive days, ticks a day apart at the finest."""
        half = DAY / 2
        return cls(shift(utc(first), -half), shift(utc(last), half), max_step=DAY, finest=DAY)

    def fraction(self, at: dt.datetime | dt.date) -> float:
        """Where `at` falls: 0 at `start`, 1 at `end` (the middle when the span is empty)."""
        span = self.end - self.start
        if span <= dt.timedelta(0):
            return 0.5
        return (utc(at) - self.start) / span

    def step(self, most: int) -> Step:
        """The finest step (not under `finest`) that puts at most `most` ticks on the span."""
        span = self.end - self.start
        for step in STEPS:
            if step.length >= self.finest and span / step.length <= most:
                return step
        return STEPS[-1]

    def ticks(self, most: int) -> list[tuple[dt.datetime, str]]:
        """At most about `most` ticks with their labels. A label names the larger unit (the year, or
        the day under a day's step) on the first tick and wherever it changes."""
        step = self.step(max(most, 1))
        ticks, previous = [], None
        for at in _moments(step, self.start, self.end):
            ticks.append((at, label(at, step, previous)))
            previous = at
        return ticks


def label(at: dt.datetime, step: Step, previous: dt.datetime | None) -> str:
    day = f"{MONTHS[at.month - 1]} {at.day}"
    if step.unit in ("second", "minute", "hour"):
        clock = f"{at:%H:%M:%S}" if step.unit == "second" else f"{at:%H:%M}"
        if previous is not None and previous.date() == at.date():
            return clock
        return day if at.time() == dt.time(0) else f"{day} {clock}"
    new_year = previous is None or previous.year != at.year
    if step.unit in ("day", "week"):
        return f"{day}, {at.year}" if new_year else day
    if step.unit == "month":
        return f"{MONTHS[at.month - 1]} {at.year}" if new_year else MONTHS[at.month - 1]
    return str(at.year)


def _moments(step: Step, start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    """The ticks of `step` from `start` to `end`: multiples of the step since 1970 (weeks: Mondays),
    the 1st of every `count`-th month from January, or January 1st of years divisible by `count`."""
    if step.unit == "year":
        year = -(-start.year // step.count) * step.count
        year += step.count if year == start.year and start > dt.datetime(year, 1, 1) else 0
        while year <= min(end.year, dt.MAXYEAR):
            yield dt.datetime(year, 1, 1)
            year += step.count
        return
    if step.unit == "month":
        index = start.year * 12 + start.month - 1  # months since year 0
        index = -(-index // step.count) * step.count
        while True:
            year, month = divmod(index, 12)
            if year > dt.MAXYEAR:
                return
            at = dt.datetime(year, month + 1, 1)
            if at > end:
                return
            if at >= start:
                yield at
            index += step.count
    length = step.length
    anchor = _MONDAY if step.unit == "week" else _EPOCH
    at = anchor - ((anchor - start) // length) * length  # the first multiple at or after start
    while at <= end:
        yield at
        try:
            at += length
        except OverflowError:
            return


def segments(
    points: Sequence[tuple[dt.datetime | dt.date, float | None]], max_step: dt.timedelta
) -> list[list[int]]:
    """Indices of the points, in runs a line may join: a point without a value ends a run, and so do
    two points further apart than `max_step`. A run of one point is a dot with no line."""
    runs: list[list[int]] = []
    previous: dt.datetime | None = None
    for index, (at, value) in enumerate(points):
        if value is None:
            previous = None
            continue
        moment = utc(at)
        if previous is None or moment - previous > max_step:
            runs.append([])
        runs[-1].append(index)
        previous = moment
    return runs
