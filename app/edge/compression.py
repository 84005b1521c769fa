"""Answers over 1 KB compressed with brotli for clients that accept it, else gzip.

One function chooses and compresses, so that an answer compressed ahead of time (a cached
search keeps its compressed body) and one compressed on its way out are alike. The
middleware leaves alone an answer that already names its encoding, and one that streams.
"""

import gzip
from collections.abc import Iterable

import brotli
from litestar.enums import ScopeType
from litestar.types import ASGIApp, HTTPResponseStartEvent, Message, Receive, Scope, Send

from app.edge.state import raw_header

MINIMUM_SIZE = 1024
BROTLI_QUALITY = 3  # a 100-provider page: 4.5 KB in 0.25 ms; quality 5 saves 2% in 0.66 ms
GZIP_LEVEL = 6


def accepted_encoding(scope: Scope) -> str | None:
    """br or gzip, whichever the client accepts first in our preference, else None."""
    accepted = raw_header(scope, b"accept-encoding") or b""
    if b"br" in accepted:
        return "br"
    if b"gzip" in accepted:
        return "gzip"
    return None


def compressed(body: bytes, encoding: str | None) -> bytes | None:
    """`body` in `encoding`, or None when it stays as it is (too small, or not accepted)."""
    if encoding is None or len(body) < MINIMUM_SIZE:
        return None
    if encoding == "br":
        return bytes(brotli.compress(body, quality=BROTLI_QUALITY))
    return gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)


def encoded_headers(
    headers: Iterable[tuple[bytes, bytes]], encoding: str, length: int
) -> list[tuple[bytes, bytes]]:
    """`headers` for a body now `length` bytes in `encoding`, varying by Accept-Encoding
    too (as well as by whatever they varied by)."""
    kept, vary = [], [b"Accept-Encoding"]
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"vary":
            vary.insert(0, value)
        elif lowered not in (b"content-encoding", b"content-length"):
            kept.append((name, value))
    return [
        *kept,
        (b"content-encoding", encoding.encode()),
        (b"content-length", str(length).encode()),
        (b"vary", b", ".join(vary)),
    ]


def compress_answers(app: ASGIApp) -> ASGIApp:
    """Middleware: compress each whole answer the client can take compressed."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        encoding = accepted_encoding(scope) if scope["type"] == ScopeType.HTTP else None
        if encoding is None:
            await app(scope, receive, send)
            return
        start: HTTPResponseStartEvent | None = None

        async def compressing(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                if any(name.lower() == b"content-encoding" for name, _ in headers):
                    await send(message)  # compressed already
                else:
                    start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            first, start = start, None
            body = message.get("body", b"")
            packed = None if message.get("more_body") else compressed(body, encoding)
            if packed is not None:
                first["headers"] = encoded_headers(first.get("headers", ()), encoding, len(packed))
                message["body"] = packed
            await send(first)
            await send(message)

        await app(scope, receive, compressing)

    return middleware
