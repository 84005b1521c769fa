"""Every text field of every body refuses control characters and bidirectional overrides
at the edge: a 400 naming the field, nothing written, never a 500."""

from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Booking, Provider, RouteOrder, Service, User
from tests.support.accounts import SignedIn
from tests.support.bookings import OpenProvider, days_ahead, stockholm

Client = AsyncTestClient[Litestar]
NUL, OVERRIDE, NEWLINE = "\x00", "\u202e", "\n"
DAY = days_ahead(3)
PROSE_FIELDS = {"description", "notes"}
WRITTEN = (User, Provider, Service, Booking, RouteOrder)

Body = Callable[[OpenProvider], dict[str, Any]]
CREDENTIALS = {"email": "x@example.com", "password": "correct horse"}
ADDRESS = {"address": "Storgatan 1", "postal_code": "753 20", "city": "Uppsala"}
SERVICE = {"name": "Verkning", "category": "farrier", "duration_minutes": 30, "price": "500"}
ORDER = {"category": "farrier", "earliest": DAY.isoformat(), "latest": DAY.isoformat()}
ORDER_BY_ADDRESS = {**ORDER, "address": "Storgatan 1, Uppsala"}
ORDER_BY_POINT = {**ORDER, "latitude": 59.8, "longitude": 17.6, "notes": "Grind"}
PROFILE = {"business_name": "Smedjan", "description": "Skor"}


def _booking(provider: OpenProvider) -> dict[str, Any]:
    return provider.booking(stockholm(DAY, 9), notes="Skygg")


def _case(method: str, path: str, body: Body, field: str, sender: str = "") -> Any:
    return pytest.param(method, path, body, field, sender, id=f"{method} {path} {field}")


# Every text field a client writes: where, in what body, and who sends it.
CASES = [
    _case("POST", "/api/auth/register", lambda _: CREDENTIALS, "email"),
    _case("POST", "/api/auth/login", lambda _: CREDENTIALS, "email"),
    _case("POST", "/api/providers", lambda _: PROFILE, "business_name", "owner"),
    _case("POST", "/api/providers", lambda _: PROFILE, "description", "owner"),
    *(
        _case("PATCH", "/api/providers/{id}", lambda _: ADDRESS, field, "owner")
        for field in ADDRESS
    ),
    _case("POST", "/api/providers/{id}/services", lambda _: SERVICE, "name", "owner"),
    _case(
        "PUT",
        "/api/providers/{id}/availability",
        lambda _: {"timezone": "Europe/Stockholm"},
        "timezone",
        "owner",
    ),
    _case("POST", "/api/bookings", _booking, "horse_name", "customer"),
    _case("POST", "/api/bookings", _booking, "notes", "customer"),
    _case("POST", "/api/route-orders", lambda _: ORDER_BY_ADDRESS, "address", "customer"),
    _case("POST", "/api/route-orders", lambda _: ORDER_BY_POINT, "notes", "customer"),
]


async def _rows(db_session: AsyncSession) -> list[int]:
    counts = [select(func.count()).select_from(model) for model in WRITTEN]
    return [(await db_session.execute(count)).scalar_one() for count in counts]


@pytest.mark.parametrize("bad", [NUL, OVERRIDE, NEWLINE], ids=["nul", "bidi", "newline"])
@pytest.mark.parametrize(("method", "path", "body", "field", "sender"), CASES)
async def test_a_control_character_in_a_text_field_is_a_400_naming_it(
    client: Client,
    provider: OpenProvider,
    customer: SignedIn,
    db_session: AsyncSession,
    bad: str,
    method: str,
    path: str,
    body: Body,
    field: str,
    sender: str,
) -> None:
    if bad == NEWLINE and field in PROSE_FIELDS:
        pytest.skip("prose keeps its line breaks")
    json = dict(body(provider))
    json[field] = f"{json[field][:3]}{bad}{json[field][3:]}"
    headers = {"owner": provider.owner.headers, "customer": customer.headers}.get(sender, {})
    before = await _rows(db_session)
    answer = await client.request(method, path.format(id=provider.id), json=json, headers=headers)
    assert answer.status_code == 400, answer.text
    assert field in answer.text
    assert await _rows(db_session) == before


@pytest.mark.parametrize("field", ["description", "notes"])
async def test_prose_keeps_tabs_and_line_breaks(
    client: Client, provider: OpenProvider, customer: SignedIn, field: str
) -> None:
    text = "Första raden\n\tandra raden\r\nslut"
    if field == "description":
        answer = await client.patch(
            f"/api/providers/{provider.id}", json={field: text}, headers=provider.owner.headers
        )
    else:
        answer = await client.post(
            "/api/bookings",
            json=provider.booking(stockholm(DAY, 10), notes=text),
            headers=customer.headers,
        )
    assert answer.status_code in (200, 201), answer.text
    assert answer.json()[field] == text


async def test_a_name_of_only_spaces_is_a_400(client: Client, provider: OpenProvider) -> None:
    answer = await client.post(
        "/api/providers", json={"business_name": "   "}, headers=provider.owner.headers
    )
    assert answer.status_code == 400
    assert "business_name" in answer.text


async def test_a_control_character_in_a_geocoding_query_is_a_400(client: Client) -> None:
    answer = await client.get("/api/geocode", params={"q": "Storgatan\x001, Uppsala"})
    assert answer.status_code == 400
    assert "q" in answer.json()["extra"][0]["key"]
