"""How a search is answered: from the response cache, or rendered and cached; compressed
as the client accepts; with an ETag, and a 304 when the client has the answer already.

A search request's cache reads follow from its path and query string alone: its handler
parses them into a request value, whose key and cells name the reads. Once a handler has
worked them out, the process remembers them, and a repeat of the same request is looked up
by `answer_repeated_searches` before Litestar routes it: one Redis round trip, which counts
its rate limits too, and a hit is sent from there, without parsing parameters, resolving
dependencies or building response objects. A miss goes on to its handler with the lookup
done. Every answer says in Server-Timing whether the cache gave it, or how long rendering
it took.
"""

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

import msgspec
from litestar import Response
from litestar.enums import ScopeType
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from app.edge.compression import Accepted, accepted_encoding, compressed
from app.edge.limits import RateLimiter, api_limits_due, client_address
from app.edge.metrics import CACHE_LOOKUPS
from app.edge.public_reads import PublicServer
from app.edge.state import raw_header
from app.search.costly import CostlySearches
from db.replica import PublicReads
from db.search import ProviderSearch
from db.search_cache import CachedResponse, Lookup, SearchCache
from geo.bbox import LatLngBox
from geo.cells import cells_of
from geo.cursor import CursorCodec

REMEMBERED_REQUESTS = 10_000
"""Per process: the most (path, query) pairs whose cache reads are remembered."""
REMEMBERED_QUERY_MAX_BYTES = 1024
"""Longer query strings (padded ones: real searches take a few hundred bytes) are not
remembered, which bounds the memory kept to about 10 MB a process."""
IF_NONE_MATCH_MAX_LENGTH = 1000
_LOOKUP = "search_lookup"
# Server-Timing: how long the search took in the database and encoding it (a miss), or
# that the cache answered; the map page shows it next to each strategy's round trip.
_CACHE_HIT = 'cache;desc="hit"'


class Reads(NamedTuple):
    """What looking up a request's answer takes."""

    keys: list[str]
    """The Redis keys of its cache entry and the generations it depends on."""
    limits: tuple[str, ...]
    """The limits it counts against beyond every API request's, per client."""


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class Searches:
    """What the search endpoints share: the servers to search on, with their database
    sessions, opened only when the cache has no answer (a hit touches no session), the
    response cache, and the rate limits, counted in the round trip of the cache lookup.

    Kept in the app's state rather than given as a dependency: a handler's dependencies
    beyond one are resolved in a task group per request."""

    def __init__(
        self,
        public_reads: PublicReads[PublicServer],
        costly: CostlySearches,
        cursor_codec: CursorCodec,
        cache: SearchCache,
        rate_limiter: RateLimiter,
        max_age_s: int,
    ) -> None:
        self._public_reads = public_reads
        self.costly = costly
        self.cursor_codec = cursor_codec
        self._cache = cache
        self._rate_limiter = rate_limiter
        self._max_age_s = max_age_s
        self._remembered: dict[tuple[str, bytes], Reads] = {}

    async def answer(
        self,
        scope: Scope,
        query: msgspec.Struct,
        area: list[LatLngBox],
        render: Callable[[AsyncSession, ProviderSearch], Awaitable[tuple[Any, str]]],
        if_none_match: str | None,
        limits: tuple[str, ...] = (),
    ) -> Response[bytes]:
        """The answer to `query`, a search within `area` (which the cache entry depends on):
        from the cache, or rendered in a session of its own (on the replica if it may serve
        it: app.edge.public_reads) and cached, compressed as the client asked; a 304 without a body
        when the client has it already. Unless looked up already
        (`answer_repeated_searches`), the request counts against the API's limits and its
        client's `limits` in the same round trip as the lookup (429 when over one)."""
        key = self._cache.key(query)
        reads = Reads(self._cache.reads(key, cells_of(area)), limits)
        self._remember(scope, reads)
        lookup: Lookup | None = scope["state"].pop(_LOOKUP, None)
        if lookup is None:
            lookup = await self._lookup(scope, reads)
        accepted = accepted_encoding(scope)
        entry = lookup.hit
        timing = _CACHE_HIT
        if entry is None:

            async def rendered(server: PublicServer) -> tuple[Any, str]:
                async with server.sessions() as session:
                    return await render(session, server.providers)

            started = time.perf_counter()
            payload, media_type = await self._public_reads.read_seeing(lookup.written, rendered)
            timing = f"search;dur={(time.perf_counter() - started) * 1000:.1f}"
            entry = _entry(lookup.generation or 0, media_type, payload, accepted)
            if lookup.generation is not None:
                await self._cache.put(key, entry)
        reply = self._reply(entry, accepted, if_none_match, timing)
        return Response(
            reply.body, status_code=reply.status, media_type=entry.media_type, headers=reply.headers
        )

    async def answer_again(self, scope: HTTPScope, send: Send) -> bool:
        """Send the cached answer to a request seen before, if it has one: True when sent.
        Otherwise its lookup (if any) is left for its handler."""
        reads = self._remembered.get((scope["path"], scope["query_string"]))
        if reads is None or scope["method"] != "GET":
            return False
        raw = raw_header(scope, b"if-none-match")
        if_none_match = None if raw is None else raw.decode("latin-1")
        if if_none_match is not None and len(if_none_match) > IF_NONE_MATCH_MAX_LENGTH:
            return False  # the handler answers that with a 400
        lookup = await self._lookup(scope, reads)
        if lookup.hit is None:
            scope["state"][_LOOKUP] = lookup
            return False
        reply = self._reply(lookup.hit, accepted_encoding(scope), if_none_match, _CACHE_HIT)
        await _send(send, reply, lookup.hit.media_type)
        return True

    def _remember(self, scope: Scope, reads: Reads) -> None:
        request = scope["path"], scope["query_string"]
        if len(request[1]) > REMEMBERED_QUERY_MAX_BYTES or request in self._remembered:
            return
        if len(self._remembered) >= REMEMBERED_REQUESTS:
            del self._remembered[next(iter(self._remembered))]  # the longest remembered
        self._remembered[request] = reads

    async def _lookup(self, scope: Scope, reads: Reads) -> Lookup:
        client = client_address(scope)
        counted = (*api_limits_due(scope), *((name, client) for name in reads.limits))
        lookup = self._cache.lookup(await self._rate_limiter.hit(*counted, reading=reads.keys))
        CACHE_LOOKUPS.labels(cache="search", result="miss" if lookup.hit is None else "hit").inc()
        return lookup

    def _reply(
        self, entry: CachedResponse, accepted: Accepted, if_none_match: str | None, timing: str
    ) -> Reply:
        """The answer in the encoding the client takes, tagged for that encoding: a client
        holding the brotli body must not be told it has the gzip one."""
        encoding = accepted.for_size(len(entry.body))
        etag = _tagged(entry.etag, encoding)
        headers = {
            "Cache-Control": f"public, max-age={self._max_age_s}",
            "ETag": etag,
            "Vary": "Accept-Encoding",
            "Server-Timing": timing,
        }
        if if_none_match is not None and none_match(if_none_match, etag):
            return Reply(HTTP_304_NOT_MODIFIED, headers, b"")
        body = _body_for(entry, accepted)
        if encoding is not None:
            headers["Content-Encoding"] = encoding
        return Reply(HTTP_200_OK, headers, body)


def answer_repeated_searches(app: ASGIApp) -> ASGIApp:
    """Middleware of the search routes: a request this process has seen before is answered
    from the cache here when it can be (Searches in app state)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        searches: Searches = scope["app"].state.searches
        if scope["type"] != ScopeType.HTTP or not await searches.answer_again(scope, send):
            await app(scope, receive, send)

    return middleware


async def _send(send: Send, reply: Reply, media_type: str) -> None:
    headers = [(name.lower().encode(), value.encode()) for name, value in reply.headers.items()]
    if reply.status == HTTP_200_OK:
        headers += [
            (b"content-type", media_type.encode()),
            (b"content-length", str(len(reply.body)).encode()),
        ]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": reply.body, "more_body": False})


def _etag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _tagged(etag: str, encoding: str | None) -> str:
    """The ETag of the answer in `encoding`: the body's, with the encoding appended."""
    return etag if encoding is None else f'{etag[:-1]}-{encoding}"'


_ENTITY_TAG = re.compile(r'\s*(?:W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def none_match(if_none_match: str, etag: str) -> bool:
    """Whether If-None-Match names this answer (RFC 9110, 13.1.2): `*`, or a list of
    entity tags of which one is this ETag under the weak comparison (W/ aside)."""
    if if_none_match.strip() == "*":
        return True
    position, listed = 0, []
    while position < len(if_none_match):
        match = _ENTITY_TAG.match(if_none_match, position)
        if match is None or match.end() == position:
            return False  # not a list of entity tags: no tag of it can match
        listed.append(match.group(1))
        position = match.end()
    return etag in listed


def _body_for(entry: CachedResponse, accepted: Accepted) -> bytes:
    """The body as the client takes it: as cached if compressed the way it accepts,
    compressed for it alone if it accepts another way, else plain."""
    encoding = accepted.for_size(len(entry.body))
    if encoding is None:
        return entry.body
    if encoding == entry.encoding and entry.encoded is not None:
        return entry.encoded
    return compressed(entry.body, accepted)[0]


def _entry(generation: int, media_type: str, payload: Any, accepted: Accepted) -> CachedResponse:
    """A rendered answer as cached: its body (the payload as JSON, or as it is if bytes
    already), its ETag, and the body compressed as its first client asked (so that a hit
    never compresses for a client that asks the same)."""
    body = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    encoded, encoding = compressed(body, accepted)
    kept = encoded if encoding is not None else None
    return CachedResponse(generation, media_type, body, _etag(body), encoding, kept)
