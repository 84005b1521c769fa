"""EXPLAIN a statement exactly as the application sends it, and walk the plan."""

import json
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import ClauseElement
from sqlalchemy.ext.asyncio import AsyncSession

from db.engine import compiled


async def explain(
    session: AsyncSession, statement: ClauseElement, parameters: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """EXPLAIN ANALYZE the statement with the application's own binds (and `parameters`
    for its named ones); the plan's root."""
    connection = await session.connection()
    driven = compiled(statement, connection.dialect)
    raw = (await connection.get_raw_connection()).driver_connection
    assert raw is not None
    plan = await raw.fetchval(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + driven.sql, *driven.arguments(parameters or {})
    )
    if isinstance(plan, str):  # the pool's connections may already decode JSON
        plan = json.loads(plan)
    root: dict[str, Any] = plan[0]["Plan"]
    return root


def nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)
