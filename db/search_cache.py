"""Search responses cached in Redis, made stale at once by the provider writes they could
see, and only by those.

Generations are counters that only go up: one per coarse grid cell (geo.cells), one for
searches too wide for cells, and one epoch that ends every entry. A search depends on the
epoch and on its cells (or, when wide, on the wide counter); an entry records the sum of
those counters as it saw them before reading the database, and is a hit only while the
sum is unchanged. A provider write, after its commit, bumps the cells of where the
provider was and is, and the wide counter. So no entry is deleted by pattern, a search
that read the database before a write can never store a page that outlives it, and a
write in Uppsala leaves the cached searches of Malmö alone. Entries hold public search
responses only.

Reads of free time depend on more (`Depends`): free near me on the calendar generations of
its cells too, which a change to a provider's commitments or hours bumps for the cell the
provider is in; one provider's slots on that provider's own generation, which every write
of the provider, to its profile or its calendar, bumps. A booking ends the free-time
answers around its provider and nothing else: not nearby's, not those of other towns.

A rendered answer is not stored in a round trip of its own: it waits, in the process, for
the next lookup's round trip (every cached read makes one) and goes ahead of it, or is
sent on its own when no lookup comes within STORE_WITHIN_S. A lookup of the same request
in the same process so always finds it; one in another process may miss it for as long.

With a read replica, the same call that bumps a write's generations records the primary's
WAL position after its commit (db.replica), kept as the newest such position, and a
lookup reads it with the generations: a search that sees a write's generations reads from
a replica only once that has replayed the write, and never caches the page from before the
write under them. Writes that change other public reads (open route orders) record their
position alone.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, NamedTuple, cast

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from db.redis_round_trips import InFlight, packed, round_trip, send
from db.replica import wal_position
from geo.cells import Cell, cell_of
from geo.keys import digest
from geo.log_throttle import ThrottledWarning

logger = logging.getLogger(__name__)
_warn = ThrottledWarning(logger)

EPOCH_KEY = "search:generation"
WIDE_KEY = "search:generation:wide"
CELL_PREFIX = "search:generation:cell:"
CALENDAR_WIDE_KEY = "search:generation:calendars:wide"
CALENDAR_CELL_PREFIX = "search:generation:calendars:cell:"
PROVIDER_PREFIX = "search:generation:provider:"
KEY_PREFIX = "search:page:"
WRITTEN_KEY = "search:written"
"""The WAL position of the newest write public reads must see (db.replica)."""
STORE_WITHIN_S = 0.05
"""How long a rendered answer may wait for a lookup's round trip to go with."""
UNSENT_MAX = 64
"""Rendered answers that wait at most: more are sent at once."""
_STORE_TIMEOUT_S = 1.0

StateRead = Callable[[list[bytes]], Awaitable[list[Any] | None]]

# KEYS: generations to bump, then WRITTEN_KEY. ARGV: the write's WAL position, or "" when
# no replica needs it. Positions stay far below 2^53 bytes, exact in Lua's numbers.
_BUMP = """
for i = 1, #KEYS - 1 do
    redis.call('INCR', KEYS[i])
end
if ARGV[1] ~= '' then
    local known = tonumber(redis.call('GET', KEYS[#KEYS]) or '-1')
    if tonumber(ARGV[1]) > known then
        redis.call('SET', KEYS[#KEYS], ARGV[1])
    end
end
"""


def _cell_key(cell: Cell) -> str:
    return f"{CELL_PREFIX}{cell[0]}:{cell[1]}"


def _calendar_cell_key(cell: Cell) -> str:
    return f"{CALENDAR_CELL_PREFIX}{cell[0]}:{cell[1]}"


def _provider_key(provider_id: int) -> str:
    return f"{PROVIDER_PREFIX}{provider_id}"


class Depends(NamedTuple):
    """What a read's answer depends on, beyond the epoch."""

    cells: frozenset[Cell] | None
    """Provider writes in these cells end it (None: a read too wide for cells)."""
    calendars: bool = False
    """Calendar changes (commitments, hours) of providers in the same cells end it too."""
    providers: tuple[int, ...] = ()
    """Every change of these providers, their profile's or their calendar's, ends it."""

    def generation_keys(self) -> list[str]:
        keys = [EPOCH_KEY]
        if self.cells is None:
            keys += [WIDE_KEY, *([CALENDAR_WIDE_KEY] if self.calendars else [])]
        else:
            cells = sorted(self.cells)
            keys += [_cell_key(cell) for cell in cells]
            if self.calendars:
                keys += [_calendar_cell_key(cell) for cell in cells]
        return keys + [_provider_key(provider_id) for provider_id in self.providers]


class CachedResponse(msgspec.Struct, array_like=True, frozen=True):
    generation: int
    """The sum of the generations the search depended on when it read the database."""
    media_type: str
    body: bytes
    """The answer, compressed as its first client took it (`encoding`), if it was: later
    clients that take the same are sent it as it is, and an entry is a fifth of the
    answer's size."""
    etag: str
    """The answer's, before compression."""
    encoding: str | None = None
    plain_length: int = 0
    """The answer's length before compression, when `encoding` names one."""

    @property
    def length(self) -> int:
        """The answer's length before compression."""
        return len(self.body) if self.encoding is None else self.plain_length


class Lookup(msgspec.Struct, frozen=True):
    hit: CachedResponse | None
    generation: int | None
    """The generation to store a fresh response under; None when Redis is unreachable."""
    written: int | None = None
    """The WAL position a replica must have replayed to answer; None when unknown."""


class SearchCache:
    """Cached search answers and the generations that make them stale; with
    `records_positions` (a replica serves public reads), write positions too."""

    def __init__(
        self,
        redis: Redis,
        ttl_s: int,
        records_positions: bool = False,
        entries: Redis | None = None,
    ) -> None:
        """`redis` keeps the generations and write positions, which must never be evicted
        (an evicted generation could make a stale entry current again); `entries` (`redis`
        when None) the answers, which may be."""
        self._redis = redis
        self._entries = entries or redis
        self._apart = self._entries is not redis
        self._ttl_s = ttl_s
        self._records_positions = records_positions
        self._decoder = msgspec.msgpack.Decoder(CachedResponse)
        self._bump_script = redis.register_script(_BUMP)
        self._unsent: dict[str, bytes] = {}
        self._sending: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @staticmethod
    def key(query: msgspec.Struct) -> str:
        """The entry of a search, named by its whole query value (see geo.keys)."""
        return KEY_PREFIX + digest(query).hex()

    def reads(self, key: str, depends: Depends) -> list[str]:
        """The keys of the state Redis a lookup of entry `key`, whose answer `depends` on
        them, reads, for `lookup` to make sense of (with the entry itself unless entries
        are kept apart); a caller may read them in a round trip it makes anyway."""
        return [*depends.generation_keys(), WRITTEN_KEY, *(() if self._apart else (key,))]

    async def look_up(self, key: str, read_state: StateRead) -> Lookup:
        """The lookup of entry `key`: `read_state(sending)` reads the keys of `reads` in the
        caller's round trip to the state Redis, carrying the packed `sending` before them
        (the stores that wait), and answers their values, or None when Redis is away. With
        entries kept apart, the entry's GET (the stores before it) is sent to theirs first,
        and its answer read after the state's: the two round trips overlap."""
        stores = self.unsent()
        if not self._apart:
            return self.lookup(await read_state(stores))
        entry = await self._ask_entry(key, stores)
        try:
            values = await read_state([])
        finally:
            raw = await self._entry_answer(entry)
        return self.lookup(None if values is None else [*values, raw])

    async def _ask_entry(self, key: str, stores: list[bytes]) -> InFlight | None:
        try:
            return await send(self._entries, [*stores, packed("GET", key)], _STORE_TIMEOUT_S)
        except RedisError as error:
            _warn("search cache unavailable: %s", error)
            return None

    @staticmethod
    async def _entry_answer(entry: InFlight | None) -> Any:
        if entry is None:
            return None
        try:
            *answers, raw = await entry.answers()
        except RedisError as error:
            _warn("search cache unavailable: %s", error)
            return None
        if refused := next((a for a in (*answers, raw) if isinstance(a, Exception)), None):
            _warn("search cache unavailable: %s", refused)
        return None if isinstance(raw, Exception) else raw

    def lookup(self, values: Sequence[Any] | None) -> Lookup:
        """The lookup from the values of `reads`' keys and then the entry's (None: Redis
        was unreachable)."""
        if values is None:
            return Lookup(hit=None, generation=None)
        *generations, written, raw = values
        current = sum(int(generation or 0) for generation in generations)
        entry = None if raw is None else self._decoded(cast(bytes, raw))
        hit = entry if entry is not None and entry.generation == current else None
        return Lookup(hit=hit, generation=current, written=int(written or -1))

    def _decoded(self, raw: bytes) -> CachedResponse | None:
        try:
            return self._decoder.decode(raw)
        except msgspec.DecodeError:  # written by an earlier release: a miss
            return None

    def keep(self, key: str, entry: CachedResponse) -> None:
        """Store `entry` as the answer of search `key`, with the next lookup (`unsent`)."""
        self._unsent[key] = packed("SET", key, msgspec.msgpack.encode(entry), "EX", self._ttl_s)
        if len(self._unsent) >= UNSENT_MAX:
            self._send_unsent()
        elif self._sending is None:
            self._sending = asyncio.get_running_loop().call_later(STORE_WITHIN_S, self._send_unsent)

    def unsent(self) -> list[bytes]:
        """The stores that wait, as packed commands, for the caller's round trip to carry
        ahead of its own: from now on they are the caller's."""
        if self._sending is not None:
            self._sending.cancel()
            self._sending = None
        commands = list(self._unsent.values())
        self._unsent.clear()
        return commands

    async def put(self, key: str, entry: CachedResponse) -> None:
        """Store `entry` now, with whatever else waits."""
        self.keep(key, entry)
        await self.send_unsent()

    async def send_unsent(self) -> None:
        """Store what waits, in a round trip of its own."""
        if commands := self.unsent():
            try:
                answers = await round_trip(self._entries, commands, _STORE_TIMEOUT_S)
            except RedisError as error:
                answers = [error]
            if refused := next((a for a in answers if isinstance(a, Exception)), None):
                _warn("search cache unavailable: %s", refused)

    def _send_unsent(self) -> None:
        task = asyncio.get_running_loop().create_task(self.send_unsent())
        self._tasks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._tasks.discard)

    async def written_at(self) -> int | None:
        """The WAL position of the newest write public reads must see (-1: none yet;
        None: Redis is unreachable)."""
        try:
            return int(await self._redis.get(WRITTEN_KEY) or -1)
        except RedisError as error:
            _warn("search cache unavailable: %s", error)
            return None

    async def invalidate(
        self,
        places: Iterable[tuple[float, float]],
        committed: AsyncSession | None = None,
        provider_id: int | None = None,
    ) -> None:
        """Make stale every cached search that could see a provider at one of these
        (latitude, longitude) places, and every read of `provider_id`, after the provider
        write in `committed` (with a replica, its position is recorded too). Call after
        the commit."""
        keys = {WIDE_KEY, *(_cell_key(cell_of(*place)) for place in places)}
        if provider_id is not None:
            keys.add(_provider_key(provider_id))
        await self._bump(sorted(keys), committed)

    async def calendars_changed(
        self, places: dict[int, tuple[float, float]], committed: AsyncSession
    ) -> None:
        """Make stale every cached read of free time that could see these providers (by
        id, at their (latitude, longitude) places), after the change to their calendars
        in `committed`. Call after the commit."""
        keys = {CALENDAR_WIDE_KEY}
        for provider_id, place in places.items():
            keys |= {_provider_key(provider_id), _calendar_cell_key(cell_of(*place))}
        await self._bump(sorted(keys), committed)

    async def invalidate_all(self) -> None:
        """Make every cached search stale (after reseeding)."""
        await self._bump([EPOCH_KEY], None)

    async def wrote(self, committed: AsyncSession) -> None:
        """With a replica, record the position of a write in `committed` that public reads
        other than cached searches must see (open route orders). Call after the commit."""
        if self._records_positions:
            await self._bump([], committed)

    async def _bump(self, keys: list[str], committed: AsyncSession | None) -> None:
        position = ""
        if committed is not None and self._records_positions:
            position = str(await wal_position(committed))
        try:
            await self._bump_script(keys=[*keys, WRITTEN_KEY], args=[position])
        except RedisError as error:
            # Entries then live until their TTL: say so loudly.
            logger.error("could not invalidate cached searches: %s", error)
