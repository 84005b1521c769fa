"""Request and response bodies of a provider's weekly hours and their exceptions."""

import datetime as dt
import itertools
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from app.edge.parameters import ONE_LINE
from geo.opening_hours import HoursException, OpeningHours, WeeklyHours

ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["08:00"])]


def _check_interval(opens: str, closes: str) -> None:
    if opens >= closes:
        raise ValueError(f"opens ({opens}) must be before closes ({closes})")


def clock_text(value: dt.time) -> str:
    """A wall-clock time as the API writes it, HH:MM (ClockTime)."""
    return value.strftime("%H:%M")


class OpeningHoursBody(msgspec.Struct, forbid_unknown_fields=True):
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6, description="Monday = 0")]
    opens: ClockTime
    closes: ClockTime

    def __post_init__(self) -> None:
        _check_interval(self.opens, self.closes)

    def as_hours(self) -> OpeningHours:
        return OpeningHours(
            self.weekday, dt.time.fromisoformat(self.opens), dt.time.fromisoformat(self.closes)
        )


class WeeklyHoursBody(msgspec.Struct, forbid_unknown_fields=True):
    """A provider's weekly hours as wall-clock times in `timezone` (an IANA zone name)."""

    timezone: Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=ONE_LINE)] = (
        "Europe/Stockholm"
    )
    weekly: Annotated[list[OpeningHoursBody], msgspec.Meta(max_length=7 * 6)] = msgspec.field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        by_start = sorted(self.weekly, key=lambda h: (h.weekday, h.opens))
        for earlier, later in itertools.pairwise(by_start):
            if earlier.weekday == later.weekday and later.opens < earlier.closes:
                raise ValueError(f"hours overlap on weekday {later.weekday}")

    def as_weekly_hours(self) -> WeeklyHours:
        return WeeklyHours(self.timezone, [h.as_hours() for h in self.weekly])

    @classmethod
    def of(cls, weekly: WeeklyHours) -> "WeeklyHoursBody":
        return cls(
            weekly.timezone,
            [
                OpeningHoursBody(h.weekday, clock_text(h.opens), clock_text(h.closes))
                for h in weekly.hours
            ],
        )


class HoursExceptionBody(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One date's hours instead of the weekly ones: `{"date", "closed": true}` for closed
    all day, or `{"date", "opens", "closes"}` (local times, the provider's time zone)."""

    date: dt.date
    closed: bool = False
    opens: ClockTime | None = None
    closes: ClockTime | None = None

    def __post_init__(self) -> None:
        if self.closed:
            if self.opens is not None or self.closes is not None:
                raise ValueError("a closed date has no opens or closes")
        elif self.opens is None or self.closes is None:
            raise ValueError('send "closed": true, or both opens and closes')
        else:
            _check_interval(self.opens, self.closes)

    def as_exception(self) -> HoursException:
        if self.opens is None or self.closes is None:
            return HoursException(self.date, None)
        return HoursException(
            self.date, (dt.time.fromisoformat(self.opens), dt.time.fromisoformat(self.closes))
        )

    @classmethod
    def of(cls, exception: HoursException) -> "HoursExceptionBody":
        if exception.hours is None:
            return cls(exception.day, closed=True)
        opens, closes = exception.hours
        return cls(exception.day, opens=clock_text(opens), closes=clock_text(closes))


class HoursExceptionList(msgspec.Struct):
    items: list[HoursExceptionBody]
    next_cursor: None = None
