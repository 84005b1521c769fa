"""Jobs that wait for their transaction: written with the change that asks for them, and
moved onto the queue by the worker's relay once that change has committed (app.jobs).

A rolled-back change leaves no row, so its job never runs; a committed one cannot lose
its job, even if the API process dies right after the commit. Each row is one job run
at least once: `done_at` when it finished, `failed_at` when its last attempt failed (a
dead letter, kept with its error until an operator retries it).
"""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.models import OutboxEntry, OutboxJob

RELAYED_AT_ONCE = 200
"""Rows one pass of the relay moves."""


async def add(session: AsyncSession, job: OutboxJob, payload: Mapping[str, Any]) -> int:
    """A job to run once this session's transaction commits; its outbox id."""
    statement = insert(OutboxEntry).values(job=job, payload=dict(payload))
    outbox_id: int = (await session.execute(statement.returning(OutboxEntry.id))).scalar_one()
    return outbox_id


class Waiting(NamedTuple):
    id: int
    job: OutboxJob


async def take_waiting(connection: AsyncConnection) -> list[Waiting]:
    """Committed rows not yet on the queue, oldest first, marked as enqueued: the caller
    puts them on the queue before it commits. Locked rows (another relay's) are skipped."""
    waiting = (
        select(OutboxEntry.id)
        .where(OutboxEntry.enqueued_at.is_(None))
        .order_by(OutboxEntry.id)
        .limit(RELAYED_AT_ONCE)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    taken = (
        update(OutboxEntry)
        .where(OutboxEntry.id.in_(waiting))
        .values(enqueued_at=func.now())
        .returning(OutboxEntry.id, OutboxEntry.job)
    )
    rows = await connection.execute(taken)
    return sorted(Waiting(row.id, OutboxJob(row.job)) for row in rows)


async def locked_entry(session: AsyncSession, outbox_id: int) -> OutboxEntry | None:
    """The row, locked until the caller's transaction ends: a second attempt at the same
    job (a retry while the first still runs) waits, then finds it done."""
    statement = select(OutboxEntry).where(OutboxEntry.id == outbox_id).with_for_update()
    entry: OutboxEntry | None = await session.scalar(statement)
    return entry


async def finished(connection: AsyncConnection | AsyncSession, outbox_id: int) -> None:
    await connection.execute(
        update(OutboxEntry)
        .where(OutboxEntry.id == outbox_id)
        .values(done_at=func.now(), attempts=OutboxEntry.attempts + 1, error=None)
    )


async def attempt_failed(
    connection: AsyncConnection | AsyncSession, outbox_id: int, error: str, *, last: bool
) -> None:
    """Counts a failed attempt; after the last, the row is a dead letter."""
    values: dict[str, Any] = {"attempts": OutboxEntry.attempts + 1, "error": error}
    if last:
        values["failed_at"] = func.now()
    await connection.execute(
        update(OutboxEntry).where(OutboxEntry.id == outbox_id).values(**values)
    )


class DeadLetter(NamedTuple):
    id: int
    job: str
    payload: dict[str, Any]
    attempts: int
    failed_at: datetime
    error: str | None


async def dead_letters(connection: AsyncConnection, limit: int = 100) -> list[DeadLetter]:
    statement = (
        select(
            OutboxEntry.id,
            OutboxEntry.job,
            OutboxEntry.payload,
            OutboxEntry.attempts,
            OutboxEntry.failed_at,
            OutboxEntry.error,
        )
        .where(OutboxEntry.failed_at.is_not(None))
        .order_by(OutboxEntry.failed_at.desc())
        .limit(limit)
    )
    return [DeadLetter(*row) for row in await connection.execute(statement)]


async def retry_dead(connection: AsyncConnection, ids: Sequence[int] | None) -> int:
    """Dead letters (all of them when `ids` is None) back on the relay's list; how many."""
    statement = update(OutboxEntry).where(OutboxEntry.failed_at.is_not(None))
    if ids is not None:
        statement = statement.where(OutboxEntry.id.in_(ids))
    result = await connection.execute(
        statement.values(enqueued_at=None, failed_at=None, attempts=0).returning(OutboxEntry.id)
    )
    return len(result.all())


class Backlog(NamedTuple):
    waiting: int
    """Committed rows not yet on the queue."""
    oldest_waiting_seconds: float
    dead: int


async def backlog(connection: AsyncConnection) -> Backlog:
    age = func.extract("epoch", func.now() - func.min(OutboxEntry.created_at))
    waiting = select(func.count(), func.coalesce(age, 0)).where(OutboxEntry.enqueued_at.is_(None))
    dead = select(func.count()).where(OutboxEntry.failed_at.is_not(None))
    count, oldest = (await connection.execute(waiting)).one()
    return Backlog(count, float(oldest), (await connection.execute(dead)).scalar_one())
