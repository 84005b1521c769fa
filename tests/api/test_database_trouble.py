"""A database that is away, restarting, out of connections or too slow is a 503 with
Retry-After, logged once a minute; any other database error is a 500 with a traceback that
never shows the statement's parameters."""

import asyncio
import logging
from pathlib import Path

import httpx
import msgspec
import pytest
from asyncpg.exceptions import AdminShutdownError, CannotConnectNowError
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.errors import database_error_handler
from app.main import create_app
from app.settings import Settings
from db.engine import make_engine
from tests.support.live_server import live_server, settings_environment
from tests.support.ports import closed_port

SECRET = "someone@example.com"
UPPSALA = {"lat": 59.8586, "lng": 17.6389, "radius_km": 100, "limit": 100}


async def test_a_database_nobody_answers_at_is_503_logged_once(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """The app's logging writes to stderr (through a queue, hence the pause)."""
    away = f"postgresql+asyncpg://nobody:secret@127.0.0.1:{closed_port()}/equinet"
    app = create_app(msgspec.structs.replace(settings, database_url=away))
    async with AsyncTestClient(app=app) as client:
        answers = [await client.get("/api/providers/1") for _ in range(3)]
    await asyncio.sleep(0.2)
    assert [a.status_code for a in answers] == [503] * 3
    assert {a.headers["Retry-After"] for a in answers} == {"5"}
    assert answers[0].json() == {
        "status_code": 503,
        "detail": "database unavailable, try again shortly",
    }
    logged = capsys.readouterr().err
    assert logged.count("database unavailable (/api/providers/1): ConnectionRefusedError") == 1
    assert "Traceback" not in logged


async def test_a_statement_cut_off_at_its_timeout_is_503(settings: Settings) -> None:
    app = create_app(msgspec.structs.replace(settings, db_statement_timeout_ms=1))
    async with AsyncTestClient(app=app) as client:
        answer = await client.get("/api/providers/nearby", params={**UPPSALA, "strategy": "naive"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "5"


def _as_request(path: str) -> object:
    class Url:
        pass

    class Request:
        url = Url()

    Request.url.path = path  # type: ignore[attr-defined]
    return Request()


def test_a_restart_or_a_shutdown_is_503() -> None:
    handler = database_error_handler()
    request = _as_request("/api/bookings")
    starting = CannotConnectNowError("the database system is starting up")
    shut_down = DBAPIError("SELECT 1", None, AdminShutdownError("terminating connection"))
    answers = [handler(request, error) for error in (starting, shut_down)]  # type: ignore[arg-type]
    assert [a.status_code for a in answers] == [503, 503]


async def test_an_exhausted_pool_is_503_with_retry_after_and_one_log_line(
    settings: Settings, tmp_path: Path
) -> None:
    environment = {
        **settings_environment(settings),
        "DB_POOL_SIZE": "1",
        "DB_MAX_OVERFLOW": "0",
        "DB_POOL_TIMEOUT_S": "0.05",
        "SEARCH_COSTLY_AT_ONCE": "100",
    }
    log = tmp_path / "server.log"
    with live_server(environment, workers=1, log=log) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.get(
                        "/api/providers/nearby",
                        params={**UPPSALA, "lat": 59 + n / 100, "strategy": "naive"},
                    )
                    for n in range(30)
                )
            )
    statuses = [a.status_code for a in answers]
    assert set(statuses) == {200, 503}, statuses
    busy = [a for a in answers if a.status_code == 503]
    assert {a.headers["Retry-After"] for a in busy} == {"1"}
    assert {a.json()["detail"] for a in busy} == {"database busy, try again shortly"}
    output = log.read_text()
    assert "Traceback" not in output
    assert output.count("database pool exhausted") == 1, output


async def test_any_other_database_error_is_a_500_logged_without_a_value(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The driver's own message quotes the failing value: the log shows neither it nor
    the parameters, only the statement, the SQLSTATE and where it was raised."""
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as raised:
                await connection.execute(text("SELECT CAST(:email AS integer)"), {"email": SECRET})
    finally:
        await engine.dispose()
    assert SECRET not in str(raised.value).split("\n[SQL")[1]  # the parameters are hidden
    with caplog.at_level(logging.INFO):
        answer = database_error_handler()(_as_request("/api/bookings"), raised.value)  # type: ignore[arg-type]
    assert answer.status_code == 500
    [logged] = [r.getMessage() for r in caplog.records]
    assert logged.startswith("database error during /api/bookings: DataError (SQLSTATE 22000)")
    assert "SELECT CAST($1 AS integer)" in logged
    assert 'File "' in logged  # the traceback
    assert SECRET not in logged
