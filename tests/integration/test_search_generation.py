"""The search cache's generations against a real Redis, read as the API reads them (in the
rate limits' round trip), and what it says when Redis is down."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from db import search_cache
from db.rate_windows import RedisWindows
from db.replica import wal_position
from db.search_cache import CachedResponse, Depends, Lookup, SearchCache
from geo.cells import Cell
from geo.log_throttle import ThrottledWarning
from tests.support.ports import closed_port

KEY = search_cache.KEY_PREFIX + "test"


UPPSALA, MALMO = (59.8586, 17.6389), (55.605, 13.0038)
UPPSALA_CELLS = frozenset({(59, 17), (59, 18)})
MALMO_CELLS = frozenset({(55, 13)})
ENTRY = CachedResponse(0, "application/json", b"{}", etag='"e"')


@pytest.fixture
async def redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Redis]:
    """A Redis whose generations have never been set, as after a flush."""
    prefix = f"search:generation:{uuid.uuid4()}"
    monkeypatch.setattr(search_cache, "EPOCH_KEY", prefix)
    monkeypatch.setattr(search_cache, "WIDE_KEY", f"{prefix}:wide")
    monkeypatch.setattr(search_cache, "CELL_PREFIX", f"{prefix}:cell:")
    monkeypatch.setattr(search_cache, "WRITTEN_KEY", f"{prefix}:written")
    monkeypatch.setattr(search_cache, "CALENDAR_WIDE_KEY", f"{prefix}:calendars:wide")
    monkeypatch.setattr(search_cache, "CALENDAR_CELL_PREFIX", f"{prefix}:calendars:cell:")
    monkeypatch.setattr(search_cache, "PROVIDER_PREFIX", f"{prefix}:provider:")
    client = Redis.from_url(redis_url)
    yield client
    await client.delete(*await client.keys(f"{prefix}*"), KEY)
    await client.aclose()


async def _get(cache: SearchCache, redis: Redis, cells: frozenset[Cell] | Depends | None) -> Lookup:
    """The lookup of KEY over `cells` (or what else it depends on), read by the script the
    API reads it with."""
    depends = cells if isinstance(cells, Depends) else Depends(cells)
    refusal, values = await RedisWindows(redis).count([], [], cache.reads(KEY, depends))
    assert refusal is None
    return cache.lookup(values)


async def _stored(
    cache: SearchCache, redis: Redis, cells: frozenset[Cell] | Depends | None
) -> CachedResponse:
    """A page cached for a search over `cells`, as the search controller stores one."""
    lookup = await _get(cache, redis, cells)
    assert lookup.generation is not None
    entry = CachedResponse(lookup.generation, "application/json", b"{}", etag='"e"')
    await cache.put(KEY, entry)
    assert (await _get(cache, redis, cells)).hit == entry
    return entry


async def test_the_first_write_after_a_flush_makes_pages_stale(redis: Redis) -> None:
    cache = SearchCache(redis, ttl_s=60)
    assert await _get(cache, redis, UPPSALA_CELLS) == Lookup(None, generation=0, written=-1)
    await _stored(cache, redis, UPPSALA_CELLS)
    await cache.invalidate([UPPSALA])
    assert await _get(cache, redis, UPPSALA_CELLS) == Lookup(None, generation=1, written=-1)


@pytest.mark.parametrize(
    ("cells", "write_at", "stale"),
    [
        (UPPSALA_CELLS, [UPPSALA], True),
        (UPPSALA_CELLS, [MALMO], False),
        (UPPSALA_CELLS, [MALMO, UPPSALA], True),  # a provider that moved from one to the other
        (UPPSALA_CELLS, [(59.0, 18.999)], True),  # the other cell of the search
        (MALMO_CELLS, [UPPSALA], False),
        (None, [MALMO], True),  # a search too wide for cells sees every write
    ],
    ids=["same-cell", "elsewhere", "moved-between", "second-cell", "malmo", "wide"],
)
async def test_a_write_makes_stale_only_the_searches_whose_cells_it_touches(
    redis: Redis,
    cells: frozenset[Cell] | None,
    write_at: list[tuple[float, float]],
    stale: bool,
) -> None:
    cache = SearchCache(redis, ttl_s=60)
    entry = await _stored(cache, redis, cells)
    await cache.invalidate(write_at)
    assert (await _get(cache, redis, cells)).hit == (None if stale else entry)


@pytest.mark.parametrize(
    ("depends", "stale"),
    [
        (Depends(UPPSALA_CELLS, calendars=True), True),
        (Depends(UPPSALA_CELLS), False),  # nearby shows no free time
        (Depends(MALMO_CELLS, calendars=True), False),
        (Depends(None, calendars=True), True),
        (Depends(frozenset(), providers=(7,)), True),  # the provider's own slots
        (Depends(frozenset(), providers=(8,)), False),
    ],
    ids=["free-near-it", "nearby", "free-elsewhere", "free-wide", "its-slots", "others-slots"],
)
async def test_a_calendar_change_makes_stale_only_the_reads_of_free_time_that_see_it(
    redis: Redis, db_session: AsyncSession, depends: Depends, stale: bool
) -> None:
    cache = SearchCache(redis, ttl_s=60)
    entry = await _stored(cache, redis, depends)
    await cache.calendars_changed({7: UPPSALA}, db_session)
    assert (await _get(cache, redis, depends)).hit == (None if stale else entry)


async def test_a_provider_write_makes_its_own_reads_stale(redis: Redis) -> None:
    cache = SearchCache(redis, ttl_s=60)
    slots = Depends(frozenset(), providers=(7,))
    await _stored(cache, redis, slots)
    await cache.invalidate([MALMO], provider_id=7)
    assert (await _get(cache, redis, slots)).hit is None


async def test_reseeding_makes_every_page_stale(redis: Redis) -> None:
    cache = SearchCache(redis, ttl_s=60)
    await _stored(cache, redis, MALMO_CELLS)
    await cache.invalidate_all()
    assert (await _get(cache, redis, MALMO_CELLS)).hit is None
    await _stored(cache, redis, None)
    await cache.invalidate_all()
    assert (await _get(cache, redis, None)).hit is None


async def test_redis_down_is_a_miss_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    address = f"127.0.0.1:{closed_port()}"
    down = Redis.from_url(f"redis://{address}/0")
    cache = SearchCache(down, ttl_s=60)
    caplog.set_level(logging.WARNING, logger=search_cache.logger.name)

    monkeypatch.setattr(search_cache, "_warn", ThrottledWarning(search_cache.logger))
    assert cache.lookup(None) == Lookup(hit=None, generation=None)
    await cache.put(KEY, CachedResponse(0, "text/plain", b"", etag='"e"'))
    await cache.invalidate([MALMO])
    await down.aclose()

    said = [(r.levelno, r.getMessage().partition(": ")[0]) for r in caplog.records]
    assert said == [
        (logging.WARNING, "search cache unavailable"),
        (logging.ERROR, "could not invalidate cached searches"),
    ]
    assert all(address in r.getMessage().partition(": ")[2] for r in caplog.records)


async def test_with_a_replica_a_write_records_its_position_and_the_newest_one_stays(
    redis: Redis, db_session: AsyncSession
) -> None:
    cache = SearchCache(redis, ttl_s=60, records_positions=True)
    before = await wal_position(db_session)
    await cache.invalidate([UPPSALA], db_session)
    recorded = (await _get(cache, redis, UPPSALA_CELLS)).written
    assert recorded is not None
    assert before <= recorded <= await wal_position(db_session)

    newer = recorded + 10**12  # recorded meanwhile by another process's later write
    await redis.set(search_cache.WRITTEN_KEY, newer)
    await cache.invalidate([MALMO], db_session)
    assert await cache.written_at() == newer
    assert (await _get(cache, redis, MALMO_CELLS)).generation == 1


async def test_without_a_replica_no_position_is_recorded(
    redis: Redis, db_session: AsyncSession
) -> None:
    cache = SearchCache(redis, ttl_s=60)
    await cache.invalidate([UPPSALA], db_session)
    await cache.wrote(db_session)
    assert await cache.written_at() == -1


async def test_a_rendered_answer_goes_ahead_of_the_next_lookup_in_its_round_trip(
    redis: Redis,
) -> None:
    cache = SearchCache(redis, ttl_s=60)
    generation = (await _get(cache, redis, MALMO_CELLS)).generation
    assert generation is not None
    entry = CachedResponse(generation, "application/json", b"{}", etag='"e"')
    cache.keep(KEY, entry)
    assert not await redis.exists(KEY)  # not a round trip of its own
    _, values = await RedisWindows(redis).count(
        [], [], cache.reads(KEY, Depends(MALMO_CELLS)), sending=cache.unsent()
    )
    assert cache.lookup(values).hit == entry
    assert 50 <= await redis.ttl(KEY) <= 60
    assert cache.unsent() == []


async def test_a_rendered_answer_no_lookup_takes_is_stored_within_a_moment(redis: Redis) -> None:
    cache = SearchCache(redis, ttl_s=60)
    cache.keep(KEY, ENTRY)
    await asyncio.sleep(search_cache.STORE_WITHIN_S * 3)
    assert (await _get(cache, redis, None)).hit == ENTRY
