"""Transactions that fail at COMMIT: a deferred constraint trigger refuses them only then,
after every statement of theirs has succeeded."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

# A trigger needs its table to itself for a moment: a connection someone left idle in a
# transaction on it should fail the test, not hang it.
LOCK_TIMEOUT = "SET LOCAL lock_timeout = '10s'"


@asynccontextmanager
async def failing_commits(engine: AsyncEngine, table: str) -> AsyncIterator[None]:
    """Every transaction that writes `table` fails at COMMIT, not at its statement."""
    async with engine.begin() as connection:
        await connection.execute(text(LOCK_TIMEOUT))
        await connection.execute(
            text(
                "CREATE OR REPLACE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql"
                " AS $$ BEGIN RAISE EXCEPTION 'refused at commit'"
                " USING ERRCODE = 'check_violation'; END $$"
            )
        )
        await connection.execute(
            text(
                f"CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT OR UPDATE OR DELETE"
                f" ON {table} DEFERRABLE INITIALLY DEFERRED"
                f" FOR EACH ROW EXECUTE FUNCTION fail_at_commit()"
            )
        )
    try:
        yield
    finally:
        async with engine.begin() as connection:
            await connection.execute(text(LOCK_TIMEOUT))
            await connection.execute(text(f"DROP TRIGGER fail_at_commit ON {table}"))
