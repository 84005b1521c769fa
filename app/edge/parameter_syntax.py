"""One syntax for the numbers in a URL, and one value per parameter, for every operation.

Litestar reads an `int` query parameter from `1e2` and a path id from Arabic digits, and
keeps the last of a repeated parameter. The OpenAPI document says which parameters are
numbers, so it is what this checks against, before a handler's parameters are read: what
the document promises is what the API reads, with nothing to keep in step by hand.
"""

from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Request
from litestar.exceptions import ValidationException

from geo.numbers import INTEGER, NUMBER

_SYNTAX = {"integer": INTEGER, "number": NUMBER}
_EXAMPLES = {"integer": "20", "number": "59.33"}


def _numeric_kind(schema: dict[str, Any]) -> str | None:
    """'integer' or 'number' when the parameter is one (or may be one), else None."""
    kinds = [schema.get("type"), *(option.get("type") for option in schema.get("oneOf", []))]
    return next((kind for kind in kinds if kind in _SYNTAX), None)


@dataclass
class _Operation:
    path_numbers: dict[int, tuple[str, str]] = field(default_factory=dict)
    """By segment position: the parameter's name and numeric kind."""
    query_numbers: dict[str, str] = field(default_factory=dict)
    repeatable: set[str] = field(default_factory=set)


def _problem(source: str, key: str, message: str) -> dict[str, str]:
    return {"message": message, "key": key, "source": source}


class ParameterSyntax:
    def __init__(self, openapi: dict[str, Any]) -> None:
        self._operations: dict[tuple[str, str], _Operation] = {}
        for template, operations in openapi.get("paths", {}).items():
            positions = {
                segment[1:-1]: index
                for index, segment in enumerate(template.split("/"))
                if segment.startswith("{")
            }
            for method, operation in operations.items():
                self._operations[method.upper(), template] = self._operation(
                    operation.get("parameters", []), positions
                )

    @staticmethod
    def _operation(parameters: list[dict[str, Any]], positions: dict[str, int]) -> _Operation:
        described = _Operation()
        for parameter in parameters:
            name, schema = parameter["name"], parameter.get("schema", {})
            kind = _numeric_kind(schema)
            if parameter["in"] == "query":
                if schema.get("type") == "array":
                    described.repeatable.add(name)
                elif kind:
                    described.query_numbers[name] = kind
            elif parameter["in"] == "path" and kind and name in positions:
                described.path_numbers[positions[name]] = (name, kind)
        return described

    def problems(self, request: Request[Any, Any, Any]) -> list[dict[str, str]]:
        """What is wrong with the request's path and query parameters, if anything."""
        operation = self._operations.get((request.method, request.scope.get("path_template", "")))
        if operation is None:
            return []
        found = []
        segments = request.scope["path"].split("/")
        for index, (name, kind) in operation.path_numbers.items():
            if index < len(segments) and not _SYNTAX[kind].fullmatch(segments[index]):
                found.append(_problem("path", name, _wrong_number(kind)))
        query = request.query_params
        for name in query:
            values = query.getall(name)
            if len(values) > 1 and name not in operation.repeatable:
                found.append(_problem("query", name[:40], "given more than once"))
            number = operation.query_numbers.get(name)
            if number and not all(_SYNTAX[number].fullmatch(value) for value in values):
                found.append(_problem("query", name, _wrong_number(number)))
        return found


def _wrong_number(kind: str) -> str:
    article = "an" if kind == "integer" else "a"
    return f"must be {article} {kind} written as in JSON, e.g. {_EXAMPLES[kind]}"


class DocumentedSyntax:
    """The syntax of every operation's parameters, learned from the app's document when it
    starts (`learn`, a start-up hook), and checked before each request (`check`)."""

    def __init__(self) -> None:
        self._syntax = ParameterSyntax({})

    def learn(self, app: Litestar) -> None:
        self._syntax = ParameterSyntax(app.openapi_schema.to_schema())

    async def check(self, request: Request[Any, Any, Any]) -> None:
        """A before-request hook: a 400 naming each parameter written wrong or repeated."""
        if problems := self._syntax.problems(request):
            path = request.url.path
            raise ValidationException(
                f"Validation failed for {request.method} {path}", extra=problems
            )
