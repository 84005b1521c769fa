"""Pure pieces of geocoding: query normalization, the phrases the gazetteer tries, and the
in-process limiter that stands in when Redis is down."""

import asyncio
import itertools
import time

import pytest

from geo.geocoding.base import (
    GeocoderBusyError,
    address_query,
    normalize_query,
    place_name_candidates,
    query_digest,
)
from geo.geocoding.limiter import LocalLimiter


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("  Storgatan 1,   Uppsala ", "storgatan 1, uppsala"),
        ("GÖTEBORG", "göteborg"),
        ("Straße\t5\nBerlin", "strasse 5 berlin"),  # casefold, not lower
        ("ﬁskebäckskil", "fiskebäckskil"),  # NFKC unfolds the ligature
        ("Malmo\u0308", "malmö"),  # combining diaeresis composes
    ],
)
def test_normalize_query(typed: str, normalized: str) -> None:
    assert normalize_query(typed) == normalized


def test_equal_queries_share_a_digest_that_hides_them() -> None:
    digest = query_digest(normalize_query(" Storgatan 1, UPPSALA"))
    assert digest == query_digest(normalize_query("storgatan 1,  uppsala"))
    assert len(digest) == 64
    assert "uppsala" not in digest


def test_place_candidates_find_the_town_in_a_street_address() -> None:
    candidates = place_name_candidates("storgatan 1, 753 20 uppsala")
    assert candidates[:2] == ["storgatan", "uppsala"]


def test_place_candidates_keep_multiword_names_and_pairs() -> None:
    candidates = place_name_candidates("gamla vägen 3, upplands väsby")
    assert "upplands väsby" in candidates
    assert "gamla vägen" in candidates
    assert "väsby" in candidates


def test_place_candidates_are_the_part_then_its_words_then_its_word_pairs() -> None:
    assert place_name_candidates("norra stora gatan 4, ed") == [
        "norra stora gatan",
        "norra",
        "stora",
        "gatan",
        "norra stora",
        "stora gatan",
        "ed",  # two letters make a town (Ed, in Dalsland); one does not
    ]
    assert place_name_candidates("x, ed") == ["ed"]


def test_place_candidates_are_bounded_and_skip_numbers() -> None:
    assert place_name_candidates("12345 678") == []
    assert len(place_name_candidates(" ".join(f"ord{'a' * n}" for n in range(50)))) == 16


def test_address_query_reads_like_a_postal_address() -> None:
    assert address_query("Storgatan 1", "753 20", "Uppsala") == "Storgatan 1, 753 20 Uppsala"
    assert address_query(None, None, "Uppsala") == "Uppsala"
    assert address_query(None, None, None) == ""


async def test_the_local_limiter_holds_callers_back_when_the_upstream_asks() -> None:
    limiter = LocalLimiter(interval_s=0.01, max_wait_s=5)
    limiter.defer(0.3)
    limiter.defer(0.1)  # a shorter deferral does not shorten the longer one
    started = time.monotonic()
    async with limiter.turn():
        assert 0.3 <= time.monotonic() - started < 0.6
    limiter.defer(9)
    with pytest.raises(GeocoderBusyError) as raised:
        async with limiter.turn():
            pass
    assert raised.value.retry_after_s == 9


async def test_the_local_limiter_runs_one_call_at_a_time_an_interval_after_the_last() -> None:
    limiter = LocalLimiter(interval_s=0.05, max_wait_s=5)
    calls: list[tuple[float, float]] = []

    async def call() -> None:
        async with limiter.turn():
            started = time.monotonic()
            await asyncio.sleep(0.1)
            calls.append((started, time.monotonic()))

    await asyncio.gather(*(call() for _ in range(4)))
    pauses = [later[0] - earlier[1] for earlier, later in itertools.pairwise(sorted(calls))]
    assert len(pauses) == 3
    assert all(0.05 - 0.001 <= pause < 0.1 for pause in pauses), pauses
