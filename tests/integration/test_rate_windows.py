"""Moving-window counts: the Redis script and the in-memory windows allow, refuse and name
the wait alike, count several limits at once, and read alongside."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from db.rate_windows import LocalWindows, RedisWindows, Refusal, Window, wait_ms

MINUTE = Window(3, 60_000)


def test_a_request_waits_until_the_oldest_of_the_last_amount_leaves_the_window() -> None:
    assert wait_ms(None, 10_000, MINUTE) == 0
    assert wait_ms(5_000, 10_000, MINUTE) == 55_000
    assert wait_ms(5_000, 65_000, MINUTE) == 0


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    async with Redis.from_url(redis_url) as client:
        await client.delete("limit:a", "limit:b", "read:x")
        yield client


async def test_redis_refuses_the_request_past_the_amount_until_the_oldest_leaves(
    redis: Redis,
) -> None:
    windows = RedisWindows(redis)
    answers = [await windows.count(["limit:a"], [MINUTE]) for _ in range(4)]
    assert [refusal for refusal, _ in answers[:3]] == [None] * 3
    refusal = answers[3][0]
    assert refusal is not None
    assert refusal.by == 0
    assert 59_000 <= refusal.retry_after_ms <= 60_000
    assert await redis.llen("limit:a") == 3
    assert 0 < await redis.pttl("limit:a") <= 60_000


async def test_redis_stops_at_the_first_refusal_and_then_counts_nothing(redis: Redis) -> None:
    windows = RedisWindows(redis)
    keys, limits = ["limit:a", "limit:b"], [Window(3, 60_000), Window(2, 60_000)]
    refusals = [(await windows.count(keys, limits))[0] for _ in range(4)]
    assert refusals[:2] == [None, None]
    assert [refusal and refusal.by for refusal in refusals[2:]] == [1, 1]
    assert await redis.llen("limit:a") == 2  # b's refusals counted against a neither
    assert await redis.llen("limit:b") == 2


async def test_redis_reads_in_the_same_call_unless_it_refuses(redis: Redis) -> None:
    await redis.set("read:x", b"cached")
    windows = RedisWindows(redis)
    once = Window(1, 60_000)
    assert await windows.count(["limit:a"], [once], ["read:x", "read:y"]) == (
        None,
        [b"cached", None],
    )
    refusal, read = await windows.count(["limit:a"], [once], ["read:x"])
    assert refusal is not None
    assert read == []
    assert await windows.count([], [], ["read:x"]) == (None, [b"cached"])


async def test_redis_and_memory_name_the_same_waits(redis: Redis) -> None:
    limits = [Window(2, 60_000), Window(5, 1_000)]
    shared, local = RedisWindows(redis), LocalWindows()
    remote = [(await shared.count(["limit:a", "limit:b"], limits))[0] for _ in range(4)]
    here = [local.count(["a", "b"], limits) for _ in range(4)]
    assert [r and r.by for r in remote] == [r and r.by for r in here] == [None, None, 0, 0]
    for r, h in zip(remote[2:], here[2:], strict=True):
        assert r is not None
        assert h is not None
        assert abs(r.retry_after_ms - h.retry_after_ms) <= 50


def test_in_memory_windows_stop_at_the_first_refusal_too() -> None:
    windows = LocalWindows()
    keys, limits = ["a", "b"], [Window(3, 60_000), Window(2, 60_000)]
    refusals = [windows.count(keys, limits) for _ in range(4)]
    assert refusals[:2] == [None, None]
    assert [type(refusal) for refusal in refusals[2:]] == [Refusal, Refusal]
    assert [refusal and refusal.by for refusal in refusals[2:]] == [1, 1]
    assert windows.count(["a"], [limits[0]]) is None  # a counted two of its three


def test_in_memory_windows_forget_expired_clients() -> None:
    windows = LocalWindows()
    millisecond = Window(1, 1)
    for n in range(20_000):
        windows.count([f"client-{n}"], [millisecond])
    assert len(windows) < 15_000


async def test_redis_counts_on_after_its_scripts_were_flushed(redis: Redis) -> None:
    windows = RedisWindows(redis)
    await redis.script_flush()
    assert await windows.count(["limit:a"], [MINUTE]) == (None, [])
    assert await redis.llen("limit:a") == 1


async def test_a_redis_that_does_not_answer_is_an_error_within_the_deadline() -> None:
    """A server that takes the connection and says nothing, like a Redis that hangs."""
    silent = await asyncio.start_server(lambda reader, writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    async with silent, Redis(host="127.0.0.1", port=port) as hung:
        windows = RedisWindows(hung, timeout_s=0.2)
        started = time.monotonic()
        with pytest.raises(RedisError):
            await windows.count(["limit:a"], [MINUTE])
        assert time.monotonic() - started < 1
