"""The compression middleware: whole answers over 1 KB, as the client accepts them, and
never an answer that names its encoding already."""

import gzip

import brotli
import pytest
from litestar.types import Message, Receive, Scope

from app.edge.compression import MINIMUM_SIZE, Accepted, compress_answers, parse_accept_encoding

BIG = b'{"x": "' + b"a" * MINIMUM_SIZE + b'"}'


def _app(body: bytes, headers: list[tuple[bytes, bytes]]) -> object:
    async def app(scope: Scope, receive: Receive, send: object) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
        await send({"type": "http.response.body", "body": body})  # type: ignore[operator]

    return app


async def _answer(
    body: bytes, accepted: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[dict[bytes, bytes], bytes]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "headers": [(b"accept-encoding", accepted)]}
    await compress_answers(_app(body, headers))(scope, None, send)  # type: ignore[arg-type]
    start, message = sent
    return dict(start["headers"]), message["body"]  # type: ignore[typeddict-item]


async def test_a_big_answer_is_compressed_and_varies_by_what_it_varied_by_too() -> None:
    headers, body = await _answer(
        BIG, b"gzip, br", [(b"vary", b"Origin"), (b"content-length", b"9")]
    )
    assert brotli.decompress(body) == BIG
    assert headers[b"content-encoding"] == b"br"
    assert headers[b"content-length"] == str(len(body)).encode()
    assert headers[b"vary"] == b"Origin, Accept-Encoding"


@pytest.mark.parametrize(
    ("body", "accepted", "headers"),
    [
        (b"{}", b"br", []),  # too small to gain
        (BIG, b"identity", []),  # not accepted
        (BIG, b"br", [(b"content-encoding", b"gzip")]),  # compressed already
    ],
)
async def test_other_answers_are_sent_as_they_are(
    body: bytes, accepted: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    sent_headers, sent_body = await _answer(body, accepted, headers)
    assert sent_body == body
    assert sent_headers == dict(headers)


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (None, Accepted(None, identity=True)),
        ("", Accepted(None, identity=True)),
        ("gzip, br", Accepted("br", identity=True)),
        ("br;q=0, gzip", Accepted("gzip", identity=True)),
        ("br; q=0.5, gzip;q=0.501", Accepted("gzip", identity=True)),
        ("gzip;q=1.000, identity;q=0", Accepted("gzip", identity=False)),
        ("*;q=0", Accepted(None, identity=False)),
        ("*;q=0, identity", Accepted(None, identity=True)),
        ("*", Accepted("br", identity=True)),
        ("br;q=1.5, gzip;q=0.1", Accepted("gzip", identity=True)),  # 1.5 is no weight
        ("Gzip", Accepted("gzip", identity=True)),
    ],
)
def test_accept_encoding_is_read_with_its_weights(header: str | None, accepted: Accepted) -> None:
    assert parse_accept_encoding(header) == accepted


async def test_a_small_answer_is_compressed_for_a_client_that_refuses_it_uncompressed() -> None:
    headers, body = await _answer(b"{}", b"gzip, identity;q=0", [])
    assert headers[b"content-encoding"] == b"gzip"
    assert gzip.decompress(body) == b"{}"
