"""The streaming replica of the local stack, for the tests of reads made on it: its URL,
WAL replay paused and resumed, the replica stopped and started (scripts/devstack.sh), and
waiting for it to catch up."""

import asyncio
import os
import subprocess
import time
from typing import Any

import asyncpg
from prometheus_client import REGISTRY

from db.databases import asyncpg_dsn, sibling_url
from tests.support.live_server import REPOSITORY

CATCH_UP_TIMEOUT_S = 30.0


def replica_server_url() -> str | None:
    """The replica reached directly (not through PgBouncer), if the stack has one."""
    return os.environ.get("DATABASE_REPLICA_DIRECT_URL") or os.environ.get("DATABASE_REPLICA_URL")


def replica_database_url(database: str) -> str | None:
    server = replica_server_url()
    return None if server is None else sibling_url(server, database)


async def value_of(url: str, statement: str, *arguments: object) -> Any:
    """The first value `statement` returns on `url`, on a connection of its own."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return await connection.fetchval(statement, *arguments)
    finally:
        await connection.close()


async def _until(url: str, query: str, failure: str) -> None:
    """Wait until `query` on `url` is true."""
    deadline = time.monotonic() + CATCH_UP_TIMEOUT_S
    while not await value_of(url, query):
        assert time.monotonic() < deadline, failure
        await asyncio.sleep(0.02)


async def pause_replay(replica_url: str) -> None:
    """Stop applying WAL on the replica (it keeps receiving it), and wait until it has."""
    await value_of(replica_url, "SELECT pg_wal_replay_pause()")
    paused = "SELECT pg_get_wal_replay_pause_state() = 'paused'"
    await _until(replica_url, paused, "replay did not pause")


async def resume_replay(replica_url: str) -> None:
    await value_of(replica_url, "SELECT pg_wal_replay_resume()")


async def caught_up(primary_url: str, replica_url: str) -> None:
    """Wait until the replica has replayed all the WAL the primary has written so far."""
    written = await value_of(primary_url, "SELECT pg_current_wal_lsn()::text")
    replayed = f"SELECT pg_last_wal_replay_lsn() >= '{written}'::pg_lsn"
    await _until(replica_url, replayed, "the replica did not catch up")


async def received_unreplayed(replica_url: str) -> None:
    """Wait until the replica has received WAL it has not replayed."""
    behind = "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"
    await _until(replica_url, behind, "the replica received nothing")


def devstack_replica(action: str) -> None:
    """`scripts/devstack.sh replica <action>`: stop or start the local stack's replica."""
    subprocess.run(
        ["bash", "scripts/devstack.sh", "replica", action],
        cwd=REPOSITORY,
        check=True,
        capture_output=True,
    )


class PublicReadCounts:
    """The public reads this process has counted (app.edge.metrics), by server and reason,
    since the counts were taken."""

    def __init__(self) -> None:
        self._at_start = self._now()

    @staticmethod
    def _now() -> dict[tuple[str, str], float]:
        return {
            (sample.labels["server"], sample.labels["reason"]): sample.value
            for family in REGISTRY.collect()
            if family.name == "equinet_public_reads"
            for sample in family.samples
            if sample.name.endswith("_total")
        }

    def since(self) -> dict[tuple[str, str], float]:
        """The counts that grew, by how much."""
        now = self._now()
        grown = {key: value - self._at_start.get(key, 0.0) for key, value in now.items()}
        return {key: value for key, value in grown.items() if value}
