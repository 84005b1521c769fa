"""Provider search: the SQL behind nearby, in-view and clusters.

All strategies share one distance metric, `location <-> center`: PostGIS's sphere
distance for geography. The same expression filters (`<= radius`), orders and is
reported as `distance_m`, so an item's reported distance is the one it was ranked by.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from geoalchemy2 import Geography, Geometry
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    SQLColumnExpression,
    and_,
    cast,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Provider
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


# Planner settings for the length of one search transaction (PgBouncer-safe: no session
# state survives the transaction). JIT compiles for tens of milliseconds, which only pays
# off for queries far longer than a search. For index-ordered (KNN) statements, bitmap scans and
# parallel plans are switched off: both return rows unordered, so the planner would sort
# every point within the radius (≈130 ms at 50 km among 1M clustered points) instead of
# streaming the nearest few straight out of the GiST index (≈2 ms at any radius). Full
# sorts are off for the same reason (on small tables the planner otherwise prefers an
# unordered index scan plus a sort); the incremental sort that breaks ties stays on.
_COMMON_SETTINGS = {"jit": "off"}
_INDEX_ORDERED_SETTINGS = {
    "enable_bitmapscan": "off",
    "max_parallel_workers_per_gather": "0",
    "enable_sort": "off",
}

# ST_DWithin only bounds the index scan; the exact `<->` test decides. The slack keeps
# the two sphere formulas (which differ by nanometres) from disagreeing at the edge.
_INDEX_RADIUS_SLACK_M = 1.0


def _center(point: Point) -> ColumnElement[object]:
    return cast(
        func.ST_SetSRID(
            func.ST_MakePoint(literal(point.longitude, Float), literal(point.latitude, Float)), 4326
        ),
        Geography(srid=4326),
    )


def _distance(center: ColumnElement[object]) -> ColumnElement[float]:
    return Provider.location.op("<->", return_type=Float)(center)


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


def _nearby_filters(
    query: NearbyQuery, distance: ColumnElement[float]
) -> list[ColumnElement[bool]]:
    filters = [distance <= query.radius_m, *_category_filters(query.category)]
    if query.after is not None:
        filters.append(
            tuple_(distance, Provider.id)
            > tuple_(literal(query.after.distance_m, Float), literal(query.after.id))
        )
    return filters


def _index_ordered(
    geog: ColumnElement[object],
    bound_radius_m: float,
    filters: Sequence[ColumnElement[bool]],
    limit: int,
) -> Select[tuple[object, ...]]:
    """Nearest active providers passing `filters`, as an index-ordered GiST (KNN) scan.

    A GiST index can produce one order only, distance alone, so the inner query asks for
    exactly that; ST_DWithin bounds the scan, so an empty area ends it early. The outer
    query breaks distance ties by id with an incremental sort, which reads the rows it
    returns plus one tie group.
    """
    distance = _distance(geog)
    inner = (
        select(*_hit_columns(distance))
        .where(
            Provider.is_active,
            func.ST_DWithin(Provider.location, geog, bound_radius_m + _INDEX_RADIUS_SLACK_M, False),
            *filters,
        )
        .order_by(distance)
        .subquery("nearest")
    )
    return select(inner).order_by(inner.c.distance_m, inner.c.id).limit(limit)


def nearby_statement(query: NearbyQuery, strategy: SearchStrategy) -> Select[tuple[object, ...]]:
    """The SQL of the gist and bbox strategies (one row more than a page, to see if more follow)."""
    geog = _center(query.center)
    distance = _distance(geog)
    filters = _nearby_filters(query, distance)
    if strategy is SearchStrategy.gist:
        return _index_ordered(geog, query.radius_m, filters, query.limit + 1)
    if strategy is SearchStrategy.bbox:
        boxes = [
            and_(
                Provider.latitude.between(box.min_lat, box.max_lat),
                Provider.longitude.between(box.min_lng, box.max_lng),
            )
            for box in boxes_around(query.center, query.radius_m)
        ]
        return (
            select(*_hit_columns(distance))
            .where(Provider.is_active, or_(*boxes), *filters)
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
    distance = _distance(_center(query.center))
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
    return _index_ordered(
        _center(viewport.center), viewport.enclosing_radius_m(), filters, limit + 1
    )


class ProviderSearch:
    """The search statements, each run with this deployment's statement timeout and the
    planner settings its plan needs, for the length of its transaction only."""

    def __init__(self, statement_timeout_ms: int) -> None:
        self._statement_timeout_ms = statement_timeout_ms

    async def apply_settings(self, session: AsyncSession, *, index_ordered: bool) -> None:
        """Settings for this transaction; `index_ordered` for statements on a KNN scan."""
        settings = {
            **_COMMON_SETTINGS,
            **(_INDEX_ORDERED_SETTINGS if index_ordered else {}),
            "statement_timeout": str(self._statement_timeout_ms),
        }
        calls = [func.set_config(name, value, True) for name, value in settings.items()]
        await session.execute(select(*calls))

    async def nearby(
        self, session: AsyncSession, query: NearbyQuery, strategy: SearchStrategy
    ) -> Page[ProviderHit]:
        """Active providers within the radius, nearest first (ties by id), one page."""
        await self.apply_settings(session, index_ordered=strategy is SearchStrategy.gist)
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
        await self.apply_settings(session, index_ordered=True)
        rows = await session.execute(in_view_statement(viewport, category, limit))
        return Page.of([ProviderHit(*row) for row in rows], limit)

    async def clusters(
        self, session: AsyncSession, viewport: Viewport, zoom: int, category: str | None
    ) -> list[Cluster]:
        """Active providers in the viewport grouped into square grid cells, by PostGIS."""
        await self.apply_settings(session, index_ordered=False)
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
