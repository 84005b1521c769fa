"""Visits against opening hours on the provider's clock, across daylight-saving changes."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from geo.opening_hours import LocalVisit

STOCKHOLM = ZoneInfo("Europe/Stockholm")
OFFICE_HOURS = [(time(8), time(17))]


def visit(start: datetime, minutes: int = 60) -> LocalVisit | None:
    return LocalVisit.of(start, start + timedelta(minutes=minutes), STOCKHOLM)


def utc(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), UTC)


@pytest.mark.parametrize(
    ("start", "fits"),
    [
        # 2027-03-28: clocks go from 02:00 CET to 03:00 CEST.
        (utc(date(2027, 3, 27), 7), True),  # 08:00 CET
        (utc(date(2027, 3, 27), 6), False),  # 07:00 CET
        (utc(date(2027, 3, 29), 6), True),  # 08:00 CEST
        (utc(date(2027, 3, 29), 5), False),  # 07:00 CEST
        (utc(date(2027, 3, 27), 15), True),  # 16:00-17:00 CET
        (utc(date(2027, 3, 29), 15), False),  # 17:00 CEST
        # 2027-10-31: clocks go from 03:00 CEST back to 02:00 CET.
        (utc(date(2027, 10, 30), 6), True),  # 08:00 CEST
        (utc(date(2027, 11, 1), 6), False),  # 07:00 CET
        (utc(date(2027, 11, 1), 7), True),  # 08:00 CET
        (utc(date(2027, 10, 31), 15), True),  # 16:00 CET, the long day
    ],
)
def test_hours_are_wall_clock_times_in_the_providers_zone(start: datetime, fits: bool) -> None:
    local = visit(start)
    assert local is not None
    assert local.fits(OFFICE_HOURS) is fits


def test_a_visit_across_the_spring_gap_lasts_its_real_length() -> None:
    # 01:30 CET + 60 min = 03:30 CEST: inside 01:00-04:00 although 2.0 wall-clock hours pass.
    local = visit(utc(date(2027, 3, 28), 0, 30))
    assert local == LocalVisit(date(2027, 3, 28), time(1, 30), time(3, 30))
    assert local.fits([(time(1), time(4))])


def test_both_passes_through_the_repeated_autumn_hour_read_the_same_clock() -> None:
    first = visit(utc(date(2027, 10, 31), 0, 30), 15)  # 02:30 CEST
    second = visit(utc(date(2027, 10, 31), 1, 30), 15)  # 02:30 CET
    assert first == second == LocalVisit(date(2027, 10, 31), time(2, 30), time(2, 45))


def test_a_visit_past_local_midnight_fits_no_day() -> None:
    assert visit(utc(date(2027, 6, 1), 21, 30)) is None  # 23:30-00:30 CEST


def test_a_visit_must_fit_inside_one_interval() -> None:
    split_day = [(time(8), time(12)), (time(13), time(17))]
    morning = visit(utc(date(2027, 6, 1), 9))  # 11:00-12:00 CEST
    over_lunch = visit(utc(date(2027, 6, 1), 9, 30))  # 11:30-12:30 CEST
    assert morning is not None
    assert over_lunch is not None
    assert morning.fits(split_day)
    assert not over_lunch.fits(split_day)
    assert not morning.fits([])
