"""Provider search: the SQL behind nearby, in-view, clusters and tiles.

All strategies share one distance metric, `location <-> center` (see db.nearest), so an
item's reported distance is the one it was ranked by, whichever strategy found it.
"""

import functools
from dataclasses import dataclass
from typing import Any

import msgspec
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    Integer,
    SQLColumnExpression,
    and_,
    bindparam,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.categories import category_filters, category_values
from db.clusters import ClusterView, clusters_statement
from db.models import Provider
from db.nearest import (
    CENTER,
    Bound,
    Located,
    SearchSettings,
    Sessions,
    Statement,
    center_values,
    index_ordered,
    index_ordered_values,
    nearest_statement,
    nearest_values,
)
from db.pages import Page
from db.tiles import tile_statement
from geo.bbox import boxes_around
from geo.cursor import DistanceKey
from geo.distance import Point
from geo.strategies import SearchStrategy
from geo.tiles import Tile
from geo.viewport import Viewport


class ProviderHit(msgspec.Struct, frozen=True):
    """The public projection of a provider found by a search."""

    id: int
    business_name: str
    city: str | None
    latitude: float
    longitude: float
    distance_m: float
    categories: list[str]

    @property
    def key(self) -> DistanceKey:
        return DistanceKey(self.distance_m, self.id)


class Cluster(msgspec.Struct, frozen=True):
    latitude: float
    longitude: float
    count: int


@dataclass(frozen=True, slots=True)
class NearbyQuery:
    center: Point
    radius_m: float
    limit: int
    category: str | None = None
    after: DistanceKey | None = None


def _hit_columns(distance: ColumnElement[float]) -> tuple[SQLColumnExpression[Any], ...]:
    return (
        Provider.id,
        Provider.business_name,
        Provider.city,
        Provider.latitude,
        Provider.longitude,
        distance.label("distance_m"),
        Provider.categories,
    )


def _viewport_filters(crosses_antimeridian: bool) -> list[ColumnElement[bool]]:
    lng, west, east = Provider.longitude, _float("min_lng"), _float("max_lng")
    in_lng = or_(lng >= west, lng <= east) if crosses_antimeridian else lng.between(west, east)
    return [Provider.latitude.between(_float("min_lat"), _float("max_lat")), in_lng]


def _viewport_values(viewport: Viewport, category: str | None) -> dict[str, Any]:
    corners = {
        "min_lng": viewport.min_lng,
        "max_lng": viewport.max_lng,
        "min_lat": viewport.min_lat,
        "max_lat": viewport.max_lat,
    }
    return corners | category_values(category)


def _float(name: str) -> BindParameter[float]:
    return bindparam(name, type_=Float)


PROVIDERS = Located(Provider.location, Provider.id, Provider.is_active, _hit_columns)


@functools.cache
def _gist_statement(paged: bool, by_category: bool) -> Statement:
    return nearest_statement(PROVIDERS, category_filters(by_category), paged)


def _in_boxes(query: NearbyQuery) -> ColumnElement[bool]:
    """Inside the latitude/longitude boxes around the circle: bbox's prefilter."""
    return or_(
        *(
            and_(
                Provider.latitude.between(box.min_lat, box.max_lat),
                Provider.longitude.between(box.min_lng, box.max_lng),
            )
            for box in boxes_around(query.center, query.radius_m)
        )
    )


def _bbox_statement(query: NearbyQuery) -> Statement:
    distance = PROVIDERS.distance(CENTER)
    within = PROVIDERS.within(distance, query.after is not None)
    return (
        select(*_hit_columns(distance))
        .where(
            Provider.is_active,
            _in_boxes(query),
            *within,
            *category_filters(query.category is not None),
        )
        .order_by(distance, Provider.id)
        .limit(bindparam("row_limit", type_=Integer))
    )


def bbox_false_positives(query: NearbyQuery) -> Bound:
    """How many active providers bbox's prefilter lets through, and how many of those are
    within the radius (the benchmarks report the rest as its false positives)."""
    within = PROVIDERS.distance(CENTER) <= bindparam("radius_m", type_=Float)
    statement = select(func.count(), func.count().filter(within)).where(
        Provider.is_active, _in_boxes(query)
    )
    return Bound(statement, center_values(query.center) | {"radius_m": query.radius_m})


def nearby_statement(query: NearbyQuery, strategy: SearchStrategy) -> Bound:
    """The SQL of the gist and bbox strategies (one row more than a page, to see if more follow)."""
    values = nearest_values(query.center, query.radius_m, query.after, query.limit)
    values |= category_values(query.category)
    if strategy is SearchStrategy.gist:
        return Bound(_gist_statement(query.after is not None, query.category is not None), values)
    if strategy is SearchStrategy.bbox:
        return Bound(_bbox_statement(query), values)
    raise ValueError(f"{strategy} has no single statement")


def naive_statement(query: NearbyQuery) -> Bound:
    """Every active provider with its distance: what the naive strategy reads."""
    every = select(*_hit_columns(PROVIDERS.distance(CENTER))).where(Provider.is_active)
    return Bound(every, center_values(query.center))


async def _nearby_naive(session: AsyncSession, query: NearbyQuery) -> list[ProviderHit]:
    """Deliberately naive: load every active provider and filter and sort in Python.

    This is what the search did before it had a spatial index; it exists so that
    benchmarks can show the difference. The distance still comes from the database so
    that all strategies share one metric.
    """
    rows = await session.execute(*naive_statement(query))
    after = query.after
    hits = [
        hit
        for hit in (ProviderHit(*row) for row in rows)
        if hit.distance_m <= query.radius_m
        and (query.category is None or query.category in hit.categories)
        and (after is None or (hit.distance_m, hit.id) > (after.distance_m, after.id))
    ]
    hits.sort(key=lambda hit: (hit.distance_m, hit.id))
    return hits[: query.limit + 1]


@functools.cache
def _in_view_statement(crosses_antimeridian: bool, by_category: bool) -> Statement:
    # Nearest the viewport's center first, so that a capped viewport shows its middle;
    # the circle around the rectangle bounds the index scan.
    filters = [*_viewport_filters(crosses_antimeridian), *category_filters(by_category)]
    return index_ordered(PROVIDERS, filters)


def in_view_statement(viewport: Viewport, category: str | None, limit: int) -> Bound:
    statement = _in_view_statement(viewport.crosses_antimeridian, category is not None)
    values = index_ordered_values(viewport.center, viewport.enclosing_radius_m(), limit + 1)
    return Bound(statement, values | _viewport_values(viewport, category))


class ProviderSearch(SearchSettings):
    """The search statements, each run with this deployment's statement timeout and the
    planner settings its plan needs, for the length of its transaction only."""

    async def nearby(
        self, sessions: Sessions, query: NearbyQuery, strategy: SearchStrategy
    ) -> Page[ProviderHit]:
        """Active providers within the radius, nearest first (ties by id), one page."""
        if strategy is SearchStrategy.naive:
            async with sessions() as session:
                await self.apply(session, index_ordered=False)
                hits = await _nearby_naive(session, query)
        else:
            bound = nearby_statement(query, strategy)
            rows = await self.rows(sessions, bound, index_ordered=strategy is SearchStrategy.gist)
            hits = [ProviderHit(*row) for row in rows]
        return Page.of(hits, query.limit)

    async def in_view(
        self, sessions: Sessions, viewport: Viewport, category: str | None, limit: int
    ) -> Page[ProviderHit]:
        """Active providers inside the viewport, nearest its center first, one page."""
        bound = in_view_statement(viewport, category, limit)
        rows = await self.rows(sessions, bound, index_ordered=True)
        return Page.of([ProviderHit(*row) for row in rows], limit)

    async def clusters(
        self, sessions: Sessions, viewport: Viewport, zoom: int, category: str | None
    ) -> list[Cluster]:
        """The clusters of active providers whose centroid is in the viewport (db.clusters)."""
        bound = clusters_statement(ClusterView(viewport, zoom, category))
        return [Cluster(*row) for row in await self.rows(sessions, bound, index_ordered=False)]

    async def tile(self, sessions: Sessions, tile: Tile, category: str | None) -> bytes:
        """The vector tile of active providers (db.tiles): clusters, or zoomed in, each one."""
        rows = await self.rows(sessions, tile_statement(tile, category), index_ordered=False)
        return bytes(next(iter(rows[0])))
