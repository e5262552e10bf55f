"""The charts' time axis: placement by time, calendar ticks for any span, where lines break."""

from __future__ import annotations

import datetime as dt

import pytest

from analytics_etl.ui import timescale
from analytics_etl.ui.timescale import TimeAxis

pytestmark = pytest.mark.unit

END = dt.date(2024, 1, 22)


def days(n: int) -> TimeAxis:
    return TimeAxis.of_days(END - dt.timedelta(days=n - 1), END)


def labels(axis: TimeAxis, most: int = 9) -> list[str]:
    return [text for _, text in axis.ticks(most)]


def test_days_are_placed_by_date_with_half_a_day_of_room_at_either_end():
    axis = days(8)  # Jan 15 .. Jan 22
    assert axis.fraction(dt.date(2024, 1, 15)) == pytest.approx(0.5 / 8)
    assert axis.fraction(dt.date(2024, 1, 22)) == pytest.approx(7.5 / 8)
    # A week apart is seven times a day apart, whatever lies between.
    one = axis.fraction(dt.date(2024, 1, 16)) - axis.fraction(dt.date(2024, 1, 15))
    assert axis.fraction(dt.date(2024, 1, 22)) - axis.fraction(dt.date(2024, 1, 15)) == pytest.approx(7 * one)
    # A date, its naive midnight and the same moment in another zone are the same place.
    paris = dt.timezone(dt.timedelta(hours=1))
    assert axis.fraction(dt.datetime(2024, 1, 18, 1, tzinfo=paris)) == axis.fraction(dt.date(2024, 1, 18))
    assert TimeAxis.of_days(END, END).fraction(END) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        (1, ["Jan 22, 2024"]),
        (3, ["Jan 20, 2024", "Jan 21", "Jan 22"]),
        (7, ["Jan 16, 2024", "Jan 17", "Jan 18", "Jan 19", "Jan 20", "Jan 21", "Jan 22"]),
        (30, ["Dec 25, 2023", "Jan 1, 2024", "Jan 8", "Jan 15", "Jan 22"]),  # Mondays
        (90, ["Oct 30, 2023", "Nov 13", "Nov 27", "Dec 11", "Dec 25", "Jan 8, 2024", "Jan 22"]),
        (365, ["Mar 2023", "May", "Jul", "Sep", "Nov", "Jan 2024"]),
        (3660, ["2016", "2018", "2020", "2022", "2024"]),
    ],
)
def test_day_windows_of_any_length_get_a_few_calendar_ticks_naming_the_year_where_it_changes(
    length, expected
):
    assert labels(days(length)) == expected


def test_ticks_lie_inside_the_axis_in_order_and_never_finer_than_a_day_for_daily_figures():
    for length in (1, 2, 5, 14, 45, 120, 400, 1000):
        axis = days(length)
        moments = [at for at, _ in axis.ticks(9)]
        assert moments == sorted(moments) and 1 <= len(moments) <= 10, length
        assert all(axis.start <= at <= axis.end for at in moments), length
        assert all(at.time() == dt.time(0) for at in moments), length  # midnights: under a day's point


def test_spans_under_a_day_get_clock_ticks_and_the_day_where_it_changes():
    evening = TimeAxis(dt.datetime(2024, 1, 22, 20, 3), dt.datetime(2024, 1, 23, 8), dt.timedelta(minutes=1))
    assert labels(evening) == ["Jan 22 21:00", "Jan 23", "03:00", "06:00"]
    minute = TimeAxis(dt.datetime(2024, 1, 22, 20, 3, 10), dt.datetime(2024, 1, 22, 20, 4), dt.timedelta(0))
    assert labels(minute, 5)[:2] == ["Jan 22 20:03:15", "20:03:30"]


def test_the_ends_of_the_calendar_give_an_axis_not_an_overflow():
    first = TimeAxis.of_days(dt.date.min, dt.date.min)
    assert first.start == dt.datetime.min and labels(first) == ["Jan 1, 1"]
    last = TimeAxis.of_days(dt.date.max - dt.timedelta(days=89), dt.date.max)
    assert labels(last)[-1] == "Dec 27"
    assert labels(TimeAxis.of_days(dt.date.min, dt.date.max)) == ["2000", "4000", "6000", "8000"]


def test_a_line_breaks_at_a_missing_value_and_between_points_further_apart_than_the_step():
    d = dt.date
    points = [(d(2024, 1, 15), 1.0), (d(2024, 1, 16), 2.0), (d(2024, 1, 18), 3.0),  # the 17th: no run
              (d(2024, 1, 19), None), (d(2024, 1, 20), 5.0), (d(2024, 1, 21), 6.0)]  # fmt: skip
    assert timescale.segments(points, timescale.DAY) == [[0, 1], [2], [4, 5]]
    assert timescale.segments(points, dt.timedelta(days=2)) == [[0, 1, 2], [4, 5]]
    assert timescale.segments([], timescale.DAY) == []
