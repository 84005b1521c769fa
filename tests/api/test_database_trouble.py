"""A database that is away, restarting, out of connections or too slow is a 503 with
Retry-After, logged once a minute; any other database error is a 500 with a traceback that
never shows the statement's parameters."""

import asyncio
import logging
from pathlib import Path

import httpx
import msgspec
import pytest
from asyncpg.exceptions import AdminShutdownError, CannotConnectNowError, UniqueViolationError
from litestar.testing import AsyncTestClient
from sqlalchemy.exc import DBAPIError

from app.errors import database_error_handler
from app.main import create_app
from app.settings import Settings
from tests.support.live_server import live_server, settings_environment
from tests.support.ports import closed_port

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


def test_a_restart_is_503_and_a_real_database_error_is_500_without_its_parameters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    request = _as_request("/api/bookings")
    starting = CannotConnectNowError("the database system is starting up")
    shut_down = DBAPIError("SELECT 1", None, AdminShutdownError("terminating connection"))
    bug = DBAPIError(
        "INSERT INTO accounts (email) VALUES ($1)",
        ("someone@example.com",),
        UniqueViolationError("duplicate key"),
        hide_parameters=True,
    )
    with caplog.at_level(logging.INFO):
        handler = database_error_handler()
        answers = [handler(request, e) for e in (starting, shut_down, bug)]  # type: ignore[arg-type]
    assert [a.status_code for a in answers] == [503, 503, 500]
    [logged] = [r for r in caplog.records if r.exc_info]
    assert logged.levelno == logging.ERROR
    text = logging.Formatter().format(logged)
    assert "INSERT INTO accounts" in text
    assert "someone@example.com" not in text


@pytest.mark.live_server
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
