"""The engine's timeouts reach every transaction, set on the connection or, for a
transaction-mode pooler, by each transaction; a session idle in a transaction is ended."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.engine import Timeouts, is_unavailable, make_engine

TIMEOUTS = Timeouts(statement_ms=4321, lock_ms=567, idle_in_transaction_ms=8901)


@pytest.mark.parametrize("per_transaction", [False, True], ids=["connection", "transaction"])
async def test_every_transaction_runs_under_the_timeouts(
    database_url: str, per_transaction: bool
) -> None:
    engine = make_engine(database_url, timeouts=TIMEOUTS, per_transaction=per_transaction)
    try:
        for _ in range(2):  # the second transaction on the same connection too
            async with engine.begin() as connection:
                shown = [
                    (await connection.execute(text(f"SHOW {name}"))).scalar()
                    for name in TIMEOUTS.settings()
                ]
            assert shown == ["4321ms", "567ms", "8901ms"]
    finally:
        await engine.dispose()


async def test_a_session_idle_in_a_transaction_is_ended(database_url: str) -> None:
    engine = make_engine(database_url, timeouts=TIMEOUTS._replace(idle_in_transaction_ms=200))
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            await asyncio.sleep(0.6)
            with pytest.raises(DBAPIError) as ended:
                await connection.execute(text("SELECT 1"))
        assert is_unavailable(ended.value)
    finally:
        await engine.dispose()
