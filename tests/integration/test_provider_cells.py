"""The cluster counts the database keeps per grid cell (migration 0007), held against every
active provider grouped by hand."""

import asyncio
import random

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.models import provider_cells
from geo.clusters import PRECOMPUTED_MAX_ZOOM
from tests.support.clusters import CellKey, CellSums, active_providers, cell_sums

KEPT_ZOOMS = range(PRECOMPUTED_MAX_ZOOM + 1)
# The seeded providers are north and east of here: the cells of zoom 0 and every cell
# inside it hold this test's providers alone.
PACIFIC = (-45.0, -120.0)


def _in_pacific_cell(latitude: float, longitude: float) -> bool:
    return latitude < 0 and longitude < -90


ADD = text(
    "INSERT INTO providers (user_id, business_name, latitude, longitude, categories)"
    " SELECT min(id), 'Cell test', :lat, :lng, CAST(:categories AS text[]) FROM users"
    " RETURNING id"
)


async def _kept(connection: AsyncConnection, pacific_only: bool = True) -> dict[CellKey, CellSums]:
    cells = provider_cells.c
    statement = select(provider_cells)
    if pacific_only:  # the cells of zoom 0's south-west of the prime meridian
        statement = statement.where(
            cells.latitude_sum / cells.providers < 0, cells.longitude_sum / cells.providers < -90
        )
    rows = await connection.execute(statement)
    return {
        (row.zoom, row.category, row.cell_row, row.cell_column): CellSums(
            row.providers, row.latitude_sum, row.longitude_sum
        )
        for row in rows
    }


async def _assert_kept_cells_are_exact(
    connection: AsyncConnection, pacific_only: bool = True
) -> None:
    providers = await active_providers(connection)
    if pacific_only:
        providers = [p for p in providers if _in_pacific_cell(p[0], p[1])]
    expected = cell_sums(providers, KEPT_ZOOMS)
    kept = await _kept(connection, pacific_only)
    assert kept.keys() == expected.keys()
    for key, sums in expected.items():
        assert kept[key].providers == sums.providers, key
        assert kept[key].centroid == pytest.approx(sums.centroid, abs=1e-9), key


async def _add(
    connection: AsyncConnection, lat: float, lng: float, categories: list[str] | None = None
) -> int:
    values = {"lat": lat, "lng": lng, "categories": categories or []}
    return int((await connection.execute(ADD, values)).scalar_one())


async def test_kept_counts_agree_with_every_provider_grouped_by_hand(
    connection: AsyncConnection,
) -> None:
    await _assert_kept_cells_are_exact(connection, pacific_only=False)


async def test_writes_keep_the_counts_in_their_own_transaction(
    connection: AsyncConnection,
) -> None:
    first = await _add(connection, *PACIFIC, ["vet"])
    second = await _add(connection, PACIFIC[0] + 0.001, PACIFIC[1], ["vet", "farrier"])
    moves = [
        "UPDATE providers SET latitude = latitude + 3 WHERE id = :first",  # to another cell
        "UPDATE providers SET longitude = longitude + 1e-6 WHERE id = :second",  # within one
        "UPDATE providers SET is_active = false WHERE id = :first",
        "UPDATE providers SET categories = '{dentist}' WHERE id = :second",
        "UPDATE providers SET is_active = true WHERE id = :first",
        "DELETE FROM providers WHERE id = :second",
    ]
    for move in moves:
        await connection.execute(text(move), {"first": first, "second": second})
        await _assert_kept_cells_are_exact(connection)


async def test_a_cell_left_empty_is_deleted(connection: AsyncConnection) -> None:
    before = await _kept(connection)
    provider = await _add(connection, *PACIFIC)
    assert len((await _kept(connection)).keys() - before.keys()) == len(KEPT_ZOOMS)
    await connection.execute(text("DELETE FROM providers WHERE id = :id"), {"id": provider})
    assert (await _kept(connection)).keys() == before.keys()


async def test_renaming_a_provider_touches_no_cell(connection: AsyncConnection) -> None:
    versions = text(
        "SELECT array_agg(xmin::text ORDER BY cell_row) FROM provider_cells WHERE zoom = 0"
    )
    before = (await connection.execute(versions)).scalar_one()
    await connection.execute(text("UPDATE providers SET business_name = business_name || '!'"))
    assert (await connection.execute(versions)).scalar_one() == before


async def test_counts_that_no_longer_match_their_providers_fail_the_write(
    connection: AsyncConnection,
) -> None:
    provider = await _add(connection, *PACIFIC)
    await connection.execute(text("DELETE FROM provider_cells WHERE zoom = 12"))
    with pytest.raises(IntegrityError, match="a count below zero"):
        await connection.execute(text("DELETE FROM providers WHERE id = :id"), {"id": provider})


async def test_truncating_the_providers_empties_the_cells(connection: AsyncConnection) -> None:
    await connection.execute(text("TRUNCATE providers CASCADE"))
    assert await _kept(connection, pacific_only=False) == {}


async def test_concurrent_writers_sharing_cells_keep_exact_counts(engine: AsyncEngine) -> None:
    """Each adds and moves providers across the cells the others touch, and commits."""
    rng = random.Random(3)

    async def writer() -> None:
        async with engine.begin() as connection:
            for _ in range(5):
                lat, lng = PACIFIC[0] + rng.uniform(-2, 2), PACIFIC[1] + rng.uniform(-2, 2)
                added = await _add(connection, lat, lng, ["vet"])
                await connection.execute(
                    text("UPDATE providers SET latitude = latitude + 1 WHERE id = :id"),
                    {"id": added},
                )

    try:
        await asyncio.gather(*(writer() for _ in range(8)))
        async with engine.connect() as connection:
            await _assert_kept_cells_are_exact(connection)
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                text("DELETE FROM providers WHERE business_name = 'Cell test'")
            )
