"""One process of the limiter test: geocode the given queries all at once, then exit.

    python -m tests.support.geocode_burst REDIS_URL NOMINATIM_URL QUERY...

Prints one line per answer ("<query>\t<source>"). The gazetteer is not needed: every
query is one the stub knows nothing about, so each costs one upstream turn.
"""

import asyncio
import sys

import httpx
from redis.asyncio import Redis

from geo.geocoding.base import GeocoderPolicy, Place
from geo.geocoding.chain import GeocoderChain
from geo.geocoding.nominatim import NominatimGeocoder


class NoGazetteer:
    async def geocode(self, query: str) -> Place | None:
        return None


async def main(redis_url: str, nominatim_url: str, queries: list[str]) -> None:
    redis = Redis.from_url(redis_url)
    async with httpx.AsyncClient() as http:
        upstream = NominatimGeocoder(http, nominatim_url, "equinet-geo-tests/1 (test@example.com)")
        chain = GeocoderChain(redis, NoGazetteer(), upstream, GeocoderPolicy(max_wait_s=60))
        answers = await asyncio.gather(*(chain.geocode(q) for q in queries))
    await redis.aclose()
    for query, answer in zip(queries, answers, strict=True):
        print(f"{query}\t{answer.source if answer else 'none'}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
