"""Provider search: the SQL behind nearby, in-view, clusters and tiles.

All strategies share one distance metric, `location <-> center` (see db.nearest), so an
item's reported distance is the one it was ranked by, whichever strategy found it.
"""

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

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
from db.slots import (
    SLOTS,
    FreeSlots,
    NoSuchServiceError,
    SlotRules,
    SlotsQuery,
    Window,
    first_free,
    first_free_travel,
    first_free_values,
    slots_values,
)
from db.tiles import tile_statement
from geo.bbox import boxes_around
from geo.cursor import DistanceKey
from geo.distance import Point
from geo.strategies import SearchStrategy
from geo.tiles import Tile
from geo.travel import TravelBy
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


class FirstFree(msgspec.Struct, frozen=True):
    """A provider's earliest free slot in a window, in its time zone."""

    start: datetime
    end: datetime
    service_id: int
    travel: TravelBy
    """What measured the drives around it (free slots' travel)."""


class AvailableHit(ProviderHit, frozen=True):
    """A provider found by free-near-me: nearby's fields and its first free slot."""

    first_free: FirstFree


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


@dataclass(frozen=True, slots=True)
class AvailableQuery:
    """Free-near-me: a nearby search of providers with a free slot in the window."""

    nearby: NearbyQuery
    window: Window
    serves: bool
    """Only providers whose service radius reaches the center."""


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


_FIRST_FREE = first_free(Provider.id).table_valued("service_id", "slot_start", "slot_end")
_FIRST_FREE_LATERAL = _FIRST_FREE.lateral("first_free")
_AVAILABLE = Located(
    Provider.location,
    Provider.id,
    Provider.is_active,
    lambda distance: (
        *_hit_columns(distance),
        Provider.timezone,
        *_FIRST_FREE_LATERAL.c,
        first_free_travel(),
    ),
    beside=_FIRST_FREE_LATERAL,
)


@functools.cache
def _available_statement(paged: bool, by_category: bool, serves: bool) -> Statement:
    """Nearby's scan, each provider it reaches asked for its first free slot (db.slots):
    those with none are passed over, and the scan goes on until a page is full."""
    filters = category_filters(by_category)
    if serves:
        filters.append(_AVAILABLE.distance(CENTER) <= Provider.service_radius_km * 1000)
    return nearest_statement(_AVAILABLE, filters, paged)


def available_statement(query: AvailableQuery, rules: SlotRules) -> Bound:
    nearby = query.nearby
    values = nearest_values(nearby.center, nearby.radius_m, nearby.after, nearby.limit)
    values |= category_values(nearby.category)
    values |= first_free_values(rules, query.window, nearby.center, nearby.category)
    statement = _available_statement(
        nearby.after is not None, nearby.category is not None, query.serves
    )
    return Bound(statement, values)


def _available_hit(row: Any) -> AvailableHit:
    *hit, timezone, service_id, start, end, travel = row
    zone = ZoneInfo(timezone)
    first = FirstFree(start.astimezone(zone), end.astimezone(zone), service_id, TravelBy(travel))
    return AvailableHit(**msgspec.structs.asdict(ProviderHit(*hit)), first_free=first)


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

    async def available(
        self, sessions: Sessions, query: AvailableQuery, rules: SlotRules
    ) -> Page[AvailableHit]:
        """Active providers within the radius with a free slot in the window, nearest
        first (ties by id), one page."""
        rows = await self.rows(sessions, available_statement(query, rules), index_ordered=True)
        return Page.of([_available_hit(row) for row in rows], query.nearby.limit)

    async def slots(
        self, sessions: Sessions, query: SlotsQuery, rules: SlotRules
    ) -> FreeSlots | None:
        """The provider's free slots for the service (db.slots); None for no active
        provider, NoSuchServiceError when it offers no such active service."""
        bound = Bound(SLOTS, slots_values(rules, query))
        rows = await self.rows(sessions, bound, index_ordered=False)
        if not rows:
            return None
        timezone, minutes, travel, _ = next(iter(rows))
        if minutes is None:
            raise NoSuchServiceError(
                f"provider {query.provider_id} offers no service {query.service_id}"
            )
        starts = [start for *_, start in rows if start is not None]
        return FreeSlots(timezone, minutes, TravelBy(travel), starts)

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
