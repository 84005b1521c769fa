"""A write whose COMMIT fails is never answered 2xx, and leaves nothing behind.

Each case makes every transaction that writes one table fail at COMMIT (a deferred
constraint trigger, checked only then), sends one write request, and checks that the
answer is an error and that the table is exactly as it was.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from argon2 import PasswordHasher
from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.jobs.worker import WORKER_APPLICATION_NAME
from app.main import create_app
from app.settings import Settings
from tests.support.accounts import PASSWORD, SignedIn, sign_up
from tests.support.bookings import Client, OpenProvider, booked, days_ahead, stockholm
from tests.support.commits import failing_commits

# Cheap, and at another cost than the suite's: a login rehashes it.
OUTDATED_HASHER = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
# The scene's days, reckoned once for the scene and the cases alike: a run may cross midnight.
BOOKED_DAY = days_ahead(20)
CLOSED_DAY = days_ahead(21).isoformat()
ROUTE_DAY = days_ahead(5).isoformat()
NEXT_ROUTE_DAY = days_ahead(6).isoformat()


@dataclass(frozen=True)
class Scene:
    """Rows every case may write to: a provider with a pending booking (and one whose
    visit has begun), its notification,
    an exception to its hours, an account whose password hash is out of date, an account
    with nothing to it (spare), an open route order, and a route through another order."""

    client: Client
    provider: OpenProvider
    customer: SignedIn
    spare: SignedIn
    booking_id: int
    notification_id: int
    outdated_email: str
    route_order_id: int
    route_id: int
    planned_order_id: int
    started_booking_id: int


async def _scene(client: Client, engine: AsyncEngine, provider: OpenProvider) -> Scene:
    customer = await sign_up(client, "customer")
    spare = await sign_up(client, "customer")
    booking_id = await booked(client, customer, provider, stockholm(BOOKED_DAY, 10))
    started_booking_id = await booked(client, customer, provider, stockholm(BOOKED_DAY, 12))
    exception = {"date": CLOSED_DAY, "closed": True}
    path = f"/api/providers/{provider.id}/availability/exceptions"
    response = await client.post(path, json=exception, headers=provider.owner.headers)
    assert response.status_code == 201, response.text
    order, planned = [
        await client.post("/api/route-orders", json=ROUTE_ORDER, headers=customer.headers)
        for _ in range(2)
    ]
    assert (order.status_code, planned.status_code) == (201, 201), order.text
    route = await client.post(
        "/api/routes",
        json=_route(provider, planned.json()["id"], ROUTE_DAY),
        headers=provider.owner.headers,
    )
    assert route.status_code == 201, route.text
    outdated_email = f"outdated-{uuid.uuid4().hex[:10]}@example.com"
    async with engine.begin() as connection:
        notification_id = await connection.scalar(
            text("SELECT id FROM notifications WHERE user_id = :user ORDER BY id DESC LIMIT 1"),
            {"user": provider.owner.id},
        )
        await connection.execute(
            text(
                "INSERT INTO users (email, password_hash, role) VALUES (:email, :hash, 'customer')"
            ),
            {"email": outdated_email, "hash": OUTDATED_HASHER.hash(PASSWORD)},
        )
        await connection.execute(
            text(
                "UPDATE bookings SET during = tstzrange(now() - interval '1 hour', now())"
                " WHERE id = :id"
            ),
            {"id": started_booking_id},
        )
    return Scene(
        client,
        provider,
        customer,
        spare,
        booking_id,
        notification_id,
        outdated_email,
        order.json()["id"],
        route.json()["id"],
        planned.json()["id"],
        started_booking_id,
    )


@dataclass(frozen=True)
class Write:
    name: str
    table: str
    """The table whose COMMIT fails."""
    method: str
    path: str
    """Formatted with the scene's provider `p` and the scene `s`."""
    body: Callable[[Scene], object] | None = None
    caller: str = "owner"
    """Whose token goes with it: the provider's owner, the customer, the spare account, or
    nobody."""

    async def send(self, scene: Scene) -> httpx.Response:
        callers = {"owner": scene.provider.owner, "customer": scene.customer, "spare": scene.spare}
        who = callers.get(self.caller)
        return await scene.client.request(
            self.method,
            self.path.format(p=scene.provider, s=scene),
            json=None if self.body is None else self.body(scene),
            headers=who.headers if who else None,
        )


def _new_account(_: Scene) -> dict[str, str]:
    email = f"lost-{uuid.uuid4().hex[:10]}@example.com"
    return {"email": email, "password": PASSWORD, "role": "customer"}


def _route(provider: OpenProvider, order_id: int, day: str) -> dict[str, object]:
    """A route from beside the order (the provider itself is in the Norwegian Sea)."""
    start = {"latitude": ROUTE_ORDER["latitude"], "longitude": ROUTE_ORDER["longitude"]}
    return {"provider_id": provider.id, "date": day, "route_order_ids": [order_id], "start": start}


def _booking(scene: Scene) -> dict[str, object]:
    return scene.provider.booking(stockholm(BOOKED_DAY, 14))


PROVIDER = "/api/providers/{p.id}"
SERVICE = "/api/providers/{p.id}/services/{p.service_id}"
HOURS = "/api/providers/{p.id}/availability"
BOOKING = "/api/bookings/{s.booking_id}"
WEEKLY = {"weekly": [{"weekday": 0, "opens": "07:00", "closes": "09:00"}]}
SERVICE_DRAFT = {"name": "Verkning", "category": "farrier", "duration_minutes": 30, "price": "500"}
NEW_PROVIDER = {"business_name": "X", "latitude": 67.1, "longitude": 5.1}
ROUTE_ORDER = {
    "category": "farrier",
    "latitude": 59.86,
    "longitude": 17.64,
    "earliest": days_ahead(3).isoformat(),
    "latest": days_ahead(9).isoformat(),
}

WRITES = [
    Write("register", "users", "POST", "/api/auth/register", _new_account, caller=""),
    Write(
        "login rehashing an outdated hash",
        "users",
        "POST",
        "/api/auth/login",
        lambda s: {"email": s.outdated_email, "password": PASSWORD},
        caller="",
    ),
    Write(
        "change a password",
        "users",
        "POST",
        "/api/me/password",
        lambda _: {"current_password": PASSWORD, "new_password": "another horse battery"},
        caller="spare",
    ),
    Write("delete an account", "users", "DELETE", "/api/me", caller="spare"),
    Write("create provider", "providers", "POST", "/api/providers", lambda _: NEW_PROVIDER),
    Write("update provider", "providers", "PATCH", PROVIDER, lambda _: {"business_name": "New"}),
    Write("deactivate provider", "providers", "DELETE", PROVIDER),
    Write("add service", "services", "POST", PROVIDER + "/services", lambda _: SERVICE_DRAFT),
    Write("update service", "services", "PATCH", SERVICE, lambda _: {"price": "1"}),
    Write("deactivate service", "services", "DELETE", SERVICE),
    Write("replace weekly hours", "availability", "PUT", HOURS, lambda _: WEEKLY),
    Write(
        "set an exception",
        "availability_exceptions",
        "POST",
        HOURS + "/exceptions",
        lambda _: {"date": (BOOKED_DAY + timedelta(days=2)).isoformat(), "closed": True},
    ),
    Write(
        "remove an exception",
        "availability_exceptions",
        "DELETE",
        HOURS + "/exceptions/" + CLOSED_DAY,
    ),
    Write("book", "bookings", "POST", "/api/bookings", _booking, caller="customer"),
    Write("cancel", "bookings", "POST", BOOKING + "/cancel", caller="customer"),
    Write("confirm", "bookings", "POST", BOOKING + "/confirm"),
    Write("mark one read", "notifications", "POST", "/api/notifications/{s.notification_id}/read"),
    Write("mark all read", "notifications", "POST", "/api/notifications/read-all"),
    Write(
        "order a visit",
        "route_orders",
        "POST",
        "/api/route-orders",
        lambda _: ROUTE_ORDER,
        "customer",
    ),
    Write(
        "cancel an order",
        "route_orders",
        "POST",
        "/api/route-orders/{s.route_order_id}/cancel",
        caller="customer",
    ),
    Write(
        "plan a route",
        "routes",
        "POST",
        "/api/routes",
        lambda s: _route(s.provider, s.route_order_id, NEXT_ROUTE_DAY),  # the first's is taken
    ),
    Write(
        "complete a booking", "bookings", "POST", "/api/bookings/{s.started_booking_id}/complete"
    ),
    Write(
        "complete a stop",
        "route_stops",
        "POST",
        "/api/routes/{s.route_id}/stops/{s.planned_order_id}/done",
    ),
    Write(
        "drop a route's stops",
        "route_stops",
        "PATCH",
        "/api/routes/{s.route_id}",
        lambda _: {"route_order_ids": []},
    ),
    Write(
        "cancel a planned order",
        "route_stops",
        "POST",
        "/api/route-orders/{s.planned_order_id}/cancel",
        caller="customer",
    ),
]
WRITE_IDS = [write.name for write in WRITES]


async def table_digest(engine: AsyncEngine, table: str) -> tuple[int, str]:
    """The number of rows and a digest of their contents."""
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), ''))"
                    f" FROM {table} t"
                )
            )
        ).one()
    return row[0], row[1]


@pytest.mark.parametrize("write", WRITES, ids=WRITE_IDS)
async def test_a_write_that_fails_at_commit_is_an_error_and_leaves_its_table_as_it_was(
    client: Client, engine: AsyncEngine, provider: OpenProvider, write: Write
) -> None:
    scene = await _scene(client, engine, provider)
    before = await table_digest(engine, write.table)
    async with failing_commits(engine, write.table):
        response = await write.send(scene)
    assert response.status_code == 500, response.text
    assert await table_digest(engine, write.table) == before


@pytest.mark.parametrize("write", WRITES, ids=WRITE_IDS)
async def test_the_same_writes_change_their_table_when_commits_work(
    client: Client, engine: AsyncEngine, provider: OpenProvider, write: Write
) -> None:
    scene = await _scene(client, engine, provider)
    before = await table_digest(engine, write.table)
    response = await write.send(scene)
    assert response.is_success, response.text
    assert await table_digest(engine, write.table) != before


async def test_every_app_in_a_process_closes_its_sessions(
    settings: Settings, engine: AsyncEngine
) -> None:
    """Each app's database config gets a session key of its own; the handler that closes
    sessions must be the one made for that key, or every app but the first leaks them."""
    for _ in range(2):
        async with AsyncTestClient(app=create_app(settings)) as client:
            response = await client.get("/api/providers/1")
            assert response.status_code == 200
            async with engine.connect() as connection:
                left_open = await connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND state = 'idle in transaction'"
                        " AND application_name <> :worker"  # the job worker's own, briefly
                    ),
                    {"worker": WORKER_APPLICATION_NAME},
                )
            assert left_open == 0
