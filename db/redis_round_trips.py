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
    return await (await send(redis, commands, timeout_s)).answers()


class InFlight:
    """Commands written to a connection of a client's pool, their answers not read yet: a
    caller can make another round trip meanwhile, without a task for either."""

    def __init__(self, redis: Redis, connection: Any, count: int, deadline: float) -> None:
        self._pool = redis.connection_pool
        self._connection = connection
        self._count = count
        self._deadline = deadline

    async def answers(self) -> list[Any]:
        """The answers, in order (an error answer as its ResponseError); the connection
        goes back to its pool (dropped if it was cut off mid-answer). RedisError when they
        don't all come before the deadline set when the commands were sent."""
        try:
            async with asyncio.timeout_at(self._deadline):
                return [await _answer(self._connection) for _ in range(self._count)]
        except TimeoutError as error:
            raise RedisTimeoutError("no answer in time") from error
        finally:
            await self._pool.release(self._connection)


async def send(redis: Redis, commands: Sequence[bytes], timeout_s: float) -> InFlight:
    """Write `commands` (packed) on a connection of `redis`'s pool, at once; their answers
    are to be read, within `timeout_s` of now, with InFlight.answers, which must be awaited
    (it gives the connection back). RedisError when Redis can't be reached in time."""
    pool = redis.connection_pool
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        async with asyncio.timeout_at(deadline):
            connection = await pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                await connection.send_packed_command(b"".join(commands), check_health=False)
            except BaseException:
                await pool.release(connection)
                raise
    except TimeoutError as error:
        raise RedisTimeoutError(f"no answer within {timeout_s} s") from error
    return InFlight(redis, connection, len(commands), deadline)


async def _answer(connection: Any) -> Any:
    try:
        return await connection.read_response()
    except ResponseError as error:  # read whole: the answers after it are still there
        return error
