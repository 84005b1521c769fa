"""Grid sizes for clustering points on zoomed-out maps."""

import math

from geo.viewport import InvalidViewportError, Viewport

# A cell is a quarter of a 256 px web-map tile, so clusters sit about 64 px apart.
_CELLS_PER_TILE = 4


def cell_size_deg(zoom: int) -> float:
    """Edge length in degrees of a square grid cell at a web-map zoom level."""
    return 360.0 / float(2**zoom * _CELLS_PER_TILE)


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
