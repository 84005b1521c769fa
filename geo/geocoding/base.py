"""What every geocoder shares: the protocol, the answer, the errors, query normalization."""

import enum
import hashlib
import itertools
import re
import unicodedata
from typing import Protocol

import msgspec

_WHITESPACE = re.compile(r"\s+")
# Letters, with inner apostrophes and hyphens ("Sankt-Petersburg", "L'Aquila").
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
_MAX_CANDIDATES = 16


class Place(msgspec.Struct, frozen=True):
    latitude: float
    longitude: float
    display_name: str


class Source(enum.StrEnum):
    cache = "cache"
    upstream = "upstream"
    gazetteer = "gazetteer"


class Geocoded(msgspec.Struct, frozen=True):
    place: Place
    source: Source


class GeocoderPolicy(msgspec.Struct, frozen=True):
    """How the upstream is paced and its answers kept (env: GEOCODER_<FIELD>)."""

    interval_s: float = 1.0
    """Time from the end of one upstream call to the start of the next."""
    max_wait_s: float = 10.0
    """Longest a caller waits for its upstream turn (or for a leader) before a 503."""
    timeout_s: float = 5.0
    """Longest one upstream call may take, all of it."""
    processes: int = 1
    """API processes sharing the upstream: without Redis each paces itself at
    interval * processes, so that together they stay within budget."""
    poll_s: float = 0.05
    hit_ttl_s: int = 30 * 24 * 3600
    miss_ttl_s: int = 3600
    failure_ttl_s: int = 30


class Geocoder(Protocol):
    async def geocode(self, query: str) -> Place | None:
        """The best match for a normalized query, or None when nothing matches.

        Raises GeocoderUnavailableError when the answer is unknown (the service failed).
        """
        ...


class GeocoderUnavailableError(Exception):
    """The geocoder could not answer (network failure, 5xx, or it rate-limited us)."""


class UpstreamThrottledError(GeocoderUnavailableError):
    """The upstream said we call too often (HTTP 429)."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"the upstream asked us to wait {retry_after_s} s")
        self.retry_after_s = retry_after_s


class GeocoderBusyError(Exception):
    """Our own limiter would make the caller wait longer than allowed for an upstream turn."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"the upstream geocoder is busy; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def normalize_query(query: str) -> str:
    """Trim, Unicode NFKC, casefold, collapse whitespace: equal queries, equal strings."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFKC", query).casefold()).strip()


def query_digest(normalized: str) -> str:
    """A stable name for a query that does not reveal it (for Redis keys)."""
    return hashlib.sha256(normalized.encode()).hexdigest()


def address_query(address: str | None, postal_code: str | None, city: str | None) -> str:
    """A postal address as one line, the way people type it: "Storgatan 1, 753 20 Uppsala"."""
    locality = " ".join(part for part in (postal_code, city) if part)
    return ", ".join(part for part in (address, locality) if part)


def place_name_candidates(normalized: str) -> list[str]:
    """Phrases of a typed address that could be a place name, most specific first.

    "storgatan 1, 753 20 uppsala" gives the comma-separated parts without their numbers
    ("storgatan", "uppsala"), then single words and adjacent word pairs, so a town can
    be found inside a full street address.
    """
    candidates: list[str] = []
    for part in normalized.split(","):
        words = _WORD.findall(part)
        phrases = [" ".join(words), *words, *(" ".join(pair) for pair in itertools.pairwise(words))]
        candidates.extend(p for p in phrases if len(p) >= 2 and p not in candidates)
    return candidates[:_MAX_CANDIDATES]
