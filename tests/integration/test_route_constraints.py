"""The one-active-route rule and stop positions live in the schema: checked with plain SQL."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

UNIQUE_VIOLATION = "23505"


async def new_order(connection: AsyncConnection) -> int:
    order_id: int = await connection.scalar(
        text(
            "INSERT INTO route_orders"
            " (customer_id, category, latitude, longitude, earliest, latest)"
            " SELECT id, 'farrier', 59.86, 17.64, DATE '2031-05-05', DATE '2031-05-09'"
            " FROM users ORDER BY id LIMIT 1 RETURNING id"
        )
    )
    return order_id


async def new_route(connection: AsyncConnection) -> int:
    route_id: int = await connection.scalar(
        text(
            "INSERT INTO routes (provider_id, date, start_latitude, start_longitude,"
            " total_distance_m) SELECT id, DATE '2031-05-06', 59.8, 17.6, 0"
            " FROM providers ORDER BY id LIMIT 1 RETURNING id"
        )
    )
    return route_id


async def add_stop(
    connection: AsyncConnection, route_id: int, order_id: int, position: int
) -> None:
    """A visit at a time of its own: the routes here are all the first provider's."""
    await connection.execute(
        text(
            "INSERT INTO route_stops"
            " (route_id, route_order_id, position, leg_distance_m, eta, service_minutes)"
            " VALUES (:route, :order, :position, 0, TIMESTAMPTZ '2031-05-06 00:00+00'"
            " + make_interval(hours => :hours), 30)"
        ),
        {
            "route": route_id,
            "order": order_id,
            "position": position,
            "hours": route_id * 20 + position,
        },
    )


async def refused_with(connection: AsyncConnection, route_id: int, order_id: int) -> str | None:
    """The SQLSTATE that refused the stop, or None if it went in (in a savepoint)."""
    try:
        async with connection.begin_nested():
            await add_stop(connection, route_id, order_id, 0)
    except IntegrityError as error:
        return str(getattr(error.orig, "sqlstate", ""))
    return None


async def set_route_status(connection: AsyncConnection, route_id: int, status: str) -> None:
    await connection.execute(
        text("UPDATE routes SET status = CAST(:status AS route_status) WHERE id = :id"),
        {"status": status, "id": route_id},
    )


async def test_an_order_is_a_stop_of_one_active_route_only(connection: AsyncConnection) -> None:
    order, first, second = (
        await new_order(connection),
        await new_route(connection),
        await new_route(connection),
    )
    assert await refused_with(connection, first, order) is None
    assert await refused_with(connection, second, order) == UNIQUE_VIOLATION


@pytest.mark.parametrize(("status", "frees"), [("cancelled", True), ("done", False)])
async def test_ending_a_route_carries_its_status_into_its_stops(
    connection: AsyncConnection, status: str, frees: bool
) -> None:
    order, first, second = (
        await new_order(connection),
        await new_route(connection),
        await new_route(connection),
    )
    await add_stop(connection, first, order, 0)
    await set_route_status(connection, first, status)
    stop_status = await connection.scalar(
        text("SELECT route_status::text FROM route_stops WHERE route_id = :id"), {"id": first}
    )
    assert stop_status == status
    assert await refused_with(connection, second, order) == (None if frees else UNIQUE_VIOLATION)


async def test_a_stop_cannot_claim_a_status_its_route_does_not_have(
    connection: AsyncConnection,
) -> None:
    order, route = await new_order(connection), await new_route(connection)
    await add_stop(connection, route, order, 0)
    with pytest.raises(IntegrityError):
        async with connection.begin_nested():
            await connection.execute(
                text("UPDATE route_stops SET route_status = 'cancelled' WHERE route_id = :id"),
                {"id": route},
            )


async def test_positions_may_pass_through_duplicates_but_commit_unique(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        route = await new_route(connection)
        orders = [await new_order(connection) for _ in range(2)]
        for position, order in enumerate(orders):
            await add_stop(connection, route, order, position)
        await connection.commit()
        try:
            swap = "UPDATE route_stops SET position = :position WHERE route_order_id = :order"
            await connection.execute(text(swap), {"position": 1, "order": orders[0]})
            await connection.execute(text(swap), {"position": 0, "order": orders[1]})
            await connection.commit()  # a reorder, one row at a time

            await connection.execute(text(swap), {"position": 0, "order": orders[0]})
            with pytest.raises(IntegrityError) as refused:
                await connection.commit()
            assert getattr(refused.value.orig, "sqlstate", None) == UNIQUE_VIOLATION
        finally:
            await connection.rollback()
            await connection.execute(text("DELETE FROM routes WHERE id = :id"), {"id": route})
            await connection.execute(
                text("DELETE FROM route_orders WHERE id = ANY(:ids)"), {"ids": orders}
            )
            await connection.commit()


@pytest.mark.parametrize("first_commits", [True, False], ids=["commits", "rolls back"])
async def test_a_second_claim_of_an_order_waits_for_the_first(
    engine: AsyncEngine, first_commits: bool
) -> None:
    """Two providers racing for one order: the second waits, then fails only if the first
    committed."""
    async with engine.begin() as setup:
        order, routes = await new_order(setup), [await new_route(setup) for _ in range(2)]
    async with engine.connect() as first, engine.connect() as second:
        try:
            await add_stop(first, routes[0], order, 0)
            attempt = asyncio.create_task(refused_with(second, routes[1], order))
            await asyncio.sleep(0.5)
            assert not attempt.done(), "the second claim should wait for the first"
            await (first.commit() if first_commits else first.rollback())
            expected = UNIQUE_VIOLATION if first_commits else None
            assert await asyncio.wait_for(attempt, timeout=10) == expected
            await second.rollback()
        finally:
            async with engine.begin() as cleanup:
                await cleanup.execute(
                    text("DELETE FROM routes WHERE id = ANY(:ids)"), {"ids": routes}
                )
                await cleanup.execute(
                    text("DELETE FROM route_orders WHERE id = :id"), {"id": order}
                )
