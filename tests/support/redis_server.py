"""A Redis of its own, on one of the project's configurations (scripts/redis.conf for
state, scripts/redis-cache.conf for caches), for tests that restart or fill one."""

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.support.live_server import REPOSITORY
from tests.support.ports import closed_port

SCRIPTS = REPOSITORY / "scripts"


@asynccontextmanager
async def project_redis(
    data_dir: Path, config: str = "redis.conf", *options: str
) -> AsyncIterator[str]:
    """Start redis-server on scripts/`config` (and `options`, e.g. "--maxmemory", "4mb"),
    keeping its files in `data_dir`; yields its URL, then shuts it down as an operator
    would (SHUTDOWN), so a second start finds what the first kept."""
    port = closed_port()
    server = shutil.which("redis-server") or "redis-server"
    process = await asyncio.create_subprocess_exec(
        *(server, str(SCRIPTS / config), "--port", str(port), "--bind", "127.0.0.1"),
        *("--dir", str(data_dir), *options),
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url)
    try:
        for _ in range(100):
            try:
                await client.ping()
                break
            except RedisConnectionError:
                await asyncio.sleep(0.05)
        yield url
        with contextlib.suppress(RedisConnectionError):  # it closes as the server exits
            await client.shutdown()
        await asyncio.wait_for(process.wait(), timeout=10)
    finally:
        await client.aclose()
        if process.returncode is None:
            process.kill()
            await process.wait()
