"""EXPLAIN a statement exactly as the application sends it, and walk the plan."""

import json
from collections.abc import Iterator, Mapping
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from sqlalchemy import ClauseElement
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import compiled


async def explain(
    session: AsyncSession, statement: ClauseElement, parameters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """EXPLAIN ANALYZE the statement with the application's own binds (and `parameters`
    for its named ones); the plan's root."""
    root: dict[str, Any] = (await explained(session, statement, parameters))["Plan"]
    return root


async def explained(
    session: AsyncSession,
    statement: ClauseElement,
    parameters: Mapping[str, Any] | None = None,
    options: str = "ANALYZE",
) -> dict[str, Any]:
    """EXPLAIN (`options`, FORMAT JSON) of the statement as `explain` sends it: the whole
    output, with its execution time beside the plan."""
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    return await explained_on(raw, statement, parameters, options)


async def explained_on(
    raw: asyncpg.Connection | PoolConnectionProxy,
    statement: ClauseElement,
    parameters: Mapping[str, Any] | None = None,
    options: str = "ANALYZE",
) -> dict[str, Any]:
    """The same on a connection of the driver's own."""
    driven = compiled(statement)
    output = await raw.fetchval(
        f"EXPLAIN ({options}, FORMAT JSON) " + driven.sql, *driven.arguments(parameters or {})
    )
    if isinstance(output, str):  # the pool's connections may already decode JSON
        output = json.loads(output)
    whole: dict[str, Any] = output[0]
    return whole


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)
