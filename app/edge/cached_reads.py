"""A cached public read is one declaration: its path, its request value and the query
parameters it is parsed from, the area a request depends on (which writes end its cached
answers), the limits it counts against, and its render function. The route, its
middleware and options, the If-None-Match parameter and the documented 200, 304 and
error answers follow from it (`route`); the answer from edge.answers. A new map endpoint
cannot forget a step.
"""

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency, Provide
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter
from litestar.status_codes import HTTP_200_OK, HTTP_304_NOT_MODIFIED
from litestar.types import Scope

from app.edge.answers import IF_NONE_MATCH_MAX_LENGTH, Answers, Rendered
from app.edge.headers import ANONYMOUS, PUBLIC
from app.edge.limits import counted_by_lookup, limited
from app.edge.public_reads import PublicServer
from app.errors import error_responses
from db.search_cache import Depends
from geo.bbox import LatLngBox
from geo.cells import cells_of

Q = TypeVar("Q", bound=msgspec.Struct)

IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        max_length=IF_NONE_MATCH_MAX_LENGTH,
        description="ETags of answers the client has; one that matches is a 304",
    ),
]
NOT_MODIFIED = ResponseSpec(
    None, description="The answer is the one whose ETag the client sent in If-None-Match."
)


class CachedRead(ABC, Generic[Q]):
    """The declaration of a cached public read; a subclass fills in each part (one that
    leaves out the area or the rendering can't be made)."""

    path: ClassVar[str]
    operation_id: ClassVar[str]
    summary: ClassVar[str]
    """The operation's description in the OpenAPI document."""
    tags: ClassVar[list[str]]
    answer: ClassVar[ResponseSpec]
    """The 200 answer as the document shows it (the route sends encoded bytes)."""
    errors: ClassVar[tuple[int, ...]] = (400, 503)
    instead_of_client: ClassVar[str] = "client"
    """The per-client limit its requests count against in place of every request's."""

    parse: Callable[..., Q]
    """Its query parameters (as the function's own, with their bounds) to a request."""

    shows_free_time: ClassVar[bool] = False
    """Its answers show providers' free time: calendar changes of providers in its area
    end them as well as provider writes there."""

    @abstractmethod
    def area(self, request: Q) -> list[LatLngBox]:
        """Where the providers it may show are: writes there end its cached answers."""

    def providers(self, request: Q) -> tuple[int, ...]:
        """Providers any change of which ends its cached answers, wherever they are."""
        return ()

    def depends(self, request: Q) -> Depends:
        """The writes that end its cached answers."""
        return Depends(cells_of(self.area(request)), self.shows_free_time, self.providers(request))

    def limits(self, request: Q) -> tuple[str, ...]:
        """The limits a request counts against per client, beyond its route's."""
        return ()

    @abstractmethod
    async def render(self, server: PublicServer, request: Q) -> Rendered:
        """The answer, read on `server` (the replica, when it may serve it)."""

    def route(self, answers: Answers) -> HTTPRouteHandler:
        """The GET route that answers this read."""
        read = self

        async def handler(
            scope: Scope, asked: NamedDependency[Any], if_none_match: IfNoneMatch = None
        ) -> Response[bytes]:
            return await answers.answer(scope, read, asked, if_none_match)

        handler.__doc__ = self.summary
        return get(
            self.path,
            operation_id=self.operation_id,
            tags=self.tags,
            security=ANONYMOUS,
            opt=PUBLIC | counted_by_lookup(limited(instead_of_client=self.instead_of_client)),
            dependencies={"asked": Provide(self.parse, sync_to_thread=False)},
            middleware=[answers.repeated],
            responses={
                HTTP_200_OK: self.answer,
                HTTP_304_NOT_MODIFIED: NOT_MODIFIED,
                **error_responses(*self.errors),
            },
        )(handler)
