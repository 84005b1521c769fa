"""GeoJSON (RFC 7946) output: positions are `[longitude, latitude]`."""

from collections.abc import Iterable, Mapping
from typing import Any


def point_feature(
    feature_id: int, latitude: float, longitude: float, properties: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": feature_id,
        "geometry": {"type": "Point", "coordinates": [longitude, latitude]},
        "properties": dict(properties),
    }


def feature_collection(
    features: Iterable[dict[str, Any]], **foreign_members: Any
) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features), **foreign_members}
