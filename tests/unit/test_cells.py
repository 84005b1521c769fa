"""The coarse grid the search cache scopes its generations by."""

import random

import pytest

from geo.bbox import LatLngBox, boxes_around
from geo.cells import MAX_CELLS, cell_of, cells_of
from geo.distance import Point, haversine_m
from geo.viewport import parse_viewport


def test_both_ends_of_the_antimeridian_are_one_column() -> None:
    assert cell_of(10.0, 180.0) == cell_of(10.0, -180.0) == (10, 180)
    assert cell_of(-0.5, -0.5) == (-1, 359)
    assert cell_of(90.0, 0.0) == (90, 0)


def test_a_viewport_across_the_antimeridian_covers_cells_on_both_sides() -> None:
    cells = cells_of(parse_viewport("179.5,10.2,-179.5,10.8").boxes())
    assert cells == frozenset({(10, 179), (10, 180)})


def test_an_area_of_more_cells_than_the_cap_is_wide() -> None:
    assert cells_of([LatLngBox(54.0, 4.0, 71.0, 32.0)]) is None
    side = int(MAX_CELLS**0.5) - 1
    assert cells_of([LatLngBox(0.0, 0.0, side + 0.5, side + 0.5)]) is not None


@pytest.mark.parametrize("seed", range(5))
def test_every_point_a_nearby_search_can_find_lies_in_its_cells(seed: int) -> None:
    """Brute force: points within the radius, near poles and the antimeridian too."""
    rng = random.Random(seed)
    for _ in range(200):
        center = Point(rng.uniform(-89, 89), rng.uniform(-180, 180))
        radius_m = rng.uniform(1_000, 100_000)
        cells = cells_of(boxes_around(center, radius_m))
        for _ in range(50):
            point = Point(
                center.latitude + rng.uniform(-1, 1), center.longitude + rng.uniform(-2, 2)
            )
            if abs(point.latitude) > 90 or haversine_m(center, point) > radius_m:
                continue
            longitude = (point.longitude + 180) % 360 - 180
            assert cells is None or cell_of(point.latitude, longitude) in cells, (center, point)
