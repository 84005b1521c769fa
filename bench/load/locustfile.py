"""The load scenarios' users (see bench/load_scenarios.py, which picks them and their numbers).

Each user is a client of its own behind the deployment's proxy: it sends the address the
proxy would append in X-Forwarded-For, so per-client limits apply as in production.
Abusers forge a hop in front of theirs, which gains them nothing.
"""

import itertools
import json
import os
import random
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from locust import FastHttpUser, between, task

from bench.load.places import PLACES
from db.account_tokens import account_token_key, verification_token

TOWNS = [  # (latitude, longitude) of towns the demo data is seeded around
    (59.3294, 18.0687),
    (57.7089, 11.9746),
    (55.605, 13.0038),
    (59.8586, 17.6389),
    (58.4108, 15.6214),
    (59.9127, 10.7461),
    (55.6759, 12.5655),
    (60.1699, 24.9384),
]
QUERIES = list(PLACES)
# Each run starts somewhere new in 10.0.0.0/8: rate-limit windows outlive a run, and users
# of the next hour's runs must not inherit this one's registrations.
_first = random.randrange(1 << 24)
_addresses = (
    f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
    for n in ((_first + i) % (1 << 24) for i in itertools.count())
)


def _near(town: tuple[float, float], spread: float = 0.05) -> tuple[float, float]:
    return town[0] + random.uniform(-spread, spread), town[1] + random.uniform(-spread, spread)


class Client(FastHttpUser):
    abstract = True

    def on_start(self) -> None:
        self.address = next(_addresses)
        self.headers = {"X-Forwarded-For": self.address}

    def get(self, path: str, name: str, **params: Any) -> None:
        self.client.get(path, params=params, headers=self.headers, name=name)


class MapVisitor(Client):
    """Someone panning a map: nearby lists, viewports, clusters, and a lookup now and then."""

    weight = 8
    wait_time = between(1, 3)

    @task(6)
    def nearby(self) -> None:
        lat, lng = _near(random.choice(TOWNS))
        radius = random.choice((5, 10, 25, 50))
        self.get(
            "/api/providers/nearby",
            "nearby gist",
            lat=round(lat, 3),
            lng=round(lng, 3),
            radius_km=radius,
        )

    @task(2)
    def in_view(self) -> None:
        lat, lng = _near(random.choice(TOWNS))
        bbox = f"{lng - 0.1:.2f},{lat - 0.05:.2f},{lng + 0.1:.2f},{lat + 0.05:.2f}"
        self.get("/api/providers/in-view", "in-view", bbox=bbox)

    @task(1)
    def clusters(self) -> None:
        self.get("/api/providers/clusters", "clusters", bbox="4,54,32,71", zoom=5)

    @task(1)
    def geocode(self) -> None:
        query = random.choice(QUERIES)
        expected = 404 if PLACES[query] is None else 200
        with self.client.get(
            "/api/geocode",
            params={"q": query},
            headers=self.headers,
            name="geocode",
            catch_response=True,
        ) as response:
            if response.status_code == expected:
                response.success()
            else:
                response.failure(f"{response.status_code} for {query!r}")


def _accounts_by_role() -> dict[str, list[dict[str, str]]]:
    """The returning users the runner signed up before the clock started (LOAD_ACCOUNTS)."""
    by_role: dict[str, list[dict[str, str]]] = {"customer": [], "provider": [], "exporter": []}
    path = os.environ.get("LOAD_ACCOUNTS")
    for account in json.loads(Path(path).read_text()) if path else []:
        by_role[account["role"]].append(account)
    return by_role


_accounts = _accounts_by_role()


class SignedIn(Client):
    """A returning user with a token; one signs up and logs in if none is left."""

    abstract = True
    role = "customer"

    def on_start(self) -> None:
        super().on_start()
        if _accounts[self.role]:
            account = _accounts[self.role].pop()
            self.address, token = account["address"], account["token"]
        else:
            token = self._sign_up()
        self.headers = {"X-Forwarded-For": self.address, "Authorization": f"Bearer {token}"}

    def _sign_up(self) -> str:
        body = {
            "email": f"load-{uuid.uuid4().hex[:12]}@example.com",
            "password": "load test horse 1",
        }
        registered = self.client.post(
            "/api/auth/register",
            json={**body, "role": self.role},
            headers=self.headers,
            name="register",
        )
        if registered.status_code == 201 and self.role == "customer":
            key = account_token_key(os.environ["SECRET_KEY"])
            token = verification_token(key, registered.json()["id"], body["email"])
            self.client.post(
                "/api/auth/verify", json={"token": token}, headers=self.headers, name="verify"
            )
        answer = self.client.post("/api/auth/login", json=body, headers=self.headers, name="login")
        return str(answer.json().get("access_token", "")) if answer.status_code == 200 else ""


class Customer(SignedIn):
    """Books a visit at a provider near a town, and reads their bookings."""

    weight = 1
    wait_time = between(2, 5)

    @task(3)
    def book(self) -> None:
        lat, lng = random.choice(TOWNS)
        found = self.client.get(
            "/api/providers/nearby",
            params={"lat": lat, "lng": lng, "limit": 5},
            headers=self.headers,
            name="nearby gist",
        )
        items = found.json().get("items", []) if found.status_code == 200 else []
        if not items:
            return
        profile = self.client.get(
            f"/api/providers/{items[0]['id']}", headers=self.headers, name="profile"
        )
        services = profile.json().get("services", []) if profile.status_code == 200 else []
        if not services:
            return
        day = date.today() + timedelta(days=random.randint(1, 30))
        start = f"{day.isoformat()}T{random.randint(8, 15):02d}:00:00+01:00"
        body = {
            "provider_id": items[0]["id"],
            "service_id": services[0]["id"],
            "start": start,
            "horse_name": "Blixten",
        }
        with self.client.post(
            "/api/bookings", json=body, headers=self.headers, name="book", catch_response=True
        ) as answer:
            if answer.status_code in (201, 409, 422, 429):  # taken, closed, or over the limit
                answer.success()

    @task(1)
    def mine(self) -> None:
        self.get("/api/bookings", "my bookings")


class Planner(SignedIn):
    """A travelling provider looking for open route orders near where they will be."""

    role = "provider"
    weight = 1
    wait_time = between(2, 5)

    @task
    def available(self) -> None:
        lat, lng = random.choice(TOWNS)
        day = date.today() + timedelta(days=random.randint(1, 14))
        self.get(
            "/api/route-orders/available",
            "available orders",
            lat=lat,
            lng=lng,
            radius_km=50,
            date=day.isoformat(),
        )


EXPORTS = [("bookings", "csv"), ("bookings", "json"), ("bookings", "ics")]
EXPORT_WAIT_S = 120
EXPORT_POLL_S = 2


class Exporter(SignedIn):
    """Exports its bookings (thousands), waits for the file polling every 2 s (as the
    budget portal's plan has its frontend poll), and downloads it: the export storm
    (SCENARIO=exports)."""

    role = "exporter"
    fixed_count = 10  # export storms only
    wait_time = between(1, 3)

    @task
    def export(self) -> None:
        kind, file_format = random.choice(EXPORTS)
        started = self.client.post(
            "/api/exports",
            json={"kind": kind, "format": file_format},
            headers=self.headers,
            name="export start",
        )
        if started.status_code != 202 or started.headers is None:
            return
        location = str(started.headers["Location"])
        deadline = time.monotonic() + EXPORT_WAIT_S
        while time.monotonic() < deadline:
            time.sleep(EXPORT_POLL_S)
            state = self.client.get(location, headers=self.headers, name="export status")
            status = state.json().get("status") if state.status_code == 200 else None
            if status == "done":
                self.client.get(
                    f"{location}/download", headers=self.headers, name="export download"
                )
                return
            if status == "failed":
                return


class NaiveFlooder(Client):
    """Asks for the costly strategies as fast as it can."""

    fixed_count = 2  # abuse runs only
    wait_time = between(0, 0.1)

    @task
    def costly(self) -> None:
        lat, lng = _near(random.choice(TOWNS), 0.5)
        self.get(
            "/api/providers/nearby",
            "nearby costly (abuse)",
            lat=lat,
            lng=lng,
            radius_km=100,
            limit=100,
            strategy=random.choice(("bbox", "naive")),
        )


class Forger(Client):
    """Sends a new made-up address in front of its own with every request."""

    fixed_count = 2  # abuse runs only
    wait_time = between(0, 0.1)

    @task
    def forged(self) -> None:
        forged = f"203.0.113.{random.randint(1, 254)}"
        lat, lng = _near(random.choice(TOWNS))
        self.client.get(
            "/api/providers/nearby",
            params={"lat": lat, "lng": lng},
            headers={"X-Forwarded-For": f"{forged}, {self.address}"},
            name="nearby forged (abuse)",
        )


class LoginStuffer(Client):
    fixed_count = 2  # abuse runs only
    wait_time = between(0, 0.1)

    @task
    def stuff(self) -> None:
        body = {"email": f"victim{random.randint(1, 50)}@example.com", "password": "hunter2hunter2"}
        self.client.post("/api/auth/login", json=body, headers=self.headers, name="login (abuse)")


class CacheBuster(SignedIn):
    """A provider account rewriting its profile over and over to keep caches cold."""

    role = "provider"
    fixed_count = 2  # abuse runs only
    wait_time = between(0, 0.1)

    def on_start(self) -> None:
        super().on_start()
        lat, lng = random.choice(TOWNS)
        created = self.client.post(
            "/api/providers",
            headers=self.headers,
            name="create provider",
            json={"business_name": "Buster", "latitude": lat, "longitude": lng},
        )
        self.provider_id = created.json().get("id", 0) if created.status_code == 201 else 0

    @task
    def rewrite(self) -> None:
        self.client.patch(
            f"/api/providers/{self.provider_id}",
            headers=self.headers,
            json={"business_name": f"Buster {random.randint(1, 10**6)}"},
            name="provider write (abuse)",
        )
