"""Vector tiles of providers, made by PostGIS (Mapbox Vector Tile, EPSG:3857).

A tile up to PRECOMPUTED_MAX_ZOOM holds one layer, `clusters`: the clusters of db.clusters
whose centroid is in the tile, each a point with its `count`. Deeper tiles hold `providers`:
each active provider in the tile, a point whose feature id is the provider's id, with its
`name` and `categories` (comma-separated), the public projection and nothing more. A tile
with no feature is empty (no bytes).
"""

import functools
from typing import Any

from sqlalchemy import Float, Integer, Select, bindparam, func, select

from db.categories import category_filters, category_values
from db.clusters import ClusterView, clusters_statement
from db.models import Provider
from db.nearest import Bound
from geo.clusters import PRECOMPUTED_MAX_ZOOM
from geo.tiles import Tile

EXTENT = 4096
"""Tile coordinates per side: a point lands within a few metres even at zoom 13."""
CLUSTERS_LAYER = "clusters"
PROVIDERS_LAYER = "providers"
# The GiST index is searched with the tile's box widened by this share of its size: a
# geography box's edges are great circles, which bow away from the parallels of the tile.
_INDEX_MARGIN = 1 / 16


def _envelope() -> Any:
    return func.ST_TileEnvelope(
        bindparam("tile_z", type_=Integer),
        bindparam("tile_x", type_=Integer),
        bindparam("tile_y", type_=Integer),
    )


def _point(longitude: Any, latitude: Any) -> Any:
    return func.ST_Transform(func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), 4326), 3857)


def _encoded(features: Select[Any], layer: str, feature_id: str | None = None) -> Select[Any]:
    rows = features.subquery("features")
    options = (EXTENT, "geom") if feature_id is None else (EXTENT, "geom", feature_id)
    return select(func.coalesce(func.ST_AsMVT(rows.table_valued(), layer, *options), b""))


@functools.cache
def _clusters_tile_statement(clusters: Select[Any]) -> Select[Any]:
    """The tile of a clusters statement (each built once per shape, so this is too)."""
    rows = clusters.subquery("clusters")
    features = select(
        func.ST_AsMVTGeom(_point(rows.c.longitude, rows.c.latitude), _envelope()).label("geom"),
        rows.c.count,
    )
    return _encoded(features, CLUSTERS_LAYER)


def _clusters_tile(tile: Tile, category: str | None) -> Bound:
    view = ClusterView(tile.viewport(), tile.z, category, upper_edges_open=True)
    clusters = clusters_statement(view)
    return Bound(_clusters_tile_statement(clusters.statement), clusters.parameters)


def _float(name: str) -> Any:
    return bindparam(name, type_=Float)


@functools.cache
def _providers_tile_statement(by_category: bool) -> Select[Any]:
    near = func.ST_MakeEnvelope(
        _float("index_west"),
        _float("index_south"),
        _float("index_east"),
        _float("index_north"),
        4326,
    )
    filters = [
        Provider.is_active,
        Provider.location.op("&&")(func.geography(near)),
        Provider.latitude >= _float("min_lat"),
        Provider.latitude < _float("max_lat"),
        Provider.longitude >= _float("min_lng"),
        Provider.longitude < _float("max_lng"),
        *category_filters(by_category),
    ]
    features = select(
        func.ST_AsMVTGeom(_point(Provider.longitude, Provider.latitude), _envelope()).label("geom"),
        Provider.id,
        Provider.business_name.label("name"),
        func.array_to_string(Provider.categories, ",").label("categories"),
    ).where(*filters)
    return _encoded(features, PROVIDERS_LAYER, feature_id="id")


def _providers_tile(tile: Tile, category: str | None) -> Bound:
    viewport = tile.viewport()
    margin_lng = (viewport.max_lng - viewport.min_lng) * _INDEX_MARGIN
    margin_lat = (viewport.max_lat - viewport.min_lat) * _INDEX_MARGIN
    values: dict[str, Any] = {
        "min_lat": viewport.min_lat,
        "max_lat": viewport.max_lat,
        "min_lng": viewport.min_lng,
        "max_lng": viewport.max_lng,
        "index_west": max(viewport.min_lng - margin_lng, -180.0),
        "index_east": min(viewport.max_lng + margin_lng, 180.0),
        "index_south": max(viewport.min_lat - margin_lat, -90.0),
        "index_north": min(viewport.max_lat + margin_lat, 90.0),
    }
    return Bound(
        _providers_tile_statement(category is not None), values | category_values(category)
    )


def tile_statement(tile: Tile, category: str | None) -> Bound:
    """The statement whose one value is the tile's bytes."""
    bound = (
        _clusters_tile(tile, category)
        if tile.z <= PRECOMPUTED_MAX_ZOOM
        else _providers_tile(tile, category)
    )
    return Bound(
        bound.statement, bound.parameters | {"tile_z": tile.z, "tile_x": tile.x, "tile_y": tile.y}
    )
