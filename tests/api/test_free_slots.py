"""One provider's free slots (db.slots): what a minute-by-minute reckoning of its calendar
allows, across both clock changes, exceptions, touching hours, commitments at other places
and the drive to them; and every slot offered can be booked."""

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from app.slots.queries import slot_rules
from geo.distance import Point
from tests.support.accounts import SignedIn
from tests.support.bookings import (
    Client,
    OpenProvider,
    booked_at,
    days_ahead,
    next_dst_change,
    open_provider,
    stockholm,
)
from tests.support.free_time import (
    Calendar,
    brute_force_slots,
    commitments_of,
    set_hours,
)
from tests.support.routes import HOME, orders_around, planned, route_body

MINUTES = 45
# Stables 12 and 35 km north of the provider (12 and 35 minutes' drive at 60 km/h).
NEAR = Point(HOME.latitude + 12 / 111.195, HOME.longitude)
FAR = Point(HOME.latitude + 35 / 111.195, HOME.longitude)


def _path(provider: OpenProvider) -> str:
    return f"/api/providers/{provider.id}/slots"


async def _slots(
    client: Client,
    provider: OpenProvider,
    days: tuple[date, date],
    place: Point | None = None,
    **params: Any,
) -> list[dict[str, Any]]:
    query = {"service_id": provider.service_id, "from": days[0], "to": days[1], **params}
    if place is not None:
        query |= {"lat": place.latitude, "lng": place.longitude}
    response = await client.get(_path(provider), params=query)
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == "Europe/Stockholm"
    assert response.json()["travel"] == "great_circle"  # no road network up north
    items: list[dict[str, Any]] = response.json()["items"]
    return items


@pytest.mark.parametrize("forward", [True, False], ids=["spring", "autumn"])
async def test_slots_are_what_the_calendar_allows_minute_by_minute(
    client: Client, customer: SignedIn, engine: AsyncEngine, settings: Settings, forward: bool
) -> None:
    change = next_dst_change(forward)  # a Sunday
    days = (change - timedelta(days=4), change + timedelta(days=9))
    provider = await open_provider(client, duration_minutes=MINUTES)
    weekly, exceptions = await set_hours(
        client,
        provider,
        # Touching intervals on weekdays: a visit must fit in one of them. Sundays open
        # through the changed hour.
        {day: [("08:00", "12:00"), ("12:00", "16:30")] for day in range(5)}
        | {5: [("09:00", "13:00")], 6: [("00:30", "04:00"), ("10:00", "14:00")]},
        {change - timedelta(days=2): None, change + timedelta(days=3): ("10:00", "12:30")},
    )
    at = {
        stockholm(change - timedelta(days=1), 9): HOME,
        stockholm(change - timedelta(days=1), 11): FAR,
        stockholm(change, 1, 30): HOME,
        stockholm(change, 11): NEAR,
        stockholm(change + timedelta(days=1), 13): FAR,
        stockholm(change + timedelta(days=2), 9, 10): NEAR,
    }
    for start, place in at.items():
        await booked_at(client, customer, provider, start, place)
    route_day = change + timedelta(days=5)
    orders = await orders_around(
        client, customer, 2, earliest=route_day.isoformat(), latest=route_day.isoformat()
    )
    await planned(client, provider, route_body(provider, orders, date=route_day.isoformat()))
    commitments = await commitments_of(engine, provider.id)
    assert len(commitments) == len(at) + 2
    calendar = Calendar(HOME, weekly, exceptions, commitments)
    rules = slot_rules(settings)
    places: list[Point | None] = [None, NEAR, FAR]
    for somewhere in places:
        now = datetime.now(UTC)
        offered = await _slots(client, provider, days, somewhere)
        expected = brute_force_slots(calendar, MINUTES, days, somewhere, rules, now)
        assert [datetime.fromisoformat(slot["start"]) for slot in offered] == expected
        assert all(
            datetime.fromisoformat(slot["end"]) - datetime.fromisoformat(slot["start"])
            == timedelta(minutes=MINUTES)
            for slot in offered
        )
        assert len(expected) > 200  # the window is mostly free: a real comparison


async def test_every_slot_offered_can_be_booked_until_none_is_left(
    client: Client, customer: SignedIn
) -> None:
    provider = await open_provider(client, duration_minutes=60, opens="08:00", closes="13:00")
    day = days_ahead(6)
    await booked_at(client, customer, provider, stockholm(day, 10), FAR)
    rng = random.Random(29)
    booked = 0
    while offered := await _slots(client, provider, (day, day), NEAR):
        await booked_at(
            client, customer, provider, datetime.fromisoformat(rng.choice(offered)["start"]), NEAR
        )
        booked += 1
        assert booked <= 5  # five hours, 60-minute visits
    assert booked >= 2


async def test_slots_start_after_the_notice(client: Client, settings: Settings) -> None:
    provider = await open_provider(client, duration_minutes=15, opens="00:00", closes="23:59")
    now = datetime.now(UTC)
    today = now.date()
    offered = await _slots(client, provider, (today, today + timedelta(days=1)))
    first = datetime.fromisoformat(offered[0]["start"])
    notice = timedelta(minutes=settings.booking_min_notice_minutes)
    # The next start on the step, or past midnight if the day's last was too late.
    assert now + notice <= first < now + notice + timedelta(minutes=31)


async def test_slots_leave_out_a_new_bookings_time_at_once_and_offer_it_again_when_cancelled(
    client: Client, customer: SignedIn
) -> None:
    provider = await open_provider(client, duration_minutes=60)
    other = await open_provider(client, duration_minutes=60)
    day = days_ahead(4)
    before = await _slots(client, provider, (day, day))
    params: dict[str, str | int] = {
        "service_id": provider.service_id,
        "from": str(day),
        "to": str(day),
    }
    repeated = await client.get(_path(provider), params=params)
    assert repeated.headers["server-timing"] == 'cache;desc="hit"'
    await booked_at(client, customer, other, stockholm(day, 10), HOME)
    untouched = await client.get(_path(provider), params=params)
    assert untouched.headers["server-timing"] == 'cache;desc="hit"'  # another provider's
    booking_id = await booked_at(client, customer, provider, stockholm(day, 10), HOME)
    after = await _slots(client, provider, (day, day))
    first_taken = stockholm(day, 9, 15)
    taken = {(first_taken + timedelta(minutes=15 * q)).isoformat() for q in range(7)}
    assert {slot["start"] for slot in before} - {slot["start"] for slot in after} == taken
    cancelled = await client.post(f"/api/bookings/{booking_id}/cancel", headers=customer.headers)
    assert cancelled.status_code == 200, cancelled.text
    assert await _slots(client, provider, (day, day)) == before  # its time is free again


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": days_ahead(1), "to": days_ahead(15)}, "at most 14 days"),
        ({"from": days_ahead(3), "to": days_ahead(2)}, "before from"),
        ({"from": days_ahead(-3)}, "in the past"),
        ({"from": days_ahead(500)}, "booking horizon"),
        ({"from": "9999-12-31"}, "booking horizon"),
        ({"to": "9999-12-31"}, "at most 14 days"),
        ({"lat": 60.0}, "lat and lng together"),
        ({"lng": 10.0}, "lat and lng together"),
        ({"lat": 91.0, "lng": 10.0}, "lat"),
        ({"from": "2027-02-30"}, "from"),
    ],
)
async def test_bad_windows_and_places_are_400(
    client: Client, provider: OpenProvider, params: dict[str, Any], message: str
) -> None:
    response = await client.get(
        _path(provider), params={"service_id": provider.service_id, **params}
    )
    assert response.status_code == 400, response.text
    assert message in response.text


async def test_a_service_the_provider_does_not_offer_is_400_and_an_unknown_provider_404(
    client: Client, provider: OpenProvider
) -> None:
    other = await open_provider(client)
    response = await client.get(_path(provider), params={"service_id": other.service_id})
    assert response.status_code == 400, response.text
    assert f"offers no service {other.service_id}" in response.json()["detail"]
    stopped = await client.delete(
        f"/api/providers/{provider.id}/services/{provider.service_id}",
        headers=provider.owner.headers,
    )
    assert stopped.status_code == 204, stopped.text
    response = await client.get(_path(provider), params={"service_id": provider.service_id})
    assert response.status_code == 400, response.text
    response = await client.get(
        "/api/providers/999999999/slots", params={"service_id": provider.service_id}
    )
    assert response.status_code == 404, response.text
