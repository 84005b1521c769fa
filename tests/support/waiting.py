"""Waiting for what a worker does in its own time."""

import asyncio
import time
from collections.abc import Awaitable, Callable

WAIT_S = 20.0


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = WAIT_S) -> bool:
    """Whether `check` came true within the timeout (asked every tenth of a second)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
