"""Liveness and readiness, against the real services and against unreachable ones."""

from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.main import create_app
from app.settings import Settings
from tests.support.accounts import sign_up
from tests.support.ports import closed_port


async def test_health_is_ok(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_reports_round_trips_of_both_services(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    for name in ("postgres", "redis"):
        assert body["checks"][name]["ok"] is True
        assert body["checks"][name]["latency_ms"] >= 0


async def test_ready_is_503_when_redis_is_down_but_search_and_login_still_work(
    settings: Settings,
) -> None:
    down = Settings(
        settings.database_url, f"redis://127.0.0.1:{closed_port()}/0", settings.secret_key
    )
    async with AsyncTestClient(app=create_app(down)) as client:
        response = await client.get("/health/ready")
        search = await client.get("/api/providers/nearby", params={"lat": 59.33, "lng": 18.07})
        account = await sign_up(client, "customer")
        me = await client.get("/api/me", headers=account.headers)
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["postgres"]["ok"] is True
    assert search.status_code == 200
    assert search.json()["items"]
    assert me.status_code == 200


async def test_database_down_is_503_not_500(settings: Settings) -> None:
    url = f"postgresql+asyncpg://nobody:x@127.0.0.1:{closed_port()}/nothing"
    down = Settings(url, settings.redis_url, settings.secret_key)
    async with AsyncTestClient(app=create_app(down)) as client:
        ready = await client.get("/health/ready")
        search = await client.get("/api/providers/nearby", params={"lat": 59, "lng": 18})
    assert ready.status_code == 503
    assert ready.json()["checks"]["postgres"]["ok"] is False
    assert search.status_code == 503
    assert search.headers["retry-after"]
