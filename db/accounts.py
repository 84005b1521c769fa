"""Users: registration, login, password changes and deletion. Password hashes are made,
checked and kept here only."""

import asyncio
import functools
from datetime import UTC, datetime

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from confusable_homoglyphs import confusables
from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db import outbox
from db.models import (
    ACTIVE_BOOKING,
    Booking,
    OutboxJob,
    Provider,
    Role,
    Route,
    RouteOrder,
    RouteOrderStatus,
    RouteStatus,
    User,
)


class Passwords:
    """Argon2id hashes at a deployment's cost (settings: PASSWORD_HASH_*), made and checked
    in a thread, off the event loop."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        # Checked when the email is unknown, so that a login takes as long either way and
        # does not tell which emails have accounts.
        self._dummy_hash = self._hasher.hash("no such user")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def match(self, user: User | None, password: str) -> bool:
        """Whether this is the user's password. With no user, a dummy hash is checked, so
        the answer takes as long either way."""
        try:
            await asyncio.to_thread(
                self._hasher.verify, user.password_hash if user else self._dummy_hash, password
            )
        except (VerificationError, InvalidHashError):
            return False
        return user is not None

    def outdated(self, password_hash: str) -> bool:
        """Whether a hash was made at another cost than this deployment's."""
        return self._hasher.check_needs_rehash(password_hash)


class DuplicateEmailError(Exception):
    """An account with this email, or one that looks the same, exists."""


@functools.cache
def _prototype(character: str) -> str:
    """One character for all that look like it, by Unicode's confusables (as
    confusable-homoglyphs ships them): the least of those within two steps of it, which
    every member of a family of look-alikes shares."""
    near = {character}
    for _ in range(2):
        near |= {
            homoglyph["c"]
            for known in near
            for homoglyph in confusables.confusables_data.get(known, ())
            if len(homoglyph["c"]) == 1
        }
    return min(near)


def email_skeleton(email: str) -> str:
    """What an email looks like: two emails with one skeleton can't be told apart on a
    screen (a Cyrillic a for a Latin a, a 1 for an l), so only one live account has it."""
    return "".join(_prototype(character) for character in email)


class AccountInUseError(Exception):
    """The account still has something others rely on: an active profile, a visit to come."""


class UnverifiedError(Exception):
    """The account has not shown its e-mail address is its own, and the change needs that."""


class Account(msgspec.Struct, frozen=True):
    """What the rest of the application may know about a user."""

    id: int
    email: str
    role: Role
    token_version: int = 0
    """The version its access tokens must carry."""
    email_verified: bool = False
    language: str = "sv"
    email_notifications: bool = True


def _account(user: User) -> Account:
    return Account(
        user.id,
        user.email,
        user.role,
        user.token_version,
        user.email_verified_at is not None,
        user.language,
        user.email_notifications,
    )


_LIVE = User.deleted_at.is_(None)


async def register(
    session: AsyncSession,
    passwords: Passwords,
    email: str,
    password: str,
    role: Role,
    language: str = "sv",
) -> Account:
    """The new account, and its verification mail waiting in the outbox."""
    password_hash = await passwords.hash(password)
    skeleton = email_skeleton(email)
    values = {"email": email, "password_hash": password_hash, "role": role, "language": language}
    statement = (
        insert(User)
        .values(email_skeleton=skeleton, **values)
        .on_conflict_do_nothing()  # the email, or its skeleton, is a live account's
        .returning(User.id)
    )
    user_id = (await session.execute(statement)).scalar_one_or_none()
    if user_id is None:
        same = select(User.id).where(func.lower(User.email) == func.lower(email))
        if await session.scalar(exists(same).select()):
            raise DuplicateEmailError("an account with this email exists")
        raise DuplicateEmailError("an account with an email that looks the same exists")
    await _mail_verification(session, user_id)
    return Account(user_id, email, role, language=language)


async def _verified(session: AsyncSession, user_id: int) -> bool | None:
    """Whether the live account has verified its address; None when there is none."""
    statement = select(User.email_verified_at.is_not(None)).where(User.id == user_id, _LIVE)
    verified: bool | None = await session.scalar(statement)
    return verified


async def _mail_verification(session: AsyncSession, user_id: int) -> None:
    await outbox.add(session, OutboxJob.send_mail, {"template": "verify_email", "user_id": user_id})


async def ask_verification_again(session: AsyncSession, user_id: int) -> bool | None:
    """Another verification mail; False when the address is verified already, None when
    there is no such account."""
    verified = await _verified(session, user_id)
    if verified is None or verified:
        return None if verified is None else False
    await _mail_verification(session, user_id)
    return True


async def mark_verified(session: AsyncSession, user_id: int) -> None:
    await session.execute(
        update(User)
        .where(User.id == user_id, _LIVE)
        .values(email_verified_at=func.coalesce(User.email_verified_at, func.now()))
    )


async def require_verified(session: AsyncSession, user_id: int) -> None:
    """UnverifiedError unless the account has verified its address."""
    if not await _verified(session, user_id):
        raise UnverifiedError(
            "verify your e-mail address first: follow the link we mailed you "
            "(POST /api/me/verification sends it again)"
        )


async def live_user_by_email(session: AsyncSession, email: str) -> User | None:
    user: User | None = await session.scalar(
        select(User).where(func.lower(User.email) == func.lower(email), _LIVE)
    )
    return user


async def reset_password(
    session: AsyncSession, passwords: Passwords, user_id: int, new: str
) -> Account | None:
    """After a reset token was spent: the new password, every token issued before ended,
    and the address taken as verified (the mail reached its owner)."""
    user = await session.scalar(select(User).where(User.id == user_id, _LIVE).with_for_update())
    if user is None:
        return None
    user.password_hash = await passwords.hash(new)
    user.token_version += 1
    user.email_verified_at = user.email_verified_at or datetime.now(UTC)
    await session.flush()
    return _account(user)


async def change_preferences(
    session: AsyncSession, user_id: int, changes: dict[str, object]
) -> Account | None:
    user = await session.scalar(select(User).where(User.id == user_id, _LIVE).with_for_update())
    if user is None:
        return None
    for name, value in changes.items():
        setattr(user, name, value)
    await session.flush()
    await session.refresh(user)
    return _account(user)


async def authenticate(
    session: AsyncSession, passwords: Passwords, email: str, password: str
) -> Account | None:
    """The account whose email and password these are, or None (either was wrong)."""
    user = await live_user_by_email(session, email)
    if not await passwords.match(user, password) or user is None:
        return None
    if passwords.outdated(user.password_hash):
        new_hash = await passwords.hash(password)
        await session.execute(update(User).where(User.id == user.id).values(password_hash=new_hash))
    return _account(user)


async def account(session: AsyncSession, user_id: int) -> Account | None:
    user = await session.scalar(select(User).where(User.id == user_id, _LIVE))
    return None if user is None else _account(user)


async def token_version(connection: AsyncConnection, user_id: int) -> int | None:
    """The version a token of this user must carry, or None: no such account (any more)."""
    statement = select(User.token_version).where(User.id == user_id, _LIVE)
    version: int | None = await connection.scalar(statement)
    return version


async def change_password(
    session: AsyncSession, passwords: Passwords, user_id: int, current: str, new: str
) -> Account | None:
    """The account with its new password and token version, or None: `current` was wrong."""
    user = await session.scalar(select(User).where(User.id == user_id, _LIVE).with_for_update())
    if not await passwords.match(user, current) or user is None:
        return None
    user.password_hash = await passwords.hash(new)
    user.token_version += 1
    await session.flush()
    return _account(user)


async def _obligations(session: AsyncSession, user_id: int) -> list[str]:
    """What others still rely on this account for, in words."""
    mine = select(Provider.id).where(Provider.user_id == user_id).scalar_subquery()
    upcoming = Booking.status.in_(ACTIVE_BOOKING) & (func.upper(Booking.during) > func.now())
    checks = {
        "an active provider profile": select(Provider.id).where(
            Provider.user_id == user_id, Provider.is_active
        ),
        "visits to come with you as the customer": select(Booking.id).where(
            Booking.customer_id == user_id, upcoming
        ),
        "visits to come at your profiles": select(Booking.id).where(
            Booking.provider_id.in_(mine), upcoming
        ),
        "route orders still open or planned": select(RouteOrder.id).where(
            RouteOrder.customer_id == user_id,
            RouteOrder.status.in_((RouteOrderStatus.open, RouteOrderStatus.planned)),
        ),
        "planned day routes": select(Route.id).where(
            Route.provider_id.in_(mine), Route.status == RouteStatus.planned
        ),
    }
    found = await session.execute(select(*(exists(query) for query in checks.values())))
    return [what for what, held in zip(checks, found.one(), strict=True) if held]


async def delete_account(session: AsyncSession, user_id: int) -> Account | None:
    """Ends the account: its email is free again, its password and tokens stop working.
    None when there is no such account; AccountInUseError while others rely on it."""
    user = await session.scalar(select(User).where(User.id == user_id, _LIVE).with_for_update())
    if user is None:
        return None
    if obligations := await _obligations(session, user_id):
        raise AccountInUseError(f"the account still has {', '.join(obligations)}")
    user.email = f"deleted-{user.id}@deleted.invalid"
    user.email_skeleton = None
    user.password_hash = ""
    user.token_version += 1
    user.deleted_at = func.now()
    await session.flush()
    return _account(user)
