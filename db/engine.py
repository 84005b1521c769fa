"""Engine and session factory, and the slow-statement log."""

import logging
import re
import time
from collections.abc import Mapping
from typing import Any
from uuid import uuid4

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

logger = logging.getLogger(__name__)
_STATEMENT_SHOWN = 160


def engine_options(pool_size: int, max_overflow: int, pool_timeout_s: float) -> dict[str, Any]:
    """Options for an asyncpg engine that also works behind PgBouncer in transaction mode.

    No prepared statement may outlive its transaction there, so neither asyncpg nor
    SQLAlchemy caches them, and each gets a unique name. It also means every search is
    planned for its actual parameters, never with a generic plan.
    """
    return {
        # Bookings rely on an exclusion constraint, not on a stricter isolation level:
        # spelled out so that a server-wide default_transaction_isolation can't change it.
        "isolation_level": "READ COMMITTED",
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout_s,
        "pool_pre_ping": True,
        # Parameters carry emails, password hashes and addresses: never in an error's text.
        "hide_parameters": True,
        "connect_args": {
            "statement_cache_size": 0,
            "prepared_statement_cache_size": 0,
            "prepared_statement_name_func": lambda: f"__asyncpg_{uuid4()}__",
        },
    }


def make_engine(
    url: str, pool_size: int = 5, max_overflow: int = 5, pool_timeout_s: float = 5
) -> AsyncEngine:
    return create_async_engine(url, **engine_options(pool_size, max_overflow, pool_timeout_s))


def make_read_pool(
    url: str,
    connection_settings: Mapping[str, str],
    pool_size: int = 5,
    max_overflow: int = 5,
    pool_timeout_s: float = 5,
) -> AsyncEngine:
    """An engine for single reads on a direct connection to PostgreSQL: each connection
    starts with `connection_settings`, and a statement runs with no transaction around it
    and no ping before it, so that it costs one round trip. Its callers retry a read
    whose connection turns out to be dead (db.nearest). Not for use behind a
    transaction-mode pooler, which would hand the settings to other clients."""
    options = engine_options(pool_size, max_overflow, pool_timeout_s)
    options["connect_args"] = {"server_settings": read_pool_server_settings(connection_settings)}
    return create_async_engine(
        url, **options | {"isolation_level": "AUTOCOMMIT", "pool_pre_ping": False}
    )


def read_pool_server_settings(connection_settings: Mapping[str, str]) -> dict[str, str]:
    """What a read pool's connections start with. Prepared statements live as long as the
    connection there, so each statement is parsed once per connection. Each execution is
    still planned for its own values: a generic plan would evaluate a search's center anew
    for every row it visits."""
    return {**connection_settings, "plan_cache_mode": "force_custom_plan"}


def log_slow_statements(engine: AsyncEngine, info_ms: float, warning_ms: float) -> None:
    """Log each statement that takes longer than `info_ms` (at INFO) or `warning_ms` (at
    WARNING), by the start of its SQL. The SQL carries placeholders, never values."""

    def started(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        conn.info["statement_started"] = time.perf_counter()  # one statement at a time

    def finished(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        took_ms = (time.perf_counter() - conn.info["statement_started"]) * 1000
        if took_ms < info_ms:
            return
        level = logging.WARNING if took_ms >= warning_ms else logging.INFO
        shown = re.sub(r"\s+", " ", statement).strip()[:_STATEMENT_SHOWN]
        logger.log(level, "slow statement (%.0f ms): %s", took_ms, shown)

    event.listen(engine.sync_engine, "before_cursor_execute", started)
    event.listen(engine.sync_engine, "after_cursor_execute", finished)
