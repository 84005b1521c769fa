"""Users: registration and login. Password hashes are made, checked and kept here only."""

import asyncio

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Role, User

_hasher = PasswordHasher()
# Checked when the email is unknown, so that a login takes as long either way and does
# not tell which emails have accounts.
_DUMMY_HASH = _hasher.hash("no such user")


class DuplicateEmailError(Exception):
    """An account with this email (in any letter case) exists."""


class Account(msgspec.Struct, frozen=True):
    """What the rest of the application may know about a user."""

    id: int
    email: str
    role: Role


def _account(user: User) -> Account:
    return Account(user.id, user.email, user.role)


async def register(session: AsyncSession, email: str, password: str, role: Role) -> Account:
    password_hash = await asyncio.to_thread(_hasher.hash, password)
    statement = (
        insert(User)
        .values(email=email, password_hash=password_hash, role=role)
        .on_conflict_do_nothing(index_elements=[func.lower(User.email)])
        .returning(User.id)
    )
    user_id = (await session.execute(statement)).scalar_one_or_none()
    if user_id is None:
        raise DuplicateEmailError("an account with this email exists")
    return Account(user_id, email, role)


async def authenticate(session: AsyncSession, email: str, password: str) -> Account | None:
    """The account whose email and password these are, or None (either was wrong)."""
    user = await session.scalar(select(User).where(func.lower(User.email) == func.lower(email)))
    try:
        await asyncio.to_thread(
            _hasher.verify, user.password_hash if user else _DUMMY_HASH, password
        )
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        new_hash = await asyncio.to_thread(_hasher.hash, password)
        await session.execute(update(User).where(User.id == user.id).values(password_hash=new_hash))
    return _account(user)


async def account(session: AsyncSession, user_id: int) -> Account | None:
    user = await session.get(User, user_id)
    return None if user is None else _account(user)
