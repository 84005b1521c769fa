"""How a cached public read is answered: from the answer cache, or rendered and cached;
compressed as the client accepts; with an ETag per encoding, and a 304 when the client has
the answer already.

A read's cache reads follow from its path and query string alone: its handler parses them
into a request value, whose key and cells name the reads. Once a handler has worked them
out, the process remembers them, and a repeat of the same request is looked up by
`Answers.repeated` before Litestar routes it: one Redis round trip, which counts its rate
limits too, and a hit is sent from there, without parsing parameters, resolving
dependencies or building response objects. A miss goes on to its handler with the lookup
done, and its rendered answer goes to the cache ahead of the next lookup's round trip
(db.search_cache). Every answer says in Server-Timing whether the cache gave it, or how
long rendering it took.
"""

import hashlib
import re
import time
from typing import Any, NamedTuple, Protocol, TypeVar

import msgspec
from litestar import Response
from litestar.enums import ScopeType
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED
from litestar.types import ASGIApp, HTTPScope, Receive, Scope, Send

from app.edge.compression import Accepted, accepted_encoding, compressed, decompressed
from app.edge.limits import RateLimiter, client_of, limits_due
from app.edge.metrics import CACHE_LOOKUPS
from app.edge.public_reads import PublicServer, read_public
from app.edge.state import raw_header, request_state
from db.replica import PublicReads
from db.search_cache import CachedResponse, Depends, Lookup, SearchCache

REMEMBERED_REQUESTS = 10_000
"""Per process: the most (path, query) pairs whose cache reads are remembered."""
REMEMBERED_QUERY_MAX_BYTES = 1024
"""Longer query strings (padded ones: real searches take a few hundred bytes) are not
remembered, which bounds the memory kept to about 10 MB a process."""
IF_NONE_MATCH_MAX_LENGTH = 1000
# Server-Timing: how long the read took in the database and encoding it (a miss), or
# that the cache answered; the map page shows it next to each strategy's round trip.
_CACHE_HIT = 'cache;desc="hit"'

Q = TypeVar("Q", bound=msgspec.Struct, contravariant=True)


class Rendered(NamedTuple):
    """A read's answer before it is encoded: a body value (or bytes) and its media type."""

    payload: Any
    media_type: str


class Answerable(Protocol[Q]):
    """What answering a cached public read takes from its declaration (edge.cached_reads):
    what its request depends on, the limits it counts against, and its rendering."""

    def depends(self, request: Q) -> Depends: ...

    def limits(self, request: Q) -> tuple[str, ...]: ...

    async def render(self, server: PublicServer, request: Q) -> Rendered: ...


class Reads(NamedTuple):
    """What looking up a request's answer takes."""

    keys: list[str]
    """The keys of the state Redis it reads: the generations it depends on (db.search_cache)."""
    entry: str
    """The key of its cache entry."""
    limits: tuple[str, ...]
    """The limits it counts against beyond its route's, per client."""


class Reply(NamedTuple):
    status: int
    headers: dict[str, str]
    body: bytes


class Answers:
    """What the cached public reads share: the servers to read on, with their database
    sessions, opened only when the cache has no answer (a hit touches no session), the
    answer cache, and the rate limits, counted in the round trip of the cache lookup."""

    def __init__(
        self,
        public_reads: PublicReads[PublicServer],
        cache: SearchCache,
        limiter: RateLimiter,
        max_age_s: int,
    ) -> None:
        self._public_reads = public_reads
        self._cache = cache
        self._limiter = limiter
        self._max_age_s = max_age_s
        self._remembered: dict[tuple[str, bytes], Reads] = {}

    async def answer(
        self, scope: Scope, read: Answerable[Q], request: Q, if_none_match: str | None
    ) -> Response[bytes]:
        """The answer to `request`: from the cache, or rendered on the server public reads
        may be made on (edge.public_reads) and cached, compressed as the client asked; a
        304 without a body when the client has it already. Unless looked up already
        (`repeated`), the request counts against its limits in the round trip of the
        lookup (429 when over one)."""
        key = self._cache.key(request)
        reads = Reads(self._cache.reads(key, read.depends(request)), key, read.limits(request))
        self._remember(scope, reads)
        state = request_state(scope)
        lookup: Lookup | None = state.lookup
        if lookup is None:
            lookup = await self._lookup(scope, reads)
        accepted = accepted_encoding(scope)
        entry = lookup.hit
        timing = _CACHE_HIT
        if entry is None:
            started = time.perf_counter()
            rendered = await read_public(self._public_reads, read.render, request, lookup.written)
            timing = f"search;dur={(time.perf_counter() - started) * 1000:.1f}"
            entry = _entry(lookup.generation or 0, rendered, accepted)
            if lookup.generation is not None:
                self._cache.keep(key, entry)
        reply = self._reply(entry, accepted, if_none_match, timing)
        return Response(
            reply.body, status_code=reply.status, media_type=entry.media_type, headers=reply.headers
        )

    def repeated(self, app: ASGIApp) -> ASGIApp:
        """Middleware of the cached reads' routes: a request this process has seen before
        is answered from the cache here when it can be."""

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or not await self._answer_again(scope, send):
                await app(scope, receive, send)

        return middleware

    async def _answer_again(self, scope: HTTPScope, send: Send) -> bool:
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
            request_state(scope).lookup = lookup
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
        client = client_of(scope, self._limiter.proxies)
        counted = (*limits_due(scope), *((name, client) for name in reads.limits))

        async def read_state(stores: list[bytes]) -> list[Any] | None:
            return await self._limiter.hit(*counted, reading=reads.keys, sending=stores)

        lookup = await self._cache.look_up(reads.entry, read_state)
        CACHE_LOOKUPS.labels(cache="search", result="miss" if lookup.hit is None else "hit").inc()
        return lookup

    def _reply(
        self, entry: CachedResponse, accepted: Accepted, if_none_match: str | None, timing: str
    ) -> Reply:
        """The answer in the encoding the client takes, tagged for that encoding: a client
        holding the brotli body must not be told it has the gzip one."""
        encoding = accepted.for_size(entry.length)
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
    """The body as the client takes it: as cached if compressed the way it accepts (or
    plain, as it takes it), else made so for it alone."""
    encoding = accepted.for_size(entry.length)
    if encoding == entry.encoding:
        return entry.body
    plain = decompressed(entry.body, entry.encoding)
    return plain if encoding is None else compressed(plain, accepted)[0]


def _entry(generation: int, rendered: Rendered, accepted: Accepted) -> CachedResponse:
    """A rendered answer as cached: its body (the payload as JSON, or as it is if bytes
    already) compressed as its first client asked, so that a hit never compresses for a
    client that asks the same, and its ETag."""
    payload = rendered.payload
    body = payload if isinstance(payload, bytes) else msgspec.json.encode(payload)
    encoded, encoding = compressed(body, accepted)
    return CachedResponse(
        generation, rendered.media_type, encoded, _etag(body), encoding, len(body)
    )
