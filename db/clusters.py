"""Clusters of active providers on the grid of geo.clusters: for a view, each cell's count
and centroid, for the cells whose centroid is inside the view.

Up to PRECOMPUTED_MAX_ZOOM the counts are read from provider_cells, which the database keeps
with every provider write (migration 0007): a view costs as many rows as it has cells,
however many providers they hold. Deeper zooms group the providers themselves; there a
view's cells are small (the clusters endpoint caps how many it may span).
"""

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    cast,
    func,
    or_,
    select,
)

from db.categories import category_filters, category_values
from db.models import EVERY_CATEGORY, Provider, provider_cells
from db.nearest import Bound
from geo.clusters import PRECOMPUTED_MAX_ZOOM, CellBlock, cell_blocks
from geo.viewport import Viewport

CELLS = provider_cells.c


@dataclass(frozen=True, slots=True)
class ClusterView:
    """Where clusters are wanted: a viewport at a zoom; `upper_edges_open` leaves out
    centroids on its north and east edges (map tiles, which share those edges with their
    neighbours, so that each cluster is in one tile)."""

    viewport: Viewport
    zoom: int
    category: str | None = None
    upper_edges_open: bool = False

    @property
    def precomputed(self) -> bool:
        return self.zoom <= PRECOMPUTED_MAX_ZOOM


def _param(name: str, type_: type[Float[float]] | type[Integer] = Float) -> Any:
    return bindparam(name, type_=type_)


def _in_blocks(row: ColumnElement[int], column: ColumnElement[int], blocks: int) -> Any:
    return or_(
        *(
            and_(
                row.between(_param(f"first_row_{i}", Integer), _param(f"last_row_{i}", Integer)),
                column.between(
                    _param(f"first_column_{i}", Integer), _param(f"last_column_{i}", Integer)
                ),
            )
            for i in range(blocks)
        )
    )


def _in_view(latitude: Any, longitude: Any, upper_edges_open: bool) -> ColumnElement[bool]:
    """The centroid filter; the view is one box, or two across the antimeridian."""
    south, north = _param("min_lat"), _param("max_lat")
    west, east = _param("min_lng"), _param("max_lng")
    if upper_edges_open:
        return and_(latitude >= south, latitude < north, longitude >= west, longitude < east)
    crossing = _param("crossing", Integer) == 1
    return and_(
        latitude.between(south, north),
        or_(
            longitude.between(west, east),
            and_(crossing, or_(longitude >= west, longitude <= east)),
        ),
    )


def _largest_first(statement: Select[Any], providers: Any, row: Any, column: Any) -> Select[Any]:
    return statement.order_by(providers.desc(), row, column)


@functools.cache
def _precomputed_statement(blocks: int, upper_edges_open: bool) -> Select[Any]:
    providers = cast(CELLS.providers, Float)
    latitude = (CELLS.latitude_sum / providers).label("latitude")
    longitude = (CELLS.longitude_sum / providers).label("longitude")
    statement = select(latitude, longitude, CELLS.providers.label("count")).where(
        CELLS.zoom == _param("zoom", Integer),
        CELLS.category == bindparam("category"),
        _in_blocks(CELLS.cell_row, CELLS.cell_column, blocks),
        _in_view(latitude, longitude, upper_edges_open),
    )
    return _largest_first(statement, CELLS.providers, CELLS.cell_row, CELLS.cell_column)


@functools.cache
def _grouped_statement(blocks: int, by_category: bool, upper_edges_open: bool) -> Select[Any]:
    zoom = _param("zoom", Integer)
    row = func.cell_row(zoom, Provider.latitude)
    column = func.cell_column(zoom, Provider.longitude)
    latitude, longitude = func.avg(Provider.latitude), func.avg(Provider.longitude)
    near_blocks = or_(
        *(
            and_(
                Provider.latitude.between(_param(f"south_{i}"), _param(f"north_{i}")),
                Provider.longitude.between(_param(f"west_{i}"), _param(f"east_{i}")),
            )
            for i in range(blocks)
        )
    )
    statement = (
        select(
            latitude.label("latitude"), longitude.label("longitude"), func.count().label("count")
        )
        .where(
            Provider.is_active,
            near_blocks,
            _in_blocks(row, column, blocks),
            *category_filters(by_category),
        )
        .group_by(row, column)
        .having(_in_view(latitude, longitude, upper_edges_open))
    )
    return _largest_first(statement, func.count(), row, column)


def _block_values(blocks: list[CellBlock]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for i, block in enumerate(blocks):
        bounds = block.bounds()
        values |= {
            f"first_row_{i}": block.first_row,
            f"last_row_{i}": block.last_row,
            f"first_column_{i}": block.first_column,
            f"last_column_{i}": block.last_column,
            f"south_{i}": bounds.min_lat,
            f"north_{i}": bounds.max_lat,
            f"west_{i}": bounds.min_lng,
            f"east_{i}": bounds.max_lng,
        }
    return values


def clusters_statement(view: ClusterView, grouped: bool = False) -> Bound:
    """(latitude, longitude, count) of each cluster in the view, the largest first; from
    the kept counts where there are any, unless `grouped`: then by grouping the providers
    (what the benchmarks compare them with)."""
    viewport = view.viewport
    blocks = cell_blocks(viewport, view.zoom)
    values = _block_values(blocks) | {
        "zoom": view.zoom,
        "min_lat": viewport.min_lat,
        "max_lat": viewport.max_lat,
        "min_lng": viewport.min_lng,
        "max_lng": viewport.max_lng,
        "crossing": int(viewport.crosses_antimeridian),
    }
    if view.precomputed and not grouped:
        statement = _precomputed_statement(len(blocks), view.upper_edges_open)
        return Bound(statement, values | {"category": view.category or EVERY_CATEGORY})
    statement = _grouped_statement(len(blocks), view.category is not None, view.upper_edges_open)
    return Bound(statement, values | category_values(view.category))
