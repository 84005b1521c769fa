"""The calendar's drive in SQL (travel_seconds, which widens commitments in the free
slots) is the road matrix's, to the bit: on the roads both ways, off the network, with no
place apart, and on the great circle when roads are not asked for."""

import random

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from geo.distance import Point
from geo.travel import GreatCircleMatrix
from tests.support.roads import SPEED_KMH, RoadGraph, road_matrix

TRAVEL_SECONDS = text(
    "SELECT travel_seconds(:from_lat, :from_lng, :to_lat, :to_lng, :speed, :on_roads)"
)


async def _sql(engine: AsyncEngine, a: Point, b: Point, on_roads: bool) -> float:
    async with engine.connect() as connection:
        values = {"from_lat": a.latitude, "from_lng": a.longitude, "to_lat": b.latitude}
        values |= {"to_lng": b.longitude, "speed": SPEED_KMH, "on_roads": on_roads}
        seconds = await connection.scalar(TRAVEL_SECONDS, values)
    assert seconds is not None
    return float(seconds)


async def test_the_calendars_drive_is_the_road_matrixs_to_the_bit(engine: AsyncEngine) -> None:
    roads = await RoadGraph.load(engine)
    rng = random.Random(8)
    on_streets = [roads.random_point(rng) for _ in range(6)]
    off = Point(60.23, 24.94)  # 6 km north of the sample's streets
    stockholm = Point(59.3293, 18.0686)
    places = [*on_streets, off, stockholm, on_streets[0]]
    for a, b in [(a, b) for a in places for b in places]:
        fresh = await _sql(engine, a, b, on_roads=True)  # before the matrix keeps the pair
        async with road_matrix(engine) as roads_matrix:
            matrix = await roads_matrix.between([a, b])
        assert fresh == matrix.seconds[0][1], (a, b)
        assert await _sql(engine, a, b, on_roads=True) == matrix.seconds[0][1]  # kept
        straight = await GreatCircleMatrix(SPEED_KMH).between([a, b])
        assert await _sql(engine, a, b, on_roads=False) == straight.seconds[0][1]
