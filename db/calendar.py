"""Personal iCalendar feeds: one URL per user, its token kept as a SHA-256 hash only; a
new one replaces (and so revokes) the old."""

import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CalendarFeed, Role, User


def _hashed(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def new_feed(session: AsyncSession, user_id: int) -> str:
    """A new feed token for the user; the old one stops working."""
    token = secrets.token_urlsafe(32)
    statement = insert(CalendarFeed).values(user_id=user_id, token_hash=_hashed(token))
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[CalendarFeed.user_id],
            set_={
                "token_hash": statement.excluded.token_hash,
                "created_at": statement.excluded.created_at,
            },
        )
    )
    return token


async def revoke(session: AsyncSession, user_id: int) -> bool:
    result = await session.execute(
        delete(CalendarFeed).where(CalendarFeed.user_id == user_id).returning(CalendarFeed.user_id)
    )
    return result.first() is not None


async def feed_owner(session: AsyncSession, token: str) -> tuple[int, Role] | None:
    """The live user whose feed this token opens, and their role; None if none does."""
    statement = (
        select(User.id, User.role)
        .join(CalendarFeed, CalendarFeed.user_id == User.id)
        .where(CalendarFeed.token_hash == _hashed(token), User.deleted_at.is_(None))
    )
    row = (await session.execute(statement)).first()
    return None if row is None else (row.id, row.role)
