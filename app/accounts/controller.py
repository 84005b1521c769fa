"""Registration, login, password resets, e-mail verification, and the current account:
reading it, changing its password and preferences, deleting it."""

from datetime import UTC, datetime, timedelta

from litestar import Controller, MediaType, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, NotAuthorizedException, NotFoundException
from litestar.params import JSONBody
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.auth import SignedInRequest, TokenIssuer
from app.accounts.schemas import (
    AccessToken,
    AccountView,
    Credentials,
    MyAccount,
    PasswordChange,
    PasswordReset,
    PasswordResetRequest,
    PreferencesChange,
    Registration,
    Verification,
    password_problem,
)
from app.edge.headers import ANONYMOUS, PUBLIC
from app.edge.limits import limited
from app.errors import ConflictException, error_responses
from app.settings import Settings
from db import account_tokens, accounts, outbox
from db.account_tokens import account_token_key
from db.accounts import Passwords
from db.models import OutboxJob, Role, TokenPurpose
from db.token_versions import TokenVersions


def _gone() -> NotFoundException:
    """A token that outlived its account in a race with the account's deletion."""
    return NotFoundException("the account no longer exists")


def _accepted() -> Response[bytes]:
    """202 with no body: the work is written down, the worker does it."""
    return Response(b"", status_code=202, media_type=MediaType.TEXT)


def _spent() -> ClientException:
    return ClientException("the token is unknown, used already or expired")


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
        settings: NamedDependency[Settings],
        data: JSONBody[Registration],
    ) -> AccountView:
        """A new customer or provider account (409 when the email is taken). A link to
        verify its address is mailed; until it is followed, the account can sign in but
        not book or order visits."""
        account = await accounts.register(
            db_session, passwords, data.email, data.password, Role(data.role), data.language
        )
        expires_at = datetime.now(UTC) + timedelta(hours=settings.verify_email_ttl_h)
        key = account_token_key(settings.secret_key)
        await account_tokens.keep_verification(
            db_session, key, account.id, account.email, expires_at
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

    @post(
        "/password-reset",
        status_code=202,
        opt=limited("password_reset"),
        operation_id="askForPasswordReset",
        responses=error_responses(400, 413, 415, 429, 503),
    )
    async def ask_for_reset(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[PasswordResetRequest]
    ) -> Response[bytes]:
        """A link to set a new password, mailed if the email has an account. The answer is
        the same, and as fast, whether it has one or not: the request is only written down
        here; the worker looks the account up and mails the link (valid 30 minutes)."""
        payload = {"template": "password_reset", "email": data.email}
        await outbox.add(db_session, OutboxJob.send_mail, payload)
        await db_session.commit()
        return _accepted()

    @post(
        "/password-reset/confirm",
        status_code=204,
        operation_id="resetPassword",
        responses=error_responses(400, 413, 415, 429, 503),
    )
    async def reset(
        self,
        db_session: NamedDependency[AsyncSession],
        passwords: NamedDependency[Passwords],
        token_versions: NamedDependency[TokenVersions],
        data: JSONBody[PasswordReset],
    ) -> None:
        """The new password, with the mailed token (once): every session of the account
        ends (its access tokens stop working), and its address counts as verified."""
        user_id = await account_tokens.use(db_session, TokenPurpose.password_reset, data.token)
        account = user_id and await accounts.account(db_session, user_id)
        if not account:
            raise _spent()
        if problem := password_problem(data.password, account.email):
            raise ClientException(problem)  # the token stays unspent: the rollback
        changed = await accounts.reset_password(db_session, passwords, account.id, data.password)
        if changed is None:
            raise _spent()
        await db_session.commit()
        await token_versions.raised(changed.id, changed.token_version)

    @post(
        "/verify",
        status_code=204,
        operation_id="verifyEmail",
        responses=error_responses(400, 413, 415, 503),
    )
    async def verify(
        self, db_session: NamedDependency[AsyncSession], data: JSONBody[Verification]
    ) -> None:
        """The address is the account's: the token from the verification mail (once)."""
        user_id = await account_tokens.use(db_session, TokenPurpose.verify_email, data.token)
        if user_id is None:
            raise _spent()
        await accounts.mark_verified(db_session, user_id)
        await db_session.commit()


class MeController(Controller):
    path = "/api/me"
    tags = ["accounts"]  # noqa: RUF012

    @get("/", operation_id="getMyAccount", responses=error_responses(401, 404, 503))
    async def me(
        self, db_session: NamedDependency[AsyncSession], request: SignedInRequest
    ) -> MyAccount:
        """The account the bearer token belongs to, with its preferences."""
        account = await accounts.account(db_session, request.user.id)
        if account is None:
            raise _gone()
        return MyAccount.of(account)

    @patch("/", operation_id="changeMyPreferences", responses=error_responses(400, 401, 404, 503))
    async def change_preferences(
        self,
        db_session: NamedDependency[AsyncSession],
        request: SignedInRequest,
        data: JSONBody[PreferencesChange],
    ) -> MyAccount:
        """Whether notifications also go out by e-mail, and in which language."""
        account = await accounts.change_preferences(db_session, request.user.id, data.changes())
        if account is None:
            raise _gone()
        await db_session.commit()
        return MyAccount.of(account)

    @post(
        "/verification",
        status_code=202,
        opt=limited(per_user=("verify_resend",)),
        operation_id="mailVerificationAgain",
        responses=error_responses(401, 404, 409, 503),
    )
    async def mail_verification_again(
        self, db_session: NamedDependency[AsyncSession], request: SignedInRequest
    ) -> Response[bytes]:
        """The verification mail again (its link works 72 hours); 409 once verified."""
        asked = await accounts.ask_verification_again(db_session, request.user.id)
        if asked is None:
            raise _gone()
        if not asked:
            raise ConflictException("the e-mail address is verified already")
        await db_session.commit()
        return _accepted()

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
