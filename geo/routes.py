"""A day's route: the order to visit stops in, and what one more stop would cost.

A route is a path from a start point through every stop once. It is open (it ends at the
last stop) unless it returns to the start. Distances come from a matrix whose row and
column 0 are the start and 1..n the stops; it need not be symmetric, so a road router's
one-way streets fit the same code as the great circle.

The order is built by nearest neighbour, then improved by 2-opt (reverse a run of stops)
and Or-opt (move a run of one to three stops elsewhere, either way round) until neither
finds a shorter path. Then a few kicks (an iterated local search): a double bridge cuts
the path in three places and swaps the two middle runs, a change neither move undoes in
one step, and the improved result is kept when shorter. Moves are tried in a fixed order
and the kicks drawn from a generator seeded by the route's size, so the same matrix
always gives the same route.
"""

import itertools
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import shapely
from shapely import LineString

from geo.distance import Point, along_great_circle, haversine_m
from geo.travel import Matrix

# Gains below this are float noise; taking them could loop forever between equal paths.
_EPSILON_M = 1e-6
_OR_OPT_RUNS = (1, 2, 3)
# How many first stops a route is built from: a start costs about n² move checks, so every
# stop for routes of up to ten, fewer above, and one from 32 stops on.
_STARTS_WORK = 1000
# How many kicks follow: each costs about a start's work, so up to twenty on routes of up
# to 25 stops and fewer above (five at 50: about 50 ms on the benchmark's machine).
_KICKS_WORK = 12_500
_KICKS_MAX = 20
_KICKS_MIN_STOPS = 8
"""Below this, every first stop is tried already and the result is nearly always optimal."""


def great_circle_matrix(points: Sequence[Point]) -> list[list[float]]:
    return [[haversine_m(a, b) for b in points] for a in points]


def visiting_order(matrix: Matrix, *, return_to_start: bool = False) -> list[int]:
    """The stops (matrix nodes 1..n, given 0-based as 0..n-1) in a short visiting order.

    A short route's local optimum can be far from the best, so a route of few stops is
    built from each of its nearest first stops and the shortest result kept; a long one
    from the nearest only, to stay fast.
    """
    stops = len(matrix) - 1
    firsts = sorted(range(1, stops + 1), key=lambda stop: (matrix[0][stop], stop))
    paths = [
        _improved(_Path(matrix, nearest_neighbour(matrix, first), return_to_start))
        for first in firsts[: max(1, _STARTS_WORK // max(stops, 1) ** 2)]
    ]
    if not paths:
        return []
    best = _kicked(min(paths, key=lambda path: path.length()), matrix, return_to_start)
    return [node - 1 for node in best.nodes[1:]]


def _kicked(best: "_Path", matrix: Matrix, return_to_start: bool) -> "_Path":
    """The shortest of `best` and the local optima reached from double bridges of it."""
    stops = len(best.nodes) - 1
    if stops < _KICKS_MIN_STOPS:
        return best
    rng = random.Random(stops)
    for _ in range(min(_KICKS_MAX, _KICKS_WORK // stops**2)):
        a, b, c = sorted(rng.sample(range(2, stops + 1), 3))
        nodes = best.nodes
        bridged = nodes[:a] + nodes[b:c] + nodes[a:b] + nodes[c:]
        candidate = _improved(_Path(matrix, bridged, return_to_start))
        if candidate.length() < best.length() - _EPSILON_M:
            best = candidate
    return best


def nearest_neighbour(matrix: Matrix, first: int | None = None) -> list[int]:
    """Nodes from the start (0), through `first` if given, each time on to the nearest
    unvisited one (ties: the lowest)."""
    nodes = [0] if first is None else [0, first]
    unvisited = set(range(1, len(matrix))) - set(nodes)
    while unvisited:
        here = matrix[nodes[-1]]
        nearest = min(unvisited, key=lambda node: (here[node], node))
        nodes.append(nearest)
        unvisited.remove(nearest)
    return nodes


def path_length_m(matrix: Matrix, nodes: Sequence[int], *, return_to_start: bool = False) -> float:
    legs = sum(matrix[a][b] for a, b in itertools.pairwise(nodes))
    return legs + (matrix[nodes[-1]][nodes[0]] if return_to_start else 0.0)


def _improved(path: "_Path") -> "_Path":
    while path.two_opt() | path.or_opt():
        pass
    return path


class _Path:
    """Nodes with node 0 fixed first, and the arithmetic of moves on them.

    Legs are looked up in a copy of the matrix with one more node, the end: reaching it
    costs the way back to the start on a round trip and nothing on an open path. So the
    last stop has a successor like every other, and every leg is one lookup.
    """

    def __init__(self, matrix: Matrix, nodes: list[int], return_to_start: bool) -> None:
        self.end = len(matrix)
        self.legs = [[*row, row[0] if return_to_start else 0.0] for row in matrix]
        self.nodes = nodes
        self._index()

    def _index(self) -> None:
        """Prefix sums of the path's legs, walked forwards and backwards, so the cost of
        any run of it, either way round, is a subtraction."""
        self.forward, self.backward = [0.0], [0.0]
        for a, b in itertools.pairwise(self.nodes):
            self.forward.append(self.forward[-1] + self.legs[a][b])
            self.backward.append(self.backward[-1] + self.legs[b][a])

    def length(self) -> float:
        return self.forward[-1] + self.legs[self.nodes[-1]][self.end]

    def _after(self, position: int) -> int:
        return self.nodes[position + 1] if position + 1 < len(self.nodes) else self.end

    def two_opt(self) -> bool:
        """One sweep over every run of stops, reversing each run whose reversal shortens
        the path as it then is. True if any did."""
        improved = False
        legs, last = self.legs, len(self.nodes) - 1
        for i in range(1, last):
            for j in range(i + 1, last + 1):
                before, first, end, after = (
                    self.nodes[i - 1],
                    self.nodes[i],
                    self.nodes[j],
                    self._after(j),
                )
                old = legs[before][first] + self.forward[j] - self.forward[i] + legs[end][after]
                new = legs[before][end] + self.backward[j] - self.backward[i] + legs[first][after]
                if new < old - _EPSILON_M:
                    self.nodes[i : j + 1] = reversed(self.nodes[i : j + 1])
                    self._index()
                    improved = True
        return improved

    def or_opt(self) -> bool:
        """One sweep over every run of one to three stops, moving each run whose move
        shortens the path as it then is. True if any did."""
        improved = False
        last = len(self.nodes) - 1
        for length in _OR_OPT_RUNS:
            for i in range(1, last - length + 2):
                improved |= self._move_run(i, i + length - 1)
        return improved

    def _move_run(self, i: int, j: int) -> bool:
        """Move the run at positions i..j to the first gap where it shortens the path."""
        nodes, legs = self.nodes, self.legs
        before, first, end, after = nodes[i - 1], nodes[i], nodes[j], self._after(j)
        forward = self.forward[j] - self.forward[i]
        backward = self.backward[j] - self.backward[i]
        saved = legs[before][first] + forward + legs[end][after] - legs[before][after]
        ways = ((first, end, forward), (end, first, backward))
        for gap in itertools.chain(range(i - 1), range(j + 1, len(nodes))):
            x, y = nodes[gap], self._after(gap)
            for way, (head, tail, inside) in enumerate(ways):
                if legs[x][head] + inside + legs[tail][y] - legs[x][y] < saved - _EPSILON_M:
                    run = nodes[i : j + 1]
                    rest = nodes[:i] + nodes[j + 1 :]
                    at = gap + 1 if gap < i else gap + 1 - len(run)
                    self.nodes = rest[:at] + (run[::-1] if way else run) + rest[at:]
                    self._index()
                    return True
        return False


@dataclass(frozen=True, slots=True)
class Insertion:
    """Where a point would join a path, and how much longer the path would get."""

    position: int
    """Index in the path's stops before which it would go (len(stops): at the end)."""
    detour_m: float


def cheapest_insertion(
    legs_m: Sequence[float], to_point_m: Sequence[float], from_point_m: Sequence[float]
) -> Insertion:
    """The cheapest place for a point in the open path whose legs are `legs_m`, given the
    drives from each of the path's nodes to the point and from the point to each (they
    need not be equal: one-way streets): at the end unless a gap is cheaper; between gaps
    of equal cost, the first."""
    best = Insertion(len(legs_m), to_point_m[-1])
    for position, leg_m in enumerate(legs_m):
        detour_m = to_point_m[position] + from_point_m[position + 1] - leg_m
        if detour_m < best.detour_m:
            best = Insertion(position, detour_m)
    return best


class Insertions:
    """What one more point would add to the open path start → stops, by great circle:
    the path's legs are measured once, then each point costs one distance per stop."""

    def __init__(self, start: Point, stops: Sequence[Point]) -> None:
        self._path = [start, *stops]
        self._legs_m = [haversine_m(a, b) for a, b in itertools.pairwise(self._path)]

    def cheapest(self, point: Point) -> Insertion:
        reach_m = [haversine_m(node, point) for node in self._path]
        return cheapest_insertion(self._legs_m, reach_m, reach_m)


# A drawn leg follows its great circle to within this; about 10 m north-south.
_DRAWN_TOLERANCE_DEG = 1e-4
# A leg along streets keeps to them within this, about 1 m: on the street at zoom 16
# (about 2.4 m a pixel at the equator, less farther north).
_STREET_TOLERANCE_DEG = 1e-5
# Legs are cut into pieces of at most this before simplifying: a 10 km chord strays
# under 2 m from its arc, well inside the tolerance.
_DRAWN_PIECE_M = 10_000.0


def path_geometry(points: Sequence[Point]) -> shapely.Geometry:
    """The path through the points in longitude/latitude order, for the database to
    measure as geography (whose edges are great circles); a point if it never moves."""
    positions = [(point.longitude, point.latitude) for point in points]
    if len(set(positions)) == 1:
        return shapely.Point(positions[0])
    return LineString(positions)


Streets = Sequence[Sequence[Point] | None]
"""Per leg of a path, the street line it drives (None: not on the roads)."""


def drawn_line(points: Sequence[Point], streets: Streets = ()) -> LineString:
    """The path through the points as a GeoJSON line, each leg along its streets when
    `streets` has them, else along its great circle (GeoJSON draws straight lines between
    positions, so long legs are cut to follow the arc), then simplified back to the
    positions it needs."""
    positions = [(points[0].longitude, points[0].latitude)]
    for leg, (a, b) in enumerate(itertools.pairwise(points)):
        street = streets[leg] if leg < len(streets) else None
        if street:
            inner: Iterable[Point] = street
        else:
            pieces = max(1, math.ceil(haversine_m(a, b) / _DRAWN_PIECE_M))
            inner = (along_great_circle(a, b, piece / pieces) for piece in range(1, pieces))
        positions.extend((point.longitude, point.latitude) for point in [*inner, b])
    tolerance = _STREET_TOLERANCE_DEG if any(streets) else _DRAWN_TOLERANCE_DEG
    return cast(LineString, LineString(positions).simplify(tolerance))
