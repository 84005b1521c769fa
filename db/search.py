"""Provider search: the SQL behind nearby, in-view and clusters.

All strategies share one distance metric, `location <-> center` (see db.nearest), so an
item's reported distance is the one it was ranked by, whichever strategy found it.
"""

import enum
from dataclasses import dataclass
from typing import Any

import msgspec
from geoalchemy2 import Geometry
from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    and_,
    cast,
    func,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Provider
from db.nearest import Located, SearchSettings, geography, index_ordered, nearest_statement
from db.pages import Page
from geo.bbox import boxes_around
from geo.clusters import cell_size_deg
from geo.cursor import DistanceKey
from geo.distance import Point
from geo.viewport import Viewport


class SearchStrategy(enum.StrEnum):
    gist = "gist"
    bbox = "bbox"
    naive = "naive"


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


def _category_filters(category: str | None) -> list[ColumnElement[bool]]:
    return [] if category is None else [Provider.categories.contains([category])]


def _viewport_filters(viewport: Viewport, category: str | None) -> list[ColumnElement[bool]]:
    lng = Provider.longitude
    if viewport.crosses_antimeridian:
        in_lng = or_(lng >= viewport.min_lng, lng <= viewport.max_lng)
    else:
        in_lng = lng.between(viewport.min_lng, viewport.max_lng)
    in_lat = Provider.latitude.between(viewport.min_lat, viewport.max_lat)
    return [in_lat, in_lng, *_category_filters(category)]


PROVIDERS = Located(Provider.location, Provider.id, Provider.is_active, _hit_columns)


def nearby_statement(query: NearbyQuery, strategy: SearchStrategy) -> Select[tuple[object, ...]]:
    """The SQL of the gist and bbox strategies (one row more than a page, to see if more follow)."""
    category = _category_filters(query.category)
    if strategy is SearchStrategy.gist:
        return nearest_statement(
            PROVIDERS, query.center, query.radius_m, category, query.after, query.limit
        )
    if strategy is SearchStrategy.bbox:
        distance = PROVIDERS.distance(geography(query.center))
        boxes = [
            and_(
                Provider.latitude.between(box.min_lat, box.max_lat),
                Provider.longitude.between(box.min_lng, box.max_lng),
            )
            for box in boxes_around(query.center, query.radius_m)
        ]
        within = PROVIDERS.within(distance, query.radius_m, query.after)
        return (
            select(*_hit_columns(distance))
            .where(Provider.is_active, or_(*boxes), *within, *category)
            .order_by(distance, Provider.id)
            .limit(query.limit + 1)
        )
    raise ValueError(f"{strategy} has no single statement")


async def _nearby_naive(session: AsyncSession, query: NearbyQuery) -> list[ProviderHit]:
    """Deliberately naive: load every active provider and filter and sort in Python.

    This is what the search did before it had a spatial index; it exists so that
    benchmarks can show the difference. The distance still comes from the database so
    that all strategies share one metric.
    """
    distance = PROVIDERS.distance(geography(query.center))
    rows = await session.execute(select(*_hit_columns(distance)).where(Provider.is_active))
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


def in_view_statement(
    viewport: Viewport, category: str | None, limit: int
) -> Select[tuple[object, ...]]:
    filters = _viewport_filters(viewport, category)
    # Nearest the viewport's center first, so that a capped viewport shows its middle;
    # the circle around the rectangle bounds the index scan.
    return index_ordered(
        PROVIDERS, geography(viewport.center), viewport.enclosing_radius_m(), filters, limit + 1
    )


class ProviderSearch(SearchSettings):
    """The search statements, each run with this deployment's statement timeout and the
    planner settings its plan needs, for the length of its transaction only."""

    async def nearby(
        self, session: AsyncSession, query: NearbyQuery, strategy: SearchStrategy
    ) -> Page[ProviderHit]:
        """Active providers within the radius, nearest first (ties by id), one page."""
        await self.apply(session, index_ordered=strategy is SearchStrategy.gist)
        if strategy is SearchStrategy.naive:
            hits = await _nearby_naive(session, query)
        else:
            rows = await session.execute(nearby_statement(query, strategy))
            hits = [ProviderHit(*row) for row in rows]
        return Page.of(hits, query.limit)

    async def in_view(
        self, session: AsyncSession, viewport: Viewport, category: str | None, limit: int
    ) -> Page[ProviderHit]:
        """Active providers inside the viewport, nearest its center first, one page."""
        await self.apply(session, index_ordered=True)
        rows = await session.execute(in_view_statement(viewport, category, limit))
        return Page.of([ProviderHit(*row) for row in rows], limit)

    async def clusters(
        self, session: AsyncSession, viewport: Viewport, zoom: int, category: str | None
    ) -> list[Cluster]:
        """Active providers in the viewport grouped into square grid cells, by PostGIS."""
        await self.apply(session, index_ordered=False)
        point = cast(Provider.location, Geometry)
        cell = func.ST_SnapToGrid(point, cell_size_deg(zoom))
        centroid = func.ST_Centroid(func.ST_Collect(point))
        statement = (
            select(func.ST_Y(centroid), func.ST_X(centroid), func.count())
            .where(Provider.is_active, *_viewport_filters(viewport, category))
            .group_by(cell)
            .order_by(func.count().desc())
        )
        return [Cluster(*row) for row in await session.execute(statement)]
