"""The geocoder chain against a real Redis, the real gazetteer and a local Nominatim stand-in."""

import asyncio
import itertools
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import make_redis
from db.databases import ROOT
from db.geocoding import GazetteerGeocoder
from geo.geocoding.base import (
    GeocoderBusyError,
    GeocoderPolicy,
    GeocoderUnavailableError,
    Place,
    Source,
    UpstreamThrottledError,
    normalize_query,
    query_digest,
)
from geo.geocoding.chain import LIMITER_KEY, GeocoderChain
from geo.geocoding.limiter import UpstreamLimiter
from geo.geocoding.nominatim import NominatimGeocoder
from geo.geocoding.single_flight import RedisSingleFlight
from tests.support.nominatim_stub import NominatimStub, running_stub

USER_AGENT = "equinet-geo-tests/1 (test@example.com)"
FAST = GeocoderPolicy(interval_s=0.05, max_wait_s=5)
STOCKHOLM_STREET = "Drottninggatan 1, Stockholm"


@pytest.fixture
def stub() -> Iterator[NominatimStub]:
    with running_stub() as stub:
        yield stub


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def nominatim(stub: NominatimStub, http: httpx.AsyncClient) -> NominatimGeocoder:
    return NominatimGeocoder(
        http, stub.url, USER_AGENT, countrycodes="se,no", accept_language="sv,en"
    )


@pytest.fixture
def gazetteer(engine: AsyncEngine) -> GazetteerGeocoder:
    return GazetteerGeocoder(engine)


def chain(
    redis: Redis,
    gazetteer: GazetteerGeocoder,
    nominatim: NominatimGeocoder,
    policy: GeocoderPolicy = FAST,
) -> GeocoderChain:
    return GeocoderChain(redis, gazetteer, nominatim, policy)


# The Nominatim client


async def test_nominatim_client_speaks_the_search_api(
    nominatim: NominatimGeocoder, stub: NominatimStub
) -> None:
    place = await nominatim.geocode("drottninggatan 1, stockholm")
    assert place is not None
    assert (place.latitude, place.longitude) == (59.3307, 18.0637)
    assert place.display_name.startswith("Drottninggatan 1")
    [call] = stub.calls
    assert call.params == {
        "q": "drottninggatan 1, stockholm",
        "format": "jsonv2",
        "limit": "1",
        "addressdetails": "0",
        "countrycodes": "se,no",
        "accept-language": "sv,en",
    }
    assert call.user_agent == USER_AGENT


async def test_nominatim_client_sends_only_the_options_it_was_given(
    stub: NominatimStub, http: httpx.AsyncClient
) -> None:
    plain = NominatimGeocoder(http, stub.url + "/", USER_AGENT)
    assert await plain.geocode("drottninggatan 1, stockholm") is not None
    [call] = stub.calls
    assert set(call.params) == {"q", "format", "limit", "addressdetails"}


async def test_nominatim_empty_answer_is_no_match(nominatim: NominatimGeocoder) -> None:
    assert await nominatim.geocode("nowhere at all") is None


@pytest.mark.parametrize(
    ("retry_after", "back_off_s"),
    [("2", 2), ("0", 1), ("soon", 60), (None, 60)],
    ids=["as asked", "at least a second", "unreadable", "unsaid"],
)
async def test_nominatim_429_says_how_long_to_back_off(
    nominatim: NominatimGeocoder, stub: NominatimStub, retry_after: str | None, back_off_s: float
) -> None:
    stub.status = 429
    stub.retry_after = retry_after
    with pytest.raises(UpstreamThrottledError) as raised:
        await nominatim.geocode("drottninggatan 1, stockholm")
    assert raised.value.retry_after_s == back_off_s


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_nominatim_server_errors_are_unavailable(
    nominatim: NominatimGeocoder, stub: NominatimStub, status: int
) -> None:
    stub.status = status
    with pytest.raises(GeocoderUnavailableError):
        await nominatim.geocode("drottninggatan 1, stockholm")


async def test_nominatim_unreachable_is_unavailable(http: httpx.AsyncClient) -> None:
    geocoder = NominatimGeocoder(http, "http://127.0.0.1:9", USER_AGENT)
    with pytest.raises(GeocoderUnavailableError) as raised:
        await geocoder.geocode("anything")
    assert str(raised.value) == "nominatim: ConnectError"


# Cache


async def test_second_identical_query_comes_from_the_cache(
    redis: Redis, gazetteer: GazetteerGeocoder, nominatim: NominatimGeocoder, stub: NominatimStub
) -> None:
    geocoder = chain(redis, gazetteer, nominatim)
    first = await geocoder.geocode(STOCKHOLM_STREET)
    second = await geocoder.geocode("  drottninggatan   1, STOCKHOLM ")
    assert first is not None
    assert second is not None
    assert (first.source, second.source) == (Source.upstream, Source.cache)
    assert first.place == second.place
    assert len(stub.calls) == 1


async def test_cache_keys_are_digests_and_hits_live_30_days(
    redis: Redis, gazetteer: GazetteerGeocoder, nominatim: NominatimGeocoder
) -> None:
    await chain(redis, gazetteer, nominatim).geocode(STOCKHOLM_STREET)
    keys = [k.decode() if isinstance(k, bytes) else k for k in await redis.keys("*")]
    key = f"geocode:{query_digest(normalize_query(STOCKHOLM_STREET))}"
    assert key in keys
    assert not any("drottninggatan" in k.casefold() for k in keys)
    assert 30 * 86400 - 5 <= await redis.ttl(key) <= 30 * 86400


async def test_unknown_places_are_cached_for_an_hour(
    redis: Redis, gazetteer: GazetteerGeocoder, nominatim: NominatimGeocoder, stub: NominatimStub
) -> None:
    geocoder = chain(redis, gazetteer, nominatim)
    assert await geocoder.geocode("Ingenstansvägen 99") is None
    assert await geocoder.geocode("ingenstansvägen 99") is None
    assert len(stub.calls) == 1
    key = f"geocode:{query_digest('ingenstansvägen 99')}"
    assert 3600 - 5 <= await redis.ttl(key) <= 3600


async def test_failing_upstream_falls_back_to_the_gazetteer_and_says_why(
    redis: Redis,
    gazetteer: GazetteerGeocoder,
    nominatim: NominatimGeocoder,
    stub: NominatimStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub.status = 503
    with caplog.at_level(logging.WARNING, logger="geo.geocoding.chain"):
        answer = await chain(redis, gazetteer, nominatim).geocode("Storgatan 1, Uppsala")
    assert answer is not None
    assert answer.source is Source.gazetteer
    assert answer.place.display_name == "Uppsala, Sweden"
    assert caplog.messages == ["upstream geocoder failed: nominatim answered 503"]


async def test_failing_upstream_without_offline_match_is_unavailable(
    redis: Redis, gazetteer: GazetteerGeocoder, nominatim: NominatimGeocoder, stub: NominatimStub
) -> None:
    stub.status = 500
    with pytest.raises(GeocoderUnavailableError) as raised:
        await chain(redis, gazetteer, nominatim).geocode("Qwxz 12")
    assert str(raised.value) == "the upstream geocoder failed; no offline match"  # the 503's detail


@pytest.mark.parametrize(
    "answer",
    [
        (math.nan, 17.6389, "Storgatan 1, Uppsala"),
        (59.8586, math.inf, "Storgatan 1, Uppsala"),
        (999.0, 17.6389, "Storgatan 1, Uppsala"),
        (59.8586, -180.5, "Storgatan 1, Uppsala"),
        (59.8586, 17.6389, ""),
        (59.8586, 17.6389, "Storgatan " * 500_000),
    ],
    ids=["nan", "inf", "lat-999", "lng-out", "no-name", "5mb-name"],
)
async def test_an_unusable_upstream_answer_is_a_failure_and_never_cached(
    redis: Redis,
    gazetteer: GazetteerGeocoder,
    nominatim: NominatimGeocoder,
    stub: NominatimStub,
    caplog: pytest.LogCaptureFixture,
    answer: tuple[float, float, str],
) -> None:
    stub.places["storgatan 1, uppsala"] = answer
    policy = GeocoderPolicy(interval_s=0.05, max_wait_s=5, failure_ttl_s=30)
    with caplog.at_level(logging.WARNING, logger="geo.geocoding.chain"):
        found = await chain(redis, gazetteer, nominatim, policy).geocode("Storgatan 1, Uppsala")
    assert found is not None
    assert found.source is Source.gazetteer  # Uppsala's centre, from the offline fallback
    assert math.isfinite(found.place.latitude)
    key = f"geocode:{query_digest('storgatan 1, uppsala')}"
    assert 0 < await redis.pttl(key) <= 30_000  # only the failure, for its short TTL
    [warning] = caplog.messages
    assert warning.startswith("upstream geocoder failed: nominatim sent")
    assert len(warning) < 200


async def test_gazetteer_ignores_street_names_that_only_resemble_a_town(
    gazetteer: GazetteerGeocoder,
) -> None:
    """ "storgatan" is as near to Storuman (0.36) as pg_trgm's default threshold lets through."""
    assert await gazetteer.geocode("Storgatan 5") is None
    assert await gazetteer.geocode("Kungsgatan 12") is None


async def test_an_upstream_failure_is_remembered_for_the_failure_ttl_then_forgotten(
    redis: Redis, gazetteer: GazetteerGeocoder, nominatim: NominatimGeocoder, stub: NominatimStub
) -> None:
    policy = GeocoderPolicy(interval_s=0.05, max_wait_s=5, failure_ttl_s=1)
    geocoder = chain(redis, gazetteer, nominatim, policy)
    stub.status = 503
    stub.places["storgatan 1, uppsala"] = (59.8, 17.6, "Storgatan 1, Uppsala (upstream)")
    first = await geocoder.geocode("Storgatan 1, Uppsala")
    stub.status = 200
    remembered = await geocoder.geocode("Storgatan 1, Uppsala")
    key = f"geocode:{query_digest('storgatan 1, uppsala')}"
    assert 0 < await redis.pttl(key) <= 1000
    assert (first and first.source, remembered and remembered.source) == (
        Source.gazetteer,
        Source.gazetteer,
    )
    assert len(stub.calls) == 1
    await asyncio.sleep(1.1)
    recovered = await geocoder.geocode("Storgatan 1, Uppsala")
    assert recovered is not None
    assert (recovered.source, recovered.place.display_name) == (
        Source.upstream,
        "Storgatan 1, Uppsala (upstream)",
    )
    assert len(stub.calls) == 2


async def test_an_upstream_slower_than_the_timeout_is_cut_off_and_frees_the_turn(
    redis: Redis, gazetteer: GazetteerGeocoder
) -> None:
    upstream = SlowUpstream(takes_s=5)
    policy = GeocoderPolicy(interval_s=0.05, max_wait_s=5, timeout_s=0.3)
    geocoder = GeocoderChain(redis, gazetteer, upstream, policy)
    started = time.monotonic()
    answer = await geocoder.geocode("Storgatan 1, Uppsala")
    assert answer is not None
    assert answer.source is Source.gazetteer
    assert 0.3 <= time.monotonic() - started < 1
    assert await redis.exists(f"{LIMITER_KEY}:running") == 0


async def test_a_429_holds_every_caller_back(
    redis: Redis,
    gazetteer: GazetteerGeocoder,
    nominatim: NominatimGeocoder,
    stub: NominatimStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    stub.status = 429
    geocoder = chain(redis, gazetteer, nominatim, GeocoderPolicy(interval_s=0.05, max_wait_s=1))
    with caplog.at_level(logging.WARNING, logger="geo.geocoding.chain"):
        assert await geocoder.geocode("Storgatan 1, Uppsala") is not None  # offline answer
    assert caplog.messages == ["upstream geocoder throttled us: backing off 2.0 s"]
    stub.status = 200
    with pytest.raises(GeocoderBusyError):  # the stub asked for 2 s, more than we may wait
        await geocoder.geocode(STOCKHOLM_STREET)
    assert len(stub.calls) == 1


# Limiter and single-flight


async def test_twenty_misses_from_two_processes_reach_the_upstream_at_most_once_a_second(
    redis: Redis, redis_url: str, stub: NominatimStub
) -> None:
    queries = [f"Okänd gata {n}, Ingenstad" for n in range(20)]
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.geocode_burst",
            redis_url,
            stub.url,
            *batch,
            cwd=ROOT,
            env=os.environ.copy(),
            stdout=subprocess.PIPE,
        )
        for batch in (queries[::2], queries[1::2])
    ]
    outputs = [await process.communicate() for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    answered = sorted(
        line.split("\t")[0] for out, _ in outputs for line in out.decode().splitlines()
    )
    assert answered == sorted(queries)
    arrivals = sorted(call.at for call in stub.calls)
    assert len(arrivals) == 20
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert min(gaps) >= 1.0, f"upstream calls {min(gaps):.3f} s apart"


class SlowUpstream:
    """An upstream that takes a while, notes when each call starts and ends as its caller
    sees them, and knows nothing."""

    def __init__(self, takes_s: float) -> None:
        self.takes_s = takes_s
        self.calls: list[tuple[float, float]] = []

    async def geocode(self, query: str) -> Place | None:
        started = time.monotonic()
        await asyncio.sleep(self.takes_s)
        self.calls.append((started, time.monotonic()))
        return None


async def test_each_call_starts_one_interval_after_the_last_ended_no_sooner_not_much_later(
    redis: Redis, gazetteer: GazetteerGeocoder, caplog: pytest.LogCaptureFixture
) -> None:
    """Two chains, as in two processes: only the schedule in Redis spaces them."""
    upstream = SlowUpstream(takes_s=0.1)
    policy = GeocoderPolicy(interval_s=0.25, max_wait_s=10)
    geocoders = [GeocoderChain(redis, gazetteer, upstream, policy) for _ in range(2)]
    with caplog.at_level(logging.WARNING):
        await asyncio.gather(*(geocoders[n % 2].geocode(f"Okänd gata {n}") for n in range(8)))
    calls = sorted(upstream.calls)
    pauses = [later[0] - earlier[1] for earlier, later in itertools.pairwise(calls)]
    assert len(pauses) == 7
    assert min(pauses) >= 0.25 - 0.005, f"a call started {min(pauses):.3f} s after the last"
    assert max(pauses) <= 0.25 + 0.15, f"a call waited {max(pauses):.3f} s for its turn"
    assert not caplog.records  # no fallback to a per-process schedule


def limiter(redis: Redis, interval_s: float, longest_call_s: float = 5) -> UpstreamLimiter:
    return UpstreamLimiter(
        redis,
        "limiter",
        interval_s=interval_s,
        max_wait_s=5,
        longest_call_s=longest_call_s,
        local_interval_s=5,
    )


async def test_a_caller_whose_slot_has_come_waits_for_the_running_call_to_end(
    redis: Redis,
) -> None:
    """Another process's call is still running when this caller's slot comes."""
    first, second = limiter(redis, 0.2), limiter(redis, 0.2)
    ended: list[float] = []

    async def long_call() -> None:
        async with first.turn():
            await asyncio.sleep(0.5)
            ended.append(time.monotonic())

    running = asyncio.create_task(long_call())
    await asyncio.sleep(0.05)
    async with second.turn():
        started = time.monotonic()
    await running
    assert 0.2 <= started - ended[0] < 0.35


async def test_a_turn_whose_caller_died_ends_when_its_hold_expires(redis: Redis) -> None:
    await redis.set("limiter:running", "a caller that died", px=400)
    started = time.monotonic()
    async with limiter(redis, 0.05).turn():
        assert 0.35 <= time.monotonic() - started < 0.6
    assert await redis.exists("limiter:running") == 0


async def test_a_caller_that_gets_the_lock_after_a_leader_finished_does_not_produce_again(
    redis: Redis,
) -> None:
    """The race behind a second upstream call: a caller reads nothing, then the leader
    stores its answer and lets go, then the caller takes the free lock."""
    flight = RedisSingleFlight(redis, lock_ttl_s=2, max_wait_s=1, poll_s=0.05)
    stored: list[str] = []
    produced: list[str] = []

    async def read() -> str | None:
        answer = stored[0] if stored else None
        stored.append("the leader's answer")  # it finishes right after this first read
        return answer

    async def produce() -> str:
        produced.append("again")
        return "a second answer"

    assert await flight.run("lock", read, produce) == ("the leader's answer", False)
    assert produced == []
    assert await redis.exists("lock") == 0


async def test_a_single_flight_lock_expires_by_itself_and_followers_give_up_in_time(
    redis: Redis,
) -> None:
    """A leader that dies holding the lock must not block its key forever."""
    flight = RedisSingleFlight(redis, lock_ttl_s=2, max_wait_s=0.2, poll_s=0.05)
    lock_ttls: list[int] = []

    async def slow_produce() -> str:
        lock_ttls.append(await redis.pttl("lock"))
        await asyncio.sleep(0.5)
        return "answer"

    async def nothing_yet() -> str | None:
        return None

    leader = asyncio.create_task(flight.run("lock", nothing_yet, slow_produce))
    await asyncio.sleep(0.05)
    with pytest.raises(GeocoderBusyError) as follower:
        await flight.run("lock", nothing_yet, slow_produce)
    assert follower.value.retry_after_s == 1
    assert await leader == ("answer", True)
    assert 0 < lock_ttls[0] <= 2000
    assert await redis.exists("lock") == 0  # released by its leader


async def test_fifty_concurrent_identical_misses_make_one_upstream_call(
    redis: Redis, gazetteer: GazetteerGeocoder, nominatim: NominatimGeocoder, stub: NominatimStub
) -> None:
    stub.delay_s = 0.3
    geocoders = [chain(redis, gazetteer, nominatim) for _ in range(5)]  # as if 5 workers
    answers = await asyncio.gather(*(geocoders[n % 5].geocode(STOCKHOLM_STREET) for n in range(50)))
    assert len(stub.calls) == 1
    assert {a.place for a in answers if a} == {answers[0].place if answers[0] else None}
    assert sorted(a.source for a in answers if a).count(Source.upstream) == 1


async def test_a_caller_that_would_wait_too_long_is_told_when_to_retry(
    redis: Redis, gazetteer: GazetteerGeocoder, nominatim: NominatimGeocoder
) -> None:
    geocoder = chain(redis, gazetteer, nominatim, GeocoderPolicy(interval_s=3, max_wait_s=1))
    results = await asyncio.gather(
        geocoder.geocode("Okänd gata 1"), geocoder.geocode("Okänd gata 2"), return_exceptions=True
    )
    [busy] = [r for r in results if isinstance(r, GeocoderBusyError)]
    assert 1 <= busy.retry_after_s <= 3
    assert str(busy) == f"the upstream geocoder is busy; retry in {busy.retry_after_s} s"


# Without Redis


async def test_without_redis_geocoding_still_works_paced_and_says_so(
    gazetteer: GazetteerGeocoder,
    nominatim: NominatimGeocoder,
    stub: NominatimStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = make_redis("redis://127.0.0.1:9/0", max_connections=1)
    geocoder = chain(dead, gazetteer, nominatim, GeocoderPolicy(interval_s=0.3, max_wait_s=5))
    with caplog.at_level(logging.WARNING):
        answers = await asyncio.gather(
            geocoder.geocode(STOCKHOLM_STREET),
            geocoder.geocode(STOCKHOLM_STREET),
            geocoder.geocode("Okänd gata 3"),
        )
    await dead.aclose()
    assert answers[0] is not None
    assert answers[0].source is Source.upstream
    assert answers[1] == answers[0]
    assert len(stub.calls) == 2  # the identical pair shared one call
    # Paced, not at once: the stub sees arrivals, which jitter by milliseconds around the
    # starts the limiter spaces 0.3 s apart (the first also opens the connection).
    assert stub.calls[1].at - stub.calls[0].at >= 0.25
    assert any("redis unavailable" in record.getMessage() for record in caplog.records)
