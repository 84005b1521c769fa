"""The grid that clusters points on zoomed-out maps.

At web-map zoom z a cell is 360 / (4 * 2^z) degrees square (a quarter of a 256 px tile's
width, so clusters sit about 64 px apart), numbered by floor(degrees / cell size); longitude 180
belongs to the column west of it, so that no cell spans the antimeridian. The
database keeps each cell's counts up to PRECOMPUTED_MAX_ZOOM with this same arithmetic
(migration 0007's cell_row and cell_column).

A cluster is a cell's providers: their number and centroid. A view holds the clusters whose
centroid lies inside it, so every provider is in one cluster of a zoom level, and views
that tile the map count each provider once.
"""

import math
from dataclasses import dataclass

from geo.bbox import LatLngBox
from geo.viewport import InvalidViewportError, Viewport

_CELLS_PER_TILE = 4
PRECOMPUTED_MAX_ZOOM = 12
"""The deepest zoom whose cell counts the database keeps; deeper ones group providers."""
# Points a cell edge away from a block's bounds by less than a division's rounding.
_EDGE_DEG = 1e-9


def cell_size_deg(zoom: int) -> float:
    """Edge length in degrees of a grid cell at a web-map zoom level."""
    return 360.0 / float(2**zoom * _CELLS_PER_TILE)


def cell_row(zoom: int, latitude: float) -> int:
    return math.floor(latitude / cell_size_deg(zoom))


def cell_column(zoom: int, longitude: float) -> int:
    last_column: int = 2**zoom * _CELLS_PER_TILE // 2 - 1
    return min(math.floor(longitude / cell_size_deg(zoom)), last_column)


@dataclass(frozen=True, slots=True)
class CellBlock:
    """The cells from `first_row` to `last_row` and `first_column` to `last_column`."""

    zoom: int
    first_row: int
    last_row: int
    first_column: int
    last_column: int

    def bounds(self) -> LatLngBox:
        """The block's area in degrees, a hair wider than its cells."""
        cell = cell_size_deg(self.zoom)
        return LatLngBox(
            self.first_row * cell - _EDGE_DEG,
            self.first_column * cell - _EDGE_DEG,
            (self.last_row + 1) * cell + _EDGE_DEG,
            (self.last_column + 1) * cell + _EDGE_DEG,
        )


def cell_blocks(viewport: Viewport, zoom: int) -> list[CellBlock]:
    """The cells the viewport touches, as one block per side of the antimeridian: those
    that can hold a cluster whose centroid is inside it."""
    return [
        CellBlock(
            zoom,
            cell_row(zoom, box.min_lat),
            cell_row(zoom, box.max_lat),
            cell_column(zoom, box.min_lng),
            cell_column(zoom, box.max_lng),
        )
        for box in viewport.boxes()
    ]


def cluster_area(viewport: Viewport, zoom: int) -> list[LatLngBox]:
    """Where a provider can be and change the viewport's clusters: anywhere in the cells
    it touches, inside it or not."""
    return [block.bounds() for block in cell_blocks(viewport, zoom)]


def cell_count(viewport: Viewport, zoom: int) -> int:
    """How many grid cells a viewport spans at a zoom level (the most clusters it can hold)."""
    cell = cell_size_deg(zoom)
    return math.ceil(viewport.lng_span / cell) * math.ceil(viewport.lat_span / cell)


def check_cell_count(viewport: Viewport, zoom: int, max_cells: int) -> Viewport:
    """The viewport, if its grid at `zoom` has at most `max_cells` cells."""
    if cell_count(viewport, zoom) > max_cells:
        raise InvalidViewportError(
            f"bbox holds more than {max_cells} cells at zoom {zoom}; "
            "send the map's viewport and zoom"
        )
    return viewport
