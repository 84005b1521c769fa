"""Single-use, expiring tokens of an account: a password reset, an e-mail verification.

A token is an HMAC of the server's secret over what it is for, so the job that mails it
makes the same token on every attempt and nothing secret waits in the outbox; only its
SHA-256 hash is stored (a stolen table opens no account). A reset token is made for one
request (its outbox row), a verification token for one address of one account.
"""

import hashlib
import hmac
from base64 import urlsafe_b64encode
from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import AccountToken, TokenPurpose
from geo.keys import derived_key


def account_token_key(secret_key: str) -> bytes:
    return derived_key(secret_key, "account-token")


def account_token(key: bytes, purpose: TokenPurpose, subject: str) -> str:
    """The token for `subject` (a reset request's outbox id, or `user_id:email`)."""
    digest = hmac.new(key, f"{purpose}:{subject}".encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode()


def verification_token(key: bytes, user_id: int, email: str) -> str:
    """The token that verifies this address of this account: the same every time it is
    mailed, so a mail sent again carries a link that still works."""
    return account_token(key, TokenPurpose.verify_email, f"{user_id}:{email}")


def _hashed(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def keep(
    session: AsyncSession,
    user_id: int,
    purpose: TokenPurpose,
    token: str,
    expires_at: datetime,
) -> None:
    """Stores the token's hash; the same token again only moves its expiry (a mail sent
    again), unless it has been used."""
    statement = insert(AccountToken).values(
        user_id=user_id, purpose=purpose, token_hash=_hashed(token), expires_at=expires_at
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[AccountToken.token_hash],
            set_={"expires_at": statement.excluded.expires_at},
            where=AccountToken.used_at.is_(None),
        )
    )


async def use(session: AsyncSession, purpose: TokenPurpose, token: str) -> int | None:
    """Spends the token: its user's id, or None when it is unknown, used or expired. The
    user's other unused tokens of the purpose are spent with it."""
    spent = (
        update(AccountToken)
        .where(
            AccountToken.token_hash == _hashed(token),
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > func.now(),
        )
        .values(used_at=func.now())
        .returning(AccountToken.user_id)
    )
    user_id: int | None = (await session.execute(spent)).scalar_one_or_none()
    if user_id is not None:
        await session.execute(
            update(AccountToken)
            .where(
                AccountToken.user_id == user_id,
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
            )
            .values(used_at=func.now())
        )
    return user_id


async def keep_verification(
    session: AsyncSession, key: bytes, user_id: int, email: str, expires_at: datetime
) -> str:
    """The address's verification token, stored (or its expiry moved) until `expires_at`."""
    token = verification_token(key, user_id, email)
    await keep(session, user_id, TokenPurpose.verify_email, token, expires_at)
    return token
