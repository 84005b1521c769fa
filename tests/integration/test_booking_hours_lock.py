"""A booking is checked against the hours it commits under, even while they change;
bookings of one provider's day take turns, so that each is checked against the travel to
and from its neighbours as they stand; bookings of other days never wait."""

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import time, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.routes.queries import day_rules
from app.settings import RoutePlanning
from db import bookings, hours
from db.bookings import BookingRequest, BookingRuleError
from db.commitments import TimeTakenError, TooFarError
from db.working_days import Travel
from geo.distance import Point
from geo.opening_hours import HoursException, OpeningHours, WeeklyHours
from geo.travel import GreatCircleMatrix
from tests.support.bookings import (
    BOOKABLE_SPOT,
    Client,
    OpenProvider,
    days_ahead,
    open_provider,
    stockholm,
)

DAY = days_ahead(33)
HORIZON = timedelta(days=400)
STRAIGHT = GreatCircleMatrix(60.0)
TRAVEL = Travel(lambda _: STRAIGHT, day_rules(RoutePlanning()))
# A stable an hour and a quarter's drive from the provider (60 km/h, great circle).
FAR = Point(BOOKABLE_SPOT["latitude"] + 75 / 111.195, BOOKABLE_SPOT["longitude"])

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
        attempt = asyncio.create_task(
            bookings.book(booker, provider.owner.id, request, HORIZON, TRAVEL)
        )
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
        await bookings.book(booker, provider.owner.id, request, HORIZON, TRAVEL)
        change = asyncio.create_task(close(changer, provider))
        await asyncio.sleep(0.5)
        assert not change.done(), "the change should wait for the booking to end"
        await booker.rollback()
        assert await asyncio.wait_for(change, timeout=10)
        await changer.rollback()


async def test_bookings_of_one_provider_on_other_days_do_not_wait_for_each_other(
    client: Client, engine: AsyncEngine
) -> None:
    provider = await open_provider(client)
    first = visit_on_the_day(provider)
    second = replace(first, start=stockholm(DAY + timedelta(days=1), 10))
    async with AsyncSession(engine) as one, AsyncSession(engine) as other:
        await bookings.book(one, provider.owner.id, first, HORIZON, TRAVEL)
        await other.execute(text("SET LOCAL lock_timeout = '2s'"))
        await bookings.book(other, provider.owner.id, second, HORIZON, TRAVEL)
        await one.rollback()
        await other.rollback()


@pytest.mark.parametrize(
    ("second", "refused"),
    [
        # 10:30 at the provider's: overlaps the first
        (lambda first: replace(first, start=stockholm(DAY, 10, 30)), TimeTakenError),
        # 11:00, right after the first, at a stable 75 minutes' drive away
        (lambda first: replace(first, start=stockholm(DAY, 11), place=FAR), TooFarError),
    ],
    ids=["overlapping", "too far to drive"],
)
async def test_bookings_of_one_provider_and_day_take_turns_and_the_second_sees_the_first(
    client: Client,
    engine: AsyncEngine,
    second: Callable[[BookingRequest], BookingRequest],
    refused: type[Exception],
) -> None:
    """Two customers at the same moment: the second waits for the first's transaction,
    then is checked against it. Without the day's lock an exclusion constraint alone would
    let the drive to a far stable through."""
    provider = await open_provider(client)
    first = visit_on_the_day(provider)
    async with AsyncSession(engine) as one, AsyncSession(engine) as other:
        await bookings.book(one, provider.owner.id, first, HORIZON, TRAVEL)
        waiting = asyncio.create_task(
            bookings.book(other, provider.owner.id, second(first), HORIZON, TRAVEL)
        )
        await asyncio.sleep(0.3)
        assert not waiting.done(), "the second booking of the day should wait for the first"
        await one.commit()
        with pytest.raises(refused):
            await asyncio.wait_for(waiting, timeout=10)
        await other.rollback()
