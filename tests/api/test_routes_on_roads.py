"""A day route in central Helsinki, on the sample road network the suite loads: planned
on the roads, every leg measured on them (or said to be the great circle), the day's
clock kept with the test's own shortest paths, and drawn along the streets on the map and
for a GPS device."""

import itertools
import math
import random
from typing import Any

import gpxpy
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.distance import Point
from tests.support.accounts import SignedIn
from tests.support.bookings import Client, OpenProvider, open_provider
from tests.support.day_check import DayRulesSeen, check_day
from tests.support.exports import exported
from tests.support.roads import RoadGraph
from tests.support.routes import DAY, ROUTES, placed, planned, route_body

HELSINKI_CENTRE = {"latitude": 60.1706, "longitude": 24.9441}


async def _order(client: Client, customer: SignedIn, at: Point) -> dict[str, Any]:
    return await placed(client, customer, latitude=at.latitude, longitude=at.longitude)


async def _helsinki_route(
    client: Client, customer: SignedIn, roads: RoadGraph, seed: int, stops: int
) -> tuple[OpenProvider, dict[str, Any]]:
    """A provider in central Helsinki and its route through `stops` stables in the streets."""
    provider = await open_provider(client, spot=HELSINKI_CENTRE)
    rng = random.Random(seed)
    orders = [await _order(client, customer, roads.random_point(rng)) for _ in range(stops)]
    return provider, await planned(client, provider, route_body(provider, orders))


async def test_a_helsinki_route_is_planned_on_the_roads_and_keeps_the_clock(
    client: Client, customer: SignedIn, engine: AsyncEngine
) -> None:
    roads = await RoadGraph.load(engine)
    provider = await open_provider(client, spot=HELSINKI_CENTRE)
    rng = random.Random(11)
    on_streets = [roads.random_point(rng) for _ in range(6)]
    off = Point(HELSINKI_CENTRE["latitude"] + 0.05, HELSINKI_CENTRE["longitude"])
    orders = [await _order(client, customer, at) for at in [*on_streets, off]]
    route = await planned(client, provider, route_body(provider, orders))
    assert route["travel"] == "roads"
    start = Point(route["start"]["latitude"], route["start"]["longitude"])
    stops = [Point(stop["latitude"], stop["longitude"]) for stop in route["stops"]]
    for (before, here), stop in zip(
        itertools.pairwise([start, *stops]), route["stops"], strict=True
    ):
        seconds, _, by_roads = roads.drive(before, here)
        assert stop["leg_travel"] == ("roads" if by_roads else "great_circle")
        assert stop["leg_seconds"] == math.ceil(seconds)
    assert {stop["leg_travel"] for stop in route["stops"]} == {"roads", "great_circle"}
    check_day(route, DayRulesSeen(DAY, travel=roads.travel), {o["id"]: o for o in orders})
    shown = await client.get(f"{ROUTES}/{route['id']}", headers=provider.owner.headers)
    assert shown.json()["travel"] == "roads"
    assert shown.json()["stops"] == route["stops"]


async def test_a_route_on_the_roads_is_drawn_along_the_streets(
    client: Client, customer: SignedIn, engine: AsyncEngine
) -> None:
    roads = await RoadGraph.load(engine)
    provider, route = await _helsinki_route(client, customer, roads, 12, 4)
    drawn = await client.get(
        f"{ROUTES}/{route['id']}", params={"format": "geojson"}, headers=provider.owner.headers
    )
    [line] = [f for f in drawn.json()["features"] if f["properties"]["kind"] == "line"]
    assert line["properties"]["travel"] == "roads"
    async with engine.connect() as connection:
        streets = shapely.from_wkb(
            await connection.scalar(text("SELECT ST_AsBinary(ST_Collect(geom)) FROM road_edges"))
        )
    stops = {(s["longitude"], s["latitude"]) for s in [route["start"], *route["stops"]]}
    positions = [tuple(position) for position in line["geometry"]["coordinates"]]
    assert stops <= set(positions)
    off_street = [
        p for p in positions if p not in stops and streets.distance(shapely.Point(p)) > 1e-9
    ]
    assert off_street == []  # every bend is a point of the streets
    assert len(positions) > 2 * len(stops)  # it turns with them, not straight from stop to stop


@pytest.mark.usefixtures("job_worker_running")
async def test_a_route_on_the_roads_goes_to_a_gps_device_along_the_streets(
    client: Client, customer: SignedIn, engine: AsyncEngine
) -> None:
    """The GPX track, asked for or exported, is the map's line."""
    roads = await RoadGraph.load(engine)
    provider, route = await _helsinki_route(client, customer, roads, 15, 3)
    path, headers = f"{ROUTES}/{route['id']}", provider.owner.headers
    drawn = await client.get(path, params={"format": "geojson"}, headers=headers)
    [line] = [f for f in drawn.json()["features"] if f["properties"]["kind"] == "line"]
    asked = await client.get(f"{path}/gpx", headers=headers)
    assert asked.status_code == 200, asked.text
    _, export = await exported(client, provider.owner, kind="routes", format="gpx")
    for document in (asked.text, export.decode()):
        (track,) = gpxpy.parse(document).tracks
        positions = [[p.longitude, p.latitude] for p in track.segments[0].points]
        assert positions == [pytest.approx(p, abs=1e-9) for p in line["geometry"]["coordinates"]]
    assert len(positions) > 2 * (len(route["stops"]) + 1)  # it turns with the streets


async def test_orders_along_a_route_on_the_roads_are_ranked_by_their_road_detour(
    client: Client, customer: SignedIn, engine: AsyncEngine
) -> None:
    roads = await RoadGraph.load(engine)
    provider, route = await _helsinki_route(client, customer, roads, 13, 3)
    rng = random.Random(14)
    for _ in range(6):
        await _order(client, customer, roads.random_point(rng))
    along = await client.get(
        f"{ROUTES}/{route['id']}/nearby-orders",
        params={"corridor_km": 2, "limit": 3},
        headers=provider.owner.headers,
    )
    assert along.status_code == 200, along.text
    items = along.json()["items"]
    path = [Point(route["start"]["latitude"], route["start"]["longitude"])]
    path += [Point(stop["latitude"], stop["longitude"]) for stop in route["stops"]]

    def metres(a: Point, b: Point) -> float:
        return roads.drive(a, b)[1]

    for item in items:
        at = Point(item["latitude"], item["longitude"])
        gaps = [metres(a, at) + metres(at, b) - metres(a, b) for a, b in itertools.pairwise(path)]
        assert item["detour_m"] == pytest.approx(min([*gaps, metres(path[-1], at)]))
        assert item["travel"] == "roads"
    assert [item["detour_m"] for item in items] == sorted(item["detour_m"] for item in items)
    assert len(items) == 3
