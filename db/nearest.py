"""Nearest first from a point: the index-ordered GiST (KNN) scan that provider search and
open route orders share, and the planner settings it needs.

Every distance is `location <-> center`, PostGIS's sphere distance for geography. The same
expression filters (`<= radius`), orders and is reported as `distance_m`, so an item's
reported distance is the one it was ranked by.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    SQLColumnExpression,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy import tuple_ as row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from geo.cursor import DistanceKey
from geo.distance import Point

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


class SearchSettings:
    """This deployment's statement timeout, and the planner settings a search's plan needs,
    set for the length of its transaction only."""

    def __init__(self, statement_timeout_ms: int) -> None:
        self._statement_timeout_ms = statement_timeout_ms

    async def apply(self, session: AsyncSession, *, index_ordered: bool) -> None:
        """Settings for this transaction; `index_ordered` for statements on a KNN scan."""
        settings = {
            **_COMMON_SETTINGS,
            **(_INDEX_ORDERED_SETTINGS if index_ordered else {}),
            "statement_timeout": str(self._statement_timeout_ms),
        }
        calls = [func.set_config(name, value, True) for name, value in settings.items()]
        await session.execute(select(*calls))


@dataclass(frozen=True, slots=True)
class Located:
    """A table searched by distance: where its rows are, which rows can be found at all
    (the predicate of its partial GiST index), and the columns of a hit."""

    location: InstrumentedAttribute[object]
    row_id: InstrumentedAttribute[int]
    findable: SQLColumnExpression[bool]
    hit_columns: Callable[[ColumnElement[float]], tuple[SQLColumnExpression[Any], ...]]
    """The columns of a hit, given the distance to include among them as `distance_m`."""

    def distance(self, center: ColumnElement[object]) -> ColumnElement[float]:
        return self.location.op("<->", return_type=Float)(center)

    def within(
        self, distance: ColumnElement[float], radius_m: float, after: DistanceKey | None
    ) -> list[ColumnElement[bool]]:
        """Rows within the radius, and after the keyset position `after` if given."""
        filters = [distance <= radius_m]
        if after is not None:
            position = row(literal(after.distance_m, Float), literal(after.id))
            filters.append(row(distance, self.row_id) > position)
        return filters


def geography(point: Point) -> ColumnElement[object]:
    return cast(
        func.ST_SetSRID(
            func.ST_MakePoint(literal(point.longitude, Float), literal(point.latitude, Float)), 4326
        ),
        Geography(srid=4326),
    )


def index_ordered(
    located: Located,
    center: ColumnElement[object],
    bound_radius_m: float,
    filters: Sequence[ColumnElement[bool]],
    limit: int,
) -> Select[tuple[object, ...]]:
    """Nearest findable rows passing `filters`, as an index-ordered GiST (KNN) scan.

    A GiST index can produce one order only, distance alone, so the inner query asks for
    exactly that; ST_DWithin bounds the scan, so an empty area ends it early. The outer
    query breaks distance ties by id with an incremental sort, which reads the rows it
    returns plus one tie group.
    """
    distance = located.distance(center)
    bound_m = bound_radius_m + _INDEX_RADIUS_SLACK_M
    inner = (
        select(*located.hit_columns(distance))
        .where(
            located.findable,
            func.ST_DWithin(located.location, center, bound_m, False),
            *filters,
        )
        .order_by(distance)
        .subquery("nearest")
    )
    return select(inner).order_by(inner.c.distance_m, inner.c.id).limit(limit)


def nearest_statement(
    located: Located,
    center: Point,
    radius_m: float,
    filters: Sequence[ColumnElement[bool]],
    after: DistanceKey | None,
    limit: int,
) -> Select[tuple[object, ...]]:
    """One page of findable rows within the radius, nearest first (ties by id), after the
    keyset position `after`, with one row more than `limit` to see if more follow."""
    geog = geography(center)
    within = located.within(located.distance(geog), radius_m, after)
    return index_ordered(located, geog, radius_m, [*within, *filters], limit + 1)
