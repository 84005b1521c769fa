"""How long and how far the drive is between places: the matrix every plan is made from.

A matrix is asymmetric in general (a one-way street is driven one way only), row from,
column to. It says for each pair what measured it: the roads, or the great circle (no
road network, or a place off it).
"""

import enum
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from geo.distance import Point, haversine_m

Matrix = Sequence[Sequence[float]]


class TravelBy(enum.StrEnum):
    roads = "roads"
    great_circle = "great_circle"


@dataclass(frozen=True, slots=True)
class TravelTimes:
    """Drives between every pair of a list of places."""

    seconds: Matrix
    metres: Matrix
    by_roads: Sequence[Sequence[bool]]

    def by(self, a: int, b: int) -> TravelBy:
        return TravelBy.roads if self.by_roads[a][b] else TravelBy.great_circle

    @property
    def travel(self) -> TravelBy:
        return travel_of(itertools.chain.from_iterable(self.by_roads))


def travel_of(on_roads: Iterable[bool]) -> TravelBy:
    """Roads if any drive was measured on them, else the great circle."""
    return TravelBy.roads if any(on_roads) else TravelBy.great_circle


@runtime_checkable
class DistanceMatrix(Protocol):
    """The drives between every pair of points, and the streets of a path's legs."""

    async def between(self, points: Sequence[Point]) -> TravelTimes: ...

    async def streets(self, path: Sequence[Point]) -> list[list[Point] | None]:
        """Per leg of the path, the positions of the streets it drives, the leg's ends
        excluded (None: the leg is not on the roads)."""
        ...


def great_circle_leg(
    a: Point, b: Point, speed_kmh: float, detour_factor: float = 1.0
) -> tuple[float, float]:
    """Seconds and metres of a drive along the great circle stretched by `detour_factor`,
    at `speed_kmh` (the seconds as migration 0012's drive_time reckons them)."""
    metres = haversine_m(a, b) * detour_factor
    return metres / 1000 / speed_kmh * 3600, metres


class GreatCircleMatrix:
    """Straight lines on the sphere at one speed: the travel with no road network."""

    def __init__(self, speed_kmh: float) -> None:
        self.speed_kmh = speed_kmh

    async def between(self, points: Sequence[Point]) -> TravelTimes:
        legs = [[great_circle_leg(a, b, self.speed_kmh) for b in points] for a in points]
        return TravelTimes(
            [[seconds for seconds, _ in row] for row in legs],
            [[metres for _, metres in row] for row in legs],
            [[False] * len(points) for _ in points],
        )

    async def streets(self, path: Sequence[Point]) -> list[list[Point] | None]:
        return [None] * max(0, len(path) - 1)
