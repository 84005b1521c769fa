"""Drives between points on the loaded road network (migration 0016), in three statements:

1. each point snaps to its nearest routable vertex on the sphere (`road_snap`), if one
   lies within the network's `snap_max_m`; the snap is driven at `snap_speed_kmh`;
2. the drives between the vertices already reckoned are read from `road_costs`;
3. the missing ones are reckoned by `road_paths` (pgRouting's Dijkstra on the edges in
   the vertices' box and a margin), then kept in `road_costs` (KeptDrives).

A pair with a point off the network (or, rarely, no path inside the box) is driven along
the great circle at ROUTE_SPEED_KMH, stretched by the network's measured detour factor
when either point lies in the network's extent, and said to be so (`by_roads`). With no
network loaded every pair is the plain great circle, as without roads. The calendar's
`travel_seconds` (migration 0016) reckons one pair by the same rules, term for term: a
slot the free slots offer is one a booking's check accepts.
"""

import itertools
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import shapely
from sqlalchemy import ARRAY, BigInteger, Float, bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from geo.distance import Point
from geo.travel import GreatCircleMatrix, TravelTimes, great_circle_leg

_SNAP = text(
    """
    SELECT p.i, s.vertex, s.metres, s.inside, n.snap_speed_kmh, n.detour_factor
    FROM road_network n
    CROSS JOIN unnest(:lats, :lngs) WITH ORDINALITY AS p(lat, lng, i)
    CROSS JOIN LATERAL road_snap(p.lat, p.lng) AS s
    ORDER BY p.i
    """
).bindparams(bindparam("lats", type_=ARRAY(Float)), bindparam("lngs", type_=ARRAY(Float)))

_KNOWN = text(
    "SELECT source, target, seconds, metres FROM road_costs"
    " WHERE source = ANY(:vertices) AND target = ANY(:vertices)"
).bindparams(bindparam("vertices", type_=ARRAY(BigInteger)))

_SOURCES = bindparam("sources", type_=ARRAY(BigInteger))
_TARGETS = bindparam("targets", type_=ARRAY(BigInteger))

_LINES = text(
    "SELECT source, target, ST_AsBinary(line) AS line FROM road_lines(:sources, :targets)"
).bindparams(_SOURCES, _TARGETS)

_RECKONED = text(
    "SELECT source, target, seconds, metres FROM road_paths(:sources, :targets)"
).bindparams(_SOURCES, _TARGETS)

_KEEP = text(
    """
    INSERT INTO road_costs (source, target, seconds, metres)
    SELECT * FROM unnest(:sources, :targets, :seconds, :metres)
    ON CONFLICT DO NOTHING
    """
).bindparams(
    _SOURCES,
    _TARGETS,
    bindparam("seconds", type_=ARRAY(Float)),
    bindparam("metres", type_=ARRAY(Float)),
)


Drive = tuple[float, float]
"""Seconds and metres."""


class KeptDrives:
    """Writes reckoned drives into `road_costs` on a pool of its own, each batch in a short
    transaction of its own, in key order: a request never holds a lock on a kept drive
    (its transaction, which may hold a provider's day, only reads them), and two writers
    of the same drives take turns without a deadlock."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def keep(self, drives: dict[tuple[int, int], Drive]) -> None:
        if not drives:
            return
        pairs = sorted(drives)
        values = {
            "sources": [a for a, _ in pairs],
            "targets": [b for _, b in pairs],
            "seconds": [drives[pair][0] for pair in pairs],
            "metres": [drives[pair][1] for pair in pairs],
        }
        async with self.engine.begin() as connection:
            await connection.execute(_KEEP, values)


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


Database = AsyncSession | AsyncConnection
"""Where the matrix reads: the request's own transaction (on the primary)."""


class RoadMatrix:
    """The DistanceMatrix of the road network, read in `database`'s transaction; the drives
    it reckons are kept by `kept`."""

    def __init__(self, database: Database, speed_kmh: float, kept: KeptDrives) -> None:
        self.database = database
        self.speed_kmh = speed_kmh
        self.kept = kept

    async def between(self, points: Sequence[Point]) -> TravelTimes:
        network = await snapped(self.database, points)
        if network is None:
            return await GreatCircleMatrix(self.speed_kmh).between(points)
        vertices = sorted({s.vertex for s in network.snaps if s.vertex is not None})
        drives = await _drives(self.database, vertices, self.kept)
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
        network = await snapped(self.database, path)
        if network is None:
            return [None] * max(0, len(path) - 1)
        ends = [(a.vertex, b.vertex) for a, b in itertools.pairwise(network.snaps)]
        on_roads = [(a, b) for a, b in ends if a is not None and b is not None and a != b]
        lines = await _lines(self.database, on_roads)
        return [_positions(lines.get(pair)) for pair in ends]


async def _lines(
    database: Database, legs: list[tuple[int, int]]
) -> dict[tuple[int | None, int | None], shapely.Geometry]:
    if not legs:
        return {}
    values = {"sources": [a for a, _ in legs], "targets": [b for _, b in legs]}
    rows = (await database.execute(_LINES, values)).all()
    return {(row.source, row.target): shapely.from_wkb(row.line) for row in rows}


def _positions(line: shapely.Geometry | None) -> list[Point] | None:
    if line is None:
        return None
    return [Point(latitude, longitude) for longitude, latitude in shapely.get_coordinates(line)]


@asynccontextmanager
async def road_matrix_on(engine: AsyncEngine, speed_kmh: float) -> AsyncIterator[RoadMatrix]:
    """A road matrix reading on a connection of its own (benchmarks, tests, scripts)."""
    async with engine.connect() as connection:
        yield RoadMatrix(connection, speed_kmh, KeptDrives(engine))


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


async def snapped(database: Database, points: Sequence[Point]) -> Snaps | None:
    """Each point's snap; None when no network is loaded."""
    rows = (
        await database.execute(
            _SNAP, {"lats": [p.latitude for p in points], "lngs": [p.longitude for p in points]}
        )
    ).all()
    if not rows:
        return None
    return Snaps([_snap(row) for row in rows], rows[0].detour_factor)


def _snap(row: Any) -> Snap:
    if row.vertex is None:
        return Snap(None, 0.0, 0.0, row.inside)
    seconds = row.metres / 1000 / row.snap_speed_kmh * 3600
    return Snap(row.vertex, seconds, row.metres, row.inside)


async def _drives(
    database: Database, vertices: list[int], kept: KeptDrives
) -> dict[tuple[int, int], Drive]:
    """The drives between every two of the vertices that a path joins, reckoning (and
    keeping) those not kept yet."""
    if len(vertices) < 2:
        return {}
    rows = (await database.execute(_KNOWN, {"vertices": vertices})).all()
    drives = {(row.source, row.target): (row.seconds, row.metres) for row in rows}
    sources = [a for a in vertices if any(a != b and (a, b) not in drives for b in vertices)]
    if not sources:
        return drives
    values = {"sources": sources, "targets": vertices}
    rows = (await database.execute(_RECKONED, values)).all()
    reckoned = {(row.source, row.target): (row.seconds, row.metres) for row in rows}
    await kept.keep({pair: drive for pair, drive in reckoned.items() if pair not in drives})
    return drives | reckoned
