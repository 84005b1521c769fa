"""GET /api/geocode: the offline default, validation, and the upstream through the app."""

import logging
from collections.abc import AsyncIterator

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.main import create_app
from app.settings import GeocoderKind, Settings
from geo.geocoding.base import GeocoderPolicy
from tests.support.nominatim_stub import NominatimStub, running_stub
from tests.support.search_cache import flush_redis

Client = AsyncTestClient[Litestar]


async def test_default_geocoder_is_the_offline_gazetteer(client: Client) -> None:
    response = await client.get("/api/geocode", params={"q": "Storgatan 1, 753 20 Uppsala"})
    assert response.status_code == 200
    assert response.json() == {
        "latitude": 59.85882,
        "longitude": 17.63889,
        "display_name": "Uppsala, Sweden",
        "source": "gazetteer",
    }


@pytest.mark.parametrize(("q", "place"), [("goteborg", "Gothenburg"), ("Tromso", "Tromsø")])
async def test_gazetteer_knows_local_and_ascii_spellings(
    client: Client, q: str, place: str
) -> None:
    response = await client.get("/api/geocode", params={"q": q})
    assert response.json()["display_name"].startswith(place)


async def test_no_match_is_404(client: Client) -> None:
    response = await client.get("/api/geocode", params={"q": "Qwxz 12"})
    assert response.status_code == 404


@pytest.mark.parametrize("q", ["", "   ", "\t\n", "x" * 201])
async def test_empty_or_overlong_query_is_400(client: Client, q: str) -> None:
    response = await client.get("/api/geocode", params={"q": q})
    assert response.status_code == 400


async def test_missing_query_is_400(client: Client) -> None:
    assert (await client.get("/api/geocode")).status_code == 400


@pytest.fixture
async def upstream_client(
    settings: Settings,
) -> AsyncIterator[tuple[Client, NominatimStub]]:
    """The app configured for Nominatim, pointed at the local stand-in, with nothing
    cached or scheduled."""
    await flush_redis(settings)
    with running_stub() as stub:
        app = create_app(
            msgspec.structs.replace(
                settings,
                geocoder=GeocoderKind.nominatim,
                nominatim_url=stub.url,
                nominatim_user_agent="equinet-geo-tests/1 (test@example.com)",
                geocoder_policy=GeocoderPolicy(interval_s=1.2, max_wait_s=0.5),
            )
        )
        async with AsyncTestClient(app=app) as test_client:
            yield test_client, stub


async def test_a_cached_answer_does_not_tell_it_was_looked_up_before(
    upstream_client: tuple[Client, NominatimStub],
) -> None:
    client, stub = upstream_client
    first = await client.get("/api/geocode", params={"q": "Drottninggatan 1, Stockholm"})
    second = await client.get("/api/geocode", params={"q": "drottninggatan 1, stockholm"})
    assert first.json() == second.json()
    assert first.json()["source"] == "upstream"
    assert first.json()["latitude"] == 59.3307
    assert len(stub.calls) == 1


async def test_busy_upstream_is_503_with_retry_after(
    upstream_client: tuple[Client, NominatimStub],
) -> None:
    client, _ = upstream_client
    first = await client.get("/api/geocode", params={"q": "Okänd gata 1"})
    second = await client.get("/api/geocode", params={"q": "Okänd gata 2"})
    assert first.status_code == 404
    assert second.status_code == 503
    assert int(second.headers["Retry-After"]) >= 1


async def test_no_address_reaches_the_log(
    upstream_client: tuple[Client, NominatimStub], caplog: pytest.LogCaptureFixture
) -> None:
    client, stub = upstream_client
    with caplog.at_level(logging.DEBUG):
        answer = await client.get("/api/geocode", params={"q": "Drottninggatan 1, Stockholm"})
    assert answer.json()["source"] == "upstream"
    assert len(stub.calls) == 1
    assert caplog.records  # the log was listened to
    logged = "\n".join(record.getMessage() for record in caplog.records).casefold()
    assert "drottninggatan" not in logged
