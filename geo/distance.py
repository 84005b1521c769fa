"""Great-circle distances on the sphere PostGIS uses for geography distances."""

import math
from typing import NamedTuple

# PostGIS measures geography on a sphere of the WGS 84 mean radius when asked for
# sphere distances (which `<->` and `use_spheroid => false` are).
EARTH_RADIUS_M = 6_371_008.7714150598


class Point(NamedTuple):
    latitude: float
    longitude: float


COORDINATE_RESOLUTION_DEG = 1e-9
"""About 0.1 mm: coordinates closer to zero than this are zero."""


def canonical_coordinate(degrees: float) -> float:
    """Zero for what is within COORDINATE_RESOLUTION_DEG of it, -0.0 included: a subnormal
    latitude underflows in PostgreSQL's arithmetic, and one place has one spelling."""
    return 0.0 if abs(degrees) < COORDINATE_RESOLUTION_DEG else degrees


def canonical_longitude(degrees: float) -> float:
    """As canonical_coordinate, and the antimeridian, with what is within
    COORDINATE_RESOLUTION_DEG of it on either side, as +180. PostGIS's nearest-first index
    fails on a point at -180 searched from +180 (or the other way round), and returns its
    rows out of order ("index returned tuples in wrong order") for a centre a hair beside
    the antimeridian near a point on it."""
    if 180.0 - abs(degrees) < COORDINATE_RESOLUTION_DEG:
        return 180.0
    return canonical_coordinate(degrees)


def haversine_m(a: Point, b: Point) -> float:
    """Distance in metres between two points along the sphere's surface."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat = lat2 - lat1
    dlng = math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def along_great_circle(a: Point, b: Point, fraction: float) -> Point:
    """The point `fraction` of the way from a to b along the great circle (a and b not
    antipodal)."""
    angle = haversine_m(a, b) / EARTH_RADIUS_M
    if angle == 0:
        return a
    weight_a = math.sin((1 - fraction) * angle) / math.sin(angle)
    weight_b = math.sin(fraction * angle) / math.sin(angle)
    xyz = [
        weight_a * coordinate_a + weight_b * coordinate_b
        for coordinate_a, coordinate_b in zip(_unit_vector(a), _unit_vector(b), strict=True)
    ]
    x, y, z = xyz
    return Point(math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x)))


def _unit_vector(point: Point) -> tuple[float, float, float]:
    latitude, longitude = math.radians(point.latitude), math.radians(point.longitude)
    return (
        math.cos(latitude) * math.cos(longitude),
        math.cos(latitude) * math.sin(longitude),
        math.sin(latitude),
    )
