"""Request and response bodies of the account endpoints."""

import contextlib
import enum
import re
import unicodedata
from typing import Annotated, Literal

import idna
import msgspec
import precis_i18n

from app.edge.parameters import CONTROLS, ONE_LINE
from db.accounts import Account
from db.models import Role

_EMAIL_PART = rf"[^@\s{CONTROLS}]"
_EMAIL_PATTERN = rf"^{_EMAIL_PART}+@{_EMAIL_PART}+\.[^@\s.{CONTROLS}]+$"
_EMAIL_MAX_LENGTH = 320
Email = Annotated[
    str, msgspec.Meta(min_length=3, max_length=_EMAIL_MAX_LENGTH, pattern=_EMAIL_PATTERN)
]


_USERNAME = precis_i18n.get_profile("UsernameCaseMapped")


def canonical_email(email: str) -> str:
    """The one form an email is stored, compared and logged in with: NFKC, then case-folded,
    so that NFC and NFD spellings, full-width letters and any letter case are one account;
    the domain as IDNA's UTS 46 maps it. The local part must be what PRECIS allows in a
    username (RFC 8265): invisible characters (a zero-width space, a soft hyphen) and
    spaces are refused, not dropped. ValueError (a 400) when there is no such form, or it
    is no longer an email or too long."""
    local, _, domain = unicodedata.normalize("NFKC", email).casefold().rpartition("@")
    try:
        _USERNAME.enforce(local)
        canonical = f"{local}@{idna.decode(idna.encode(domain, uts46=True))}"
    except (UnicodeError, idna.IDNAError):
        raise ValueError("email has characters an address can't have") from None
    if len(canonical) > _EMAIL_MAX_LENGTH or not re.match(_EMAIL_PATTERN, canonical):
        raise ValueError("email is not an address once normalized")
    return canonical


# The upper bound keeps hashing cost bounded; the lower one is NIST's minimum.
Password = Annotated[str, msgspec.Meta(min_length=10, max_length=128)]
_MIN_DISTINCT_CHARACTERS = 5


def password_problem(password: str, email: str) -> str | None:
    """Why this password is too easy to guess for this account, or None."""
    if len(set(password)) < _MIN_DISTINCT_CHARACTERS:
        return f"password needs at least {_MIN_DISTINCT_CHARACTERS} different characters"
    if email.split("@")[0].casefold() in password.casefold():
        return "password must not contain the email's name"
    return None


class SignupRole(enum.StrEnum):
    """The roles anyone may sign up for (admins are made, not registered)."""

    customer = Role.customer.value
    provider = Role.provider.value


Language = Literal["sv", "en"]
"""The language of a user's e-mails."""


class Registration(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    role: SignupRole = SignupRole.customer
    language: Language = "sv"

    def __post_init__(self) -> None:
        self.email = canonical_email(self.email)
        if problem := password_problem(self.password, self.email):
            raise ValueError(problem)


AnyEmail = Annotated[str, msgspec.Meta(max_length=_EMAIL_MAX_LENGTH, pattern=ONE_LINE)]
"""An email as a client typed it to name an account: one that has no canonical form has no
account, and is answered as any other unknown email."""


def _canonical_if_any(email: str) -> str:
    with contextlib.suppress(ValueError):
        return canonical_email(email)
    return email


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    email: AnyEmail
    password: Annotated[str, msgspec.Meta(max_length=128)]

    def __post_init__(self) -> None:
        self.email = _canonical_if_any(self.email)


class PasswordResetRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: AnyEmail

    def __post_init__(self) -> None:
        self.email = _canonical_if_any(self.email)


# Tokens are 32 bytes in unpadded base64url: 43 characters.
AccountTokenField = Annotated[str, msgspec.Meta(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class PasswordReset(msgspec.Struct, forbid_unknown_fields=True):
    token: AccountTokenField
    password: Password


class Verification(msgspec.Struct, forbid_unknown_fields=True):
    token: AccountTokenField


class PreferencesChange(msgspec.Struct, forbid_unknown_fields=True):
    email_notifications: bool | msgspec.UnsetType = msgspec.UNSET
    """Whether notifications also go out by e-mail (bookings, cancellations, route ETAs)."""
    language: Language | msgspec.UnsetType = msgspec.UNSET
    """The language of the e-mails."""

    def __post_init__(self) -> None:
        if not self.changes():
            raise ValueError("send email_notifications or language")

    def changes(self) -> dict[str, object]:
        return {
            name: getattr(self, name)
            for name in self.__struct_fields__
            if getattr(self, name) is not msgspec.UNSET
        }


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Annotated[str, msgspec.Meta(max_length=128)]
    new_password: Password


class AccessToken(msgspec.Struct):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int | None = None


class AccountView(msgspec.Struct):
    id: int
    email: str
    role: Role


class MyAccount(AccountView):
    """The account as its owner sees it: with its address's state and its preferences."""

    email_verified: bool
    """Until it is, the account may sign in but not book or order visits."""
    language: Language
    """The language of its e-mails."""
    email_notifications: bool
    """Whether its notifications also go out by e-mail."""

    @classmethod
    def of(cls, account: Account) -> "MyAccount":
        language: Language = "en" if account.language == "en" else "sv"
        return cls(
            account.id,
            account.email,
            account.role,
            account.email_verified,
            language,
            account.email_notifications,
        )
