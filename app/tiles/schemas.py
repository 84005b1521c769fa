"""The TileJSON 3.0.0 document of the provider tiles (https://github.com/mapbox/tilejson-spec)."""

import msgspec

from db.tiles import CLUSTERS_LAYER, PROVIDERS_LAYER
from geo.clusters import PRECOMPUTED_MAX_ZOOM
from geo.tiles import MERCATOR_MAX_LAT

TILEJSON_MAX_ZOOM = PRECOMPUTED_MAX_ZOOM + 2
"""Deeper tiles hold the same providers: clients zoom into this one's."""


class VectorLayer(msgspec.Struct):
    id: str
    fields: dict[str, str]
    minzoom: int
    maxzoom: int
    description: str


class TileJSON(msgspec.Struct):
    tiles: list[str]
    tilejson: str = "3.0.0"
    name: str = "equinet-geo providers"
    minzoom: int = 0
    maxzoom: int = TILEJSON_MAX_ZOOM
    bounds: tuple[float, float, float, float] = (-180.0, -MERCATOR_MAX_LAT, 180.0, MERCATOR_MAX_LAT)
    vector_layers: list[VectorLayer] = msgspec.field(
        default_factory=lambda: [
            VectorLayer(
                CLUSTERS_LAYER,
                {"count": "Number: active providers in the cluster's grid cell"},
                0,
                PRECOMPUTED_MAX_ZOOM,
                "A point at the centroid of each grid cell's providers",
            ),
            VectorLayer(
                PROVIDERS_LAYER,
                {"name": "String", "categories": "String: comma-separated service categories"},
                PRECOMPUTED_MAX_ZOOM + 1,
                TILEJSON_MAX_ZOOM,
                "Each active provider; the feature id is the provider's id",
            ),
        ]
    )
