"""Opaque, tamper-evident keyset cursors.

A cursor carries the last item's sort key (`(distance_m, id)` for searches, `(time, id)`
for a user's lists) and a digest of its scope, signed with HMAC-SHA256, so that a client
can neither forge a position nor reuse a cursor for another query. The scope is the query
value's filters (what the pages are pages of), so a cursor outlives a change of page
size but not of anything that changes the results.
"""

import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from typing import TypeVar

import msgspec

from geo.keys import digest

_MAC_BYTES = 16

K = TypeVar("K", bound=msgspec.Struct)


class InvalidCursorError(ValueError):
    """The cursor was not issued by us for this query."""


class DistanceKey(msgspec.Struct, array_like=True, frozen=True):
    distance_m: float
    id: int


class TimeKey(msgspec.Struct, array_like=True, frozen=True):
    at: datetime
    id: int


class IdKey(msgspec.Struct, array_like=True, frozen=True):
    id: int


class _Payload(msgspec.Struct, array_like=True):
    key: msgspec.Raw
    scope: bytes


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def encode(self, key: msgspec.Struct, scope: msgspec.Struct) -> str:
        body = msgspec.msgpack.encode(
            _Payload(msgspec.Raw(msgspec.msgpack.encode(key)), _scope_digest(scope))
        )
        return _text(body + self._mac(body))

    def decode(self, cursor: str, scope: msgspec.Struct, key_type: type[K]) -> K:
        """The key of a cursor `encode` made for this scope. Only the one spelling it made
        is read: base64 also decodes padded, stray-character and other-trailing-bit
        variants, each of which would be a cached page of its own."""
        try:
            token = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (binascii.Error, ValueError):
            raise InvalidCursorError("cursor is not valid") from None
        if _text(token) != cursor:
            raise InvalidCursorError("cursor is not valid")
        body, mac = token[:-_MAC_BYTES], token[-_MAC_BYTES:]
        if not body or not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidCursorError("cursor is not valid")
        payload = msgspec.msgpack.decode(body, type=_Payload)
        # The scope first: a cursor of another query may hold another kind of key.
        if not hmac.compare_digest(payload.scope, _scope_digest(scope)):
            raise InvalidCursorError("cursor belongs to a different query")
        return msgspec.msgpack.decode(payload.key, type=key_type)

    def after(self, cursor: str | None, scope: msgspec.Struct, key_type: type[K]) -> K | None:
        """The key the page a cursor asks for starts after; None for the first page."""
        return self.decode(cursor, scope, key_type) if cursor else None

    def following(self, last_key: msgspec.Struct | None, scope: msgspec.Struct) -> str | None:
        """The cursor of the page after the one whose last key this is; None when no page
        follows (no key)."""
        return None if last_key is None else self.encode(last_key, scope)

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:_MAC_BYTES]


def _text(token: bytes) -> str:
    return base64.urlsafe_b64encode(token).rstrip(b"=").decode()


def _scope_digest(scope: msgspec.Struct) -> bytes:
    return digest(scope)[:8]
