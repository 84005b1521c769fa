"""The token version of each account, as every signed-in request checks it: from Redis,
filled from PostgreSQL on a miss, and from PostgreSQL alone while Redis is away.

Versions only ever rise, so the cache never takes a lower one: a fill writes only where
nothing is (a raise that lands first wins), and a raise writes only a higher version (a
stale fill that lands first is overwritten). A raise that cannot reach Redis leaves the
old version cached until it expires, `ttl_s` at most.
"""

import contextlib
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.accounts import token_version
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)

NO_ACCOUNT = -1
"""Cached for an id with no account, so that tokens naming it are turned away cheaply too."""

# Sets KEYS[1] to ARGV[1] unless it already holds a version at least as high.
_RAISE = """
local cached = tonumber(redis.call('GET', KEYS[1]))
if cached == nil or cached < tonumber(ARGV[1]) then
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
"""


class TokenVersions:
    def __init__(self, redis: Redis, engine: AsyncEngine, ttl_s: int = 60) -> None:
        self._redis = redis
        self._engine = engine
        self._ttl_s = ttl_s
        self._raise = redis.register_script(_RAISE)
        self._warn = ThrottledWarning(logger)

    @staticmethod
    def _key(user_id: int) -> str:
        return f"token-version:{user_id}"

    async def current(self, user_id: int) -> int:
        """The version this user's tokens must carry; NO_ACCOUNT when none may."""
        try:
            cached = await self._redis.get(self._key(user_id))
        except RedisError as error:
            self._warn("token versions read from the database: Redis %s", type(error).__name__)
            return await self._from_database(user_id)
        if cached is not None:
            return int(cached)
        version = await self._from_database(user_id)
        with contextlib.suppress(RedisError):  # read from the database again next time
            await self._redis.set(self._key(user_id), version, ex=self._ttl_s, nx=True)
        return version

    async def raised(self, user_id: int, version: int) -> None:
        """After the commit that raised this user's version: older tokens fail at once."""
        try:
            await self._raise(keys=[self._key(user_id)], args=[version, self._ttl_s])
        except RedisError as error:
            self._warn("a token version was not cached: Redis %s", type(error).__name__)

    async def _from_database(self, user_id: int) -> int:
        async with self._engine.connect() as connection:
            version = await token_version(connection, user_id)
        return NO_ACCOUNT if version is None else version
