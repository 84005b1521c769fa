"""The compression middleware: whole answers over 1 KB, as the client accepts them, and
never an answer that names its encoding already."""

import brotli
import pytest
from litestar.types import Message, Receive, Scope

from app.edge.compression import MINIMUM_SIZE, compress_answers

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
