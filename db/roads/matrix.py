"""Drives between points on the loaded road network (migration 0016), in three statements:

1. each point snaps to its nearest routable vertex by KNN on the sphere, if one lies
   within the network's `snap_max_m`; the snap is driven at `snap_speed_kmh` both ways;
2. the drives between the vertices already reckoned are read from `road_costs`;
3. the missing ones are reckoned by `road_paths` (pgRouting's Dijkstra on the edges in
   the vertices' box and a margin) and kept in `road_costs` in the same statement.

A pair with a point off the network (or, rarely, no path inside the box) is driven along
the great circle at ROUTE_SPEED_KMH, stretched by the network's measured detour factor
when either point lies in the network's extent, and said to be so (`by_roads`). With no
network loaded every pair is the plain great circle, as without roads.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import shapely
from sqlalchemy import ARRAY, BigInteger, Float, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from geo.distance import Point
from geo.travel import GreatCircleMatrix, TravelTimes, great_circle_leg

_SNAP = text(
    """
    SELECT p.i, v.id, v.metres, n.snap_speed_kmh, n.detour_factor,
           ST_Intersects(n.extent, ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326)) AS inside
    FROM road_network n
    CROSS JOIN unnest(:lats, :lngs) WITH ORDINALITY AS p(lat, lng, i)
    LEFT JOIN LATERAL (
        SELECT r.id, r.geom::geography <-> ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326)::geography
               AS metres
        FROM road_vertices r
        WHERE r.routable
        ORDER BY r.geom::geography <-> ST_SetSRID(ST_MakePoint(p.lng, p.lat), 4326)::geography
        LIMIT 1
    ) AS v ON v.metres <= n.snap_max_m
    ORDER BY p.i
    """
).bindparams(bindparam("lats", type_=ARRAY(Float)), bindparam("lngs", type_=ARRAY(Float)))

_KNOWN = text(
    "SELECT source, target, seconds, metres FROM road_costs"
    " WHERE source = ANY(:vertices) AND target = ANY(:vertices)"
).bindparams(bindparam("vertices", type_=ARRAY(BigInteger)))

_LINES = text(
    "SELECT source, target, ST_AsBinary(line) AS line FROM road_lines(:sources, :targets)"
).bindparams(
    bindparam("sources", type_=ARRAY(BigInteger)), bindparam("targets", type_=ARRAY(BigInteger))
)

_RECKONED = text(
    """
    WITH reckoned AS (SELECT * FROM road_paths(:sources, :targets)),
    kept AS (
        INSERT INTO road_costs (source, target, seconds, metres)
        SELECT source, target, seconds, metres FROM reckoned
        ON CONFLICT DO NOTHING
    )
    SELECT source, target, seconds, metres FROM reckoned
    """
).bindparams(
    bindparam("sources", type_=ARRAY(BigInteger)), bindparam("targets", type_=ARRAY(BigInteger))
)


@dataclass(frozen=True, slots=True)
class Snap:
    vertex: int | None
    """None: off the network."""
    seconds: float
    metres: float
    inside: bool
    """In the network's extent: a drive from here is stretched by the detour factor."""


@dataclass(frozen=True, slots=True)
class Snaps:
    """Where a list of points meets the network."""

    snaps: list[Snap]
    detour_factor: float


Drive = tuple[float, float]
"""Seconds and metres."""


class RoadMatrix:
    """The DistanceMatrix of the road network, on connections of `engine` (the primary:
    what is reckoned is kept)."""

    def __init__(self, engine: AsyncEngine, speed_kmh: float) -> None:
        self.engine = engine
        self.speed_kmh = speed_kmh

    async def between(self, points: Sequence[Point]) -> TravelTimes:
        async with self.engine.begin() as connection:
            network = await snapped(connection, points)
            if network is None:
                return await GreatCircleMatrix(self.speed_kmh).between(points)
            vertices = sorted({s.vertex for s in network.snaps if s.vertex is not None})
            drives = await _drives(connection, vertices)
        size = len(points)
        seconds = [[0.0] * size for _ in points]
        metres = [[0.0] * size for _ in points]
        by_roads = [[False] * size for _ in points]
        for a, b in itertools.product(range(size), repeat=2):
            if points[a] == points[b]:
                continue
            drive = _by_road(network, a, b, drives)
            by_roads[a][b] = drive is not None
            if drive is None:
                drive = great_circle_leg(
                    points[a], points[b], self.speed_kmh, _factor(network, a, b)
                )
            seconds[a][b], metres[a][b] = drive
        return TravelTimes(seconds, metres, by_roads)

    async def streets(self, path: Sequence[Point]) -> list[list[Point] | None]:
        async with self.engine.connect() as connection:
            network = await snapped(connection, path)
            if network is None:
                return [None] * max(0, len(path) - 1)
            ends = [(a.vertex, b.vertex) for a, b in itertools.pairwise(network.snaps)]
            on_roads = [(a, b) for a, b in ends if a is not None and b is not None and a != b]
            lines = await _lines(connection, on_roads)
        return [_positions(lines.get(pair)) for pair in ends]


async def _lines(
    connection: AsyncConnection, legs: list[tuple[int, int]]
) -> dict[tuple[int | None, int | None], shapely.Geometry]:
    if not legs:
        return {}
    values = {"sources": [a for a, _ in legs], "targets": [b for _, b in legs]}
    rows = (await connection.execute(_LINES, values)).all()
    return {(row.source, row.target): shapely.from_wkb(row.line) for row in rows}


def _positions(line: shapely.Geometry | None) -> list[Point] | None:
    if line is None:
        return None
    return [Point(latitude, longitude) for longitude, latitude in shapely.get_coordinates(line)]


def _factor(network: Snaps, a: int, b: int) -> float:
    inside = network.snaps[a].inside or network.snaps[b].inside
    return network.detour_factor if inside else 1.0


def _by_road(network: Snaps, a: int, b: int, drives: dict[tuple[int, int], Drive]) -> Drive | None:
    start, end = network.snaps[a], network.snaps[b]
    if start.vertex is None or end.vertex is None:
        return None
    road = (0.0, 0.0) if start.vertex == end.vertex else drives.get((start.vertex, end.vertex))
    if road is None:
        return None
    return start.seconds + road[0] + end.seconds, start.metres + road[1] + end.metres


async def snapped(connection: AsyncConnection, points: Sequence[Point]) -> Snaps | None:
    """Each point's snap; None when no network is loaded."""
    rows = (
        await connection.execute(
            _SNAP, {"lats": [p.latitude for p in points], "lngs": [p.longitude for p in points]}
        )
    ).all()
    if not rows:
        return None
    return Snaps([_snap(row) for row in rows], rows[0].detour_factor)


def _snap(row: Any) -> Snap:
    if row.id is None:
        return Snap(None, 0.0, 0.0, row.inside)
    return Snap(row.id, row.metres / 1000 / row.snap_speed_kmh * 3600, row.metres, row.inside)


async def _drives(connection: AsyncConnection, vertices: list[int]) -> dict[tuple[int, int], Drive]:
    """The drives between every two of the vertices that a path joins, reckoning those
    not known yet."""
    if len(vertices) < 2:
        return {}
    rows = (await connection.execute(_KNOWN, {"vertices": vertices})).all()
    drives = {(row.source, row.target): (row.seconds, row.metres) for row in rows}
    sources = [a for a in vertices if any(a != b and (a, b) not in drives for b in vertices)]
    if sources:
        rows = (
            await connection.execute(_RECKONED, {"sources": sources, "targets": vertices})
        ).all()
        drives.update({(row.source, row.target): (row.seconds, row.metres) for row in rows})
    return drives
