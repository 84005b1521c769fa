"""Nearest first from a point: the index-ordered GiST (KNN) scan that provider search and
open route orders share, and the planner settings it needs.

Every distance is `location <-> center`, PostGIS's sphere distance for geography. The same
expression filters (`<= radius`), orders and is reported as `distance_m`, so an item's
reported distance is the one it was ranked by.
"""

import contextlib
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

from geoalchemy2 import Geography
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Float,
    FromClause,
    Integer,
    Select,
    SQLColumnExpression,
    TextClause,
    bindparam,
    cast,
    func,
    select,
    text,
    true,
)
from sqlalchemy import tuple_ as row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from db.engine import SETS_ITS_OWN, ReadPool
from geo.cursor import DistanceKey
from geo.distance import Point

# Planner settings for index-ordered (KNN) searches. JIT compiles for tens of milliseconds,
# which only pays off for queries far longer than a search. Bitmap scans and parallel plans
# are switched off: both return rows unordered, so the planner would sort every point
# within the radius (≈130 ms at 50 km among 1M clustered points) instead of streaming the
# nearest few straight out of the GiST index (≈2 ms at any radius). Full sorts are off for
# the same reason (on small tables the planner otherwise prefers an unordered index scan
# plus a sort); the incremental sort that breaks ties stays on.
#
# They reach PostgreSQL in one of two ways. Directly connected, a pool of connections
# keeps them from the moment each connection opens, so that an index-ordered search is
# one statement: no transaction, no settings round trip, no ping. Behind a transaction-mode
# pooler (PgBouncer) connection state would leak to other clients, so each search sets
# them for its own transaction only. Other searches (clusters, corridors, the costly
# strategies) always take the second way, with JIT off and the statement timeout.
_COMMON_SETTINGS = {"jit": "off"}
_INDEX_ORDERED_SETTINGS = {
    "enable_bitmapscan": "off",
    "max_parallel_workers_per_gather": "0",
    "enable_sort": "off",
}

# ST_DWithin only bounds the index scan; the exact `<->` test decides. The slack keeps
# the two sphere formulas (which differ by nanometres) from disagreeing at the edge.
_INDEX_RADIUS_SLACK_M = 1.0


Statement: TypeAlias = Select[*tuple[Any, ...]]
"""A SELECT of any columns."""


class Bound(NamedTuple):
    """A statement and one call's values for its parameters.

    Building and compiling a statement costs the API more than PostgreSQL needs to run a
    search, so the hot statements are built once per shape (which filters, whether paged)
    with named parameters, and only the values change from call to call.
    """

    statement: Statement
    parameters: dict[str, Any]


def _settings_statement(settings: dict[str, str]) -> TextClause:
    calls = (f"set_config('{name}', '{value}', true)" for name, value in settings.items())
    return text(f"SELECT {', '.join(calls)}, set_config('statement_timeout', :timeout, true)")


_SETTINGS = {
    index_ordered: _settings_statement(
        {**_COMMON_SETTINGS, **(_INDEX_ORDERED_SETTINGS if index_ordered else {})}
    )
    for index_ordered in (False, True)
}


def index_ordered_connection_settings(statement_timeout_ms: int) -> dict[str, str]:
    """What each connection of an index-ordered search pool starts with (db.engine), named
    so that an operator can tell its connections apart in pg_stat_activity."""
    own = {"statement_timeout": str(statement_timeout_ms), "application_name": "equinet-knn"}
    return {**_COMMON_SETTINGS, **_INDEX_ORDERED_SETTINGS, **own}


Sessions: TypeAlias = Callable[[], AbstractAsyncContextManager[AsyncSession]]
"""Where a search gets a session when it needs one (the pool of index-ordered searches
takes none): a sessionmaker, or `lent`."""


def lent(session: AsyncSession) -> Sessions:
    """The caller's own session for a search to run on, which the search leaves open."""
    return lambda: contextlib.nullcontext(session)


class SearchSettings:
    """This deployment's statement timeout, and the planner settings a search's plan needs:
    from the connection for index-ordered searches when `index_ordered_pool` is given (its
    connections made with index_ordered_connection_settings), otherwise for the length of
    the search's transaction only."""

    def __init__(
        self, statement_timeout_ms: int, index_ordered_pool: ReadPool | None = None
    ) -> None:
        self._timeout = str(statement_timeout_ms)
        self._index_ordered_pool = index_ordered_pool

    async def apply(self, session: AsyncSession, *, index_ordered: bool) -> None:
        """Settings for this transaction; `index_ordered` for statements on a KNN scan. A
        transaction this begins sends no other settings (db.engine.make_engine)."""
        own = {} if session.in_transaction() else SETS_ITS_OWN
        connection = await session.connection(execution_options=own)
        await connection.execute(_SETTINGS[index_ordered], {"timeout": self._timeout})

    async def rows(
        self, sessions: Sessions, bound: Bound, *, index_ordered: bool
    ) -> Sequence[Iterable[Any]]:
        """The statement's rows, run with the settings its plan needs: on the pool of
        index-ordered searches when it can, else on a session of `sessions` (on its
        connection: a search has no use for the ORM's identity map, which costs more than
        the search)."""
        if index_ordered and self._index_ordered_pool is not None:
            return await self._index_ordered_pool.fetch(*bound)
        async with sessions() as session:
            await self.apply(session, index_ordered=index_ordered)
            connection = await session.connection()
            rows: Sequence[Iterable[Any]] = (await connection.execute(*bound)).all()
        return rows


@dataclass(frozen=True, slots=True)
class Located:
    """A table searched by distance: where its rows are, which rows can be found at all
    (the predicate of its partial GiST index), and the columns of a hit."""

    location: InstrumentedAttribute[object]
    row_id: InstrumentedAttribute[int]
    findable: SQLColumnExpression[bool]
    hit_columns: Callable[[ColumnElement[float]], tuple[SQLColumnExpression[Any], ...]]
    """The columns of a hit, given the distance to include among them as `distance_m`."""
    beside: FromClause | None = None
    """A lateral subquery joined to each row found, for hit columns of its own: it runs
    for the rows the scan reaches, nearest first, and drops those it has no row for."""

    def distance(self, center: ColumnElement[object]) -> ColumnElement[float]:
        return self.location.op("<->", return_type=Float)(center)

    def within(self, distance: ColumnElement[float], paged: bool) -> list[ColumnElement[bool]]:
        """Rows within the radius, and after the keyset position if `paged`."""
        filters = [distance <= bindparam("radius_m", type_=Float)]
        if paged:
            position = row(
                bindparam("after_distance_m", type_=Float), bindparam("after_id", type_=BigInteger)
            )
            filters.append(row(distance, self.row_id) > position)
        return filters


def geography(
    longitude: ColumnElement[float], latitude: ColumnElement[float]
) -> ColumnElement[object]:
    return cast(func.ST_SetSRID(func.ST_MakePoint(longitude, latitude), 4326), Geography(srid=4326))


CENTER = geography(bindparam("center_lng", type_=Float), bindparam("center_lat", type_=Float))
"""The point a search measures from; `center_values` gives its parameters."""


def center_values(center: Point) -> dict[str, float]:
    return {"center_lng": center.longitude, "center_lat": center.latitude}


def index_ordered(located: Located, filters: Sequence[ColumnElement[bool]]) -> Statement:
    """Nearest findable rows to CENTER passing `filters`, as an index-ordered GiST (KNN) scan
    bounded by the parameter `bound_m`, at most `row_limit` of them.

    A GiST index can produce one order only, distance alone, so the inner query asks for
    exactly that; ST_DWithin bounds the scan, so an empty area ends it early. The outer
    query breaks distance ties by id with an incremental sort, which reads the rows it
    returns plus one tie group.
    """
    distance = located.distance(CENTER)
    bound_m = bindparam("bound_m", type_=Float)
    hits = select(*located.hit_columns(distance))
    if located.beside is not None:
        hits = hits.select_from(located.location.class_).join(located.beside, true())
    inner = (
        hits.where(
            located.findable, func.ST_DWithin(located.location, CENTER, bound_m, False), *filters
        )
        .order_by(distance)
        .subquery("nearest")
    )
    limit = bindparam("row_limit", type_=Integer)
    return select(inner).order_by(inner.c.distance_m, inner.c.id).limit(limit)


def index_ordered_values(center: Point, bound_radius_m: float, limit: int) -> dict[str, Any]:
    """The parameters of an `index_ordered` statement."""
    return {
        **center_values(center),
        "bound_m": bound_radius_m + _INDEX_RADIUS_SLACK_M,
        "row_limit": limit,
    }


def nearest_statement(
    located: Located, filters: Sequence[ColumnElement[bool]], paged: bool
) -> Statement:
    """One page of findable rows within the radius, nearest first (ties by id), after the
    keyset position if `paged`; its parameters come from `nearest_values`."""
    within = located.within(located.distance(CENTER), paged)
    return index_ordered(located, [*within, *filters])


def nearest_values(
    center: Point, radius_m: float, after: DistanceKey | None, limit: int
) -> dict[str, Any]:
    """The parameters of a `nearest_statement`, with one row more than `limit` to see if
    more follow."""
    values = {**index_ordered_values(center, radius_m, limit + 1), "radius_m": radius_m}
    if after is not None:
        values |= {"after_distance_m": after.distance_m, "after_id": after.id}
    return values
