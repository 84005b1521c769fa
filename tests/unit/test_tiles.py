"""Web-map tiles (geo.tiles): the pyramid's bounds, and which tile a point is in."""

import random

import pytest

from geo.tiles import MERCATOR_MAX_LAT, InvalidTileError, Tile


@pytest.mark.parametrize("seed", range(3))
def test_a_point_lies_in_the_viewport_of_the_tile_containing_it(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(500):
        z = rng.randrange(0, 21)
        lat, lng = rng.uniform(-MERCATOR_MAX_LAT, MERCATOR_MAX_LAT), rng.uniform(-180, 180)
        viewport = Tile.containing(lat, lng, z).viewport()
        assert viewport.min_lat <= lat < viewport.max_lat
        assert viewport.min_lng <= lng < viewport.max_lng


def test_the_antimeridian_belongs_to_the_last_column() -> None:
    assert Tile.containing(0.0, 180.0, 3) == Tile(3, 7, 4)
    assert Tile.containing(0.0, 180.0, 3).viewport().max_lng > 180


@pytest.mark.parametrize(
    ("z", "x", "y"), [(21, 0, 0), (3, 8, 0), (3, 0, 8), (3, -1, 0), (-1, 0, 0)]
)
def test_a_tile_outside_the_pyramid_is_refused(z: int, x: int, y: int) -> None:
    with pytest.raises(InvalidTileError):
        Tile.checked(z, x, y, max_zoom=20)
