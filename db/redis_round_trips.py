"""Redis commands sent a layer below redis-py's: packed by hiredis, written together on a
connection of the client's pool, their answers read in order, under one deadline.

Every API request makes such a round trip (its rate limits), so it is made as cheaply as
the client allows, which halves its cost in the process. The client should have no socket
timeout, which redis-py enforces with a task per command.
"""

import asyncio
from collections.abc import Sequence
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


def packed(*command: str | int | bytes) -> bytes:
    """A command as Redis reads it off the wire."""
    wire: bytes = hiredis.pack_command(command)  # type: ignore[arg-type]  # stub: 1-tuple
    return wire


async def round_trip(redis: Redis, commands: Sequence[bytes], timeout_s: float) -> list[Any]:
    """The answers to `commands` (packed), sent at once: an error answer as its
    ResponseError, in its place. RedisError when Redis can't be reached or doesn't answer
    them all within `timeout_s`."""
    pool = redis.connection_pool
    try:
        async with asyncio.timeout(timeout_s):
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                await connection.send_packed_command(b"".join(commands), check_health=False)
                return [await _answer(connection) for _ in commands]
            finally:  # a connection that was cut off mid-call has been dropped
                await pool.release(connection)
    except TimeoutError as error:
        raise RedisTimeoutError(f"no answer within {timeout_s} s") from error


async def _answer(connection: Any) -> Any:
    try:
        return await connection.read_response()
    except ResponseError as error:  # read whole: the answers after it are still there
        return error
