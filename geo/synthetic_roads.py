"""A generated regional road network, written as OpenStreetMap XML for the same loader as
a real extract (db.roads): the scale of a county without downloading one.

A square of `side_km` around a centre in central Sweden holds a grid of local roads
every 250 m (slightly jittered, 30 km/h), every twentieth road an arterial (70 km/h),
one road in seven one-way (alternating direction), lakes where the grid has holes, and a
motorway across the middle (110 km/h) with a junction every 10 km. The same arguments
always give the same network.
"""

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from geo.distance import EARTH_RADIUS_M, Point

CENTRE = Point(59.6, 16.5)
SPACING_M = 250.0
_JITTER_M = 30.0
_ARTERIAL_EVERY = 20
_ONE_WAY_EVERY = 7
_JUNCTION_EVERY = 40
_LAKES_PER_100_KM2 = 0.8
_LAKE_RADIUS_M = (600.0, 3000.0)


@dataclass(frozen=True, slots=True)
class Lake:
    centre: tuple[float, float]
    """x, y in metres from the south-west corner."""
    radius_m: float

    def covers(self, x: float, y: float) -> bool:
        return math.hypot(x - self.centre[0], y - self.centre[1]) < self.radius_m


class SyntheticRegion:
    def __init__(self, side_km: float, seed: int = 1) -> None:
        if not 1 <= side_km <= 400:
            raise ValueError("a synthetic region is 1 to 400 km across")
        self.cells = max(2, round(side_km * 1000 / SPACING_M))
        self.side_m = self.cells * SPACING_M
        rng = random.Random(seed)
        lakes = round(_LAKES_PER_100_KM2 * (self.side_m / 10_000) ** 2)
        self.lakes = [
            Lake(
                (rng.uniform(0, self.side_m), rng.uniform(0, self.side_m)),
                rng.uniform(*_LAKE_RADIUS_M),
            )
            for _ in range(lakes)
        ]
        self._jitter = [
            (rng.uniform(-_JITTER_M, _JITTER_M), rng.uniform(-_JITTER_M, _JITTER_M))
            for _ in range((self.cells + 1) ** 2)
        ]
        self._water = {node for lake in self.lakes for node in self._under(lake)}

    def node_id(self, column: int, row: int) -> int:
        return row * (self.cells + 1) + column + 1

    def grid_xy(self, column: int, row: int) -> tuple[float, float]:
        dx, dy = self._jitter[self.node_id(column, row) - 1]
        return column * SPACING_M + dx, row * SPACING_M + dy

    def on_land(self, column: int, row: int) -> bool:
        return self.node_id(column, row) not in self._water

    def _under(self, lake: Lake) -> Iterator[int]:
        """The grid nodes a lake covers (looked for in its box only)."""
        reach = math.ceil((lake.radius_m + _JITTER_M) / SPACING_M)
        middle = (round(lake.centre[0] / SPACING_M), round(lake.centre[1] / SPACING_M))
        for row in range(max(0, middle[1] - reach), min(self.cells, middle[1] + reach) + 1):
            for column in range(max(0, middle[0] - reach), min(self.cells, middle[0] + reach) + 1):
                if lake.covers(*self.grid_xy(column, row)):
                    yield self.node_id(column, row)

    def point(self, x: float, y: float) -> Point:
        """Metres from the south-west corner as latitude and longitude (local plane)."""
        half = self.side_m / 2
        latitude = CENTRE.latitude + math.degrees((y - half) / EARTH_RADIUS_M)
        longitude = CENTRE.longitude + math.degrees(
            (x - half) / (EARTH_RADIUS_M * math.cos(math.radians(CENTRE.latitude)))
        )
        return Point(latitude, longitude)

    def write_osm(self, out: TextIO) -> tuple[int, int]:
        """The region as OSM XML; how many nodes and ways were written."""
        out.write("<?xml version='1.0' encoding='UTF-8'?>\n")
        out.write('<osm version="0.6" generator="equinet-geo synthetic">\n')
        south_west, north_east = self.point(0, 0), self.point(self.side_m, self.side_m)
        out.write(
            f'<bounds minlat="{south_west.latitude:.7f}" minlon="{south_west.longitude:.7f}"'
            f' maxlat="{north_east.latitude:.7f}" maxlon="{north_east.longitude:.7f}"/>\n'
        )
        nodes = self._write_grid_nodes(out)
        motorway = self._write_motorway_nodes(out, first_id=(self.cells + 1) ** 2 + 1)
        ways = 0
        for way_id, (refs, tags) in enumerate(self._ways(motorway), start=1):
            out.write(f'<way id="{way_id}" version="1">')
            out.write("".join(f'<nd ref="{ref}"/>' for ref in refs))
            out.write("".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()))
            out.write("</way>\n")
            ways += 1
        out.write("</osm>\n")
        return nodes + len(motorway), ways

    def _write_grid_nodes(self, out: TextIO) -> int:
        written = 0
        for row in range(self.cells + 1):
            for column in range(self.cells + 1):
                if self.on_land(column, row):
                    at = self.point(*self.grid_xy(column, row))
                    out.write(_node(self.node_id(column, row), at))
                    written += 1
        return written

    def _write_motorway_nodes(self, out: TextIO, first_id: int) -> list[int]:
        """The motorway's own nodes, 100 m north of the middle row, one per column."""
        y = self.cells // 2 * SPACING_M + 100.0
        ids = []
        for column in range(self.cells + 1):
            ids.append(first_id + column)
            out.write(_node(ids[-1], self.point(column * SPACING_M, y)))
        return ids

    def _ways(self, motorway: list[int]) -> Iterator[tuple[list[int], dict[str, str]]]:
        for line in range(self.cells + 1):
            tags = self._road_tags(line)
            rows = [self.node_id(column, line) for column in range(self.cells + 1)]
            columns = [self.node_id(line, row) for row in range(self.cells + 1)]
            for refs in (rows, columns):
                flip = tags.get("oneway") == "yes" and line // _ONE_WAY_EVERY % 2 == 1
                for run in self._on_land_runs(refs):
                    yield (run[::-1] if flip else run), tags
        yield motorway, {"highway": "motorway", "oneway": "no", "maxspeed": "110"}
        middle = self.cells // 2
        for column in range(0, self.cells + 1, _JUNCTION_EVERY):
            if self.on_land(column, middle):
                link = [motorway[column], self.node_id(column, middle)]
                yield link, {"highway": "motorway_link", "maxspeed": "60"}

    def _road_tags(self, line: int) -> dict[str, str]:
        if line % _ARTERIAL_EVERY == 0:
            return {"highway": "secondary", "maxspeed": "70"}
        tags = {"highway": "residential", "maxspeed": "30"}
        if line % _ONE_WAY_EVERY == 3:
            tags["oneway"] = "yes"
        return tags

    def _on_land_runs(self, refs: list[int]) -> Iterator[list[int]]:
        """The runs of a road's nodes that are not under a lake, two nodes or more."""
        run: list[int] = []
        for ref in refs:
            column, row = (ref - 1) % (self.cells + 1), (ref - 1) // (self.cells + 1)
            if self.on_land(column, row):
                run.append(ref)
                continue
            if len(run) > 1:
                yield run
            run = []
        if len(run) > 1:
            yield run


def _node(node_id: int, at: Point) -> str:
    return f'<node id="{node_id}" lat="{at.latitude:.7f}" lon="{at.longitude:.7f}" version="1"/>\n'


def write_region(side_km: float, path: Path, seed: int = 1) -> tuple[int, int]:
    """Write the region of `side_km` to `path`; how many nodes and ways it has."""
    with path.open("w", encoding="utf-8") as out:
        return SyntheticRegion(side_km, seed).write_osm(out)
