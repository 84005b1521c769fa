"""Tokens end with the password they were issued under, and with their account."""

import httpx
import jwt
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app
from app.settings import Settings
from geo.keys import derived_key
from tests.support.accounts import PASSWORD, SignedIn, sign_up
from tests.support.bookings import OpenProvider
from tests.support.ports import closed_port

Client = AsyncTestClient[Litestar]
NEW_PASSWORD = "a different battery staple"


async def _change_password(client: httpx.AsyncClient, account: SignedIn) -> httpx.Response:
    return await client.post(
        "/api/me/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=account.headers,
    )


async def _reads(client: httpx.AsyncClient, headers: dict[str, str]) -> set[int]:
    return {
        (await client.get(path, headers=headers)).status_code
        for path in ("/api/me", "/api/bookings")
    }


async def _login(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post("/api/auth/login", json={"email": email, "password": password})
    return response.status_code


async def test_a_password_change_ends_every_earlier_token(client: Client) -> None:
    account = await sign_up(client, "customer")
    changed = await _change_password(client, account)
    assert changed.status_code == 200, changed.text
    new_headers = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert await _reads(client, account.headers) == {401}
    assert await _reads(client, new_headers) == {200}
    assert await _login(client, account.email, PASSWORD) == 401
    assert await _login(client, account.email, NEW_PASSWORD) == 200


async def test_a_wrong_current_password_changes_nothing(client: Client) -> None:
    account = await sign_up(client, "customer")
    response = await client.post(
        "/api/me/password",
        json={"current_password": "not the password", "new_password": NEW_PASSWORD},
        headers=account.headers,
    )
    assert response.status_code == 401
    assert await _reads(client, account.headers) == {200}
    assert await _login(client, account.email, PASSWORD) == 200


async def test_a_new_password_follows_the_registration_rules(client: Client) -> None:
    account = await sign_up(client, "customer")
    name = account.email.split("@")[0]
    for weak, why in [("aaaaabbbbb", "different characters"), (f"x{name}yz", "email's name")]:
        response = await client.post(
            "/api/me/password",
            json={"current_password": PASSWORD, "new_password": weak},
            headers=account.headers,
        )
        assert response.status_code == 400, response.text
        assert why in response.text
    assert await _reads(client, account.headers) == {200}


async def test_a_deleted_account_ends_its_tokens_and_frees_its_email(client: Client) -> None:
    account = await sign_up(client, "customer")
    response = await client.delete("/api/me", headers=account.headers)
    assert response.status_code == 204, response.text
    assert await _reads(client, account.headers) == {401}
    assert await _login(client, account.email, PASSWORD) == 401
    again = await client.post(
        "/api/auth/register", json={"email": account.email, "password": PASSWORD}
    )
    assert again.status_code == 201, again.text
    assert again.json()["id"] != account.id


async def test_an_account_others_rely_on_is_not_deleted(
    client: Client, provider: OpenProvider
) -> None:
    response = await client.delete("/api/me", headers=provider.owner.headers)
    assert response.status_code == 409, response.text
    assert "an active provider profile" in response.json()["detail"]
    assert await _reads(client, provider.owner.headers) == {200}


async def test_a_token_of_an_account_deleted_in_the_database_is_401(
    client: Client, engine: AsyncEngine
) -> None:
    account = await sign_up(client, "customer")
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE users SET deleted_at = now() WHERE id = :id"), {"id": account.id}
        )
    assert await _reads(client, account.headers) == {401}


async def test_a_token_without_a_version_is_401(client: Client, settings: Settings) -> None:
    account = await sign_up(client, "customer")
    token = account.headers["Authorization"].removeprefix("Bearer ")
    key = derived_key(settings.secret_key, "access-token").hex()
    claims = jwt.decode(token, key, algorithms=["HS256"])
    del claims["extras"]["ver"]
    unversioned = {"Authorization": f"Bearer {jwt.encode(claims, key, algorithm='HS256')}"}
    assert await _reads(client, unversioned) == {401}
    assert await _reads(client, account.headers) == {200}


async def test_every_worker_refuses_a_revoked_token_at_once(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url) as client:
        account = await sign_up(client, "customer")
        for _ in range(4):  # each worker caches the version
            assert await _reads(client, account.headers) == {200}
        assert (await _change_password(client, account)).status_code == 200
        for _ in range(8):
            assert await _reads(client, account.headers) == {401}


async def test_revocation_holds_while_redis_is_away(settings: Settings) -> None:
    down = Settings(
        settings.database_url, f"redis://127.0.0.1:{closed_port()}/0", settings.secret_key
    )
    async with AsyncTestClient(app=create_app(down)) as client:
        account = await sign_up(client, "customer")
        assert await _reads(client, account.headers) == {200}
        assert (await _change_password(client, account)).status_code == 200
        assert await _reads(client, account.headers) == {401}
