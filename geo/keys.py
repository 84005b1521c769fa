"""Keys derived from query values, never typed by hand.

A query is a frozen msgspec struct, tagged with its type's name; its canonical form is its
MessagePack encoding (fields in declaration order, floats as their exact bits). Equal
queries encode equally and different queries differently, so a parameter added to a query
value is part of every key derived from it: cache keys, cursor scopes, ETags.
"""

import hashlib

import msgspec

_encoder = msgspec.msgpack.Encoder()


def canonical(query: msgspec.Struct) -> bytes:
    return _encoder.encode(query)


def digest(query: msgspec.Struct) -> bytes:
    """SHA-256 of the canonical form: a key that names the query without revealing it."""
    return hashlib.sha256(canonical(query)).digest()


def derived_key(secret_key: str, purpose: str) -> bytes:
    """Separate keys per purpose, so a cursor MAC can never double as anything else."""
    return hashlib.sha256(f"{purpose}:{secret_key}".encode()).digest()
