"""The API served by granian on a loopback port, as `make serve` runs it, for tests that
need requests to really run at the same time (the in-process test client handles one
request at a time)."""

import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec

from app.settings import RateLimits, Settings
from tests.support.ports import server_ports

REPOSITORY = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


def wait_until_healthy(
    url: str, process: subprocess.Popen[bytes], verify: ssl.SSLContext | bool = True
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0, verify=verify).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not answer within {START_TIMEOUT_S} s")


def settings_environment(settings: Settings) -> dict[str, str]:
    """The environment that makes a served app use these settings (those the tests set)."""
    return {
        "DATABASE_URL": settings.database_url,
        "DATABASE_REPLICA_URL": settings.database_replica_url,
        "DB_TRANSACTION_POOLER": str(settings.db_transaction_pooler).lower(),
        "REDIS_URL": settings.redis_url,
        "REDIS_CACHE_URL": settings.redis_cache_url,
        "SECRET_KEY": settings.secret_key,
        "BOOKING_HORIZON_DAYS": str(settings.booking_horizon_days),
        "SEARCH_STRATEGIES": settings.search.strategies,
        "SMTP_URL": settings.smtp_url,
        "PUBLIC_BASE_URL": settings.public_base_url,
        "EXPORT_DIR": settings.exports.dir,
        **{
            f"JOBS_{name.upper()}": str(value)
            for name, value in msgspec.structs.asdict(settings.jobs).items()
        },
        **{
            f"RATE_LIMIT_{name.upper()}": getattr(settings.rate_limits, name)
            for name in RateLimits.__struct_fields__
        },
        **{
            f"PASSWORD_HASH_{name.upper()}": str(value)
            for name, value in msgspec.structs.asdict(settings.passwords).items()
        },
    }


@contextmanager
def live_server(
    environment: dict[str, str],
    workers: int = 2,
    log: Path | None = None,
    header_timeout_ms: int = 10_000,
    target: str = "app.main:create_app",
) -> Iterator[str]:
    """Serve the app (`target`, an app factory) with `workers` processes configured by
    `environment`; yields its URL. The server's output goes to `log` when given."""
    port = server_ports()
    granian = Path(sys.executable).with_name("granian")
    output = None if log is None else log.open("wb")
    process = subprocess.Popen(
        [
            str(granian),
            *("--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", str(workers), "--http1-header-read-timeout", str(header_timeout_ms)),
            *("--log-level", "warning", target),
        ],
        cwd=REPOSITORY,
        env={**os.environ, **environment},
        stdout=output,
        stderr=None if output is None else subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(url, process)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if output is not None:
            output.close()
