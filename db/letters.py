"""What a letter needs to know beyond its notification: the provider's name and clock."""

from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Provider


class ProviderCard(NamedTuple):
    business_name: str
    timezone: str


async def provider_card(session: AsyncSession, provider_id: int) -> ProviderCard | None:
    statement = select(Provider.business_name, Provider.timezone).where(Provider.id == provider_id)
    row = (await session.execute(statement)).first()
    return None if row is None else ProviderCard(*row)
