"""Web-map tiles: the z/x/y pyramid of Web Mercator (EPSG:3857), as map clients ask for it."""

import math
from dataclasses import dataclass

from geo.viewport import Viewport

MERCATOR_MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))
"""About 85.0511: the latitude where the square Web Mercator world ends."""


class InvalidTileError(ValueError):
    """z/x/y is not a tile of the pyramid."""


def _latitude(y: float, zoom: int) -> float:
    return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / 2**zoom))))


@dataclass(frozen=True, slots=True)
class Tile:
    z: int
    x: int
    y: int

    @classmethod
    def checked(cls, z: int, x: int, y: int, max_zoom: int) -> "Tile":
        if not 0 <= z <= max_zoom:
            raise InvalidTileError(f"zoom must be within [0, {max_zoom}]")
        if not (0 <= x < 2**z and 0 <= y < 2**z):
            raise InvalidTileError(f"x and y must be within [0, {2**z - 1}] at zoom {z}")
        return cls(z, x, y)

    @classmethod
    def containing(cls, latitude: float, longitude: float, z: int) -> "Tile":
        """The tile at zoom `z` a point is in (beyond Mercator's latitudes: the edge row)."""
        n = 2**z
        mercator_y = math.asinh(math.tan(math.radians(latitude)))
        row = math.floor((1 - mercator_y / math.pi) / 2 * n)
        column = math.floor((longitude + 180) / 360 * n)
        return cls(z, min(max(column, 0), n - 1), min(max(row, 0), n - 1))

    def viewport(self) -> Viewport:
        """The tile's area in degrees. A point on an edge belongs to the tile east or north
        of it, except on the antimeridian, which the tiles of the last column hold (as
        longitude 180 belongs to the last column of cells, geo.clusters)."""
        width = 360 / 2**self.z
        east = -180 + (self.x + 1) * width
        if self.x == 2**self.z - 1:
            east = math.nextafter(180.0, math.inf)
        return Viewport(
            min_lng=-180 + self.x * width,
            min_lat=_latitude(self.y + 1, self.z),
            max_lng=east,
            max_lat=_latitude(self.y, self.z),
        )
