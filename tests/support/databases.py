"""Databases of a suite's own: copies of its template database (tests.support.suite), and
Redis databases no other running suite holds; the session's, and those of tests whose
workers must see nobody else's rows and keys."""

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from redis import Redis
from sqlalchemy.engine import make_url

from db.databases import create_database, direct_url, drop_database, sibling_url
from tests.support.suite import claimed_redis_database, suite_template


@contextmanager
def template_copy() -> Iterator[str]:
    """A fresh copy of the migrated and seeded template (made once), dropped afterwards;
    on PostgreSQL itself when DATABASE_URL goes through PgBouncer. Yields its URL."""
    admin_url = direct_url() or os.environ["DATABASE_URL"]
    name = f"equinet_test_{uuid.uuid4().hex[:12]}"
    template = asyncio.run(suite_template(admin_url))
    asyncio.run(create_database(admin_url, name, template))
    try:
        yield sibling_url(admin_url, name)
    finally:
        asyncio.run(drop_database(admin_url, name))


@contextmanager
def own_redis_database(server_url: str) -> Iterator[str]:
    """A database of the Redis at `server_url` that no other running suite holds, emptied
    first: cached pages of an earlier run's database must not answer for this one."""
    url = make_url(server_url.replace("redis://", "postgresql://", 1))
    with claimed_redis_database(f"{url.host}-{url.port}") as number:
        test_url = (
            url.set(database=str(number))
            .render_as_string(hide_password=False)
            .replace("postgresql://", "redis://", 1)
        )
        client = Redis.from_url(test_url)
        client.flushdb()
        client.close()
        yield test_url
