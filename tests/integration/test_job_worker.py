"""The worker as production runs it (`python -m app.jobs`), killed, stopped and failing:
a job it was running is run again by another and finishes once; a job that keeps failing
is a dead letter until an operator puts it back; a mail job run again sends nothing more.

The workers here relay from a database of the module's own, and take jobs from a queue of
its own (in Redis databases of its own), so that the suite's other workers and tests
neither take nor add its jobs."""

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from saq import Queue
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.main import create_app
from app.settings import Settings
from db.engine import make_engine
from tests.support.accounts import sign_up
from tests.support.bookings import Client, booked, days_ahead, open_provider, stockholm
from tests.support.databases import own_redis_database, template_copy
from tests.support.live_server import REPOSITORY, settings_environment
from tests.support.mail import letter_to, letters_to
from tests.support.ports import closed_port
from tests.support.waiting import until
from tests.support.worker import Worker

BOOKINGS = 4


@pytest.fixture(scope="module")
def isolated(settings: Settings) -> Iterator[Settings]:
    """The suite's settings on a copy of the template and Redis databases of their own."""
    with (
        template_copy() as url,
        own_redis_database(settings.redis_url) as redis_url,
        own_redis_database(settings.redis_cache_url) as redis_cache_url,
    ):
        yield msgspec.structs.replace(
            settings,
            database_url=url,
            redis_url=redis_url,
            redis_cache_url=redis_cache_url,
            database_replica_url="",
            db_transaction_pooler=False,
        )


@pytest.fixture(scope="module")
async def client(isolated: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(isolated)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def engine(isolated: Settings) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(isolated.database_url)
    yield engine
    await engine.dispose()


RESET = "Välj ett nytt lösenord"


@asynccontextmanager
async def bookings_locked(engine: AsyncEngine) -> AsyncIterator[None]:
    """No one reads bookings until the block ends: an export's snapshot waits there."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        await connection.execute(text("LOCK TABLE bookings IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await transaction.rollback()


async def _status(engine: AsyncEngine, export_id: str) -> str:
    return str((await _export_row(engine, export_id))["status"])


async def _export_row(engine: AsyncEngine, export_id: str) -> dict[str, Any]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT status::text, attempts, rows FROM exports WHERE id = :id"),
                {"id": export_id},
            )
        ).one()
    return dict(row._mapping)


async def _start_export(client: Client) -> tuple[str, dict[str, str]]:
    provider = await open_provider(client)
    customer = await sign_up(client, "customer")
    for n in range(BOOKINGS):
        await booked(client, customer, provider, stockholm(days_ahead(50 + n), 10))
    started = await client.post(
        "/api/exports", json={"kind": "bookings", "format": "csv"}, headers=customer.headers
    )
    assert started.status_code == 202
    return started.json()["id"], customer.headers


async def _finished_once(
    client: Client, engine: AsyncEngine, export_id: str, headers: dict[str, str]
) -> None:
    async def done() -> bool:
        return await _status(engine, export_id) == "done"

    assert await until(done), await _export_row(engine, export_id)
    assert await _export_row(engine, export_id) == {"status": "done", "attempts": 2, "rows": 4}
    download = await client.get(f"/api/exports/{export_id}/download", headers=headers)
    assert len(download.text.splitlines()) == 1 + BOOKINGS


async def _running(engine: AsyncEngine, export_id: str) -> bool:
    return await _status(engine, export_id) == "running"


async def test_a_worker_killed_mid_export_leaves_it_to_another_that_finishes_it_once(
    client: Client, engine: AsyncEngine, isolated: Settings
) -> None:
    environment = settings_environment(isolated)
    export_id, headers = await _start_export(client)
    async with bookings_locked(engine):
        killed = Worker(environment)
        try:
            assert await until(lambda: _running(engine, export_id))
        finally:
            killed.kill()
    survivor = Worker(environment)  # its sweep finds the job's heartbeat stopped
    try:
        await _finished_once(client, engine, export_id, headers)
    finally:
        assert survivor.stop() == 0


async def test_a_stopped_worker_puts_its_running_job_back_on_the_queue(
    client: Client, engine: AsyncEngine, isolated: Settings
) -> None:
    environment = settings_environment(isolated) | {"JOBS_SHUTDOWN_GRACE_S": "1"}
    export_id, headers = await _start_export(client)
    async with bookings_locked(engine):
        stopped = Worker(environment)
        assert await until(lambda: _running(engine, export_id))
        started = time.monotonic()
        assert stopped.stop() == 0
        assert time.monotonic() - started < 10
    successor = Worker(environment)
    try:
        await _finished_once(client, engine, export_id, headers)
    finally:
        successor.stop()


def _jobs_command(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    """`python -m app.jobs …`, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "app.jobs", *arguments],
        cwd=REPOSITORY,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        check=True,
    )


async def test_a_mail_that_keeps_failing_is_a_dead_letter_until_put_back(
    client: Client, engine: AsyncEngine, isolated: Settings
) -> None:
    environment = settings_environment(isolated)
    account = await sign_up(client, "customer")
    unreachable = environment | {
        "SMTP_URL": f"smtp://127.0.0.1:{closed_port()}",
        "JOBS_ATTEMPTS": "2",
    }
    with_no_server = Worker(unreachable)
    try:
        await client.post("/api/auth/password-reset", json={"email": account.email})

        async def dead() -> bool:
            async with engine.connect() as connection:
                failed = await connection.scalar(
                    text("SELECT failed_at FROM outbox WHERE payload->>'email' = :email"),
                    {"email": account.email},
                )
            return failed is not None

        assert await until(dead)
    finally:
        with_no_server.stop()
    listed = _jobs_command(environment, "dead").stdout
    assert account.email in listed
    assert "send_mail" in listed
    assert "2 attempts" in listed
    metrics = (await client.get("/metrics")).text
    assert "equinet_outbox_dead 1.0" in metrics
    assert 'equinet_job_attempts_total{job="send_mail",outcome="dead"}' in metrics
    assert letters_to(account.email, RESET) == []

    worker = Worker(environment)
    try:
        retried = _jobs_command(environment, "retry", "--all")
        assert "1 dead letters back on the queue" in retried.stderr
        letter = await letter_to(account.email, RESET)
        assert "equinet_outbox_dead 0.0" in (await client.get("/metrics")).text
        await _mail_job_again_sends_nothing(isolated, letter["Message-ID"])
        await asyncio.sleep(0.5)
        assert len(letters_to(account.email, RESET)) == 1
    finally:
        worker.stop()


async def _mail_job_again_sends_nothing(settings: Settings, message_id: str) -> None:
    """A retry of a mail job that has sent its mail (the worker died before it said so)."""
    outbox_id = int(message_id.removeprefix("<outbox-").partition("@")[0])
    queue = Queue.from_url(settings.redis_url, name=settings.jobs.queue)
    await queue.connect()
    try:
        job = await queue.enqueue("send_mail", key=f"again-{outbox_id}", outbox_id=outbox_id)
        assert job is not None
        await job.refresh(until_complete=10)
        assert job.result == "sent already"
    finally:
        await queue.disconnect()


async def test_metrics_name_the_queue_and_the_outbox(client: Client) -> None:
    body = (await client.get("/metrics")).text
    for family in (
        "equinet_jobs_queued",
        "equinet_jobs_active",
        "equinet_jobs_scheduled",
        "equinet_outbox_waiting",
        "equinet_outbox_oldest_waiting_seconds",
        "equinet_outbox_dead",
    ):
        assert f"\n{family} " in body, family
