"""Registration, login, and the current account: reading it, changing its password,
deleting it."""

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest, TokenIssuer
from app.accounts.schemas import (
    AccessToken,
    AccountView,
    Credentials,
    PasswordChange,
    Registration,
    password_problem,
)
from app.edge.headers import ANONYMOUS, PUBLIC
from app.edge.limits import limited
from app.errors import error_responses
from app.settings import Settings
from db import accounts
from db.accounts import Passwords
from db.models import Role
from db.token_versions import TokenVersions


def _gone() -> NotFoundException:
    """A token that outlived its account in a race with the account's deletion."""
    return NotFoundException("the account no longer exists")


class AuthController(Controller):
    path = "/api/auth"
    tags = ["accounts"]  # noqa: RUF012
    opt = PUBLIC
    security = ANONYMOUS

    @post(
        "/register",
        status_code=201,
        opt=limited("register"),
        operation_id="registerAccount",
        responses=error_responses(400, 409, 413, 415, 429, 503),
    )
    async def register(
        self,
        db_session: NamedDependency[AsyncSession],
        passwords: NamedDependency[Passwords],
        data: JSONBody[Registration],
    ) -> AccountView:
        """A new customer or provider account (409 when the email is taken)."""
        account = await accounts.register(
            db_session, passwords, data.email, data.password, Role(data.role)
        )
        await db_session.commit()
        return AccountView(account.id, account.email, account.role)

    @post(
        "/login",
        status_code=200,
        opt=limited("login"),
        operation_id="logIn",
        responses=error_responses(400, 401, 413, 415, 429, 503),
    )
    async def login(
        self,
        db_session: NamedDependency[AsyncSession],
        passwords: NamedDependency[Passwords],
        token_issuer: NamedDependency[TokenIssuer],
        settings: NamedDependency[Settings],
        data: JSONBody[Credentials],
    ) -> AccessToken:
        """A bearer token for `Authorization: Bearer …`."""
        account = await accounts.authenticate(db_session, passwords, data.email, data.password)
        if account is None:
            raise NotAuthorizedException("wrong email or password")
        await db_session.commit()  # a rehashed password, if its hash was outdated
        return AccessToken(token_issuer.issue(account), expires_in=settings.access_token_ttl_s)


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
            raise _gone()
        return AccountView(account.id, account.email, account.role)

    @post(
        "/password",
        status_code=200,
        opt=limited("login"),
        operation_id="changeMyPassword",
        responses=error_responses(400, 401, 404, 413, 415, 503),
    )
    async def change_password(
        self,
        db_session: NamedDependency[AsyncSession],
        passwords: NamedDependency[Passwords],
        token_issuer: NamedDependency[TokenIssuer],
        token_versions: NamedDependency[TokenVersions],
        settings: NamedDependency[Settings],
        request: SignedInRequest,
        data: JSONBody[PasswordChange],
    ) -> AccessToken:
        """A new password: every token issued before stops working, and the answer is a
        new one. A wrong current password is a 401, and counts as a failed login."""
        account = await accounts.account(db_session, request.user.id)
        if account is None:
            raise _gone()
        if problem := password_problem(data.new_password, account.email):
            raise ClientException(problem)
        changed = await accounts.change_password(
            db_session, passwords, account.id, data.current_password, data.new_password
        )
        if changed is None:
            raise NotAuthorizedException("wrong current password")
        await db_session.commit()
        await token_versions.raised(changed.id, changed.token_version)
        return AccessToken(token_issuer.issue(changed), expires_in=settings.access_token_ttl_s)

    @delete(
        "/",
        operation_id="deleteMyAccount",
        responses=error_responses(401, 404, 409, 503),
    )
    async def delete_account(
        self,
        db_session: NamedDependency[AsyncSession],
        token_versions: NamedDependency[TokenVersions],
        request: SignedInRequest,
    ) -> None:
        """Ends the account: its tokens stop working, it can't log in, and its email may
        sign up again. A 409 while it has an active provider profile, visits to come, or
        route orders or routes under way: end those first."""
        deleted = await accounts.delete_account(db_session, request.user.id)
        if deleted is None:
            raise _gone()
        await db_session.commit()
        await token_versions.raised(deleted.id, deleted.token_version)
