"""The search cache: keyed by every query parameter, a hit is a hit, and never stale."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from redis.asyncio import Redis
from sqlalchemy import Engine, Pool, event, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.edge import answers as search_answers
from app.edge import compression
from app.edge import limits as rate_limits
from app.edge.compression import Accepted
from app.main import create_app
from app.settings import SearchLimits, Settings
from db.engine import ReadPool
from db.search_cache import EPOCH_KEY, CachedResponse
from geo.log_throttle import ThrottledWarning
from tests.support.accounts import SignedIn, sign_up
from tests.support.ports import closed_port
from tests.support.search_cache import cached_answers, cached_pages

Client = AsyncTestClient[Litestar]
NEARBY = "/api/providers/nearby"
IN_VIEW = "/api/providers/in-view"
# A patch of the Gulf of Bothnia where no seeded provider lives: only the tests' own show.
SPOT = {"lat": 62.7, "lng": 20.3}

# Each cached endpoint's parameters: a base query, and for every parameter a value that
# differs from the base (a callable takes the base's answer, for cursors).
BASES: dict[str, dict[str, Any]] = {
    NEARBY: {"lat": 59.3311, "lng": 18.0601, "limit": 3},
    IN_VIEW: {"bbox": "17.91,59.21,18.21,59.41"},
    "/api/providers/clusters": {"bbox": "4.5,54.5,31.5,70.5", "zoom": 4},
}
VARIANTS: dict[str, dict[str, Any]] = {
    NEARBY: {
        "lat": 59.3312,
        "lng": 18.0602,
        "radius_km": 30,
        "limit": 4,
        "category": "vet",
        "cursor": lambda base: base["next_cursor"],
        "strategy": "bbox",
        "format": "geojson",
    },
    "/api/providers/in-view": {
        "bbox": "17.91,59.21,18.21,59.42",
        "limit": 7,
        "category": "vet",
        "format": "geojson",
    },
    "/api/providers/clusters": {
        "bbox": "4.5,54.5,20.5,70.5",
        "zoom": 5,
        "category": "vet",
    },
}
# What a nearby cursor belongs to, and what may change from one page to the next.
NEARBY_FILTERS: dict[str, Any] = {
    "lat": 59.3312,
    "lng": 18.0602,
    "radius_km": 30,
    "category": "vet",
}
NEARBY_PAGE_FIELDS: dict[str, Any] = {"limit": 4, "strategy": "bbox", "format": "geojson"}


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def cache_redis(redis_cache_url: str) -> AsyncIterator[Redis]:
    """The cache Redis, which holds the answers (the state Redis holds the generations)."""
    client = Redis.from_url(redis_cache_url)
    yield client
    await client.aclose()


def query_parameters(app: Litestar, path: str) -> set[str]:
    """The query parameters the OpenAPI document gives the GET of `path`."""
    operation = app.openapi_schema.to_schema()["paths"][path]["get"]
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


@pytest.mark.parametrize("path", sorted(BASES))
async def test_every_query_parameter_of_a_cached_search_is_part_of_its_key(
    client: Client, app: Litestar, cache_redis: Redis, path: str
) -> None:
    assert query_parameters(app, path) == set(VARIANTS[path]), "give each parameter a variant"
    base = await client.get(path, params=BASES[path])
    assert base.status_code == 200, base.text
    for name, variant in VARIANTS[path].items():
        value = variant(base.json()) if callable(variant) else variant
        before = await cached_pages(cache_redis)
        response = await client.get(path, params={**BASES[path], name: value})
        assert response.status_code == 200, (name, response.text)
        assert response.content != base.content, name
        assert await cached_pages(cache_redis) == before + 1, f"{name} is not part of the key"
    before = await cached_pages(cache_redis)
    again = await client.get(path, params=BASES[path])
    assert (again.content, await cached_pages(cache_redis)) == (base.content, before)


def test_nearby_parameters_are_either_filters_or_page_fields(app: Litestar) -> None:
    assert query_parameters(app, NEARBY) == {*NEARBY_FILTERS, *NEARBY_PAGE_FIELDS, "cursor"}


async def test_a_nearby_cursor_belongs_to_its_filters_and_outlives_page_fields(
    client: Client,
) -> None:
    base = BASES[NEARBY]
    cursor = (await client.get(NEARBY, params=base)).json()["next_cursor"]
    for name, value in NEARBY_FILTERS.items():
        response = await client.get(NEARBY, params={**base, name: value, "cursor": cursor})
        assert response.status_code == 400, name
        assert "different query" in response.json()["detail"]
    for name, value in NEARBY_PAGE_FIELDS.items():
        response = await client.get(NEARBY, params={**base, name: value, "cursor": cursor})
        assert response.status_code == 200, (name, response.text)


async def _names_near_spot(client: Client, **params: Any) -> list[str]:
    response = await client.get(NEARBY, params={**SPOT, "radius_km": 20, **params})
    assert response.status_code == 200, response.text
    return [item["business_name"] for item in response.json()["items"]]


async def test_a_repeated_search_is_answered_from_the_cache_until_the_generation_moves(
    client: Client, engine: AsyncEngine, redis: Redis
) -> None:
    owner = await sign_up(client, "provider")
    created = await client.post(
        "/api/providers",
        json={"business_name": "Före", "latitude": SPOT["lat"], "longitude": SPOT["lng"]},
        headers=owner.headers,
    )
    assert created.status_code == 201
    assert "Före" in await _names_near_spot(client)
    # Behind the API's back, so nothing tells the cache.
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE providers SET business_name = 'Efter' WHERE id = :id"),
            {"id": created.json()["id"]},
        )
    assert "Före" in await _names_near_spot(client)
    await redis.incr(EPOCH_KEY)
    assert "Efter" in await _names_near_spot(client)


async def test_cached_searches_live_for_the_server_ttl_and_tell_clients_max_age(
    settings: Settings, cache_redis: Redis
) -> None:
    limits = SearchLimits(cache_max_age_s=17, server_cache_ttl_s=123)
    app = create_app(msgspec.structs.replace(settings, search=limits))
    async with AsyncTestClient(app=app) as client:
        before = await cached_answers(cache_redis)
        response = await client.get(NEARBY, params={"lat": 59.3313, "lng": 18.0603})
        [key] = await cached_answers(cache_redis) - before
        assert response.headers["cache-control"] == "public, max-age=17"
        assert 113 <= await cache_redis.ttl(key) <= 123
        hit = await client.get(NEARBY, params={"lat": 59.3313, "lng": 18.0603})
        assert hit.headers["cache-control"] == "public, max-age=17"


# Provider writes, each with the search around SPOT whose answer it must change.
Write = Callable[[Client, SignedIn, dict[str, Any]], Awaitable[Any]]


async def _patch(client: Client, owner: SignedIn, path: str, body: dict[str, Any]) -> None:
    response = await client.patch(path, json=body, headers=owner.headers)
    assert response.status_code == 200, response.text


async def _delete(client: Client, owner: SignedIn, path: str) -> None:
    response = await client.delete(path, headers=owner.headers)
    assert response.status_code == 204, response.text


WRITES: dict[str, tuple[dict[str, Any], Write]] = {
    "rename": (
        {},
        lambda c, o, p: _patch(c, o, f"/api/providers/{p['id']}", {"business_name": "Omdöpt"}),
    ),
    "move away": (
        {},
        lambda c, o, p: _patch(
            c, o, f"/api/providers/{p['id']}", {"latitude": 65.0, "longitude": 22.0}
        ),
    ),
    "deactivate": ({}, lambda c, o, p: _delete(c, o, f"/api/providers/{p['id']}")),
    "add a service": (
        {"category": "dentist"},
        lambda c, o, p: c.post(
            f"/api/providers/{p['id']}/services",
            json={"name": "Tänder", "category": "dentist", "duration_minutes": 30, "price": "1"},
            headers=o.headers,
        ),
    ),
    "change a service's category": (
        {"category": "farrier"},
        lambda c, o, p: _patch(
            c, o, f"/api/providers/{p['id']}/services/{p['service_id']}", {"category": "vet"}
        ),
    ),
    "deactivate a service": (
        {"category": "farrier"},
        lambda c, o, p: _delete(c, o, f"/api/providers/{p['id']}/services/{p['service_id']}"),
    ),
}


@pytest.mark.parametrize("write", sorted(WRITES))
async def test_every_kind_of_provider_write_ends_the_cached_searches_it_changes(
    client: Client, write: str
) -> None:
    params, change = WRITES[write]
    owner = await sign_up(client, "provider")
    created = await client.post(
        "/api/providers",
        json={"business_name": f"Cache {write}", "latitude": SPOT["lat"], "longitude": 20.31},
        headers=owner.headers,
    )
    provider = created.json()
    service = await client.post(
        f"/api/providers/{provider['id']}/services",
        json={"name": "Skoning", "category": "farrier", "duration_minutes": 60, "price": "900"},
        headers=owner.headers,
    )
    provider["service_id"] = service.json()["id"]
    before = await _names_near_spot(client, **params)
    assert before == await _names_near_spot(client, **params)  # cached now
    await change(client, owner, provider)
    assert await _names_near_spot(client, **params) != before


async def _provider_at(client: Client, owner: SignedIn, name: str, lat: float, lng: float) -> int:
    created = await client.post(
        "/api/providers",
        json={"business_name": name, "latitude": lat, "longitude": lng},
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    provider_id: int = created.json()["id"]
    return provider_id


async def test_a_provider_moving_in_ends_the_cached_searches_where_it_arrives(
    client: Client,
) -> None:
    owner = await sign_up(client, "provider")
    provider_id = await _provider_at(client, owner, "Inflyttad", 66.5, 25.7)
    before = await _names_near_spot(client)
    assert before == await _names_near_spot(client)  # cached now
    await _patch(
        client,
        owner,
        f"/api/providers/{provider_id}",
        {"latitude": SPOT["lat"], "longitude": 20.32},
    )
    assert "Inflyttad" in await _names_near_spot(client)


async def test_a_write_elsewhere_keeps_the_cached_searches_here(
    client: Client, engine: AsyncEngine
) -> None:
    owner = await sign_up(client, "provider")
    here = await _provider_at(client, owner, "Här", SPOT["lat"], 20.33)
    far = await _provider_at(client, owner, "Långt bort", 55.6, 13.0)  # Malmö
    assert "Här" in await _names_near_spot(client)
    async with engine.begin() as connection:  # behind the API's back: only a bump would show it
        await connection.execute(
            text("UPDATE providers SET business_name = 'Ändrad' WHERE id = :id"), {"id": here}
        )
    await _patch(client, owner, f"/api/providers/{far}", {"business_name": "Fortfarande långt"})
    assert "Här" in await _names_near_spot(client)  # still the cached page


@pytest.mark.parametrize("path", sorted(BASES))
async def test_a_search_the_client_has_already_is_a_304_without_a_body(
    client: Client, path: str
) -> None:
    first = await client.get(path, params=BASES[path])
    etag = first.headers["etag"]
    again = await client.get(path, params=BASES[path], headers={"If-None-Match": f'"x", {etag}'})
    other = await client.get(path, params=BASES[path], headers={"If-None-Match": '"stale"'})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert again.headers["cache-control"] == first.headers["cache-control"]
    assert other.status_code == 200
    assert other.content == first.content


@pytest.mark.parametrize(
    "if_none_match",
    ["W/{etag}", '"x",W/{etag}', '"a,b", {etag}', "*", ' "x" , {etag} '],
    ids=["weak", "weak in a list", "a tag with a comma first", "any", "spaced"],
)
async def test_if_none_match_is_read_as_rfc_9110_says(client: Client, if_none_match: str) -> None:
    """The weak comparison (W/ aside), lists of tags, and `*` all name the answer held."""
    first = await client.get(IN_VIEW, params=BASES[IN_VIEW])
    header = if_none_match.format(etag=first.headers["etag"])
    again = await client.get(IN_VIEW, params=BASES[IN_VIEW], headers={"If-None-Match": header})
    assert again.status_code == 304, header


@pytest.mark.parametrize("if_none_match", ["{etag}x", "{etag_unquoted}", '"x" {etag}'])
async def test_a_tag_that_is_not_the_answers_or_not_a_tag_is_a_200(
    client: Client, if_none_match: str
) -> None:
    first = await client.get(IN_VIEW, params=BASES[IN_VIEW])
    etag = first.headers["etag"]
    header = if_none_match.format(etag=etag, etag_unquoted=etag.strip('"'))
    again = await client.get(IN_VIEW, params=BASES[IN_VIEW], headers={"If-None-Match": header})
    assert again.status_code == 200, header


async def test_each_encoding_of_an_answer_has_its_own_etag(client: Client) -> None:
    """A cache that holds the brotli body must not be told it holds the gzip one."""
    answers = {
        accepted: await client.get(
            IN_VIEW, params=BASES[IN_VIEW], headers={"Accept-Encoding": accepted}
        )
        for accepted in ("br", "gzip", "identity")
    }
    etags = {accepted: answer.headers["etag"] for accepted, answer in answers.items()}
    assert len(set(etags.values())) == 3
    held_br = await client.get(
        IN_VIEW,
        params=BASES[IN_VIEW],
        headers={"Accept-Encoding": "gzip", "If-None-Match": etags["br"]},
    )
    assert held_br.status_code == 200
    assert held_br.headers["content-encoding"] == "gzip"


@pytest.mark.parametrize(
    ("accepted", "encoding"),
    [
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0.8, br;q=0.5", "gzip"),
        ("*", "br"),
        ("gzip, *;q=0.9", "gzip"),
        ("*;q=0", None),
        ("BR", "br"),
        ("br;q=2, gzip", "gzip"),
        ("identity", None),
    ],
)
async def test_accept_encoding_is_weighed_by_its_q_values(
    client: Client, accepted: str, encoding: str | None
) -> None:
    answer = await client.get(IN_VIEW, params=BASES[IN_VIEW], headers={"Accept-Encoding": accepted})
    assert answer.headers.get("content-encoding") == encoding


async def test_large_answers_are_brotli_compressed_for_clients_that_take_it(
    client: Client,
) -> None:
    params: dict[str, str | int] = {"bbox": "17.5,59.0,18.5,59.6", "limit": 100}
    brotli = await client.get(
        "/api/providers/in-view", params=params, headers={"Accept-Encoding": "br, gzip"}
    )
    gzip = await client.get(
        "/api/providers/in-view", params=params, headers={"Accept-Encoding": "gzip"}
    )
    assert brotli.headers["content-encoding"] == "br"
    assert gzip.headers["content-encoding"] == "gzip"
    assert brotli.json() == gzip.json()


@contextmanager
def counting(target: Any, name: str) -> Iterator[list[object]]:
    """Every `name` event of every `target` (a class: all pools, all engines) while open."""
    seen: list[object] = []

    def count(*args: Any) -> None:
        seen.append(args)

    event.listen(target, name, count)
    try:
        yield seen
    finally:
        event.remove(target, name, count)


@contextmanager
def counting_read_pool_connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every connection taken from a ReadPool (db.engine) while open."""
    seen: list[object] = []
    taken = ReadPool.connection

    def connection(pool: ReadPool) -> AbstractAsyncContextManager[Any]:
        seen.append(pool)
        return taken(pool)

    with monkeypatch.context() as patch:
        patch.setattr(ReadPool, "connection", connection)
        yield seen


@pytest.mark.parametrize("path", list(BASES))
async def test_a_cache_hit_takes_no_database_connection(
    client: Client, redis: Redis, settings: Settings, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await redis.incr(EPOCH_KEY)  # whatever earlier tests cached is stale now
    params = BASES[path]
    with (
        counting(Pool, "checkout") as checkouts,
        counting_read_pool_connections(monkeypatch) as read_pool_connections,
        counting(Engine, "before_execute") as runs,
    ):
        miss = await client.get(path, params=params)
    assert miss.status_code == 200
    if not settings.database_replica_url:  # which asks the replica how far it is, at times
        assert len(checkouts) + len(read_pool_connections) == 1
        # Clusters send their settings first, through the ORM, as every search does behind
        # PgBouncer; otherwise index-ordered searches find them on the connection and hand
        # their statement to the driver (the wire test counts it).
        settings_first = path.endswith("clusters") or settings.db_transaction_pooler
        assert len(runs) == (2 if settings_first else 0)
    with (
        counting(Pool, "checkout") as checkouts,
        counting_read_pool_connections(monkeypatch) as read_pool_connections,
        counting(Engine, "before_execute") as runs,
    ):
        hit = await client.get(path, params=params)
    assert hit.content == miss.content
    assert checkouts == read_pool_connections == runs == []


@pytest.mark.parametrize("path", list(BASES))
async def test_server_timing_tells_a_rendered_answer_from_a_cached_one(
    client: Client, redis: Redis, path: str
) -> None:
    await redis.incr(EPOCH_KEY)
    miss = await client.get(path, params=BASES[path])
    hit = await client.get(path, params=BASES[path])
    duration = miss.headers["Server-Timing"].removeprefix("search;dur=")
    assert float(duration) > 0
    assert hit.headers["Server-Timing"] == 'cache;desc="hit"'


async def test_a_hit_sends_the_body_compressed_for_the_first_client_as_stored(
    client: Client, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Compression happens once per entry and encoding the entry was not stored in."""
    calls: list[str | None] = []

    def counted(body: bytes, accepted: Accepted) -> tuple[bytes, str | None]:
        calls.append(accepted.encoding)
        return compression.compressed(body, accepted)

    monkeypatch.setattr(search_answers, "compressed", counted)
    await redis.incr(EPOCH_KEY)
    params: dict[str, str | int] = {"bbox": "17.5,59.0,18.5,59.6", "limit": 100}
    path = "/api/providers/in-view"
    answers = [
        await client.get(path, params=params, headers={"Accept-Encoding": accepted})
        for accepted in ("br", "br", "gzip", "identity")
    ]
    assert calls == ["br", "gzip"]  # the miss, then the one gzip client
    assert [a.headers.get("content-encoding") for a in answers] == ["br", "br", "gzip", None]
    assert {a.headers["vary"] for a in answers} == {"Accept-Encoding"}
    etags = [a.headers["etag"] for a in answers]
    assert etags[0] == etags[1] == etags[3][:-1] + '-br"'
    assert etags[2] == etags[3][:-1] + '-gzip"'
    assert answers[0].json() == answers[1].json() == answers[2].json() == answers[3].json()


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The query strings of the search requests that reach their handlers."""
    queries: list[str] = []
    answer = search_answers.Answers.answer

    async def counted(self: search_answers.Answers, scope: Any, *args: Any) -> Any:
        queries.append(scope["query_string"].decode())
        return await answer(self, scope, *args)

    monkeypatch.setattr(search_answers.Answers, "answer", counted)
    return queries


@pytest.mark.parametrize("path", list(BASES))
async def test_a_repeated_request_is_answered_before_its_handler_as_the_handler_would(
    client: Client, redis: Redis, handled: list[str], path: str
) -> None:
    """The first asking of a search goes through its handler; the same request again is
    answered from the cache before routing, with the same headers (but Server-Timing); the
    same search spelled differently goes through the handler again (and hits the cache
    there)."""
    await redis.incr(EPOCH_KEY)
    query = str(httpx.QueryParams(BASES[path]))
    respelled = query + "&"
    first, again, other = [
        await client.get(f"{path}?{q}", headers={"Accept-Encoding": "gzip"})
        for q in (query, query, respelled)
    ]
    assert handled == [query, respelled]
    assert first.content == again.content == other.content
    assert _alike(first.headers) == _alike(again.headers)
    not_modified = await client.get(
        f"{path}?{query}",
        headers={"If-None-Match": first.headers["etag"], "Accept-Encoding": "gzip"},
    )
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    assert handled == [query, respelled]


async def test_a_padded_query_is_not_remembered(client: Client, handled: list[str]) -> None:
    """What a process remembers is bounded in number and in size."""
    padded = str(httpx.QueryParams(BASES[NEARBY])) + "&" * search_answers.REMEMBERED_QUERY_MAX_BYTES
    answers = [await client.get(f"{NEARBY}?{padded}") for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200]
    assert handled == [padded, padded]


def _alike(headers: httpx.Headers) -> dict[str, str]:
    """The headers two answers to one request share: not the request's id, nor
    Server-Timing, which says whether the cache answered."""
    return {
        name: value
        for name, value in headers.items()
        if name not in {"x-request-id", "server-timing"}
    }


async def test_without_redis_searches_are_answered_from_the_database_and_it_is_logged(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lookup reads nothing, every request renders (the repeat too), and the limiter
    says why, with the address it could not reach (through the app's logging queue, hence
    the pause)."""
    address = f"127.0.0.1:{closed_port()}"
    down = msgspec.structs.replace(settings, redis_url=f"redis://{address}/0")
    monkeypatch.setattr(rate_limits, "_warn", ThrottledWarning(rate_limits.logger))
    async with AsyncTestClient(app=create_app(down)) as client:
        answers = [await client.get(NEARBY, params=BASES[NEARBY]) for _ in range(2)]
    await asyncio.sleep(0.2)
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()
    assert answers[0].json()["items"]
    logged = capsys.readouterr().err
    assert "limits counted in process, nothing read" in logged
    assert address in logged


async def test_an_entry_keeps_the_answer_only_as_its_first_client_took_it(
    client: Client, cache_redis: Redis
) -> None:
    before = await cached_answers(cache_redis)
    params: dict[str, str | int] = {"bbox": "17.6,59.1,18.4,59.5", "limit": 99}  # its own
    answer = await client.get("/api/providers/in-view", params=params)
    [key] = await cached_answers(cache_redis) - before
    stored = await cache_redis.get(key)
    assert isinstance(stored, bytes)
    entry = msgspec.msgpack.decode(stored, type=CachedResponse)
    assert (entry.encoding, entry.length) == ("br", len(answer.content))
    assert len(stored) < len(answer.content) / 3
