"""Drives on the sample network (central Helsinki, loaded into the suite's template)
against the test's own shortest paths: never shorter than the great circle, one-way
streets one way, snapping to the nearest vertex, the fallback said, drives kept."""

import random

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.roads.matrix import snapped
from geo.distance import Point, haversine_m
from geo.travel import TravelBy
from tests.support.roads import SPEED_KMH, RoadGraph, road_matrix

HELSINKI_CENTRE = Point(60.1706, 24.9441)


@pytest.fixture
async def roads(engine: AsyncEngine) -> RoadGraph:
    return await RoadGraph.load(engine)


def _points(roads: RoadGraph, seed: int, count: int) -> list[Point]:
    rng = random.Random(seed)
    return [roads.random_point(rng) for _ in range(count)]


async def test_a_road_drive_is_never_shorter_than_the_great_circle(
    engine: AsyncEngine, roads: RoadGraph
) -> None:
    points = _points(roads, 1, 16)
    async with road_matrix(engine) as matrix:
        times = await matrix.between(points)
    for a, start in enumerate(points):
        for b, end in enumerate(points):
            assert times.metres[a][b] >= haversine_m(start, end) * (1 - 1e-9)
            if a != b:
                assert times.by(a, b) is TravelBy.roads
                assert times.seconds[a][b] > 0
    assert times.travel is TravelBy.roads


async def test_a_one_way_street_is_driven_one_way(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        street = (
            await connection.execute(
                text(
                    """
                    SELECT ST_Y(a.geom), ST_X(a.geom), ST_Y(b.geom), ST_X(b.geom), e.cost_s
                    FROM road_edges e
                    JOIN road_vertices a ON a.id = e.source AND a.routable
                    JOIN road_vertices b ON b.id = e.target AND b.routable
                    WHERE e.reverse_cost_s < 0 AND e.length_m > 50
                    ORDER BY e.id LIMIT 1
                    """
                )
            )
        ).one()
    along, against = Point(street[0], street[1]), Point(street[2], street[3])
    async with road_matrix(engine) as matrix:
        times = await matrix.between([along, against])
    assert times.seconds[0][1] <= street[4] + 1e-9
    assert times.seconds[1][0] > times.seconds[0][1]
    assert times.metres[1][0] > times.metres[0][1]


async def test_the_matrix_is_the_shortest_path_over_the_same_edges(
    engine: AsyncEngine, roads: RoadGraph
) -> None:
    rng = random.Random(3)
    at_vertices = [roads.vertices[v] for v in rng.sample(sorted(roads.vertices), 10)]
    points = at_vertices + _points(roads, 4, 8)
    async with road_matrix(engine) as matrix:
        times = await matrix.between(points)
    for a, start in enumerate(points):
        for b, end in enumerate(points):
            if a == b:
                continue
            seconds, metres, by_roads = roads.drive(start, end)
            assert times.seconds[a][b] == pytest.approx(seconds, rel=1e-9), (a, b)
            assert times.metres[a][b] == pytest.approx(metres, rel=1e-6), (a, b)
            assert times.by_roads[a][b] is by_roads


async def test_a_point_snaps_to_its_nearest_routable_vertex(
    engine: AsyncEngine, roads: RoadGraph
) -> None:
    points = _points(roads, 5, 30)
    async with engine.connect() as connection:
        snaps = await snapped(connection, points)
    assert snaps is not None
    for point, snap in zip(points, snaps.snaps, strict=True):
        expected = roads.snap(point)
        assert snap.vertex == expected.vertex
        assert snap.metres == pytest.approx(expected.metres, rel=1e-9)


async def test_a_place_off_the_network_is_the_great_circle_and_says_so(
    engine: AsyncEngine, roads: RoadGraph
) -> None:
    off = Point(HELSINKI_CENTRE.latitude + 0.05, HELSINKI_CENTRE.longitude)  # 5 km north
    stockholm, uppsala = Point(59.3293, 18.0686), Point(59.8586, 17.6389)
    points = [HELSINKI_CENTRE, off, stockholm, uppsala]
    async with road_matrix(engine) as matrix:
        times = await matrix.between(points)
        far_away = await matrix.between([stockholm, uppsala])
    assert times.by(0, 1) is TravelBy.great_circle
    stretched = haversine_m(HELSINKI_CENTRE, off) * roads.detour_factor
    assert times.metres[0][1] == pytest.approx(stretched)
    assert times.seconds[0][1] == pytest.approx(stretched / 1000 / SPEED_KMH * 3600)
    assert times.metres[2][3] == pytest.approx(haversine_m(stockholm, uppsala))
    assert roads.detour_factor > 1.0
    assert far_away.travel is TravelBy.great_circle


async def test_reckoned_drives_are_kept_and_read_back_alike(
    engine: AsyncEngine, roads: RoadGraph
) -> None:
    points = _points(roads, 6, 6)
    async with road_matrix(engine) as matrix:
        first = await matrix.between(points)
    async with engine.connect() as connection:
        kept = await connection.scalar(text("SELECT count(*) FROM road_costs"))
    async with road_matrix(engine) as matrix:
        again = await matrix.between(points)
    assert kept is not None
    assert kept >= 6 * 5 - 6  # every pair of distinct vertices, at least
    assert again == first
