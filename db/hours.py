"""When a provider works: weekly hours, and exceptions for single dates.

An exception replaces the weekly hours of its date. Writes name the owner in their WHERE
clause, like every other write to a provider (see db.profiles).
"""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Result, delete, exists, func, insert, select, union_all
from sqlalchemy.dialects.postgresql import insert as upsert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Availability, AvailabilityException, Provider
from db.profiles import owned, update_provider
from geo.opening_hours import HoursException, OpeningHours, WeeklyHours


async def _active_timezone(session: AsyncSession, provider_id: int) -> str | None:
    timezone: str | None = await session.scalar(
        select(Provider.timezone).where(Provider.id == provider_id, Provider.is_active)
    )
    return timezone


async def replace_weekly_hours(
    session: AsyncSession, owner_id: int, provider_id: int, weekly: WeeklyHours
) -> bool:
    """Set the time zone and replace every interval, atomically.

    The ownership check is the UPDATE of the provider row, whose lock then holds off any
    concurrent replacement, and any booking being checked, until this transaction ends.
    """
    updated = await update_provider(session, owner_id, provider_id, {"timezone": weekly.timezone})
    if not updated:
        return False
    await session.execute(delete(Availability).where(Availability.provider_id == provider_id))
    if weekly.hours:
        await session.execute(
            insert(Availability),
            [
                {
                    "provider_id": provider_id,
                    "weekday": h.weekday,
                    "opens": h.opens,
                    "closes": h.closes,
                }
                for h in weekly.hours
            ],
        )
    return True


async def weekly_hours(session: AsyncSession, provider_id: int) -> WeeklyHours | None:
    """An active provider's weekly hours, ordered by day and time, or None."""
    timezone = await _active_timezone(session, provider_id)
    if timezone is None:
        return None
    rows = await session.execute(
        select(Availability.weekday, Availability.opens, Availability.closes)
        .where(Availability.provider_id == provider_id)
        .order_by(Availability.weekday, Availability.opens)
    )
    return WeeklyHours(timezone, [OpeningHours(*row) for row in rows])


async def _lock_owned(session: AsyncSession, owner_id: int, provider_id: int) -> bool:
    """Lock the owner's provider row before changing its hours: bookings hold it shared
    while they check the hours (see db.bookings). False if it isn't the owner's."""
    statement = select(Provider.id).where(owned(provider_id, owner_id)).with_for_update()
    return await session.scalar(statement) is not None


async def set_exception(
    session: AsyncSession, owner_id: int, provider_id: int, exception: HoursException
) -> bool:
    """Add the exception, or replace the one of its date, if the provider is the owner's."""
    if not await _lock_owned(session, owner_id, provider_id):
        return False
    opens, closes = exception.hours or (None, None)
    insert_new = upsert(AvailabilityException).values(
        provider_id=provider_id, date=exception.day, opens=opens, closes=closes
    )
    statement = insert_new.on_conflict_do_update(
        constraint="availability_exceptions_provider_date_key",
        set_={
            "opens": insert_new.excluded.opens,
            "closes": insert_new.excluded.closes,
            "updated_at": func.now(),
        },
    )
    await session.execute(statement)
    return True


async def remove_exception(
    session: AsyncSession, owner_id: int, provider_id: int, day: date
) -> bool:
    """Back to the weekly hours on `day`; False if there was no such exception of the owner's."""
    if not await _lock_owned(session, owner_id, provider_id):
        return False
    statement = (
        delete(AvailabilityException)
        .where(AvailabilityException.provider_id == provider_id, AvailabilityException.date == day)
        .returning(AvailabilityException.id)
    )
    return (await session.execute(statement)).first() is not None


async def upcoming_exceptions(
    session: AsyncSession, provider_id: int, limit: int
) -> list[HoursException] | None:
    """An active provider's exceptions from today on (its today), by date, or None."""
    timezone = await _active_timezone(session, provider_id)
    if timezone is None:
        return None
    today = datetime.now(ZoneInfo(timezone)).date()
    exception = AvailabilityException
    rows = await session.execute(
        select(exception.date, exception.opens, exception.closes)
        .where(exception.provider_id == provider_id, exception.date >= today)
        .order_by(exception.date)
        .limit(limit)
    )
    return [
        HoursException(day, None if opens is None or closes is None else (opens, closes))
        for day, opens, closes in rows
    ]


async def opening_intervals(
    session: AsyncSession, provider_id: int, day: date
) -> list[tuple[time, time]]:
    """The provider's hours on `day` (a local date): its exception's, else the weekly ones."""
    exception = select(AvailabilityException.opens, AvailabilityException.closes).where(
        AvailabilityException.provider_id == provider_id, AvailabilityException.date == day
    )
    weekly = select(Availability.opens, Availability.closes).where(
        Availability.provider_id == provider_id,
        Availability.weekday == day.weekday(),
        ~exists(exception),
    )
    rows: Result[time | None, time | None] = await session.execute(union_all(exception, weekly))
    return [(opens, closes) for opens, closes in rows if opens is not None and closes is not None]
