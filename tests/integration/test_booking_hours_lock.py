"""A booking is checked against the hours it commits under, even while they change; and
bookings of one provider do not wait for each other."""

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import time, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db import bookings, hours
from db.bookings import BookingRequest, BookingRuleError
from geo.opening_hours import HoursException, OpeningHours, WeeklyHours
from tests.support.bookings import Client, OpenProvider, days_ahead, open_provider, stockholm

DAY = days_ahead(33)
HORIZON = timedelta(days=400)

Closing = Callable[[AsyncSession, OpenProvider], Coroutine[Any, Any, bool]]


async def close_the_day(session: AsyncSession, provider: OpenProvider) -> bool:
    closed = HoursException(DAY, None)
    return await hours.set_exception(session, provider.owner.id, provider.id, closed)


async def close_every_day_but_the_day_after(session: AsyncSession, provider: OpenProvider) -> bool:
    weekday = (DAY + timedelta(days=1)).weekday()
    weekly = WeeklyHours("Europe/Stockholm", [OpeningHours(weekday, time(8), time(17))])
    return await hours.replace_weekly_hours(session, provider.owner.id, provider.id, weekly)


def visit_on_the_day(provider: OpenProvider) -> BookingRequest:
    return BookingRequest(provider.id, provider.service_id, stockholm(DAY, 10), "Blixten", "")


@pytest.mark.parametrize("close", [close_the_day, close_every_day_but_the_day_after])
async def test_a_booking_waits_for_an_hours_change_in_flight_and_obeys_it(
    client: Client, engine: AsyncEngine, close: Closing
) -> None:
    provider = await open_provider(client)
    request = visit_on_the_day(provider)
    async with AsyncSession(engine) as changer, AsyncSession(engine) as booker:
        assert await close(changer, provider)
        attempt = asyncio.create_task(bookings.book(booker, provider.owner.id, request, HORIZON))
        await asyncio.sleep(0.5)
        assert not attempt.done(), "the booking should wait for the change to end"
        await changer.commit()
        with pytest.raises(BookingRuleError, match="closed"):
            await asyncio.wait_for(attempt, timeout=10)
        await booker.rollback()


@pytest.mark.parametrize("close", [close_the_day, close_every_day_but_the_day_after])
async def test_an_hours_change_waits_for_bookings_in_flight(
    client: Client, engine: AsyncEngine, close: Closing
) -> None:
    provider = await open_provider(client)
    request = visit_on_the_day(provider)
    async with AsyncSession(engine) as booker, AsyncSession(engine) as changer:
        await bookings.book(booker, provider.owner.id, request, HORIZON)
        change = asyncio.create_task(close(changer, provider))
        await asyncio.sleep(0.5)
        assert not change.done(), "the change should wait for the booking to end"
        await booker.rollback()
        assert await asyncio.wait_for(change, timeout=10)
        await changer.rollback()


async def test_bookings_of_one_provider_in_flight_do_not_wait_for_each_other(
    client: Client, engine: AsyncEngine
) -> None:
    provider = await open_provider(client)
    first = visit_on_the_day(provider)
    second = replace(first, start=stockholm(DAY, 12))
    async with AsyncSession(engine) as one, AsyncSession(engine) as other:
        await bookings.book(one, provider.owner.id, first, HORIZON)
        await other.execute(text("SET LOCAL lock_timeout = '2s'"))
        await bookings.book(other, provider.owner.id, second, HORIZON)
        await one.rollback()
        await other.rollback()


async def test_of_two_bookings_waiting_on_each_other_one_is_refused_as_taken(
    client: Client, engine: AsyncEngine
) -> None:
    """Two transactions each insert a booking the other's overlaps, so each waits for the
    other: PostgreSQL fails one with a deadlock, and that booking is a taken slot, not an
    error; the other is made."""
    provider = await open_provider(client)
    first = visit_on_the_day(provider)  # 10:00-11:00
    crossing = replace(first, start=stockholm(DAY, 10) + timedelta(minutes=30))
    later = replace(first, start=stockholm(DAY, 11))  # overlaps `crossing` only
    async with AsyncSession(engine) as one, AsyncSession(engine) as other:
        await bookings.book(one, provider.owner.id, later, HORIZON)
        waiting = asyncio.create_task(bookings.book(other, provider.owner.id, crossing, HORIZON))
        await asyncio.sleep(0.3)  # `crossing` waits for `later` to commit or roll back
        closing = asyncio.create_task(bookings.book(one, provider.owner.id, first, HORIZON))
        outcomes = await asyncio.gather(waiting, closing, return_exceptions=True)
        assert sorted(type(outcome).__name__ for outcome in outcomes) == [
            "Booking",
            "TimeTakenError",
        ]
        await one.rollback()
        await other.rollback()
