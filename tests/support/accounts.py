"""Accounts for tests: a new user of a role, its address verified, signed in."""

import uuid
from dataclasses import dataclass

import httpx

from db.account_tokens import account_token_key, verification_token

PASSWORD = "correct horse battery"
SUITE_SECRET_KEY = "suite-signing-key-5f0c2a9e7b14d83c6a2e9f01"
"""Signs the suite's tokens; the server's, so a test can make the token it mails."""


async def verify_address(
    client: httpx.AsyncClient, user_id: int, email: str, secret_key: str = SUITE_SECRET_KEY
) -> None:
    """Verifies the account's address through the API, with the token its verification
    mail carries (made from the server's key, as the worker makes it): the suite's
    explicit stand-in for clicking the link, where no test of mail is meant."""
    token = verification_token(account_token_key(secret_key), user_id, email)
    verified = await client.post("/api/auth/verify", json={"token": token})
    assert verified.status_code == 204, verified.text


@dataclass(frozen=True)
class SignedIn:
    id: int
    email: str
    headers: dict[str, str]


async def sign_up(
    client: httpx.AsyncClient,
    role: str = "provider",
    *,
    verified: bool | None = None,
    secret_key: str = SUITE_SECRET_KEY,
) -> SignedIn:
    """A new account of `role`, logged in; its address verified if `verified`, by default
    a customer's (who may not book or order until it is), not a provider's."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "role": role}
    )
    assert registered.status_code == 201, registered.text
    if verified or (verified is None and role == "customer"):
        await verify_address(client, registered.json()["id"], email, secret_key)
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    return SignedIn(registered.json()["id"], email, {"Authorization": f"Bearer {token}"})
