"""The loaded road network reckoned independently: the same edges read into networkx,
snapping by brute force over every vertex, shortest paths by networkx's Dijkstra.

It shares with the product only the tables the loader wrote and the rules stated in
db.roads.matrix: a snap is driven at the network's snap speed, a pair with a place off the
network is the great circle at the deployment's speed, stretched by the detour factor
when either place lies in the network's extent.
"""

import itertools
import random
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import networkx as nx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import RoutePlanning
from db.roads.matrix import RoadMatrix, road_matrix_on
from geo.distance import Point, haversine_m

SPEED_KMH = RoutePlanning().speed_kmh


@dataclass(frozen=True)
class Snapped:
    vertex: int | None
    metres: float


@dataclass
class RoadGraph:
    graph: nx.DiGraph
    vertices: dict[int, Point]
    """The routable ones."""
    extent: tuple[float, float, float, float]
    snap_max_m: float
    snap_speed_kmh: float
    detour_factor: float

    @classmethod
    async def load(cls, engine: AsyncEngine) -> "RoadGraph":
        async with engine.connect() as connection:
            network = (
                await connection.execute(
                    text(
                        "SELECT ST_XMin(extent), ST_YMin(extent), ST_XMax(extent),"
                        " ST_YMax(extent), snap_max_m, snap_speed_kmh, detour_factor"
                        " FROM road_network"
                    )
                )
            ).one()
            edges = (
                await connection.execute(
                    text("SELECT source, target, cost_s, reverse_cost_s, length_m FROM road_edges")
                )
            ).all()
            vertices = (
                await connection.execute(
                    text("SELECT id, ST_Y(geom), ST_X(geom) FROM road_vertices WHERE routable")
                )
            ).all()
        graph = nx.DiGraph()
        for source, target, forward_s, backward_s, metres in edges:
            for a, b, seconds in ((source, target, forward_s), (target, source, backward_s)):
                if seconds >= 0 and (not graph.has_edge(a, b) or graph[a][b]["seconds"] > seconds):
                    graph.add_edge(a, b, seconds=seconds, metres=metres)
        return cls(
            graph,
            {vertex: Point(lat, lng) for vertex, lat, lng in vertices},
            (network[0], network[1], network[2], network[3]),
            network[4],
            network[5],
            network[6],
        )

    def inside(self, point: Point) -> bool:
        west, south, east, north = self.extent
        return west <= point.longitude <= east and south <= point.latitude <= north

    def random_point(self, rng: random.Random) -> Point:
        west, south, east, north = self.extent
        return Point(rng.uniform(south, north), rng.uniform(west, east))

    def snap(self, point: Point) -> Snapped:
        vertex, metres = min(
            ((v, haversine_m(point, at)) for v, at in self.vertices.items()),
            key=lambda pair: (pair[1], pair[0]),
        )
        return Snapped(vertex, metres) if metres <= self.snap_max_m else Snapped(None, 0.0)

    def drive(self, a: Point, b: Point) -> tuple[float, float, bool]:
        """Seconds, metres, and whether the roads measured them."""
        if a == b:
            return 0.0, 0.0, self.snap(a).vertex is not None
        start, end = self.snap(a), self.snap(b)
        if start.vertex is not None and end.vertex is not None:
            path = nx.dijkstra_path(self.graph, start.vertex, end.vertex, weight="seconds")
            legs = [self.graph[x][y] for x, y in itertools.pairwise(path)]
            snaps_m = start.metres + end.metres
            seconds = (
                sum(leg["seconds"] for leg in legs) + snaps_m / 1000 / self.snap_speed_kmh * 3600
            )
            return seconds, sum(leg["metres"] for leg in legs) + snaps_m, True
        factor = self.detour_factor if self.inside(a) or self.inside(b) else 1.0
        metres = haversine_m(a, b) * factor
        return metres / 1000 / SPEED_KMH * 3600, metres, False

    def travel(self, a: Point, b: Point) -> tuple[float, float]:
        """Seconds and metres, for the day checker."""
        seconds, metres, _ = self.drive(a, b)
        return seconds, metres


def road_matrix(engine: AsyncEngine) -> AbstractAsyncContextManager[RoadMatrix]:
    """The product's road matrix at the deployment's speed, on a connection of `engine`."""
    return road_matrix_on(engine, SPEED_KMH)
