"""The grid that clusters providers on zoomed-out maps (geo.clusters)."""

import random

import pytest

from geo.clusters import cell_blocks, cell_column, cell_row, cell_size_deg
from geo.viewport import parse_viewport


def test_cells_are_numbered_from_the_equator_and_the_prime_meridian() -> None:
    assert (cell_row(0, 0.0), cell_column(0, 0.0)) == (0, 0)
    assert (cell_row(0, -0.1), cell_column(0, -0.1)) == (-1, -1)
    assert (cell_row(1, 59.3), cell_column(1, 18.1)) == (1, 0)  # cells of 45 degrees


def test_longitude_180_belongs_to_the_last_column_not_a_column_of_its_own() -> None:
    for zoom in (0, 5, 12):
        last = cell_column(zoom, 180.0 - cell_size_deg(zoom) / 2)
        assert cell_column(zoom, 180.0) == last
        assert cell_column(zoom, -180.0) == -last - 1


def test_a_viewport_across_the_antimeridian_is_a_block_on_each_side() -> None:
    west, east = cell_blocks(parse_viewport("179.9,64.9,-179.9,65.1"), 12)
    assert west.last_column == cell_column(12, 180.0)
    assert east.first_column == cell_column(12, -180.0)
    assert west.first_row == east.first_row == cell_row(12, 64.9)


@pytest.mark.parametrize("seed", range(3))
def test_every_point_of_a_viewport_lies_in_its_blocks_and_their_bounds(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        zoom = rng.randrange(0, 21)
        south = rng.uniform(-90, 89)
        west = rng.uniform(-180, 180)
        east = rng.uniform(-180, 180)
        viewport = parse_viewport(f"{west},{south},{east},{rng.uniform(south + 0.001, 90)}")
        blocks = cell_blocks(viewport, zoom)
        for box in viewport.boxes():
            for _ in range(20):
                lat = rng.uniform(box.min_lat, box.max_lat)
                lng = rng.uniform(box.min_lng, box.max_lng)
                row, column = cell_row(zoom, lat), cell_column(zoom, lng)
                assert any(
                    b.first_row <= row <= b.last_row
                    and b.first_column <= column <= b.last_column
                    and b.bounds().min_lat <= lat <= b.bounds().max_lat
                    and b.bounds().min_lng <= lng <= b.bounds().max_lng
                    for b in blocks
                )
