"""`make run`'s demo: the Stockholm provider's tomorrow is planned around a booking, with
a break, and an order found along the route is inserted; the Helsinki provider's is
planned on the sample road network."""

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app import demo
from app.settings import Settings
from geo.distance import Point
from tests.support.accounts import sign_up
from tests.support.bookings import Client
from tests.support.day_check import Busy, DayRulesSeen, check_day
from tests.support.roads import RoadGraph


async def test_the_demo_plans_tomorrow_around_a_booking_and_in_helsinki_on_the_roads(
    client: Client, settings: Settings, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    tomorrow = date.today() + timedelta(days=1)
    customer = await sign_up(client, "customer")
    rng = random.Random(60)
    for _ in range(demo.STOPS + 2):
        body = {
            "category": "farrier",
            "latitude": demo.STOCKHOLM.location["latitude"] + rng.uniform(-0.08, 0.08),
            "longitude": demo.STOCKHOLM.location["longitude"] + rng.uniform(-0.15, 0.15),
            "earliest": tomorrow.isoformat(),
            "latest": tomorrow.isoformat(),
        }
        made = await client.post("/api/route-orders", json=body, headers=customer.headers)
        assert made.status_code == 201, made.text

    await demo.plan_tomorrow(client, settings.secret_key)

    said = capsys.readouterr().err
    assert f"booked {demo.STOCKHOLM.name} on {tomorrow} at 12:00" in said
    assert "inserted order" in said, said
    assert "in Helsinki" in said
    headers = await demo._signed_in(client, settings.secret_key)
    day = {"date": tomorrow.isoformat()}
    route, helsinki = (await client.get("/api/routes", params=day, headers=headers)).json()["items"]
    assert helsinki["travel"] == "roads"
    assert {stop["leg_travel"] for stop in helsinki["stops"]} == {"roads"}
    assert len(helsinki["stops"]) == len(demo.HELSINKI_STABLES)
    roads = await RoadGraph.load(engine)
    zone = ZoneInfo(demo.HELSINKI.timezone)
    check_day(helsinki, DayRulesSeen(tomorrow, travel=roads.travel, zone=zone), {})
    assert route["break"] is not None
    start = datetime.combine(tomorrow, demo.BOOKED_AT, ZoneInfo("Europe/Stockholm"))
    booking = Busy(start, start + timedelta(minutes=45), Point(**demo.BOOKED_STABLE), "booking")
    check_day(route, DayRulesSeen(tomorrow, commitments=[booking]), {})
