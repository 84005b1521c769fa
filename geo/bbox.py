"""Latitude/longitude boxes that enclose a circle on the sphere.

Used as the btree prefilter of the bbox search strategy: every point within the radius
lies in one of the boxes (the exact distance filter follows in SQL).
"""

import math
from typing import NamedTuple

from geo.distance import EARTH_RADIUS_M, Point

# Widen the boxes a little so that rounding never drops a point on the circle itself.
_MARGIN_DEG = 1e-7


class LatLngBox(NamedTuple):
    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float


def boxes_around(center: Point, radius_m: float) -> list[LatLngBox]:
    """One box, or two where the circle crosses the antimeridian."""
    angular = radius_m / EARTH_RADIUS_M
    min_lat = center.latitude - math.degrees(angular) - _MARGIN_DEG
    max_lat = center.latitude + math.degrees(angular) + _MARGIN_DEG
    if min_lat <= -90 or max_lat >= 90:
        # The circle holds a pole: every longitude is inside at some latitude.
        return [LatLngBox(max(min_lat, -90.0), -180.0, min(max_lat, 90.0), 180.0)]
    # Widest longitude extent of the circle, reached at its tangent meridians.
    ratio = math.sin(angular) / math.cos(math.radians(center.latitude))
    if ratio >= 1:
        return [LatLngBox(min_lat, -180.0, max_lat, 180.0)]
    half_width = math.degrees(math.asin(ratio)) + _MARGIN_DEG
    west, east = center.longitude - half_width, center.longitude + half_width
    if west < -180:
        return [
            LatLngBox(min_lat, west + 360, max_lat, 180.0),
            LatLngBox(min_lat, -180.0, max_lat, east),
        ]
    if east > 180:
        return [
            LatLngBox(min_lat, west, max_lat, 180.0),
            LatLngBox(min_lat, -180.0, max_lat, east - 360),
        ]
    return [LatLngBox(min_lat, west, max_lat, east)]
