"""The double-booking guarantee lives in the schema: checked here with plain SQL."""

import asyncio
from dataclasses import dataclass

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.commitments import EXCLUSION_VIOLATION


@dataclass(frozen=True)
class Slot:
    provider_id: int
    customer_id: int
    service_id: int


async def _first_slot(connection: AsyncConnection) -> Slot:
    row = (
        await connection.execute(
            text(
                "SELECT s.provider_id, p.user_id, s.id FROM services s"
                " JOIN providers p ON p.id = s.provider_id ORDER BY s.id LIMIT 1"
            )
        )
    ).one()
    return Slot(*row)


@pytest.fixture
async def slot(connection: AsyncConnection) -> Slot:
    return await _first_slot(connection)


async def insert(
    connection: AsyncConnection, slot: Slot, during: str, status: str = "pending"
) -> None:
    await connection.execute(
        text(
            "INSERT INTO bookings (provider_id, customer_id, service_id, horse_name, during,"
            " status) VALUES (:p, :c, :s, 'Test', CAST(CAST(:during AS text) AS tstzrange),"
            " CAST(:status AS booking_status))"
        ),
        {
            "p": slot.provider_id,
            "c": slot.customer_id,
            "s": slot.service_id,
            "during": during,
            "status": status,
        },
    )


async def refused_with(connection: AsyncConnection, slot: Slot, during: str) -> str | None:
    """The SQLSTATE that refused the insert, or None if it went in (in a savepoint)."""
    try:
        async with connection.begin_nested():
            await insert(connection, slot, during)
    except IntegrityError as error:
        return str(getattr(error.orig, "sqlstate", ""))
    return None


TEN_TO_ELEVEN = "[2030-01-07 10:00+00, 2030-01-07 11:00+00)"


@pytest.mark.parametrize(
    ("during", "sqlstate"),
    [
        ("[2030-01-07 11:00+00, 2030-01-07 12:00+00)", None),
        ("[2030-01-07 09:00+00, 2030-01-07 10:00+00)", None),
        ("[2030-01-07 10:59+00, 2030-01-07 12:00+00)", EXCLUSION_VIOLATION),
        ("[2030-01-07 09:00+00, 2030-01-07 10:01+00)", EXCLUSION_VIOLATION),
        ("[2030-01-07 10:15+00, 2030-01-07 10:45+00)", EXCLUSION_VIOLATION),
        ("[2030-01-07 09:00+00, 2030-01-07 12:00+00)", EXCLUSION_VIOLATION),
        ("[2030-01-07 11:00+01, 2030-01-07 12:00+01)", EXCLUSION_VIOLATION),  # 10:00 UTC
    ],
)
async def test_only_overlapping_active_ranges_of_one_provider_conflict(
    connection: AsyncConnection, slot: Slot, during: str, sqlstate: str | None
) -> None:
    await insert(connection, slot, TEN_TO_ELEVEN)
    assert await refused_with(connection, slot, during) == sqlstate


@pytest.mark.parametrize("status", ["cancelled", "completed"])
async def test_inactive_bookings_hold_no_slot(
    connection: AsyncConnection, slot: Slot, status: str
) -> None:
    await insert(connection, slot, TEN_TO_ELEVEN, status)
    assert await refused_with(connection, slot, TEN_TO_ELEVEN) is None


async def test_reactivating_a_cancelled_booking_over_a_new_one_is_refused(
    connection: AsyncConnection, slot: Slot
) -> None:
    await insert(connection, slot, TEN_TO_ELEVEN, "cancelled")
    await insert(connection, slot, TEN_TO_ELEVEN)
    with pytest.raises(IntegrityError) as refused:
        await connection.execute(
            text("UPDATE bookings SET status = 'pending' WHERE status = 'cancelled'")
        )
    assert getattr(refused.value.orig, "sqlstate", None) == EXCLUSION_VIOLATION


@pytest.mark.parametrize(
    "during",
    [
        "(2030-01-07 10:00+00, 2030-01-07 11:00+00]",  # closed at the end
        "[2030-01-07 10:00+00, 2030-01-07 11:00+00]",
        "[2030-01-07 10:00+00,)",  # unbounded
        "empty",
    ],
)
async def test_ranges_are_half_open_and_bounded(
    connection: AsyncConnection, slot: Slot, during: str
) -> None:
    assert await refused_with(connection, slot, during) == "23514"  # check_violation


@pytest.mark.parametrize(
    ("first_commits", "sqlstate"), [(True, EXCLUSION_VIOLATION), (False, None)]
)
async def test_an_overlapping_insert_waits_for_the_one_in_flight(
    engine: AsyncEngine, first_commits: bool, sqlstate: str | None
) -> None:
    """The race the API relies on: the second INSERT blocks until the first transaction
    ends, then fails only if that one committed."""
    during = "[2031-05-05 10:00+00, 2031-05-05 11:00+00)"
    async with engine.connect() as first, engine.connect() as second:
        slot = await _first_slot(first)
        try:
            await insert(first, slot, during)
            attempt = asyncio.create_task(refused_with(second, slot, during))
            await asyncio.sleep(0.5)
            assert not attempt.done(), "the second insert should wait for the first"
            await (first.commit() if first_commits else first.rollback())
            assert await asyncio.wait_for(attempt, timeout=10) == sqlstate
            await second.rollback()
        finally:
            async with engine.begin() as cleanup:
                await cleanup.execute(
                    text("DELETE FROM bookings WHERE during = CAST(CAST(:d AS text) AS tstzrange)"),
                    {"d": during},
                )
