"""JWT bearer authentication and role guards.

A token names its user, role and token version. The version is checked on every request
against the account's, from Redis (the database only on a miss), so a password change or
a deletion ends every token issued before it; the role is not, and roles never change.
"""

from datetime import timedelta
from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AuthenticationResult
from litestar.openapi.spec import Components, SecurityScheme
from litestar.security.jwt import JWTAuth, JWTAuthenticationMiddleware, Token
from litestar.types import Guard

from db.accounts import Account
from db.models import MAX_ROW_ID, Role
from db.token_versions import TokenVersions


class AuthUser(msgspec.Struct, frozen=True):
    id: int
    role: Role


SignedInRequest = Request[AuthUser, Token, Any]
"""The request of a handler that needs an account."""


class TokenUsers:
    """Who a token is for, while it is still good."""

    def __init__(self, versions: TokenVersions) -> None:
        self._versions = versions

    async def of(
        self, token: Token, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthUser | None:
        """The token's user, or None (a 401) when its claims name none that could exist,
        or its version is not the account's (a password changed, an account deleted)."""
        try:
            user = AuthUser(int(token.sub), Role(token.extras["role"]))
            version = token.extras["ver"]
        except (KeyError, ValueError):
            return None
        if not 1 <= user.id <= MAX_ROW_ID or type(version) is not int:
            return None
        return user if await self._versions.current(user.id) == version else None


class BearerMiddleware(JWTAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """The token of `Authorization: Bearer <token>`, and of no other scheme."""
        scheme, _, token = connection.headers.get(self.auth_header, "").partition(" ")
        if scheme.casefold() != "bearer" or not token:
            raise NotAuthorizedException("send Authorization: Bearer <access_token>")
        return await self.authenticate_token(encoded_token=token.strip(), connection=connection)


class BearerAuth(JWTAuth[AuthUser, Token]):
    @property
    def openapi_components(self) -> Components:
        """Litestar's scheme plus a `name`, which OpenAPI forbids for http schemes: without it."""
        return Components(
            security_schemes={
                self.openapi_security_scheme_name: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="`Authorization: Bearer <access_token>` from /api/auth/login.",
                )
            }
        )


def make_jwt_auth(
    signing_key: str, token_ttl_s: int, versions: TokenVersions
) -> JWTAuth[AuthUser, Token]:
    return BearerAuth(
        retrieve_user_handler=TokenUsers(versions).of,
        authentication_middleware_class=BearerMiddleware,
        token_secret=signing_key,
        default_token_expiration=timedelta(seconds=token_ttl_s),
        exclude=["^/schema"],
    )


class TokenIssuer:
    """Signs access tokens with the same key and lifetime the middleware checks."""

    def __init__(self, jwt_auth: JWTAuth[AuthUser, Token]) -> None:
        self._jwt_auth = jwt_auth

    def issue(self, account: Account) -> str:
        extras = {"role": account.role.value, "ver": account.token_version}
        return self._jwt_auth.create_token(str(account.id), token_extras=extras)


def requires_role(*roles: Role) -> Guard:
    def guard(connection: ASGIConnection[Any, AuthUser, Any, Any], _: BaseRouteHandler) -> None:
        if connection.user.role not in roles:
            raise PermissionDeniedException(f"only for {' or '.join(roles)} accounts")

    return guard
