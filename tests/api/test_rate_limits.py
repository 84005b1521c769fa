"""Every API request is limited per client and globally (map tiles per client by a limit
of their own); login, registration, geocoding and costly searches more tightly per client,
bookings and provider writes per user; with
or without Redis, behind a trusted proxy or not."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.exceptions import TooManyRequestsException
from litestar.testing import AsyncTestClient
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from app.edge.limits import RateLimiter
from app.main import create_app, make_redis
from app.settings import RateLimits, Settings
from tests.support.accounts import sign_up
from tests.support.bookings import days_ahead, open_provider, stockholm
from tests.support.live_server import live_server, settings_environment
from tests.support.ports import closed_port
from tests.support.redis_server import project_redis
from tests.support.search_cache import flush_redis
from tests.support.suite import UNLIMITED

Client = AsyncTestClient[Litestar]
PROFILE = "/api/providers/1"
LOGIN = {"email": "nobody@example.com", "password": "wrong-but-long-enough"}


@asynccontextmanager
async def app_limited_by(
    settings: Settings, redis_url: str, limits: RateLimits
) -> AsyncIterator[Client]:
    """The app with these limits and an empty Redis."""
    await flush_redis(settings)
    app = create_app(msgspec.structs.replace(settings, rate_limits=limits))
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.fixture
async def limited(settings: Settings, redis_url: str) -> AsyncIterator[Client]:
    """The app with the production limits."""
    async with app_limited_by(settings, redis_url, RateLimits()) as client:
        yield client


async def test_the_sixth_login_in_15_minutes_is_429_with_retry_after(limited: Client) -> None:
    statuses = [(await limited.post("/api/auth/login", json=LOGIN)).status_code for _ in range(5)]
    refused = await limited.post("/api/auth/login", json=LOGIN)
    assert statuses == [401] * 5
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 15 * 60
    assert refused.json()["status_code"] == 429


async def test_the_fourth_registration_in_an_hour_is_429(limited: Client) -> None:
    bodies = [
        {"email": f"limit-{n}@example.com", "password": "correct horse battery"} for n in range(4)
    ]
    statuses = [(await limited.post("/api/auth/register", json=b)).status_code for b in bodies]
    assert statuses == [201, 201, 201, 429]


async def test_password_resets_verification_mails_and_exports_have_their_seed_limits(
    settings: Settings, redis_url: str
) -> None:
    """3 reset mails an hour per address; 3 verification mails in 15 minutes, and 20 exports
    an hour, per user."""
    defaults = RateLimits()
    limits = msgspec.structs.replace(
        UNLIMITED,
        password_reset=defaults.password_reset,
        verify_resend=defaults.verify_resend,
        export=defaults.export,
    )
    async with app_limited_by(settings, redis_url, limits) as client:
        resets = [
            (await client.post("/api/auth/password-reset", json={"email": "a@example.com"}))
            for _ in range(4)
        ]
        unverified = await sign_up(client, "customer", verified=False)
        again = [
            await client.post("/api/me/verification", headers=unverified.headers) for _ in range(4)
        ]
        exporter = await sign_up(client, "customer")
        body = {"kind": "bookings", "format": "csv"}
        exports = [
            await client.post("/api/exports", json=body, headers=exporter.headers)
            for _ in range(21)
        ]
    assert [answer.status_code for answer in resets] == [202, 202, 202, 429]
    assert [answer.status_code for answer in again] == [202, 202, 202, 429]
    statuses = [answer.status_code for answer in exports]
    assert 429 not in statuses[:20]  # 409 once 3 are under way: no worker runs here
    assert statuses[20] == 429


async def test_geocoding_allows_30_a_minute(limited: Client) -> None:
    statuses = [
        (await limited.get("/api/geocode", params={"q": "Uppsala"})).status_code for _ in range(31)
    ]
    assert statuses == [200] * 30 + [429]


async def test_the_eleventh_booking_in_an_hour_is_429_for_that_user_only(
    settings: Settings, redis_url: str
) -> None:
    limits = msgspec.structs.replace(UNLIMITED, booking=RateLimits().booking)
    async with app_limited_by(settings, redis_url, limits) as client:
        provider = await open_provider(client, duration_minutes=30)
        eager, patient = [await sign_up(client, "customer") for _ in range(2)]
        starts = [stockholm(days_ahead(7), 8 + n // 2, 30 * (n % 2)) for n in range(12)]
        statuses = [
            (
                await client.post(
                    "/api/bookings", json=provider.booking(start), headers=eager.headers
                )
            ).status_code
            for start in starts[:11]
        ]
        other = await client.post(
            "/api/bookings", json=provider.booking(starts[11]), headers=patient.headers
        )
    assert statuses == [201] * 10 + [429]
    assert other.status_code == 201


async def test_the_eleventh_provider_write_in_a_minute_is_429_for_that_user_only(
    settings: Settings, redis_url: str
) -> None:
    """Profile, service and hours writes share one budget: each can end cached searches."""
    limits = msgspec.structs.replace(UNLIMITED, provider_write=RateLimits().provider_write)
    async with app_limited_by(settings, redis_url, limits) as client:
        busy, other = [await sign_up(client, "provider") for _ in range(2)]
        statuses = []
        for n in range(11):
            body = {"business_name": f"Smedja {n}", "latitude": 59.0, "longitude": 18.0}
            created = await client.post("/api/providers", json=body, headers=busy.headers)
            statuses.append(created.status_code)
        refused = await client.put(
            "/api/providers/1/availability", json={"weekly": []}, headers=busy.headers
        )
        elsewhere = await client.post(
            "/api/providers",
            json={"business_name": "Lugn", "latitude": 59.0, "longitude": 18.0},
            headers=other.headers,
        )
    assert statuses == [201] * 10 + [429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert elsewhere.status_code == 201


async def test_a_search_counts_in_its_cache_lookup_and_a_malformed_one_counts_too(
    settings: Settings, redis_url: str
) -> None:
    """Searches count the API-wide limits in the round trip of their cache lookup; one
    refused for a bad parameter before it got there is counted after its 400."""
    limits = msgspec.structs.replace(UNLIMITED, client="3/minute")
    nearby = "/api/providers/nearby"
    async with app_limited_by(settings, redis_url, limits) as client:
        malformed = [await client.get(nearby, params={"lat": 99, "lng": 18}) for _ in range(2)]
        searches = [await client.get(nearby, params={"lat": 59, "lng": 18}) for _ in range(2)]
    assert [answer.status_code for answer in malformed] == [400, 400]
    assert [answer.status_code for answer in searches] == [200, 429]
    assert searches[1].headers["RateLimit-Limit"] == "3"


async def test_map_tiles_count_against_a_limit_of_their_own_not_the_clients(
    settings: Settings, redis_url: str
) -> None:
    """A map asks for a dozen tiles a view: they have their own limit, and leave the
    client's limit of every other request alone."""
    limits = msgspec.structs.replace(UNLIMITED, client="2/minute", tiles="4/minute")
    async with app_limited_by(settings, redis_url, limits) as client:
        tiles = [await client.get(f"/api/tiles/providers/3/{x}/2.mvt") for x in range(5)]
        again = await client.get("/api/tiles/providers/3/0/2.mvt")  # a cached tile too
        others = [await client.get(PROFILE) for _ in range(3)]
    assert [answer.status_code for answer in tiles] == [200] * 4 + [429]
    assert again.status_code == 429
    assert [answer.status_code for answer in others] == [200, 200, 429]


@pytest.mark.parametrize(("processes", "allowed"), [(1, 5), (2, 2), (8, 1)])
async def test_without_redis_each_process_allows_its_share_of_a_limit(
    settings: Settings, processes: int, allowed: int
) -> None:
    """Login's 5 per 15 minutes: with two processes each allows 2, so together at most 4
    get through however the requests are spread; a limit is never shared down to zero."""
    down = msgspec.structs.replace(
        settings,
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
        rate_limits=RateLimits(),
        processes=processes,
    )
    async with AsyncTestClient(app=create_app(down)) as client:
        statuses = [
            (await client.post("/api/auth/login", json=LOGIN)).status_code for _ in range(6)
        ]
    assert statuses == [401] * allowed + [429] * (6 - allowed)


async def test_the_local_redis_keeps_the_windows_across_a_restart(tmp_path: Path) -> None:
    """A Redis on the project's own configuration, restarted between two logins."""
    login = ("login", "203.0.113.7")
    async with project_redis(tmp_path) as url, Redis.from_url(url) as redis:
        limiter = RateLimiter(redis, RateLimits(login="2/hour"))
        await limiter.hit(login)
        await limiter.hit(login)
    async with project_redis(tmp_path) as url, Redis.from_url(url) as redis:
        limiter = RateLimiter(redis, RateLimits(login="2/hour"))
        with pytest.raises(TooManyRequestsException):
            await limiter.hit(login)


def test_a_malformed_limit_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="fortnight"):
        RateLimits(login="5 per fortnight")


@pytest.fixture
async def empty_redis(settings: Settings) -> None:
    await flush_redis(settings)


def _layered(settings: Settings, **environment: str) -> dict[str, str]:
    return {
        **settings_environment(settings),
        "RATE_LIMIT_CLIENT": "3/minute",
        "RATE_LIMIT_EVERYONE": "5/minute",
        **environment,
    }


async def _statuses(
    url: str, forwarded_for: list[str], path: str = "/api/providers/1"
) -> list[int]:
    async with httpx.AsyncClient(base_url=url) as client:
        return [
            (await client.get(path, headers={"X-Forwarded-For": hop})).status_code
            for hop in forwarded_for
        ]


@pytest.mark.usefixtures("empty_redis")
async def test_behind_a_trusted_proxy_each_client_has_its_limit_under_a_global_ceiling(
    settings: Settings,
) -> None:
    with live_server(_layered(settings, TRUSTED_PROXIES="127.0.0.1/32"), workers=1) as url:
        first = await _statuses(url, ["203.0.113.1"] * 4)
        # A forged hop in front changes nothing: the proxy appended the real address.
        forged = await _statuses(url, ["198.51.100.7, 203.0.113.1"])
        second = await _statuses(url, ["203.0.113.2"] * 3)
        async with httpx.AsyncClient(base_url=url) as client:
            refused = await client.get(
                "/api/providers/1", headers={"X-Forwarded-For": "203.0.113.3"}
            )
            health = await client.get("/health")
    assert first == [200, 200, 200, 429]
    assert forged == [429]
    assert second == [200, 200, 429]  # the global ceiling: 5 got through in all
    assert refused.status_code == 429
    assert refused.headers["RateLimit-Limit"] == "5"
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Policy"] == "5;w=60"
    assert 1 <= int(refused.headers["RateLimit-Reset"]) == int(refused.headers["Retry-After"]) <= 60
    assert health.status_code == 200  # operations are not limited


@pytest.mark.usefixtures("empty_redis")
async def test_behind_a_trusted_proxy_a_peer_outside_it_is_limited_as_itself(
    settings: Settings,
) -> None:
    """127.0.0.2 is not the trusted proxy: each new address it claims to forward for is
    its own request, counted against its own limit."""
    untrusted = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    with live_server(_layered(settings, TRUSTED_PROXIES="127.0.0.1/32"), workers=1) as url:
        async with httpx.AsyncClient(base_url=url, transport=untrusted) as client:
            statuses = [
                (
                    await client.get(
                        "/api/providers/1", headers={"X-Forwarded-For": f"203.0.113.{n}"}
                    )
                ).status_code
                for n in range(4)
            ]
    assert statuses == [200, 200, 200, 429]


@pytest.mark.usefixtures("empty_redis")
async def test_without_trusted_proxies_a_forged_forwarding_header_is_ignored(
    settings: Settings,
) -> None:
    with live_server(_layered(settings), workers=1) as url:
        statuses = await _statuses(url, [f"203.0.113.{n}" for n in range(4)])
    assert statuses == [200, 200, 200, 429]


async def test_rate_limits_can_be_switched_off_for_capacity_runs(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    await flush_redis(settings)
    off = msgspec.structs.replace(settings, rate_limits=RateLimits(), rate_limits_enabled=False)
    with caplog.at_level(logging.WARNING):
        app = create_app(off)
    async with AsyncTestClient(app=app) as client:
        answers = [await client.post("/api/auth/login", json=LOGIN) for _ in range(8)]
    assert {answer.status_code for answer in answers} == {401}
    assert "RATE_LIMITS_ENABLED=false: no request is rate limited" in caplog.messages


def test_a_malformed_trusted_proxy_is_a_configuration_error(settings: Settings) -> None:
    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        msgspec.structs.replace(settings, trusted_proxies="127.0.0.1/32, 10.0.0.300/8")


def _requests_counted(path: str, status: int) -> float:
    value = REGISTRY.get_sample_value(
        "equinet_requests_total",
        {"method": "GET", "path": path, "status_code": str(status), "app_name": "equinet"},
    )
    return value or 0.0


@pytest.mark.parametrize(
    ("path", "template"),
    [
        (PROFILE, "/api/providers/{provider_id}"),
        ("/api/providers/nearby?lat=59.1&lng=18.1", "/api/providers/nearby"),
    ],
)
async def test_a_refused_request_is_counted_as_a_429_not_a_500(
    settings: Settings, redis_url: str, path: str, template: str
) -> None:
    """Whichever layer refuses it (the middleware before the handler, or a search's
    cache lookup): an operator's dashboard must not show a client's flood as server errors."""
    limits = msgspec.structs.replace(UNLIMITED, client="2/minute")
    before = {status: _requests_counted(template, status) for status in (200, 429, 500)}
    async with app_limited_by(settings, redis_url, limits) as client:
        statuses = [(await client.get(path)).status_code for _ in range(5)]
    after = {status: _requests_counted(template, status) for status in (200, 429, 500)}
    assert statuses == [200, 200, 429, 429, 429]
    assert {status: after[status] - before[status] for status in after} == {200: 2, 429: 3, 500: 0}


async def test_a_burst_wider_than_the_limiters_pool_is_counted_in_redis_not_in_process(
    settings: Settings, redis_url: str
) -> None:
    """Hundreds of requests at once wait for the limiter's few connections: none falls
    back to counting in process, which would let a client's own burst past its limit."""
    limits = msgspec.structs.replace(UNLIMITED, client="1000/minute")
    limiter = RateLimiter(make_redis(redis_url, socket_timeout_s=None, max_connections=8), limits)
    fallbacks = REGISTRY.get_sample_value("equinet_rate_limit_local_total") or 0.0
    await asyncio.gather(*(limiter.hit(("client", "burst")) for _ in range(400)))
    assert (REGISTRY.get_sample_value("equinet_rate_limit_local_total") or 0.0) == fallbacks
    async with Redis.from_url(redis_url) as redis:
        assert await redis.llen("ratelimit:client:burst") == 400
        await redis.delete("ratelimit:client:burst")
