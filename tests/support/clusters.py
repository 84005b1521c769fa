"""Clusters worked out the slow way: every active provider read into Python and grouped on
geo.clusters' grid, to hold the database's kept counts and the endpoints against."""

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.models import EVERY_CATEGORY, Provider
from geo.clusters import cell_column, cell_row
from geo.viewport import Viewport

CellKey = tuple[int, str, int, int]
"""zoom, category ('' for every provider), row, column"""


@dataclass
class CellSums:
    providers: int = 0
    latitude_sum: float = 0.0
    longitude_sum: float = 0.0

    @property
    def centroid(self) -> tuple[float, float]:
        return self.latitude_sum / self.providers, self.longitude_sum / self.providers


Located = tuple[float, float, list[str]]


async def active_providers(session: AsyncSession | AsyncConnection) -> list[Located]:
    statement = select(Provider.latitude, Provider.longitude, Provider.categories).where(
        Provider.is_active
    )
    return [
        (lat, lng, list(categories)) for lat, lng, categories in await session.execute(statement)
    ]


def cell_sums(providers: list[Located], zooms: range) -> dict[CellKey, CellSums]:
    cells: dict[CellKey, CellSums] = defaultdict(CellSums)
    for latitude, longitude, categories in providers:
        for zoom in zooms:
            row, column = cell_row(zoom, latitude), cell_column(zoom, longitude)
            for category in (EVERY_CATEGORY, *categories):
                sums = cells[zoom, category, row, column]
                sums.providers += 1
                sums.latitude_sum += latitude
                sums.longitude_sum += longitude
    return dict(cells)


def inside(viewport: Viewport, latitude: float, longitude: float, tile: bool = False) -> bool:
    """Whether the point is in the viewport; a `tile` leaves out its north and east edges."""
    if tile:
        return (
            viewport.min_lat <= latitude < viewport.max_lat
            and viewport.min_lng <= longitude < viewport.max_lng
        )
    return any(
        box.min_lat <= latitude <= box.max_lat and box.min_lng <= longitude <= box.max_lng
        for box in viewport.boxes()
    )


def clusters_in(
    providers: list[Located],
    viewport: Viewport,
    zoom: int,
    category: str | None = None,
    tile: bool = False,
) -> list[tuple[float, float, int]]:
    """(latitude, longitude, count) of the clusters whose centroid is in the viewport."""
    wanted = category or EVERY_CATEGORY
    return sorted(
        (*sums.centroid, sums.providers)
        for (_, cell_category, _, _), sums in cell_sums(providers, range(zoom, zoom + 1)).items()
        if cell_category == wanted and inside(viewport, *sums.centroid, tile=tile)
    )
