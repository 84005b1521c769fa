"""Day routes: claiming open orders, visiting order, legs and arrival times, and who may."""

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import shapely.geometry
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.distance import Point, haversine_m
from tests.support.accounts import SignedIn
from tests.support.bookings import (
    Client,
    OpenProvider,
    every_page,
    open_provider,
)
from tests.support.day_check import DayRulesSeen, check_day
from tests.support.routes import (
    DAY,
    HOME,
    PLANNING,
    ROUTES,
    orders_around,
    path_m,
    planned,
    route_body,
)


async def test_a_route_visits_every_order_once_with_legs_totals_and_arrivals(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 5)
    route = await planned(client, provider, route_body(provider, orders))

    stops = route["stops"]
    assert [stop["position"] for stop in stops] == list(range(5))
    assert sorted(stop["route_order_id"] for stop in stops) == sorted(o["id"] for o in orders)
    points = [HOME, *(Point(stop["latitude"], stop["longitude"]) for stop in stops), HOME]
    legs = [haversine_m(a, b) for a, b in itertools.pairwise(points)]
    assert [stop["leg_distance_m"] for stop in stops] == pytest.approx(legs[:-1], rel=1e-9)
    assert route["end"]["distance_m"] == pytest.approx(legs[-1], rel=1e-9)
    assert route["total_distance_m"] == pytest.approx(sum(legs), rel=1e-9)
    assert (route["date"], route["status"], route["start"]) == (
        DAY.isoformat(),
        "planned",
        {"latitude": HOME.latitude, "longitude": HOME.longitude},
    )
    check_day(route, DayRulesSeen(DAY), {order["id"]: order for order in orders})


async def test_an_optimized_route_is_no_longer_than_the_order_given(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 6, seed=2, spread=0.1)
    as_given = [HOME, *(Point(o["latitude"], o["longitude"]) for o in orders), HOME]
    route = await planned(client, provider, route_body(provider, orders))
    assert route["total_distance_m"] <= path_m(as_given)


async def test_without_optimizing_the_stops_keep_the_order_given_from_the_start_given(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 4, seed=3)
    start = {"latitude": 66.8, "longitude": 5.2}
    body = route_body(provider, orders[::-1], optimize=False, start=start)
    route = await planned(client, provider, body)
    assert [stop["route_order_id"] for stop in route["stops"]] == [o["id"] for o in orders[::-1]]
    first = route["stops"][0]
    assert first["leg_distance_m"] == pytest.approx(
        haversine_m(Point(66.8, 5.2), Point(first["latitude"], first["longitude"])), rel=1e-9
    )
    assert route["start"] == start


async def test_planned_orders_leave_the_open_list_and_their_customers_are_told(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 2, seed=4)
    route = await planned(client, provider, route_body(provider, orders))
    mine = await client.get("/api/route-orders/mine", headers=customer.headers)
    assert {o["status"] for o in mine.json()["items"]} == {"planned"}
    notices = await client.get("/api/notifications", headers=customer.headers)
    told = {
        n["payload"]["route_order_id"]: n["payload"]
        for n in notices.json()["items"]
        if n["kind"] == "route_planned"
    }
    assert told == {
        stop["route_order_id"]: {
            "route_id": route["id"],
            "route_order_id": stop["route_order_id"],
            "provider_id": provider.id,
            "business_name": "Bokbar",
            "eta": datetime.fromisoformat(stop["eta"])
            .astimezone(ZoneInfo("Europe/Stockholm"))
            .isoformat(),
        }
        for stop in route["stops"]
    }


async def route_count(engine: AsyncEngine, provider_id: int) -> int:
    async with engine.connect() as connection:
        count: int = await connection.scalar(
            text("SELECT count(*) FROM routes WHERE provider_id = :p"), {"p": provider_id}
        )
    return count


async def test_an_order_in_another_route_is_409_and_nothing_is_stored(
    client: Client, provider: OpenProvider, customer: SignedIn, engine: AsyncEngine
) -> None:
    taken, free = await orders_around(client, customer, 2, seed=5)
    await planned(client, provider, route_body(provider, [taken]))
    rival = await open_provider(client)
    response = await client.post(
        ROUTES, json=route_body(rival, [free, taken]), headers=rival.owner.headers
    )
    assert response.status_code == 409
    assert response.json()["detail"] == f"route order {taken['id']} is already in a route"
    assert await route_count(engine, rival.id) == 0
    mine = await client.get("/api/route-orders/mine", headers=customer.headers)
    assert {o["id"]: o["status"] for o in mine.json()["items"]}[free["id"]] == "open"


async def test_orders_that_cannot_be_planned_that_day_are_422_naming_them(
    client: Client, provider: OpenProvider, customer: SignedIn, engine: AsyncEngine
) -> None:
    [ok] = await orders_around(client, customer, 1, seed=6)
    [later] = await orders_around(
        client, customer, 1, earliest=(DAY + timedelta(days=1)).isoformat()
    )
    [vet] = await orders_around(client, customer, 1, category="vet")
    [cancelled] = await orders_around(client, customer, 1)
    await client.post(f"/api/route-orders/{cancelled['id']}/cancel", headers=customer.headers)
    cases = {
        later["id"]: (
            f"route order {later['id']} is wanted from {(DAY + timedelta(days=1))} to"
            f" {(DAY + timedelta(days=2))}, not on {DAY}"
        ),
        vet["id"]: f"provider {provider.id} offers no vet service for route order {vet['id']}",
        cancelled["id"]: f"route order {cancelled['id']} is cancelled",
        2**62: f"route order {2**62} does not exist",
    }
    for order_id, detail in cases.items():
        body = route_body(provider, [ok]) | {"route_order_ids": [ok["id"], order_id]}
        response = await client.post(ROUTES, json=body, headers=provider.owner.headers)
        assert (response.status_code, response.json()["detail"]) == (422, detail)
    assert await route_count(engine, provider.id) == 0


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"route_order_ids": []}, "route_order_ids"),
        ({"route_order_ids": [1, 1]}, "must not repeat"),
        ({"route_order_ids": list(range(1, PLANNING.max_stops + 2))}, "at most 50 stops"),
        ({"date": "someday"}, "date"),
        ({"start": {"latitude": 91, "longitude": 0}}, "latitude"),
        ({"optimise": True}, "optimise"),
    ],
)
async def test_bad_route_requests_are_400(
    client: Client, provider: OpenProvider, change: dict[str, Any], detail: str
) -> None:
    body = {"provider_id": provider.id, "date": DAY.isoformat(), "route_order_ids": [1]} | change
    response = await client.post(ROUTES, json=body, headers=provider.owner.headers)
    assert response.status_code == 400, response.text
    assert detail in response.text


async def test_someone_elses_provider_or_route_is_404(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 1, seed=7)
    stranger = await open_provider(client)
    response = await client.post(
        ROUTES, json=route_body(provider, orders), headers=stranger.owner.headers
    )
    assert response.status_code == 404
    route = await planned(client, provider, route_body(provider, orders))
    assert (
        await client.get(f"{ROUTES}/{route['id']}", headers=stranger.owner.headers)
    ).status_code == 404
    mine = await client.get(f"{ROUTES}/{route['id']}", headers=provider.owner.headers)
    assert mine.json() == route


async def test_customers_plan_no_routes(client: Client, customer: SignedIn) -> None:
    body = {"provider_id": 1, "date": DAY.isoformat(), "route_order_ids": [1]}
    assert (await client.post(ROUTES, json=body, headers=customer.headers)).status_code == 403


@contextmanager
def counted_statements() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(Engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(Engine, "before_cursor_execute", count)


@pytest.mark.parametrize("stops", [2, 30])
async def test_reading_a_route_takes_the_same_statements_whatever_its_length(
    client: Client, provider: OpenProvider, customer: SignedIn, stops: int
) -> None:
    quick = await open_provider(client, duration_minutes=5, opens="00:00", closes="23:59")
    orders = await orders_around(client, customer, stops, seed=stops, spread=0.05)
    route = await planned(client, quick, route_body(quick, orders))
    with counted_statements() as statements:
        response = await client.get(f"{ROUTES}/{route['id']}", headers=quick.owner.headers)
    assert len(response.json()["stops"]) == stops
    queries = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 3, statements


async def test_completing_stops_completes_their_orders_and_at_last_the_route(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 2, seed=10)
    route = await planned(client, provider, route_body(provider, orders, optimize=False))
    first, second = (f"{ROUTES}/{route['id']}/stops/{o['id']}/done" for o in orders)
    owner = provider.owner.headers

    after_first = await client.post(first, headers=owner)
    assert after_first.status_code == 200, after_first.text
    assert (after_first.json()["status"], [s["status"] for s in after_first.json()["stops"]]) == (
        "planned",
        ["done", "planned"],
    )
    again = await client.post(first, headers=owner)
    assert (again.status_code, again.json()["detail"]) == (
        409,
        f"the visit to route order {orders[0]['id']} is done already",
    )
    after_second = await client.post(second, headers=owner)
    assert after_second.json()["status"] == "done"
    mine = await client.get("/api/route-orders/mine", headers=customer.headers)
    assert {o["status"] for o in mine.json()["items"]} == {"done"}


async def test_someone_elses_stop_or_an_order_off_the_route_is_404(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    on_route, off_route = await orders_around(client, customer, 2, seed=11)
    route = await planned(client, provider, route_body(provider, [on_route]))
    stranger = await open_provider(client)
    done = f"{ROUTES}/{route['id']}/stops/{on_route['id']}/done"
    assert (await client.post(done, headers=stranger.owner.headers)).status_code == 404
    off = f"{ROUTES}/{route['id']}/stops/{off_route['id']}/done"
    assert (await client.post(off, headers=provider.owner.headers)).status_code == 404
    unchanged = await client.get(f"{ROUTES}/{route['id']}", headers=provider.owner.headers)
    assert unchanged.json() == route


async def test_the_routes_of_a_day_are_the_callers_own_by_id_across_pages(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 5, seed=12)
    second = await open_provider(client, owner=provider.owner)  # a day's routes don't overlap
    mine = [
        await planned(client, provider, route_body(provider, orders[:2])),
        await planned(client, second, route_body(second, orders[2:4])),
    ]
    other_day = DAY + timedelta(days=1)
    await planned(
        client, provider, route_body(provider, [orders[4]]) | {"date": other_day.isoformat()}
    )
    stranger = await open_provider(client)
    [theirs] = await orders_around(client, customer, 1, seed=13)
    await planned(client, stranger, route_body(stranger, [theirs]))

    day: dict[str, str | float] = {"date": DAY.isoformat(), "limit": 1}
    with counted_statements() as statements:
        listed = await every_page(client, provider.owner, ROUTES, day)
    assert listed == mine
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 2 * 3  # two pages: routes, their stops, the stops' orders


async def test_a_day_is_required_and_a_cursor_belongs_to_its_day(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    owner = provider.owner.headers
    assert (await client.get(ROUTES, headers=owner)).status_code == 400
    orders = await orders_around(client, customer, 2, seed=14)
    second = await open_provider(client, owner=provider.owner)
    for planner, order in zip((provider, second), orders, strict=True):
        await planned(client, planner, route_body(planner, [order]))
    page = await client.get(ROUTES, params={"date": DAY.isoformat(), "limit": 1}, headers=owner)
    cursor = page.json()["next_cursor"]
    other_day = {"date": (DAY + timedelta(days=1)).isoformat(), "cursor": cursor}
    assert (await client.get(ROUTES, params=other_day, headers=owner)).status_code == 400


async def test_a_route_as_geojson_has_its_start_line_and_stops(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 4, seed=15)
    route = await planned(client, provider, route_body(provider, orders))
    params = {"format": "geojson"}
    url = f"{ROUTES}/{route['id']}"
    response = await client.get(url, params=params, headers=provider.owner.headers)
    assert response.headers["content-type"] == "application/geo+json"
    collection = response.json()
    summary = {key: route[key] for key in ("id", "provider_id", "date", "status")}
    assert {key: collection[key] for key in summary} == summary
    assert collection["total_distance_m"] == route["total_distance_m"]
    kinds = [feature["properties"]["kind"] for feature in collection["features"]]
    assert kinds == ["start", "line", *["stop"] * 4]
    start, line, *stops = collection["features"]
    assert start["geometry"]["coordinates"] == [HOME.longitude, HOME.latitude]
    assert [stop["properties"] for stop in stops] == [
        {"kind": "stop", "route_id": route["id"], **stop} for stop in route["stops"]
    ]
    drawn = shapely.geometry.shape(line["geometry"])
    for stop in stops:
        assert drawn.distance(shapely.geometry.shape(stop["geometry"])) < 1e-4
    assert line["geometry"]["coordinates"][0] == start["geometry"]["coordinates"]
    assert line["geometry"]["coordinates"][-1] == start["geometry"]["coordinates"]  # home
    assert line["properties"]["total_distance_m"] == route["total_distance_m"]

    day = {"date": DAY.isoformat(), "format": "geojson"}
    listed = await client.get(ROUTES, params=day, headers=provider.owner.headers)
    assert listed.json() == {
        "type": "FeatureCollection",
        "features": collection["features"],
        "next_cursor": None,
    }


async def test_a_cancelled_route_as_geojson_is_its_start_alone(
    client: Client, provider: OpenProvider, customer: SignedIn
) -> None:
    orders = await orders_around(client, customer, 1, seed=16)
    route = await planned(client, provider, route_body(provider, orders))
    url = f"{ROUTES}/{route['id']}"
    owner = provider.owner.headers
    assert (await client.patch(url, json={"route_order_ids": []}, headers=owner)).is_success
    response = await client.get(url, params={"format": "geojson"}, headers=owner)
    [start] = response.json()["features"]
    assert start["properties"] == {"kind": "start", "route_id": route["id"], "status": "cancelled"}
    bad = await client.get(url, params={"format": "kml"}, headers=owner)
    assert bad.status_code == 400
