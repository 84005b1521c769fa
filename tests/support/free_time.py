"""Free time reckoned again, minute by minute, in the tests' own words: what a provider's
calendar allows and what the slot endpoints must therefore offer."""

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.slots import SlotRules
from geo.distance import Point, haversine_m
from tests.support.bookings import STOCKHOLM, Client, OpenProvider

Hours = list[tuple[time, time]]
MINUTE = timedelta(minutes=1)


@dataclass
class Calendar:
    """A provider's calendar as a test set it up: the hours by weekday, the exceptions by
    date (no hours: closed), and the active commitments with their places."""

    home: Point
    weekly: dict[int, Hours]
    exceptions: dict[date, Hours] = field(default_factory=dict)
    commitments: list[tuple[datetime, datetime, Point]] = field(default_factory=list)
    zone: ZoneInfo = STOCKHOLM

    def hours_on(self, day: date) -> Hours:
        return self.exceptions.get(day, self.weekly.get(day.weekday(), []))


def _clock(value: str) -> time:
    return time.fromisoformat(value)


def weekly_body(weekly: Mapping[int, Sequence[tuple[str, str]]]) -> list[dict[str, Any]]:
    return [
        {"weekday": day, "opens": opens, "closes": closes}
        for day, hours in weekly.items()
        for opens, closes in hours
    ]


async def set_hours(
    client: Client,
    provider: OpenProvider,
    weekly: Mapping[int, Sequence[tuple[str, str]]],
    exceptions: Mapping[date, tuple[str, str] | None] | None = None,
) -> tuple[dict[int, Hours], dict[date, Hours]]:
    """Give the provider these hours (Stockholm time) and exceptions, through the API."""
    headers = provider.owner.headers
    path = f"/api/providers/{provider.id}/availability"
    body = {"timezone": "Europe/Stockholm", "weekly": weekly_body(weekly)}
    response = await client.put(path, json=body, headers=headers)
    assert response.status_code == 200, response.text
    for day, hours in (exceptions or {}).items():
        exception = {"date": day.isoformat()} | (
            {"closed": True} if hours is None else {"opens": hours[0], "closes": hours[1]}
        )
        response = await client.post(f"{path}/exceptions", json=exception, headers=headers)
        assert response.status_code == 201, response.text
    as_hours = {day: [(_clock(a), _clock(b)) for a, b in h] for day, h in weekly.items()}
    as_exceptions = {
        day: [] if hours is None else [(_clock(hours[0]), _clock(hours[1]))]
        for day, hours in (exceptions or {}).items()
    }
    return as_hours, as_exceptions


async def timeline(
    engine: AsyncEngine, provider_id: int
) -> list[tuple[str, datetime, datetime, Point]]:
    """The provider's active commitments as the database holds them, in time order: kind,
    start, end and place."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT kind::text, lower(during), upper(during), latitude, longitude"
                " FROM commitments WHERE provider_id = :provider AND active"
                " ORDER BY lower(during)"
            ),
            {"provider": provider_id},
        )
        return [(kind, start, end, Point(lat, lng)) for kind, start, end, lat, lng in rows]


async def commitments_of(
    engine: AsyncEngine, provider_id: int
) -> list[tuple[datetime, datetime, Point]]:
    return [(start, end, place) for _, start, end, place in await timeline(engine, provider_id)]


Drive = Callable[[Point, Point], timedelta]
"""How long the drive from a place to another takes, as a booking's check rounds it."""


def great_circle_drive(speed_kmh: float) -> Drive:
    def drive(a: Point, b: Point) -> timedelta:
        return timedelta(seconds=math.ceil(haversine_m(a, b) / 1000 / speed_kmh * 3600))

    return drive


def _fits(calendar: Calendar, start: datetime, end: datetime) -> bool:
    local_start, local_end = start.astimezone(calendar.zone), end.astimezone(calendar.zone)
    if local_start.date() != local_end.date():
        return False
    return any(
        opens <= local_start.time() and local_end.time() <= closes
        for opens, closes in calendar.hours_on(local_start.date())
    )


def _clear(calendar: Calendar, start: datetime, end: datetime, place: Point, drive: Drive) -> bool:
    return all(
        end + drive(place, there) <= taken_from or taken_until + drive(there, place) <= start
        for taken_from, taken_until, there in calendar.commitments
    )


def brute_force_slots(
    calendar: Calendar,
    minutes: int,
    days: tuple[date, date],
    place: Point | None,
    rules: SlotRules,
    now: datetime,
    drive: Drive | None = None,
) -> list[datetime]:
    """Every minute of the window tried as a start, in UTC (local arithmetic would skip or
    repeat the changed hour); drives along the great circle at the rules' speed unless
    `drive` says otherwise."""
    drive = drive or great_circle_drive(rules.speed_kmh)
    visit_at = place or calendar.home
    length = timedelta(minutes=minutes)
    first, last = days
    start = datetime.combine(first, time(0), calendar.zone).astimezone(UTC)
    stop = datetime.combine(last + timedelta(days=1), time(0), calendar.zone).astimezone(UTC)
    slots = []
    while start < stop:
        local = start.astimezone(calendar.zone)
        if (
            (local.hour * 60 + local.minute) % rules.step_minutes == 0
            and now + rules.notice <= start <= now + rules.horizon
            and _fits(calendar, start, start + length)
            and _clear(calendar, start, start + length, visit_at, drive)
        ):
            slots.append(start)
        start += MINUTE
    return slots
