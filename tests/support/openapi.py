"""Every answer the suite's client gets must be one the OpenAPI document promises.

`DocumentedResponses` checks a response against the operation it answers: its status is
documented, and a JSON body matches the documented schema. Server errors (5xx but 503)
are incidents, not contract, and are left to the tests that provoke them.
"""

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:equinet-geo:openapi"
UNDOCUMENTED_SERVER_ERRORS = range(500, 600)


def _template_pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\{[^/]+\}", "[^/]+", template) + "$")


class DocumentedResponses:
    def __init__(self, document: dict[str, Any]) -> None:
        self._paths: dict[str, dict[str, Any]] = document["paths"]
        self._patterns = {template: _template_pattern(template) for template in self._paths}
        registry: Registry[Any] = Registry().with_resource(
            DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
        )
        self._registry = registry
        self._validators: dict[str, Draft202012Validator] = {}

    def operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        """The path template and operation that answer `method path`, static paths first."""
        matches = [t for t, pattern in self._patterns.items() if pattern.match(path)]
        for template in sorted(matches, key=lambda t: t.count("{")):
            if method.lower() in self._paths[template]:
                return template, self._paths[template][method.lower()]
        return None

    def problems(self, response: httpx.Response) -> list[str]:
        """What in `response` the document does not promise (empty when all is as promised)."""
        found = self.operation(response.request.method, response.request.url.path)
        if found is None:
            return []
        template, operation = found
        status = response.status_code
        where = f"{response.request.method} {template} answered {status}"
        documented = operation.get("responses", {})
        if str(status) not in documented:
            if status in UNDOCUMENTED_SERVER_ERRORS and status != 503:
                return []
            return [f"{where}, which the document does not list"]
        content = documented[str(status)].get("content", {})
        media_type = response.headers.get("content-type", "").split(";")[0]
        if media_type != "application/json" or media_type not in content:
            return []
        errors = self.schema_errors(response.request.method, template, status, response.json())
        return [f"{where}: {error}" for error in errors]

    def schema_errors(self, method: str, template: str, status: int, body: Any) -> list[str]:
        """How `body` departs from the JSON schema of that operation's `status` answer."""
        pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{status}"
        ref = f"{DOCUMENT_URI}#{pointer}/content/application~1json/schema"
        if ref not in self._validators:
            self._validators[ref] = Draft202012Validator({"$ref": ref}, registry=self._registry)
        validator = self._validators[ref]
        return [error.message for error in validator.iter_errors(body)]


def _escape(template: str) -> str:
    return template.replace("~", "~0").replace("/", "~1")
