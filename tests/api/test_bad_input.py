"""Every malformed or out-of-range parameter is a 400 with a clear detail, never a 500."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.support.accounts import SignedIn, sign_up

Client = AsyncTestClient[Litestar]
OK = {"lat": "59.33", "lng": "18.07"}

NEARBY_CASES: list[tuple[dict[str, str], str]] = [
    ({"lng": "18"}, "lat"),
    ({"lat": "59"}, "lng"),
    ({**OK, "lat": "abc"}, "lat"),
    ({**OK, "lat": "NaN"}, "lat"),
    ({**OK, "lat": "nan"}, "lat"),
    ({**OK, "lat": "Infinity"}, "lat"),
    ({**OK, "lng": "-inf"}, "lng"),
    ({**OK, "lat": "90.0001"}, "lat"),
    ({**OK, "lat": "-91"}, "lat"),
    ({**OK, "lng": "180.5"}, "lng"),
    ({**OK, "lng": ""}, "lng"),
    ({**OK, "radius_km": "0"}, "radius_km"),
    ({**OK, "radius_km": "-5"}, "radius_km"),
    ({**OK, "radius_km": "100.001"}, "radius_km"),
    ({**OK, "radius_km": "1e9"}, "radius_km"),
    ({**OK, "radius_km": "NaN"}, "radius_km"),
    ({**OK, "limit": "0"}, "limit"),
    ({**OK, "limit": "101"}, "limit"),
    ({**OK, "limit": "2.5"}, "limit"),
    ({**OK, "limit": "ten"}, "limit"),
    ({**OK, "strategy": "quadtree"}, "strategy"),
    ({**OK, "format": "xml"}, "format"),
    ({**OK, "category": "astrologer"}, "category"),
    ({**OK, "cursor": "not-a-cursor"}, "cursor"),
    ({**OK, "cursor": "A" * 201}, "cursor"),
]


@pytest.mark.parametrize(("params", "mentions"), NEARBY_CASES)
async def test_nearby_rejects_bad_parameters(
    client: Client, params: dict[str, str], mentions: str
) -> None:
    response = await client.get("/api/providers/nearby", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status_code"] == 400
    assert mentions in response.text


async def _first_cursor(client: Client, **params: Any) -> str:
    response = await client.get("/api/providers/nearby", params={**OK, "limit": 2, **params})
    cursor: str = response.json()["next_cursor"]
    assert cursor
    return cursor


async def test_tampered_cursor_is_rejected(client: Client) -> None:
    cursor = await _first_cursor(client)
    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    response = await client.get("/api/providers/nearby", params={**OK, "cursor": flipped})
    assert response.status_code == 400
    assert response.json()["detail"] == "cursor is not valid"


@pytest.mark.parametrize(
    "respell",
    [lambda c: c + "=", lambda c: c + "==", lambda c: c[:5] + "!" + c[5:], lambda c: c + "\n"],
    ids=["padded", "padded twice", "a stray character", "a line break"],
)
async def test_a_cursor_spelled_another_way_is_a_400(
    client: Client, respell: Callable[[str], str]
) -> None:
    """base64 reads many spellings of one cursor; each would be a cached page of its own."""
    cursor = await _first_cursor(client)
    response = await client.get("/api/providers/nearby", params={**OK, "cursor": respell(cursor)})
    assert response.status_code == 400, response.text


async def test_a_cursor_with_other_trailing_bits_is_a_400(client: Client) -> None:
    cursor = await _first_cursor(client)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    unused_bits = {2: 4, 3: 2}.get(len(cursor) % 4, 0)  # bits of the last character no byte uses
    if unused_bits == 0:
        pytest.skip("this cursor's length leaves no unused bits")
    last = alphabet.index(cursor[-1])
    respelled = cursor[:-1] + alphabet[last | 1]
    assert respelled != cursor
    response = await client.get("/api/providers/nearby", params={**OK, "cursor": respelled})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [("provider_id", "304"), ("provider_id", 304.0), ("route_order_ids", ["304"])],
)
async def test_an_id_in_a_body_is_a_json_integer_not_a_string_or_a_float(
    client: Client, field: str, value: object
) -> None:
    provider = await sign_up(client, "provider")
    body = {"provider_id": 304, "date": "2030-01-07", "route_order_ids": [304], field: value}
    response = await client.post("/api/routes", json=body, headers=provider.headers)
    assert response.status_code == 400, response.text
    assert response.json()["extra"][0]["key"].startswith(field)
    assert response.json()["extra"][0]["source"] == "body"


async def test_cursor_of_another_search_is_rejected(client: Client) -> None:
    cursor = await _first_cursor(client, radius_km=10)
    response = await client.get(
        "/api/providers/nearby", params={**OK, "radius_km": "20", "cursor": cursor}
    )
    assert response.status_code == 400
    assert "different query" in response.json()["detail"]


VIEWPORT_CASES = [
    ("/api/providers/in-view", {"bbox": "0,50,30,70"}, "spans more than"),
    ("/api/providers/in-view", {"bbox": "1,2,3"}, "four numbers"),
    ("/api/providers/in-view", {"bbox": "a,b,c,d"}, "numbers"),
    ("/api/providers/in-view", {"bbox": "nan,59,18,60"}, "numbers"),
    ("/api/providers/in-view", {"bbox": "1e999,59,18,60"}, "finite"),
    ("/api/providers/in-view", {"bbox": "18,60,19,59"}, "minLat"),
    ("/api/providers/in-view", {"bbox": "18,59,181,60"}, "longitudes"),
    ("/api/providers/in-view", {}, "bbox"),
    ("/api/providers/in-view", {"bbox": "18,59,19,60", "limit": "101"}, "limit"),
    ("/api/providers/clusters", {"bbox": "5,55,25,70"}, "zoom"),
    ("/api/providers/clusters", {"bbox": "5,55,25,70", "zoom": "21"}, "zoom"),
    ("/api/providers/clusters", {"bbox": "5,55,25,70", "zoom": "-1"}, "zoom"),
    ("/api/providers/clusters", {"bbox": "-180,-90,180,90", "zoom": "12"}, "cells"),
    ("/api/providers/clusters", {"bbox": "5,55", "zoom": "3"}, "four numbers"),
]


@pytest.mark.parametrize(("path", "params", "mentions"), VIEWPORT_CASES)
async def test_viewport_endpoints_reject_bad_parameters(
    client: Client, path: str, params: dict[str, str], mentions: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 400, response.text
    assert mentions in response.text


@pytest.mark.parametrize("path", ["/api/providers/abc", "/api/providers/99999999999"])
async def test_unknown_provider_ids_are_404(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404


@pytest.mark.parametrize("provider_id", ["-1", "0", str(2**63), "99999999999999999999"])
async def test_ids_outside_the_bigint_range_are_400(client: Client, provider_id: str) -> None:
    response = await client.get(f"/api/providers/{provider_id}")
    assert response.status_code == 400, response.text
    assert response.json()["extra"][0]["key"] == "provider_id"


DEEP_ARRAY = "[" * 5000 + "]" * 5000
DEEP_FIELD = '{"email": ' + "[" * 5000 + "]" * 5000 + ', "password": "x"}'


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_FIELD], ids=["array", "field"])
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/api/auth/login"), ("POST", "/api/auth/register"), ("POST", "/api/bookings")],
)
async def test_a_body_nested_thousands_deep_is_a_400(
    client: Client, customer: SignedIn, body: str, method: str, path: str
) -> None:
    headers = {**customer.headers, "Content-Type": "application/json"}
    response = await client.request(method, path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert response.json() == {"status_code": 400, "detail": "the JSON body is nested too deeply"}


BAD_UTF8 = b'{"email": "\xff\xfe@example.com", "password": "correct horse \xc3"}'


def _body_operations(app: Litestar) -> list[tuple[str, str]]:
    document = app.openapi_schema.to_schema()
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "requestBody" in operation
    ]


async def test_a_body_not_in_utf8_is_a_400_on_every_endpoint_that_reads_one(
    app: Litestar, client: Client, customer: SignedIn
) -> None:
    """Each endpoint with a body, as a customer and as a provider: whoever may send it gets
    a 400 naming the problem (the other a 401 or 403 before the body is read), never a 500."""
    provider = await sign_up(client, "provider")
    operations = _body_operations(app)
    assert len(operations) >= 13
    for method, path in operations:
        statuses = set()
        for caller in (customer, provider):
            headers = {**caller.headers, "Content-Type": "application/json"}
            response = await client.request(method, path, content=BAD_UTF8, headers=headers)
            statuses.add(response.status_code)
            if response.status_code == 400:
                assert "not UTF-8" in response.json()["detail"], (method, path)
        assert 400 in statuses, (method, path, statuses)
        assert statuses <= {400, 401, 403}, (method, path, statuses)


# One number syntax everywhere, JSON's in ASCII digits: what Python's int() and float()
# would also read (Arabic or full-width digits, `+`, `_`, leading zeros, spaces) or what
# msgspec's lax mode would (`1e2` as an integer) is a 400 naming the parameter.
NUMBER_SYNTAX_CASES = [
    ("/api/providers/nearby", {**OK, "limit": "1e2"}, "query", "limit"),
    ("/api/providers/nearby", {**OK, "limit": "\u0661\u0660"}, "query", "limit"),
    ("/api/providers/nearby", {**OK, "limit": "+10"}, "query", "limit"),
    ("/api/providers/nearby", {**OK, "limit": "010"}, "query", "limit"),
    ("/api/providers/nearby", {**OK, "lat": "\u0665\u0669.3"}, "query", "lat"),
    ("/api/providers/nearby", {**OK, "lat": "\uff15\uff19"}, "query", "lat"),
    ("/api/providers/nearby", {**OK, "radius_km": "1_0"}, "query", "radius_km"),
    ("/api/providers/nearby", {**OK, "radius_km": " 10"}, "query", "radius_km"),
    ("/api/providers/nearby", {**OK, "radius_km": "10."}, "query", "radius_km"),
    ("/api/providers/clusters", {"bbox": "5,55,25,70", "zoom": "1e1"}, "query", "zoom"),
    ("/api/providers/\u0661", {}, "path", "provider_id"),
    ("/api/providers/+1", {}, "path", "provider_id"),
    ("/api/providers/01", {}, "path", "provider_id"),
]


@pytest.mark.parametrize(("path", "params", "source", "key"), NUMBER_SYNTAX_CASES)
async def test_numbers_are_read_in_one_syntax_only(
    client: Client, path: str, params: dict[str, str], source: str, key: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["extra"] == [
        {"message": response.json()["extra"][0]["message"], "key": key, "source": source}
    ]
    assert "written as in JSON" in response.json()["extra"][0]["message"]


@pytest.mark.parametrize(
    "bbox", ["\u0661\u0667,59,18,60", "17,59,18,+60", "17,59,18,6_0", "0x11,59,18,60"]
)
async def test_a_bbox_is_read_in_the_same_syntax(client: Client, bbox: str) -> None:
    response = await client.get("/api/providers/in-view", params={"bbox": bbox})
    assert response.status_code == 400, response.text
    assert "written as in JSON" in response.json()["detail"]


@pytest.mark.parametrize("number", ["-0.5", "59", "59.33", "1.5e1", "6E-1"])
async def test_every_json_number_is_read(client: Client, number: str) -> None:
    response = await client.get("/api/providers/nearby", params={**OK, "radius_km": number})
    assert response.status_code == (400 if number.startswith("-") else 200), response.text


@pytest.mark.parametrize(
    ("path", "query", "key"),
    [
        ("/api/providers/nearby", "lat=59.3&lng=18&lat=10", "lat"),
        ("/api/providers/nearby", "lat=59.3&lng=18&strategy=gist&strategy=bbox", "strategy"),
        ("/api/providers/in-view", "bbox=17,59,18,60&bbox=1,2,3,4", "bbox"),
        ("/api/geocode", "q=Uppsala&q=Lund", "q"),
    ],
)
async def test_a_repeated_parameter_is_a_400(
    client: Client, path: str, query: str, key: str
) -> None:
    response = await client.get(f"{path}?{query}")
    assert response.status_code == 400, response.text
    assert response.json()["detail"] == f"Validation failed for GET {path}"
    assert {"message": "given more than once", "key": key, "source": "query"} in response.json()[
        "extra"
    ]


async def test_an_error_never_echoes_a_long_query_string(client: Client) -> None:
    padding = "a" * 60_000
    response = await client.get(f"/api/providers/nearby?lat=59.3&lng=x&pad={padding}")
    assert response.status_code == 400
    assert len(response.content) < 1000, response.text[:200]
    assert "aaaa" not in response.text


async def test_an_error_clips_the_values_it_echoes(client: Client) -> None:
    unknown = "f" * 5000
    response = await client.post(
        "/api/auth/login", json={"email": "a@b.se", "password": "x", unknown: 1}
    )
    assert response.status_code == 400, response.text
    assert len(response.content) < 1000, response.text[:200]
