"""GeoJSON (RFC 7946) output: positions are `[longitude, latitude]`."""

from collections.abc import Iterable, Mapping
from typing import Any

from shapely import LineString


def point_feature(
    feature_id: int | None, latitude: float, longitude: float, properties: Mapping[str, Any]
) -> dict[str, Any]:
    point = {"type": "Point", "coordinates": [longitude, latitude]}
    return feature(point, properties, feature_id)


def line_feature(line: LineString, properties: Mapping[str, Any]) -> dict[str, Any]:
    return feature({"type": "LineString", "coordinates": list(line.coords)}, properties)


def feature(
    geometry: Mapping[str, Any], properties: Mapping[str, Any], feature_id: int | None = None
) -> dict[str, Any]:
    """A feature; one without an id has no "id" member (RFC 7946 makes it optional)."""
    identity = {} if feature_id is None else {"id": feature_id}
    return {
        "type": "Feature",
        **identity,
        "geometry": dict(geometry),
        "properties": dict(properties),
    }


def feature_collection(
    features: Iterable[dict[str, Any]], **foreign_members: Any
) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **foreign_members}
