"""Registration, login and /api/me."""

import unicodedata
import uuid

import jwt
import pytest
from litestar import Litestar
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from app.accounts.auth import TokenIssuer
from db.accounts import Account
from db.models import Role
from tests.support.accounts import sign_up

pytestmark = pytest.mark.pgbouncer

Client = AsyncTestClient[Litestar]
PASSWORD = "correct horse battery"


def new_email() -> str:
    return f"rider-{uuid.uuid4().hex[:10]}@example.com"


async def test_register_returns_the_account_without_secrets(client: Client) -> None:
    email = new_email()
    response = await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "role": "provider"}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "email", "role"}
    assert (body["email"], body["role"]) == (email, "provider")


async def test_role_defaults_to_customer(client: Client) -> None:
    response = await client.post(
        "/api/auth/register", json={"email": new_email(), "password": PASSWORD}
    )
    assert response.json()["role"] == "customer"


async def test_duplicate_email_in_any_case_is_409(client: Client) -> None:
    email = new_email()
    first = await client.post("/api/auth/register", json={"email": email, "password": PASSWORD})
    again = await client.post(
        "/api/auth/register", json={"email": email.upper(), "password": PASSWORD}
    )
    assert first.status_code == 201
    assert again.status_code == 409
    assert again.json()["detail"] == "an account with this email exists"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"email": "not-an-email", "password": PASSWORD}, "malformed email"),
        ({"email": "a@b", "password": PASSWORD}, "email without a domain"),
        ({"email": "x@example.com", "password": "short1!"}, "password too short"),
        ({"email": "x@example.com", "password": "aaaaaaaaaaaa"}, "one repeated character"),
        ({"email": "x@example.com", "password": "1212121212"}, "too few different characters"),
        ({"email": "stina@example.com", "password": "stina-2024!"}, "password holds the name"),
        ({"email": "x@example.com", "password": "p" * 129 + "assword1"}, "password too long"),
        ({"email": "x@example.com", "password": PASSWORD, "role": "admin"}, "admin self-signup"),
        ({"email": "x@example.com", "password": PASSWORD, "is_admin": True}, "unknown field"),
        ({"email": "x@example.com"}, "missing password"),
    ],
)
async def test_bad_registrations_are_400(
    client: Client, body: dict[str, object], reason: str
) -> None:
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 400, reason
    assert response.json()["status_code"] == 400


async def test_login_returns_a_bearer_token_for_me(client: Client) -> None:
    account = await sign_up(client, "customer")
    me = await client.get("/api/me", headers=account.headers)
    assert me.status_code == 200
    assert me.json() == {
        "id": account.id,
        "email": account.email,
        "role": "customer",
        "email_verified": True,
        "language": "sv",
        "email_notifications": True,
    }


async def test_login_is_case_insensitive_in_the_email(client: Client) -> None:
    account = await sign_up(client)
    response = await client.post(
        "/api/auth/login", json={"email": account.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 200
    assert response.json()["token_type"] == "bearer"


@pytest.mark.parametrize("wrong", ["password", "email"])
async def test_wrong_credentials_are_401_and_do_not_say_which(client: Client, wrong: str) -> None:
    account = await sign_up(client)
    body = {"email": account.email, "password": PASSWORD, wrong: "wrong-but-long-enough"}
    response = await client.post("/api/auth/login", json=body)
    assert response.status_code == 401
    assert response.json()["detail"] == "wrong email or password"


async def test_me_without_or_with_a_forged_token_is_401(client: Client) -> None:
    account = await sign_up(client)
    forged = jwt.encode(
        {"sub": str(account.id), "exp": 4102444800, "iat": 0},
        "a-guessed-key-of-the-right-length!",
        "HS256",
    )
    assert (await client.get("/api/me")).status_code == 401
    assert (
        await client.get("/api/me", headers={"Authorization": f"Bearer {forged}"})
    ).status_code == 401
    assert (
        await client.get("/api/me", headers={"Authorization": "Bearer nonsense"})
    ).status_code == 401


async def test_openapi_says_which_endpoints_need_a_token(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert paths["/api/providers/nearby"]["get"]["security"] == [{}]
    assert paths["/api/auth/login"]["post"]["security"] == [{}]
    assert "security" not in paths["/api/me"]["get"]  # the document-wide bearer requirement
    assert "security" not in paths["/api/providers"]["post"]


@pytest.mark.parametrize("user_id", [2**63, 2**70, 0, -1])
async def test_a_signed_token_naming_a_user_id_no_row_can_have_is_401(
    client: Client, user_id: int
) -> None:
    assert isinstance(client.app, Litestar)
    provide = client.app.dependencies["token_issuer"]
    assert isinstance(provide, Provide)
    issuer = provide.dependency()
    assert isinstance(issuer, TokenIssuer)
    token = issuer.issue(Account(user_id, "someone@example.com", Role.customer))
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/api/me", "/api/bookings", "/api/notifications"):
        assert (await client.get(path, headers=headers)).status_code == 401, path


@pytest.mark.parametrize(
    ("registered", "other"),
    [
        ("jos\u00e9-{n}@example.com", "jose\u0301-{n}@example.com"),  # NFC and NFD
        ("\u0130nga-{n}@example.com", "i\u0307nga-{n}@example.com"),  # İ and its case fold
        ("anna-{n}@example.com", "\uff21nna-{n}@example.com"),  # a full-width A
        ("stra\u00dfe-{n}@example.com", "STRASSE-{n}@example.com"),  # ß folds to ss
    ],
    ids=["nfc-nfd", "dotted-i", "full-width", "sharp-s"],
)
async def test_one_email_in_any_unicode_spelling_is_one_account(
    client: Client, registered: str, other: str
) -> None:
    n = uuid.uuid4().hex[:8]
    first = await client.post(
        "/api/auth/register", json={"email": registered.format(n=n), "password": PASSWORD}
    )
    again = await client.post(
        "/api/auth/register", json={"email": other.format(n=n), "password": PASSWORD}
    )
    login = await client.post(
        "/api/auth/login", json={"email": other.format(n=n), "password": PASSWORD}
    )
    assert first.status_code == 201, first.text
    assert first.json()["email"] == unicodedata.normalize("NFKC", registered.format(n=n)).casefold()
    assert again.status_code == 409
    assert login.status_code == 200


@pytest.mark.parametrize(
    "look_alike",
    [
        "\u0430lice-{n}@example.com",  # a Cyrillic a
        "alic\u0435-{n}@example.com",  # a Cyrillic e
        "a1ice-{n}@example.com",  # a one for the l
        "alice-{n}@\u0435xample.com",  # a Cyrillic e in the domain
    ],
    ids=["cyrillic-a", "cyrillic-e", "digit-one", "cyrillic-domain"],
)
async def test_an_email_that_looks_like_an_accounts_is_refused(
    client: Client, look_alike: str
) -> None:
    """It would display as the other account's address: to its owner's customers, in a
    notification, on a booking."""
    n = uuid.uuid4().hex[:8]
    first = await client.post(
        "/api/auth/register", json={"email": f"alice-{n}@example.com", "password": PASSWORD}
    )
    again = await client.post(
        "/api/auth/register", json={"email": look_alike.format(n=n), "password": PASSWORD}
    )
    assert first.status_code == 201, first.text
    assert again.status_code == 409, again.text
    assert "looks the same" in again.json()["detail"]


@pytest.mark.parametrize(
    "invisible", ["\u200b", "\u00ad", "\u2060", "\ufeff"], ids=["zwsp", "shy", "wj", "bom"]
)
async def test_an_email_with_an_invisible_character_is_400(client: Client, invisible: str) -> None:
    answer = await client.post(
        "/api/auth/register",
        json={
            "email": f"al{invisible}ice-{uuid.uuid4().hex[:8]}@example.com",
            "password": PASSWORD,
        },
    )
    assert answer.status_code == 400, answer.text


async def test_a_deleted_accounts_look_is_free_again(client: Client) -> None:
    n = uuid.uuid4().hex[:8]
    body = {"email": f"bo-{n}@example.com", "password": PASSWORD}
    assert (await client.post("/api/auth/register", json=body)).status_code == 201
    token = (await client.post("/api/auth/login", json=body)).json()["access_token"]
    deleted = await client.delete("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert deleted.status_code == 204, deleted.text
    look_alike = {**body, "email": f"b\u043e-{n}@example.com"}  # a Cyrillic o
    assert (await client.post("/api/auth/register", json=look_alike)).status_code == 201


async def test_an_email_that_stops_being_one_once_normalized_is_400(client: Client) -> None:
    """A full-width at sign is an at sign under NFKC: two of them are no address."""
    answer = await client.post(
        "/api/auth/register", json={"email": "a\uff20b@example.com", "password": PASSWORD}
    )
    assert answer.status_code == 400
    assert "normalized" in answer.text
