"""Slow statements are logged by their SQL, at INFO past one threshold and WARNING past
the other, and never with their values."""

import logging
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import ReadPool, SlowStatementLog, make_engine

SECRET = "someone@example.com"
SLEEP = text("SELECT pg_sleep(:seconds), CAST(:email AS text)")


@pytest.fixture
async def watched(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    SlowStatementLog(info_ms=50, warning_ms=300).watch(engine)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize(("seconds", "level"), [(0.0, None), (0.1, "INFO"), (0.4, "WARNING")])
async def test_a_statement_is_logged_by_how_slow_it_was(
    watched: AsyncEngine, caplog: pytest.LogCaptureFixture, seconds: float, level: str | None
) -> None:
    async with watched.connect() as connection:
        with caplog.at_level(logging.INFO, logger="db.engine"):
            await connection.execute(SLEEP, {"seconds": seconds, "email": SECRET})
    records = [r for r in caplog.records if r.name == "db.engine"]
    assert [r.levelname for r in records] == ([] if level is None else [level])
    for record in records:
        message = record.getMessage()
        assert message.startswith("slow statement (")
        assert "SELECT pg_sleep($1), CAST($2 AS text)" in message
        assert SECRET not in message


async def test_a_read_pool_statement_is_logged_too(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The read pool hands statements straight to the driver, past any engine's events."""
    pool = ReadPool(database_url, {}, slow_log=SlowStatementLog(info_ms=50, warning_ms=300))
    try:
        with caplog.at_level(logging.INFO, logger="db.engine"):
            await pool.fetch(SLEEP, {"seconds": 0.1, "email": SECRET})
    finally:
        await pool.dispose()
    [record] = [r for r in caplog.records if r.name == "db.engine"]
    assert record.levelname == "INFO"
    assert "SELECT pg_sleep($1), CAST($2 AS text)" in record.getMessage()
    assert SECRET not in record.getMessage()
