"""The route optimizer against brute force, and the arithmetic of detours and arrival times."""

import itertools
import random

import pytest
import shapely

from geo.distance import Point, along_great_circle, haversine_m
from geo.routes import (
    Insertion,
    Insertions,
    drawn_line,
    great_circle_matrix,
    nearest_neighbour,
    path_geometry,
    path_length_m,
    visiting_order,
)
from geo.travel import GreatCircleMatrix, TravelBy

UPPSALA = Point(59.8586, 17.6389)


def stables(seed: int, count: int, spread_deg: float = 0.6) -> list[Point]:
    rng = random.Random(seed)
    return [
        Point(
            UPPSALA.latitude + rng.uniform(-spread_deg, spread_deg) / 2,
            UPPSALA.longitude + rng.uniform(-spread_deg, spread_deg),
        )
        for _ in range(count)
    ]


def one_way_streets(matrix: list[list[float]], seed: int) -> list[list[float]]:
    """The same points, with every direction of every pair up to 30% longer."""
    rng = random.Random(seed)
    return [[d * rng.uniform(1.0, 1.3) for d in row] for row in matrix]


def length(matrix: list[list[float]], order: list[int], return_to_start: bool) -> float:
    return path_length_m(
        matrix, [0, *(stop + 1 for stop in order)], return_to_start=return_to_start
    )


def shortest(matrix: list[list[float]], return_to_start: bool) -> float:
    stops = range(len(matrix) - 1)
    return min(
        length(matrix, list(order), return_to_start) for order in itertools.permutations(stops)
    )


CASES = [(seed, count) for count in range(2, 9) for seed in range(4)] + [(99, 9)]


@pytest.mark.parametrize("return_to_start", [False, True], ids=["open", "round trip"])
@pytest.mark.parametrize(("seed", "count"), CASES)
def test_small_routes_are_within_three_percent_of_the_shortest(
    seed: int, count: int, return_to_start: bool
) -> None:
    matrix = great_circle_matrix([UPPSALA, *stables(seed, count)])
    order = visiting_order(matrix, return_to_start=return_to_start)
    assert sorted(order) == list(range(count))
    assert length(matrix, order, return_to_start) <= shortest(matrix, return_to_start) * 1.03


@pytest.mark.parametrize("seed", range(6))
def test_one_way_distances_are_optimized_as_given(seed: int) -> None:
    matrix = one_way_streets(great_circle_matrix([UPPSALA, *stables(seed, 7)]), seed)
    order = visiting_order(matrix)
    assert length(matrix, order, False) <= shortest(matrix, False) * 1.03


@pytest.mark.parametrize("seed", range(10))
def test_a_route_is_never_longer_than_its_nearest_neighbour_start(seed: int) -> None:
    matrix = great_circle_matrix([UPPSALA, *stables(seed, 50, spread_deg=2.0)])
    greedy = path_length_m(matrix, nearest_neighbour(matrix))
    assert length(matrix, visiting_order(matrix), False) <= greedy


def test_the_same_stops_give_the_same_route() -> None:
    matrix = great_circle_matrix([UPPSALA, *stables(7, 40)])
    assert visiting_order(matrix) == visiting_order([list(row) for row in matrix])


def test_no_stops_and_one_stop() -> None:
    assert visiting_order([[0.0]]) == []
    assert visiting_order(great_circle_matrix([UPPSALA, stables(1, 1)[0]])) == [0]


def test_nearest_neighbour_breaks_ties_by_the_lower_stop() -> None:
    twins = [Point(59.9, 17.6), Point(59.9, 17.6)]
    assert nearest_neighbour(great_circle_matrix([UPPSALA, *twins])) == [0, 1, 2]


async def test_the_great_circle_matrix_is_haversine_both_ways_at_the_speed() -> None:
    points = stables(3, 4)
    times = await GreatCircleMatrix(60.0).between(points)
    assert times.metres == [[haversine_m(a, b) for b in points] for a in points]
    assert times.seconds == [
        [haversine_m(a, b) / 1000 / 60.0 * 3600 for b in points] for a in points
    ]
    assert times.travel is TravelBy.great_circle


@pytest.mark.parametrize("seed", range(8))
def test_the_cheapest_insertion_is_the_best_of_every_position(seed: int) -> None:
    stops, point = stables(seed, 6), stables(seed + 100, 1)[0]

    def path_length(path: list[Point]) -> float:
        return sum(haversine_m(a, b) for a, b in itertools.pairwise(path))

    base = path_length([UPPSALA, *stops])
    detours = [
        path_length([UPPSALA, *stops[:position], point, *stops[position:]]) - base
        for position in range(len(stops) + 1)
    ]
    insertion = Insertions(UPPSALA, stops).cheapest(point)
    assert insertion.detour_m == pytest.approx(min(detours), abs=1e-6)
    assert detours[insertion.position] == pytest.approx(min(detours), abs=1e-6)


def test_an_empty_path_is_joined_at_its_end_for_the_way_there() -> None:
    point = stables(5, 1)[0]
    assert Insertions(UPPSALA, []).cheapest(point) == Insertion(0, haversine_m(UPPSALA, point))


def test_a_point_on_the_way_costs_no_detour() -> None:
    halfway = Point(59.8586, 17.9)
    insertion = Insertions(UPPSALA, [Point(59.8586, 18.2)]).cheapest(halfway)
    assert insertion.position == 0
    assert insertion.detour_m < 5  # the parallel and the great circle part by metres


@pytest.mark.parametrize("seed", range(5))
def test_a_point_along_the_great_circle_splits_the_distance(seed: int) -> None:
    a, b = stables(seed, 2, spread_deg=8)
    for fraction in (0.0, 0.25, 0.5, 0.9, 1.0):
        point = along_great_circle(a, b, fraction)
        assert haversine_m(a, point) == pytest.approx(fraction * haversine_m(a, b), abs=1e-6)
        assert haversine_m(point, b) == pytest.approx((1 - fraction) * haversine_m(a, b), abs=1e-6)
    assert along_great_circle(a, a, 0.5) == a


def test_a_drawn_line_follows_each_legs_great_circle_and_passes_every_stop() -> None:
    # An east-west leg far north bows towards the pole: drawn straight in longitude and
    # latitude it would miss the arc by over a kilometre.
    start, far_east = Point(60.0, 10.0), Point(60.0, 14.0)
    stops = [far_east, *stables(6, 5)]
    line = drawn_line([start, *stops])
    for stop in [start, *stops]:
        assert line.distance(shapely.Point(stop.longitude, stop.latitude)) <= 1e-4
    arc = [along_great_circle(start, far_east, f / 100) for f in range(101)]
    assert max(p.latitude for p in arc) > 60.01
    for point in arc:
        assert line.distance(shapely.Point(point.longitude, point.latitude)) <= 1e-4
    positions = list(line.coords)
    assert positions[0] == (start.longitude, start.latitude)
    assert positions[-1] == (stops[-1].longitude, stops[-1].latitude)


def test_a_drawn_line_keeps_only_the_positions_it_needs() -> None:
    a, b = Point(59.0, 18.0), Point(59.0, 18.01)
    on_the_way = [along_great_circle(a, b, f / 10) for f in range(11)]
    assert list(drawn_line([a, *on_the_way, b, b]).coords) == [(18.0, 59.0), (18.01, 59.0)]


def test_a_path_that_never_moves_is_a_point_for_the_database() -> None:
    here = Point(59.0, 18.0)
    assert path_geometry([here, here]) == shapely.Point(18.0, 59.0)
    assert path_geometry([here, UPPSALA]) == shapely.LineString(
        [(18.0, 59.0), (UPPSALA.longitude, UPPSALA.latitude)]
    )
