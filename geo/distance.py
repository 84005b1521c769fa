"""Great-circle distances on the sphere PostGIS uses for geography distances."""

import math
from typing import NamedTuple

# PostGIS measures geography on a sphere of the WGS 84 mean radius when asked for
# sphere distances (which `<->` and `use_spheroid => false` are).
EARTH_RADIUS_M = 6_371_008.7714150598


class Point(NamedTuple):
    latitude: float
    longitude: float


def haversine_m(a: Point, b: Point) -> float:
    """Distance in metres between two points along the sphere's surface."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlng = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
