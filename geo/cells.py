"""A coarse grid of latitude/longitude cells: what a provider write touches, and what a
search depends on, so that a write makes stale only the cached searches that could see it.
"""

import math
from collections.abc import Iterable

from geo.bbox import LatLngBox

CELL_DEG = 1.0
# More cells than this and a search depends on every write instead (a country-wide map).
MAX_CELLS = 64
_COLUMNS = round(360 / CELL_DEG)

Cell = tuple[int, int]


def _row(latitude: float) -> int:
    return math.floor(latitude / CELL_DEG)


def _column(longitude: float) -> int:
    """Longitudes -180 and 180 are one meridian, hence one column."""
    return math.floor(longitude / CELL_DEG) % _COLUMNS


def cell_of(latitude: float, longitude: float) -> Cell:
    return _row(latitude), _column(longitude)


def cells_of(boxes: Iterable[LatLngBox]) -> frozenset[Cell] | None:
    """Every cell a point inside one of the boxes can lie in (edges included), or None
    when they are more than MAX_CELLS."""
    cells: set[Cell] = set()
    for box in boxes:
        rows = range(_row(box.min_lat), _row(box.max_lat) + 1)
        columns = range(math.floor(box.min_lng / CELL_DEG), math.floor(box.max_lng / CELL_DEG) + 1)
        if len(cells) + len(rows) * len(columns) > MAX_CELLS:
            return None
        cells.update((row, column % _COLUMNS) for row in rows for column in columns)
    return frozenset(cells)
