"""Liveness and readiness."""

import asyncio
import time
from collections.abc import Awaitable, Callable

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.edge.headers import ANONYMOUS, PUBLIC

CHECK_TIMEOUT_S = 2.0


class Check(msgspec.Struct):
    ok: bool
    latency_ms: float | None = None
    error: str | None = None


class Readiness(msgspec.Struct):
    status: str
    checks: dict[str, Check]


async def _timed(probe: Callable[[], Awaitable[object]]) -> Check:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as error:  # any failure means "not ready", whatever its kind
        return Check(ok=False, error=type(error).__name__)
    return Check(ok=True, latency_ms=round((time.perf_counter() - started) * 1000, 3))


class HealthController(Controller):
    path = "/health"
    tags = ["operations"]  # noqa: RUF012
    opt = PUBLIC
    security = ANONYMOUS

    @get("/", operation_id="checkLiveness")
    async def alive(self) -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    @get(
        "/ready",
        operation_id="checkReadiness",
        responses={
            HTTP_503_SERVICE_UNAVAILABLE: ResponseSpec(
                Readiness, description="PostgreSQL or Redis failed its check."
            )
        },
    )
    async def ready(
        self, db_engine: NamedDependency[AsyncEngine], redis: NamedDependency[Redis]
    ) -> Response[Readiness]:
        """PostgreSQL and Redis round trips; 503 when either fails."""

        async def postgres() -> None:
            async with db_engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        async def ping_redis() -> None:
            await redis.ping()

        checks = {"postgres": await _timed(postgres), "redis": await _timed(ping_redis)}
        ready = all(check.ok for check in checks.values())
        return Response(
            Readiness("ok" if ready else "unavailable", checks),
            status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE,
        )
