"""Public reads on a streaming replica, never older than the writes they must see.

A write that public reads must see records, once committed, the primary's WAL insert
position (`wal_position`), which is past its commit record, in Redis with the search
generations it bumps (db.search_cache). A public read goes to the replica only when the
replica has replayed at least the newest recorded position, as this process last heard
from the replica itself, and is no further behind than a configured lag; otherwise it goes
to the primary. A read that fails on the replica (it stopped, or cancelled the statement
for a conflict with recovery) is made again on the primary, and the replica is left
alone for a while.

So a search after a write never sees the data from before it, however far the replica
lags, and a cached answer is never stored under a generation whose write it could not see.
"""

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, NamedTuple, TypeVar

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db.engine import is_unavailable
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)

_POSITION = text("SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint")
# How far the replica has replayed (NULL on a server that is not replaying: a primary,
# which sees all of its own commits), and, if it has received WAL it has not replayed, how
# long ago the last transaction it did replay committed.
_REPLAY = text(
    """SELECT (pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::bigint,
    CASE WHEN pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()
    THEN coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0) ELSE 0 END"""
)
# A standby cancels a statement that conflicts with replaying WAL with this SQLSTATE.
_RECOVERY_CONFLICT = "40001"


async def wal_position(session: AsyncSession) -> int:
    """The primary's WAL insert position now: after a commit, past its commit record."""
    return int((await session.execute(_POSITION)).scalar_one())


def _failed_on_replica(error: BaseException) -> bool:
    """Whether a read that failed on the replica should be made on the primary instead."""
    cause = error.orig if isinstance(error, DBAPIError) else error
    return is_unavailable(error) or getattr(cause, "sqlstate", None) == _RECOVERY_CONFLICT


class Fallback(enum.StrEnum):
    """Why a public read went to the primary although a replica is configured."""

    position_unknown = "position_unknown"
    """Redis could not say how far the replica must have replayed."""
    not_replayed = "not_replayed"
    """The replica has not replayed the newest write yet (routine, for a moment)."""
    lagging = "lagging"
    """The replica has had WAL it has not replayed for longer than the allowed lag."""
    down = "down"
    """The replica did not answer, or failed a read, within the last few seconds."""


class ReplicaPolicy(NamedTuple):
    max_lag_s: float = 10.0
    """A replica further behind than this serves no reads, fresh or not."""
    recheck_s: float = 1.0
    """How old what this process knows of the replica may grow before it asks again."""
    recheck_behind_s: float = 0.05
    """The same while the replica is behind the newest write: each read would ask otherwise."""
    rest_s: float = 1.0
    """How long a replica that failed is left alone."""
    probe_timeout_s: float = 0.5
    """How long asking the replica how far it has replayed may take."""
    read_timeout_s: float = 3.0
    """A read the replica has not answered by then is made on the primary: a replica that
    stopped behind PgBouncer, or behind a network that drops packets, does not refuse a
    read, it keeps it waiting."""


class Replica:
    """What this process knows of its replica: how far it has replayed, how far behind it
    is, and whether it answered; asked again as it ages, one question at a time."""

    def __init__(self, engine: AsyncEngine, policy: ReplicaPolicy) -> None:
        self._engine = engine
        self._policy = policy
        self._replayed: int | None = -1
        self._lag_s = 0.0
        self._checked_at = -float("inf")
        self._resting_until = -float("inf")
        self._probe: asyncio.Task[None] | None = None

    async def fallback(self, needed: int | None) -> Fallback | None:
        """Why a read that must see WAL up to `needed` (None: unknown) should not go to
        the replica; None when it may."""
        if needed is None:
            return Fallback.position_unknown
        policy = self._policy
        if self._age() >= (policy.recheck_behind_s if self._behind(needed) else policy.recheck_s):
            await self._asked()
        if time.monotonic() < self._resting_until:
            return Fallback.down
        if self._lag_s > policy.max_lag_s:
            return Fallback.lagging
        return Fallback.not_replayed if self._behind(needed) else None

    @property
    def read_timeout_s(self) -> float:
        return self._policy.read_timeout_s

    def failed(self) -> None:
        """A read failed on the replica: leave it alone for a while."""
        self._resting_until = time.monotonic() + self._policy.rest_s

    def _behind(self, needed: int) -> bool:
        return self._replayed is not None and self._replayed < needed

    def _age(self) -> float:
        return time.monotonic() - self._checked_at

    async def _asked(self) -> None:
        """Ask the replica how far it has replayed, unless a question is on its way."""
        if time.monotonic() < self._resting_until:
            return
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._ask())
        await asyncio.shield(self._probe)

    async def _ask(self) -> None:
        try:
            async with asyncio.timeout(self._policy.probe_timeout_s):
                async with self._engine.connect() as connection:
                    replayed, lag_s = (await connection.execute(_REPLAY)).one()
        except Exception as error:  # whatever it is, the replica can't be trusted now
            logger.debug("the replica did not answer: %r", error)
            self.failed()
            return
        finally:
            self._checked_at = time.monotonic()
        if replayed is None or self._replayed is None or replayed > self._replayed:
            self._replayed = replayed
        self._lag_s = float(lag_s)


Server = TypeVar("Server")
NEWEST_WRITE = object()
"""As far as public reads must see: the newest write's position, as Redis has it."""


class Chosen(NamedTuple, Generic[Server]):
    """Where a public read goes, and for how long it may take there."""

    server: Server
    replica: Replica | None = None
    """The replica's state when the server is the replica."""

    def deadline(self) -> contextlib.AbstractAsyncContextManager[object]:
        """A read on the replica has its read timeout before it is made on the primary."""
        if self.replica is None:
            return contextlib.nullcontext()
        return asyncio.timeout(self.replica.read_timeout_s)


class PublicReads(Generic[Server]):
    """Where public reads go: to the replica when one is configured and may serve the
    read, otherwise to the primary. A server is whatever a read needs from one (its
    sessions, its searches); `positions` says how far a replica must have replayed.

    A reader asks `choose` for a server and reads on it; if the read raises, `failed`
    says whether to read again on the primary it returns."""

    def __init__(
        self,
        primary: Server,
        replica: tuple[Server, Replica] | None = None,
        positions: Callable[[], Awaitable[int | None]] | None = None,
        report: Callable[[str, Fallback | None], None] = lambda server, why: None,
    ) -> None:
        self.primary = primary
        self._replica = replica
        self._positions = positions
        self._report = report
        self._warn = ThrottledWarning(logger)

    async def choose(self, needed: int | object | None = NEWEST_WRITE) -> Chosen[Server]:
        """The replica if it has replayed WAL up to `needed` (None: unknown; not given:
        as far as Redis says the newest write is) and is not too far behind, else the
        primary."""
        if self._replica is None:
            return Chosen(self.primary)
        if needed is NEWEST_WRITE:
            needed = None if self._positions is None else await self._positions()
        server, replica = self._replica
        why = await replica.fallback(needed)  # type: ignore[arg-type]
        if why is None:
            return Chosen(server, replica)
        self._went_to_primary(why)
        return Chosen(self.primary)

    def done(self, chosen: Chosen[Server]) -> None:
        """A read on `chosen` succeeded (counted, with a replica configured)."""
        if chosen.replica is not None:
            self._report("replica", None)

    def failed(self, chosen: Chosen[Server], error: BaseException) -> Server | None:
        """The primary, when a read on the replica failed there for the replica's sake (it
        stopped, or cancelled the read for a conflict with recovery), to read again on;
        None when the error is the read's own."""
        if chosen.replica is None or not _failed_on_replica(error):
            return None
        chosen.replica.failed()
        self._went_to_primary(Fallback.down)
        return self.primary

    def _went_to_primary(self, why: Fallback) -> None:
        if why is not Fallback.not_replayed:
            self._warn("public reads go to the primary: the replica is %s", why.value)
        self._report("primary", why)
