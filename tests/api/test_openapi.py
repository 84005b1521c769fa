"""The OpenAPI document is a contract that clients generate code from."""

import copy
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from openapi_spec_validator import validate

from tests.support.openapi import DocumentedResponses

Client = AsyncTestClient[Litestar]

# Clients name their generated methods after these: renaming one breaks them.
OPERATION_IDS = {
    ("post", "/api/auth/register"): "registerAccount",
    ("post", "/api/auth/login"): "logIn",
    ("get", "/api/me"): "getMyAccount",
    ("delete", "/api/me"): "deleteMyAccount",
    ("post", "/api/me/password"): "changeMyPassword",
    ("patch", "/api/me"): "changeMyPreferences",
    ("post", "/api/me/verification"): "mailVerificationAgain",
    ("post", "/api/auth/password-reset"): "askForPasswordReset",
    ("post", "/api/auth/password-reset/confirm"): "resetPassword",
    ("post", "/api/auth/verify"): "verifyEmail",
    ("post", "/api/exports"): "startExport",
    ("get", "/api/exports/{export_id}"): "getExport",
    ("get", "/api/exports/{export_id}/download"): "downloadExport",
    ("post", "/api/me/calendar-feed"): "newCalendarFeed",
    ("delete", "/api/me/calendar-feed"): "revokeCalendarFeed",
    ("get", "/api/calendar/{feed}"): "getCalendarFeed",
    ("get", "/api/routes/{route_id}/gpx"): "getRouteGpx",
    ("get", "/api/providers/nearby"): "searchNearbyProviders",
    ("get", "/api/providers/available"): "searchAvailableProviders",
    ("get", "/api/providers/{provider_id}/slots"): "listFreeSlots",
    ("get", "/api/providers/in-view"): "searchProvidersInView",
    ("get", "/api/providers/clusters"): "clusterProviders",
    ("get", "/api/tiles/providers/{z}/{x}/{y}"): "providerTile",
    ("get", "/api/tiles/providers.json"): "providerTileJSON",
    ("post", "/api/providers"): "createProvider",
    ("get", "/api/providers/{provider_id}"): "getProviderProfile",
    ("patch", "/api/providers/{provider_id}"): "updateProvider",
    ("delete", "/api/providers/{provider_id}"): "deactivateProvider",
    ("post", "/api/providers/{provider_id}/services"): "addService",
    ("patch", "/api/providers/{provider_id}/services/{service_id}"): "updateService",
    ("delete", "/api/providers/{provider_id}/services/{service_id}"): "deactivateService",
    ("get", "/api/providers/{provider_id}/availability"): "getWeeklyHours",
    ("put", "/api/providers/{provider_id}/availability"): "replaceWeeklyHours",
    ("get", "/api/providers/{provider_id}/availability/exceptions"): "listHoursExceptions",
    ("post", "/api/providers/{provider_id}/availability/exceptions"): "setHoursException",
    ("delete", "/api/providers/{provider_id}/availability/exceptions/{day}"): (
        "removeHoursException"
    ),
    ("get", "/api/geocode"): "geocodeAddress",
    ("post", "/api/bookings"): "createBooking",
    ("get", "/api/bookings"): "listMyBookings",
    ("post", "/api/bookings/{booking_id}/cancel"): "cancelBooking",
    ("post", "/api/bookings/{booking_id}/confirm"): "confirmBooking",
    ("post", "/api/bookings/{booking_id}/complete"): "completeBooking",
    ("get", "/api/notifications"): "listMyNotifications",
    ("post", "/api/notifications/{notification_id}/read"): "markNotificationRead",
    ("post", "/api/notifications/read-all"): "markAllNotificationsRead",
    ("post", "/api/route-orders"): "createRouteOrder",
    ("get", "/api/route-orders/mine"): "listMyRouteOrders",
    ("get", "/api/route-orders/available"): "listAvailableRouteOrders",
    ("post", "/api/route-orders/{order_id}/cancel"): "cancelRouteOrder",
    ("post", "/api/routes"): "planRoute",
    ("get", "/api/routes"): "listRoutesOfDay",
    ("get", "/api/routes/{route_id}"): "getRoute",
    ("patch", "/api/routes/{route_id}"): "changeRouteStops",
    ("get", "/api/routes/{route_id}/nearby-orders"): "listOrdersAlongRoute",
    ("post", "/api/routes/{route_id}/stops/{order_id}/done"): "completeRouteStop",
    ("post", "/api/routes/{route_id}/stops"): "insertRouteStop",
    ("post", "/api/routes/{route_id}/optimize"): "optimizeRoute",
    ("get", "/health"): "checkLiveness",
    ("get", "/health/ready"): "checkReadiness",
}
ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}
# Answered without the database, so never a 503.
NO_DATABASE = {("get", "/health"), ("get", "/api/tiles/providers.json")}


@pytest.fixture(scope="module")
async def document(client: Client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_the_document_is_valid_openapi(document: dict[str, Any]) -> None:
    validate(document)


def test_every_operation_has_its_stable_id(document: dict[str, Any]) -> None:
    ids = {key: operation.get("operationId") for key, operation in operations(document).items()}
    assert ids == OPERATION_IDS


def test_error_answers_share_the_error_body_schema(document: dict[str, Any]) -> None:
    for key, operation in operations(document).items():
        for status, response in operation["responses"].items():
            if int(status) >= 400 and key != ("get", "/health/ready"):
                assert response["content"]["application/json"]["schema"] == ERROR_BODY, (
                    key,
                    status,
                )
    error_body = document["components"]["schemas"]["ErrorBody"]
    assert set(error_body["required"]) == {"status_code", "detail"}
    assert set(error_body["properties"]) == {"status_code", "detail", "extra"}


def test_what_every_operation_can_answer_is_documented(document: dict[str, Any]) -> None:
    for key, operation in operations(document).items():
        statuses = {int(status) for status in operation["responses"]}
        public = operation.get("security") == [{}]
        assert public or 401 in statuses, f"{key} needs an account but does not document 401"
        if key not in NO_DATABASE:
            assert 503 in statuses, f"{key} can find the database down"
        if any(p["in"] in {"path", "query"} for p in operation.get("parameters", [])):
            assert 400 in statuses, f"{key} has parameters but does not document 400"
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert 404 in statuses, f"{key} names a row but does not document 404"


@pytest.mark.parametrize(
    "path", ["/api/providers/nearby", "/api/providers/in-view", "/api/providers/clusters"]
)
def test_search_answers_have_a_schema_and_an_example(document: dict[str, Any], path: str) -> None:
    answer = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].startswith("#/components/schemas/")
    assert answer["examples"]


def test_documented_examples_match_their_schemas(document: dict[str, Any]) -> None:
    documented = DocumentedResponses(document)
    for (method, path), operation in operations(document).items():
        for status, response in operation["responses"].items():
            for example in (
                response.get("content", {}).get("application/json", {}).get("examples", {}).values()
            ):
                errors = documented.schema_errors(method, path, int(status), example["value"])
                assert errors == [], (method, path, status)


async def test_the_suite_reports_answers_the_document_does_not_promise(
    client: Client, document: dict[str, Any]
) -> None:
    """The client fixture checks every answer with DocumentedResponses; it must bite."""
    altered = copy.deepcopy(document)
    profile = altered["paths"]["/api/providers/{provider_id}"]["get"]["responses"]
    del profile["404"]
    nearby = altered["paths"]["/api/providers/nearby"]["get"]["responses"]
    nearby["400"]["content"]["application/json"]["schema"] = {"type": "array"}
    documented = DocumentedResponses(altered)
    missing = await client.get("/api/providers/999999999")
    malformed = await client.get("/api/providers/nearby", params={"lat": 91, "lng": 0})
    assert documented.problems(missing) == [
        "GET /api/providers/{provider_id} answered 404, which the document does not list"
    ]
    assert "is not of type 'array'" in documented.problems(malformed)[0]
