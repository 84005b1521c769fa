"""Schemathesis over the OpenAPI document, against granian: no operation answers a server
error to any request the document allows, or to the malformed ones it derives from it,
whether anonymous, signed in as a customer or as a provider."""

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as examples
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.schemas import APIOperation

from app.settings import Settings
from tests.support.live_server import live_server, settings_environment

EXAMPLES_PER_OPERATION = 15

# Requests the fuzzer found a server error with, tried first on every run (by operation).
FOUND: dict[str, list[dict[str, Any]]] = {
    # A point on the antimeridian, searched from the other spelling of it: PostGIS's KNN
    # index "returned tuples in wrong order" (XX000).
    "GET /api/providers/nearby": [{"query": {"lng": -180.0, "lat": -7.062710117728942e-214}}],
    # A subnormal latitude underflowed in the kept cluster counts (22003); found with
    # --hypothesis-seed=98148585528390911996946325124556528296.
    "POST /api/providers": [
        {
            "body": {
                "business_name": "j\u00a0J!",
                "longitude": 0.0,
                "latitude": 5e-324,
                "postal_code": "00",
                "service_radius_km": 5e-324,
            },
            "media_type": "application/json",
        }
    ],
}


@pytest.fixture(scope="module")
def fuzzed_url(settings: Settings) -> Iterator[str]:
    with live_server(settings_environment(settings), workers=2) as url:
        yield url


@pytest.fixture(scope="module")
def callers(fuzzed_url: str) -> list[dict[str, str]]:
    """Request headers of an anonymous caller, a customer and a provider."""
    headers: list[dict[str, str]] = [{}]
    for role in ("customer", "provider"):
        email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
        body = {"email": email, "password": "fuzzing horse 42"}
        assert httpx.post(f"{fuzzed_url}/api/auth/register", json={**body, "role": role}).is_success
        token = httpx.post(f"{fuzzed_url}/api/auth/login", json=body).json()["access_token"]
        headers.append({"Authorization": f"Bearer {token}"})
    return headers


def _fuzz(
    operation: APIOperation[Any, Any, Any, Any], url: str, callers: list[dict[str, str]]
) -> None:
    def call(case: Any) -> None:
        for headers in callers:
            case.call_and_validate(base_url=url, headers=headers, checks=[not_a_server_error])

    for found in FOUND.get(operation.label, []):
        call(operation.Case(**found))
    explore = examples(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    given(case=operation.as_strategy())(explore(call))()


def test_no_operation_answers_a_server_error(
    fuzzed_url: str, callers: list[dict[str, str]]
) -> None:
    schema = schemathesis.openapi.from_url(f"{fuzzed_url}/schema/openapi.json")
    failures = {}
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results) > 30  # the document is valid throughout
    for operation in operations:
        try:
            _fuzz(operation, fuzzed_url, callers)
        except Exception as failure:  # every operation is tried, and every failure reported
            failures[operation.label] = failure
    assert not failures, "\n\n".join(f"{label}: {error}" for label, error in failures.items())
