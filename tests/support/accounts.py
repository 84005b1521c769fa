"""Accounts for tests: a new user of a role, signed in."""

import uuid
from dataclasses import dataclass

import httpx

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class SignedIn:
    id: int
    email: str
    headers: dict[str, str]


async def sign_up(client: httpx.AsyncClient, role: str = "provider") -> SignedIn:
    """A new account of `role`, logged in."""
    email = f"{role}-{uuid.uuid4().hex[:10]}@example.com"
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "role": role}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    return SignedIn(registered.json()["id"], email, {"Authorization": f"Bearer {token}"})
