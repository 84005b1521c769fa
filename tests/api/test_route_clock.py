"""Day routes on the provider's clock: what does not fit is said and left open, a new
order goes where the day drives least, a re-solve keeps the visits made, and customers
hear of a visit that moved."""

import itertools
from datetime import datetime, time, timedelta
from typing import Any

import pytest

from geo.distance import Point, haversine_m
from tests.support.accounts import SignedIn
from tests.support.bookings import Client, OpenProvider, booked, stockholm
from tests.support.day_check import Busy, DayRulesSeen, check_day
from tests.support.routes import DAY, HOME, ROUTES, orders_around, planned, route_body


async def _post(client: Client, provider: OpenProvider, url: str, body: Any = None) -> Any:
    response = await client.post(url, json=body, headers=provider.owner.headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


async def test_orders_that_do_not_fit_come_back_with_the_reason_and_stay_open(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    await booked(client, customer, provider, stockholm(DAY, 9))  # 09:00-10:00 at home
    fits = await orders_around(client, customer, 1, seed=40, spread=0.02)
    dawn = await orders_around(client, customer, 1, seed=41, spread=0.02, arrive_before="07:00")
    held = await orders_around(
        client, customer, 1, seed=42, spread=0.02, arrive_after="09:10", arrive_before="09:40"
    )
    far = await orders_around(client, customer, 1, latitude=HOME.latitude + 0.6)  # 67 km
    herds = await orders_around(client, customer, 3, seed=43, spread=0.02, horses=3)
    body = route_body(provider, fits + dawn + held + far + herds)
    route = await _post(client, provider, ROUTES, body)
    reasons = {left["route_order_id"]: left["reason"] for left in route["unassigned"]}
    assert reasons[dawn[0]["id"]] == "outside_window"
    assert reasons[held[0]["id"]] == "conflicts_with_booking"
    assert reasons[far[0]["id"]] == "too_far"
    assert "after_shift" in {reasons.get(order["id"]) for order in herds}  # 3 h each
    assert fits[0]["id"] not in reasons
    mine = await client.get("/api/route-orders/mine", headers=customer.headers)
    status = {order["id"]: order["status"] for order in mine.json()["items"]}
    assert {status[order_id] for order_id in reasons} == {"open"}
    booking = Busy(stockholm(DAY, 9), stockholm(DAY, 10), HOME, "booking")
    orders = {order["id"]: order for order in fits + herds}
    check_day(route, DayRulesSeen(DAY, commitments=[booking]), orders)


async def test_nothing_that_fits_is_422_with_the_reasons(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    late = await orders_around(client, customer, 1, arrive_after="17:30")
    refused = await client.post(
        ROUTES, json=route_body(provider, late), headers=provider.owner.headers
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["extra"]["unassigned"] == [
        {"route_order_id": late[0]["id"], "reason": "outside_window"}
    ]


async def test_an_open_day_ends_at_its_last_visit(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 3, seed=44)
    route = await planned(client, provider, route_body(provider, orders, end=None))
    assert route["end"] is None
    last = route["stops"][-1]
    finished = datetime.fromisoformat(last["eta"]) + timedelta(minutes=last["service_minutes"])
    assert datetime.fromisoformat(route["finish"]) == finished
    check_day(route, DayRulesSeen(DAY), {order["id"]: order for order in orders})


async def _insert(
    client: Client, provider: OpenProvider, route: dict[str, Any], order: dict[str, Any]
) -> Any:
    return await _post(
        client, provider, f"{ROUTES}/{route['id']}/stops", {"route_order_id": order["id"]}
    )


def _path_m(points: list[Point]) -> float:
    return sum(haversine_m(a, b) for a, b in itertools.pairwise(points))


async def _planned_then_inserted(
    client: Client, provider: OpenProvider, customer: SignedIn, seed: int, **extra_fields: Any
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Three orders planned, then one more inserted: the orders, the route before, the new
    order and the route after."""
    orders = await orders_around(client, customer, 3, seed=seed, spread=0.1)
    route = await planned(client, provider, route_body(provider, orders))
    [extra] = await orders_around(client, customer, 1, seed=seed + 1, spread=0.1, **extra_fields)
    body = {"route_order_id": extra["id"]}
    after = await _post(client, provider, f"{ROUTES}/{route['id']}/stops", body)
    return orders, route, extra, after


async def test_an_inserted_order_goes_where_the_day_drives_least(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders, route, extra, after = await _planned_then_inserted(client, provider, customer, 45)
    stops = [Point(stop["latitude"], stop["longitude"]) for stop in route["stops"]]
    new = Point(extra["latitude"], extra["longitude"])
    brute_force = min(
        _path_m([HOME, *stops[:at], new, *stops[at:], HOME]) for at in range(len(stops) + 1)
    )
    assert after["total_distance_m"] == pytest.approx(brute_force, rel=1e-9)
    kept = [s["route_order_id"] for s in after["stops"] if s["route_order_id"] != extra["id"]]
    assert kept == [stop["route_order_id"] for stop in route["stops"]]
    check_day(after, DayRulesSeen(DAY), {o["id"]: o for o in [*orders, extra]})


async def test_customers_whose_visit_moved_are_told_once(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    """An order at home that must be visited first moves every other visit by an hour."""
    _, route, extra, after = await _planned_then_inserted(
        client, provider, customer, 47, latitude=HOME.latitude, arrive_before="08:30"
    )
    assert after["stops"][0]["route_order_id"] == extra["id"]
    before = {s["route_order_id"]: datetime.fromisoformat(s["eta"]) for s in route["stops"]}
    moved = {
        stop["route_order_id"]
        for stop in after["stops"]
        if stop["route_order_id"] in before
        and abs(datetime.fromisoformat(stop["eta"]) - before[stop["route_order_id"]])
        > timedelta(minutes=15)
    }
    assert moved == set(before)
    notices = (await client.get("/api/notifications", headers=customer.headers)).json()["items"]
    told = [n["payload"]["route_order_id"] for n in notices if n["kind"] == "route_eta_moved"]
    assert sorted(told) == sorted(moved)  # once each: it replaced the news of the plan

    read = await client.post("/api/notifications/read-all", headers=customer.headers)
    assert read.status_code == 200, read.text
    [late] = await orders_around(client, customer, 1, seed=49, spread=0.05, arrive_after="15:30")
    body = {"route_order_id": late["id"]}
    last = await _post(client, provider, f"{ROUTES}/{route['id']}/stops", body)
    assert last["stops"][-1]["route_order_id"] == late["id"]
    assert [s["eta"] for s in last["stops"][:-1]] == [s["eta"] for s in after["stops"]]
    unread = await client.get(
        "/api/notifications", params={"unread": "true"}, headers=customer.headers
    )
    news = {n["payload"]["route_order_id"] for n in unread.json()["items"]}
    assert news == {late["id"]}  # nobody whose visit stayed put is told


async def test_optimizing_keeps_the_visits_made_first_and_where_they_were(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 5, seed=49, spread=0.1)
    zigzag = (
        sorted(orders, key=lambda o: o["longitude"])[::2]
        + sorted(orders, key=lambda o: o["longitude"])[1::2]
    )
    route = await planned(client, provider, route_body(provider, zigzag, optimize=False))
    first = route["stops"][0]
    done = f"{ROUTES}/{route['id']}/stops/{first['route_order_id']}/done"
    await _post(client, provider, done)
    after = await _post(client, provider, f"{ROUTES}/{route['id']}/optimize")
    assert after["stops"][0] | {"status": "planned"} == first
    assert after["total_distance_m"] <= route["total_distance_m"] + 1e-6
    assert sorted(s["route_order_id"] for s in after["stops"]) == sorted(o["id"] for o in orders)
    check_day(after, DayRulesSeen(DAY), {o["id"]: o for o in orders})


async def test_a_provider_sets_its_own_break_or_none(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    url = f"/api/providers/{provider.id}"
    own = {"route_break": {"minutes": 45, "from": "12:00", "until": "14:00"}}
    changed = await client.patch(url, json=own, headers=provider.owner.headers)
    assert changed.status_code == 200, changed.text
    assert "route_break" not in changed.json()  # not part of the public profile
    orders = await orders_around(client, customer, 3, seed=52, spread=0.1, horses=2)
    route = await planned(client, provider, route_body(provider, orders))
    rules = DayRulesSeen(DAY, break_minutes=45, break_window=(time(12), time(14)))
    check_day(route, rules, {order["id"]: order for order in orders})
    assert route["break"] is not None

    none = {"route_break": {"minutes": 0, "from": "12:00", "until": "14:00"}}
    assert (await client.patch(url, json=none, headers=provider.owner.headers)).status_code == 200
    more = await orders_around(client, customer, 3, seed=53, spread=0.1, horses=2)
    next_day = (DAY + timedelta(days=1)).isoformat()
    unbroken = await planned(client, provider, route_body(provider, more, date=next_day))
    assert unbroken["break"] is None

    backwards = {"route_break": {"minutes": 30, "from": "14:00", "until": "12:00"}}
    refused = await client.patch(url, json=backwards, headers=provider.owner.headers)
    assert refused.status_code == 400, refused.text


async def test_an_insertion_ends_the_cached_free_slots_it_takes(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    route = await planned(
        client, provider, route_body(provider, await orders_around(client, customer, 1, seed=54))
    )
    query: dict[str, str | int] = {
        "service_id": provider.service_id,
        "from": DAY.isoformat(),
        "to": DAY.isoformat(),
    }
    url = f"/api/providers/{provider.id}/slots"
    three = stockholm(DAY, 15)
    starts = [
        datetime.fromisoformat(s["start"])
        for s in (await client.get(url, params=query)).json()["items"]
    ]
    assert three in starts  # read, and cached
    [late] = await orders_around(
        client,
        customer,
        1,
        latitude=HOME.latitude,
        longitude=HOME.longitude,
        arrive_after="15:00",
        arrive_before="15:05",
    )
    body = {"route_order_id": late["id"]}
    after = await _post(client, provider, f"{ROUTES}/{route['id']}/stops", body)
    assert datetime.fromisoformat(after["stops"][-1]["eta"]) == three
    starts = [
        datetime.fromisoformat(s["start"])
        for s in (await client.get(url, params=query)).json()["items"]
    ]
    assert three not in starts
