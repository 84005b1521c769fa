"""Provider profiles and their services: the public profile, and the owner's writes.

Every write names its owner in its own WHERE clause, so another user's id matches no row
(the caller answers 404) and there is no gap between checking ownership and writing.
"""

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import ColumnElement, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from db.models import Provider, Service


def owned(provider_id: int, owner_id: int) -> ColumnElement[bool]:
    """The provider `provider_id`, if `owner_id` owns it and it is active."""
    return (
        (Provider.id == provider_id) & (Provider.user_id == owner_id) & Provider.is_active.is_(True)
    )


async def create_provider(session: AsyncSession, owner_id: int, values: Mapping[str, Any]) -> int:
    statement = insert(Provider).values(user_id=owner_id, **values).returning(Provider.id)
    return (await session.execute(statement)).scalar_one()


async def owned_provider(session: AsyncSession, owner_id: int, provider_id: int) -> Provider | None:
    provider: Provider | None = await session.scalar(
        select(Provider).where(owned(provider_id, owner_id))
    )
    return provider


Place = tuple[float, float]
"""A provider's (latitude, longitude)."""


async def place_of(
    session: AsyncSession, provider_id: int, *, to_move: bool = False
) -> Place | None:
    """Where the provider is, locked until the transaction ends: no other write moves it
    meanwhile (`to_move`: nor reads it so, for a write that is about to move it)."""
    statement = (
        select(Provider.latitude, Provider.longitude)
        .where(Provider.id == provider_id)
        .with_for_update(read=not to_move)
    )
    row = (await session.execute(statement)).first()
    return None if row is None else (row.latitude, row.longitude)


async def places_of(session: AsyncSession, provider_ids: Collection[int]) -> dict[int, Place]:
    """Where these providers are, by id (as read now, unlocked)."""
    statement = select(Provider.id, Provider.latitude, Provider.longitude).where(
        Provider.id.in_(provider_ids)
    )
    return {row.id: (row.latitude, row.longitude) for row in await session.execute(statement)}


async def update_provider(
    session: AsyncSession, owner_id: int, provider_id: int, values: Mapping[str, Any]
) -> bool:
    statement = (
        update(Provider).where(owned(provider_id, owner_id)).values(**values).returning(Provider.id)
    )
    return (await session.execute(statement)).first() is not None


async def deactivate_provider(session: AsyncSession, owner_id: int, provider_id: int) -> bool:
    return await update_provider(session, owner_id, provider_id, {"is_active": False})


async def add_service(
    session: AsyncSession, owner_id: int, provider_id: int, values: Mapping[str, Any]
) -> Service | None:
    """Insert only if the provider is the owner's: one statement, INSERT … SELECT … WHERE."""
    columns = ["provider_id", *values]
    source = select(Provider.id, *(literal(v) for v in values.values())).where(
        owned(provider_id, owner_id)
    )
    statement = insert(Service).from_select(columns, source).returning(Service)
    service: Service | None = await session.scalar(statement)
    return service


def _owned_service(owner_id: int, provider_id: int, service_id: int) -> ColumnElement[bool]:
    return (
        (Service.id == service_id)
        & (Service.provider_id == provider_id)
        & Service.is_active.is_(True)
        & Service.provider_id.in_(select(Provider.id).where(owned(provider_id, owner_id)))
    )


async def update_service(
    session: AsyncSession,
    owner_id: int,
    provider_id: int,
    service_id: int,
    values: Mapping[str, Any],
) -> Service | None:
    statement = (
        update(Service)
        .where(_owned_service(owner_id, provider_id, service_id))
        .values(**values)
        .returning(Service)
    )
    service: Service | None = await session.scalar(statement)
    return service


async def deactivate_service(
    session: AsyncSession, owner_id: int, provider_id: int, service_id: int
) -> bool:
    changed = await update_service(session, owner_id, provider_id, service_id, {"is_active": False})
    return changed is not None


async def public_profile(session: AsyncSession, provider_id: int) -> Provider | None:
    """An active provider with its active services, or None."""
    statement = (
        select(Provider)
        .where(Provider.id == provider_id, Provider.is_active)
        .options(selectinload(Provider.services.and_(Service.is_active)))
    )
    return (await session.execute(statement)).scalar_one_or_none()
