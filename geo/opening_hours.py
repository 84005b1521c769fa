"""Opening hours are wall-clock times in the provider's time zone; visits are instants.

Whether a visit fits is decided on the provider's clock: the visit's instants are converted
to the provider's zone, never the hours to UTC. So 08:00-17:00 means 08:00-17:00 local on
both sides of a daylight-saving change, and a visit across a change lasts its real length.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class OpeningHours:
    weekday: int  # Monday = 0
    opens: time
    closes: time


@dataclass(frozen=True, slots=True)
class WeeklyHours:
    timezone: str
    hours: list[OpeningHours]


@dataclass(frozen=True, slots=True)
class HoursException:
    """A date whose hours replace the weekly ones: `hours` None means closed all day."""

    day: date
    hours: tuple[time, time] | None


@dataclass(frozen=True, slots=True)
class LocalVisit:
    """A visit as the provider's clock shows it: one local date, a start and an end time."""

    day: date
    starts: time
    ends: time

    @classmethod
    def of(cls, start: datetime, end: datetime, zone: ZoneInfo) -> "LocalVisit | None":
        """The visit [start, end) on the clock of `zone`, or None if it crosses midnight
        there (no opening interval does)."""
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        if local_start.date() != local_end.date():
            return None
        return cls(local_start.date(), local_start.time(), local_end.time())

    def fits(self, intervals: Iterable[tuple[time, time]]) -> bool:
        """Whether one of the day's opening intervals holds the whole visit."""
        return any(opens <= self.starts and self.ends <= closes for opens, closes in intervals)
