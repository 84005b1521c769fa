"""A provider's one timeline (migration 0010): every booking and every planned visit of a
route holds a range of the provider's time, and PostgreSQL refuses two active ones that
overlap (SQLSTATE 23P01), whichever code path writes them. This module says what a refused
write ran into."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, text
from sqlalchemy.dialects.postgresql import Range
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Commitment, CommitmentKind, RouteStop

EXCLUSION_VIOLATION = "23P01"
# Two transactions inserting overlapping commitments at the same moment can each find the
# other's row in flight and wait for it; PostgreSQL ends the deadlock by failing one of them
# (after deadlock_timeout). The other's commitment then commits: the time is taken.
DEADLOCK_DETECTED = "40P01"


@dataclass(frozen=True, slots=True)
class Clash:
    """The commitment a write ran into: what it is and when, nothing of whose it is."""

    kind: CommitmentKind
    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
        }


class TimeTakenError(Exception):
    """A write would overlap an active commitment of the same provider."""

    def __init__(self, message: str, clash: Clash | None) -> None:
        super().__init__(message)
        self.clash = clash

    @property
    def extra(self) -> dict[str, Any] | None:
        return None if self.clash is None else {"conflict": self.clash.as_dict()}


def is_overlap(error: DBAPIError) -> bool:
    """Whether a write failed because its time was taken (or a race for it was lost)."""
    return getattr(error.orig, "sqlstate", None) in (EXCLUSION_VIOLATION, DEADLOCK_DETECTED)


@dataclass(frozen=True, slots=True)
class TimeTaken:
    """What a write takes of a provider's time, to name what it ran into if refused."""

    provider_id: int
    start: datetime
    end: datetime
    timezone: str
    """The provider's, for the times a refusal names."""
    route_id: int | None = None
    """The route whose own visits the write moves (they are not what it ran into)."""


@asynccontextmanager
async def taking(
    session: AsyncSession, time: TimeTaken, *, row_by_row: bool = False
) -> AsyncIterator[None]:
    """The block's writes take `time`: an overlap with another active commitment of the
    provider becomes a TimeTakenError naming it (the transaction is then rolled back).
    `row_by_row`: the block moves several commitments one row at a time (a re-planned
    route) and may pass through overlaps among them: the check waits for its end."""
    try:
        if row_by_row:
            await session.execute(_DEFER)
        yield
        if row_by_row:
            await session.execute(_CHECK_NOW)
    except DBAPIError as error:
        if not is_overlap(error):
            raise
        await session.rollback()
        raise _taken(await clash_with(session, time), time) from None


_DEFER = text("SET CONSTRAINTS commitments_no_overlap DEFERRED")
_CHECK_NOW = text("SET CONSTRAINTS commitments_no_overlap IMMEDIATE")


async def clash_with(session: AsyncSession, time: TimeTaken) -> Clash | None:
    """The earliest active commitment of the provider that overlaps `time`, its times in
    the provider's time zone (not one of the route's own visits when `time` names one)."""
    during = Range(time.start, time.end, bounds="[)")
    statement = (
        select(Commitment.kind, func.lower(Commitment.during), func.upper(Commitment.during))
        .where(
            Commitment.provider_id == time.provider_id,
            Commitment.active,
            Commitment.during.op("&&")(during),
        )
        .order_by(func.lower(Commitment.during))
        .limit(1)
    )
    if time.route_id is not None:
        own_visits = select(RouteStop.id).where(RouteStop.route_id == time.route_id)
        statement = statement.where(
            or_(Commitment.route_stop_id.is_(None), Commitment.route_stop_id.not_in(own_visits))
        )
    row = (await session.execute(statement)).first()
    if row is None:
        return None
    zone = ZoneInfo(time.timezone)
    return Clash(row[0], row[1].astimezone(zone), row[2].astimezone(zone))


def _taken(clash: Clash | None, time: TimeTaken) -> TimeTakenError:
    """The error of a write of `time` refused for `clash` (None: what took the time is not
    to be seen yet, as when the write lost a deadlock to it)."""
    if clash is None:
        zone = ZoneInfo(time.timezone)
        start, end = time.start.astimezone(zone), time.end.astimezone(zone)
        said = f"the provider's time from {start.isoformat()} to {end.isoformat()} was taken"
    else:
        said = (
            f"the provider has a {clash.kind.value} from {clash.start.isoformat()}"
            f" to {clash.end.isoformat()}"
        )
    return TimeTakenError(f"{said}; choose another time", clash)
