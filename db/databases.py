"""Whole databases next to DATABASE_URL's, for the test suite and the benchmarks."""

import os
import subprocess
import sys
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent


def direct_url() -> str | None:
    """The URL for whole-database work (create, drop, migrate, seed): PostgreSQL itself,
    also when DATABASE_URL goes through PgBouncer (then DATABASE_DIRECT_URL is set)."""
    return os.environ.get("DATABASE_DIRECT_URL") or os.environ.get("DATABASE_URL")


def asyncpg_dsn(url: str) -> str:
    """asyncpg speaks plain postgresql:// URLs, without SQLAlchemy's driver suffix."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def sibling_url(url: str, database: str) -> str:
    """The same server and credentials, another database."""
    return make_url(url).set(database=database).render_as_string(hide_password=False)


async def create_database(admin_url: str, name: str, template: str | None = None) -> None:
    """Create `name` unless it exists, as a copy of `template` if one is named (the server
    needs CREATEDB for this role, and nobody may be connected to the template)."""
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        if not await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            copy = f' TEMPLATE "{template}"' if template else ""
            await connection.execute(f'CREATE DATABASE "{name}"{copy}')
    finally:
        await connection.close()


async def drop_database(admin_url: str, name: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(admin_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def migrate(url: str, *command: str) -> None:
    """`alembic upgrade head` (or another command) on `url`, in a process of its own
    (alembic's environment runs an event loop of its own)."""
    subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", *(command or ("upgrade", "head"))],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
