"""Registration, login and the current account."""

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import ANONYMOUS, PUBLIC, SignedInRequest, TokenIssuer
from app.accounts.schemas import AccessToken, AccountView, Credentials, Registration
from app.errors import error_responses
from app.rate_limits import rate_limited
from app.settings import Settings
from db import accounts
from db.models import Role


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]  # noqa: RUF012
    opt = PUBLIC
    security = ANONYMOUS

    @post(
        "/register",
        status_code=201,
        guards=[rate_limited("register")],
        operation_id="registerAccount",
        responses=error_responses(400, 409, 413, 415, 429, 503),
    )
    async def register(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[Registration]
    ) -> AccountView:
        """A new customer or provider account (409 when the email is taken)."""
        account = await accounts.register(db_session, data.email, data.password, Role(data.role))
        await db_session.commit()
        return AccountView(account.id, account.email, account.role)

    @post(
        "/login",
        status_code=200,
        guards=[rate_limited("login")],
        operation_id="logIn",
        responses=error_responses(400, 401, 413, 415, 429, 503),
    )
    async def login(
        self,
        db_session: NamedDependency[AsyncSession],
        token_issuer: NamedDependency[TokenIssuer],
        settings: NamedDependency[Settings],
        data: JSONBody[Credentials],
    ) -> AccessToken:
        """A bearer token for `Authorization: Bearer …`."""
        account = await accounts.authenticate(db_session, data.email, data.password)
        if account is None:
            raise NotAuthorizedException("wrong email or password")
        await db_session.commit()  # a rehashed password, if its hash was outdated
        token = token_issuer.issue(account.id, account.role)
        return AccessToken(token, expires_in=settings.access_token_ttl_s)


class MeController(Controller):
    path = "/api/me"
    tags = ["accounts"]  # noqa: RUF012

    @get("/", operation_id="getMyAccount", responses=error_responses(401, 404, 503))
    async def me(
        self, db_session: NamedDependency[AsyncSession], request: SignedInRequest
    ) -> AccountView:
        """The account the bearer token belongs to."""
        account = await accounts.account(db_session, request.user.id)
        if account is None:
            raise NotFoundException("the account no longer exists")
        return AccountView(account.id, account.email, account.role)
