"""Free slots and bookings in central Helsinki, on the sample road network the suite
loads: each commitment is widened by the drives on the roads (one way differs from the
other), as a minute-by-minute reckoning with the test's own shortest paths finds,
every slot offered can be booked, and the answers say the roads measured them."""

import math
import random
from datetime import UTC, datetime, time, timedelta

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
    every_page,
    open_provider,
    stockholm,
)
from tests.support.free_time import Calendar, brute_force_slots, commitments_of
from tests.support.roads import RoadGraph

HELSINKI = {"latitude": 60.1706, "longitude": 24.9441}


async def _offered(
    client: Client, provider: OpenProvider, day: object, at: Point
) -> list[datetime]:
    query: dict[str, str | float] = {"service_id": provider.service_id, "from": str(day)}
    query |= {"to": str(day), "lat": at.latitude, "lng": at.longitude}
    response = await client.get(f"/api/providers/{provider.id}/slots", params=query)
    assert response.status_code == 200, response.text
    assert response.json()["travel"] == "roads"
    return [datetime.fromisoformat(slot["start"]) for slot in response.json()["items"]]


async def test_slots_on_the_roads_are_what_the_calendar_allows_minute_by_minute(
    client: Client, customer: SignedIn, engine: AsyncEngine, settings: Settings
) -> None:
    roads = await RoadGraph.load(engine)
    provider = await open_provider(client, duration_minutes=20, spot=HELSINKI)
    day = days_ahead(5)
    rng = random.Random(21)
    stables = [roads.random_point(rng) for _ in range(4)]
    # Each visit ends two minutes before a slot could start after it, and a slot could
    # end three minutes before each starts: about a drive in the centre, a little more
    # on the roads than along the straight line.
    for hour, at in zip((9, 11, 13, 15), stables, strict=True):
        await booked_at(client, customer, provider, stockholm(day, hour, 23), at)
    weekly = {weekday: [(time(8), time(17))] for weekday in range(7)}
    calendar = Calendar(Point(**HELSINKI), weekly, {}, await commitments_of(engine, provider.id))

    def on_roads(a: Point, b: Point) -> timedelta:
        return timedelta(seconds=math.ceil(roads.drive(a, b)[0]))

    rules, differs = slot_rules(settings), False
    for at in [stables[0], roads.random_point(rng), roads.random_point(rng)]:
        now = datetime.now(UTC)
        offered = await _offered(client, provider, day, at)
        expected = brute_force_slots(calendar, 20, (day, day), at, rules, now, on_roads)
        assert offered == expected
        differs |= expected != brute_force_slots(calendar, 20, (day, day), at, rules, now)
    assert differs  # the roads, not the great circle, widened the commitments


async def test_every_slot_offered_on_the_roads_can_be_booked_until_none_is_left(
    client: Client, customer: SignedIn, engine: AsyncEngine
) -> None:
    roads = await RoadGraph.load(engine)
    provider = await open_provider(client, opens="08:00", closes="13:00", spot=HELSINKI)
    day = days_ahead(6)
    rng = random.Random(31)
    await booked_at(client, customer, provider, stockholm(day, 10), roads.random_point(rng))
    booked = 0
    while offered := await _offered(client, provider, day, there := roads.random_point(rng)):
        await booked_at(client, customer, provider, rng.choice(offered), there)
        booked += 1
        assert booked <= 5  # five hours, 60-minute visits
    assert booked >= 2


async def test_free_near_me_says_its_slots_were_reckoned_on_the_roads(
    client: Client, customer: SignedIn, engine: AsyncEngine
) -> None:
    roads = await RoadGraph.load(engine)
    provider = await open_provider(client, spot=HELSINKI)
    day, at = days_ahead(7), roads.random_point(random.Random(41))
    query: dict[str, str | float] = {"lat": at.latitude, "lng": at.longitude, "radius_km": 3}
    query |= {"category": "farrier"}
    query |= {"from": str(day), "to": str(day), "limit": 100}
    items = await every_page(client, customer, "/api/providers/available", query)
    assert provider.id in [item["id"] for item in items]
    assert {item["first_free"]["travel"] for item in items} == {"roads"}


async def test_a_booking_too_far_on_the_roads_says_the_road_drive(
    client: Client, customer: SignedIn, engine: AsyncEngine
) -> None:
    roads = await RoadGraph.load(engine)
    provider = await open_provider(client, spot=HELSINKI)
    day, rng = days_ahead(8), random.Random(51)
    first, second = roads.random_point(rng), roads.random_point(rng)
    await booked_at(client, customer, provider, stockholm(day, 9), first)
    body = provider.booking(
        stockholm(day, 10), latitude=second.latitude, longitude=second.longitude
    )
    answer = await client.post("/api/bookings", json=body, headers=customer.headers)
    assert answer.status_code == 409, answer.text
    seconds, _, by_roads = roads.drive(first, second)
    assert by_roads
    assert answer.json()["extra"]["drive_minutes"] == math.ceil(math.ceil(seconds) / 60)
    assert answer.json()["extra"]["travel"] == "roads"
