"""Exports: a user's request, its progress, and the rows it writes, read from one snapshot.

The rows of each kind are the ones the API lists for the user (db.bookings,
db.route_orders, db.routes), in the same order, over the whole span asked for; the worker
streams them a chunk at a time inside one repeatable-read, read-only transaction, so a
file is one consistent picture however long it takes to write.
"""

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, Select, func, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db import outbox
from db.models import (
    Booking,
    Export,
    ExportStatus,
    OutboxJob,
    Provider,
    Role,
    Route,
    RouteOrder,
    User,
)
from db.routes import owned_routes

UNDER_WAY = (ExportStatus.queued, ExportStatus.running)

Rows = Select[Any, Any, Any]
"""An export's rows: the item, its provider's name and its provider's time zone."""


class ExportsUnderWayError(Exception):
    """The user has as many exports queued or running as one may."""


@dataclass(frozen=True, slots=True)
class ExportRequest:
    kind: str
    format: str
    from_date: date | None
    to_date: date | None
    excel_bom: bool


async def create(
    session: AsyncSession, user_id: int, request: ExportRequest, max_under_way: int
) -> Export:
    """The export, queued: its job runs once this transaction commits. The user's row is
    locked while the exports under way are counted, so two requests can't both pass."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    under_way = await session.scalar(
        select(func.count()).where(Export.user_id == user_id, Export.status.in_(UNDER_WAY))
    )
    if (under_way or 0) >= max_under_way:
        raise ExportsUnderWayError(
            f"{under_way} exports are under way: wait for one to finish "
            f"(at most {max_under_way} at a time)"
        )
    export = Export(
        id=uuid.uuid4(),
        user_id=user_id,
        kind=request.kind,
        format=request.format,
        from_date=request.from_date,
        to_date=request.to_date,
        excel_bom=request.excel_bom,
    )
    session.add(export)
    await session.flush()
    await outbox.add(session, OutboxJob.run_export, {"export_id": str(export.id)})
    await session.refresh(export)
    return export


async def owned_export(session: AsyncSession, user_id: int, export_id: uuid.UUID) -> Export | None:
    export: Export | None = await session.scalar(
        select(Export).where(Export.id == export_id, Export.user_id == user_id)
    )
    return export


async def export_of_job(session: AsyncSession, export_id: uuid.UUID) -> Export | None:
    return await session.get(Export, export_id, populate_existing=True)


async def set_state(session: AsyncSession, export_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(Export).where(Export.id == export_id).values(**values))


async def start(session: AsyncSession, export_id: uuid.UUID) -> None:
    await set_state(
        session,
        export_id,
        status=ExportStatus.running,
        progress=0.0,
        started_at=func.now(),
        attempts=Export.attempts + 1,
        error=None,
    )


async def expired(session: AsyncSession) -> list[Export]:
    """Finished exports past their time, marked expired: their files are to be deleted."""
    statement = (
        update(Export)
        .where(Export.status == ExportStatus.done, Export.expires_at <= func.now())
        .values(status=ExportStatus.expired)
        .returning(Export)
    )
    return list((await session.scalars(statement)).all())


@dataclass(frozen=True, slots=True)
class Wanted:
    """Whose rows of which kind, over which days."""

    kind: str
    user_id: int
    from_date: date | None = None
    to_date: date | None = None

    @classmethod
    def of(cls, export: Export) -> "Wanted":
        return cls(export.kind, export.user_id, export.from_date, export.to_date)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def _bookings(export: Wanted, role: Role) -> Rows:
    mine: ColumnElement[bool]
    if role is Role.provider:
        mine = Booking.provider_id.in_(
            select(Provider.id).where(Provider.user_id == export.user_id)
        )
    else:
        mine = Booking.customer_id == export.user_id
    start = func.lower(Booking.during)
    statement = (
        select(Booking, Provider.business_name, Provider.timezone)
        .join(Provider, Provider.id == Booking.provider_id)
        .where(mine)
        .order_by(start, Booking.id)
    )
    if export.from_date is not None:
        statement = statement.where(start >= _day_start(export.from_date))
    if export.to_date is not None:
        statement = statement.where(start < _day_start(export.to_date + timedelta(days=1)))
    return statement


def _route_orders(export: Wanted) -> Rows:
    statement = (
        select(RouteOrder, null(), null())
        .where(RouteOrder.customer_id == export.user_id)
        .order_by(RouteOrder.created_at.desc(), RouteOrder.id.desc())
    )
    if export.from_date is not None:
        statement = statement.where(RouteOrder.latest >= export.from_date)
    if export.to_date is not None:
        statement = statement.where(RouteOrder.earliest <= export.to_date)
    return statement


def _routes(export: Wanted) -> Rows:
    statement = (
        owned_routes(export.user_id)
        .add_columns(Provider.business_name, Provider.timezone)
        .order_by(Route.date, Route.id)
    )
    if export.from_date is not None:
        statement = statement.where(Route.date >= export.from_date)
    if export.to_date is not None:
        statement = statement.where(Route.date <= export.to_date)
    return statement


def rows_statement(export: Wanted, role: Role) -> Rows:
    """What the export holds: the user's rows of its kind, in the API's order, each with
    its provider's name and time zone (none for route orders)."""
    if export.kind == "bookings":
        return _bookings(export, role)
    if export.kind == "route_orders":
        return _route_orders(export)
    return _routes(export)


@dataclass(frozen=True)
class Snapshot:
    """One export's rows as one repeatable-read transaction sees them."""

    session: AsyncSession
    statement: Rows

    async def count(self) -> int:
        counted = select(func.count()).select_from(self.statement.order_by(None).subquery())
        return (await self.session.execute(counted)).scalar_one()

    async def chunks(self, size: int) -> AsyncIterator[list[Row[Any, Any, Any]]]:
        result = await self.session.stream(self.statement.execution_options(yield_per=size))
        async for chunk in result.partitions(size):
            yield list(chunk)


async def snapshot(session: AsyncSession, statement: Rows) -> Snapshot:
    """Begins the session's repeatable-read, read-only transaction (the caller's to end)."""
    await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    await session.execute(select(func.set_config("transaction_read_only", "on", True)))
    return Snapshot(session, statement)


async def user_role(session: AsyncSession, user_id: int) -> Role | None:
    role: Role | None = await session.scalar(select(User.role).where(User.id == user_id))
    return role
