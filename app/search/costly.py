"""Searches by the strategies that don't use the spatial index's ordering (bbox, naive).

They are offered for comparison, and each can cost a hundred gist searches. A client may
make only a few a minute, and one process runs only a few at once, answering 503 beyond
that at once rather than queueing, so they can never hold the connections gist searches need.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar.exceptions import ServiceUnavailableException

from geo.strategies import SearchStrategy

RETRY_AFTER_S = 1


class CostlySearches:
    def __init__(self, at_once: int) -> None:
        self._slots = asyncio.Semaphore(at_once)

    @staticmethod
    def limits(strategy: SearchStrategy) -> tuple[str, ...]:
        """The limit a search by `strategy` counts against per client, beyond every API
        request's."""
        return () if strategy is SearchStrategy.gist else ("costly_search",)

    @asynccontextmanager
    async def running(self, strategy: SearchStrategy) -> AsyncIterator[None]:
        """Hold one of the process's costly slots while the search runs (503 if none)."""
        if strategy is SearchStrategy.gist:
            yield
            return
        if self._slots.locked():
            raise ServiceUnavailableException(
                f"too many {strategy} searches at once; retry shortly, or use gist",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        async with self._slots:
            yield
