"""Request and response bodies of the account endpoints."""

import enum
from typing import Annotated, Literal

import msgspec

from app.params import CONTROLS, ONE_LINE
from db.models import Role

_EMAIL_PART = rf"[^@\s{CONTROLS}]"
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=320,
        pattern=rf"^{_EMAIL_PART}+@{_EMAIL_PART}+\.[^@\s.{CONTROLS}]+$",
    ),
]
# The upper bound keeps hashing cost bounded; the lower one is NIST's minimum.
Password = Annotated[str, msgspec.Meta(min_length=10, max_length=128)]
_MIN_DISTINCT_CHARACTERS = 5


class SignupRole(enum.StrEnum):
    """The roles anyone may sign up for (admins are made, not registered)."""

    customer = Role.customer.value
    provider = Role.provider.value


class Registration(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    role: SignupRole = SignupRole.customer

    def __post_init__(self) -> None:
        if len(set(self.password)) < _MIN_DISTINCT_CHARACTERS:
            raise ValueError(
                f"password needs at least {_MIN_DISTINCT_CHARACTERS} different characters"
            )
        if self.email.split("@")[0].casefold() in self.password.casefold():
            raise ValueError("password must not contain the email's name")


class Credentials(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(max_length=320, pattern=ONE_LINE)]
    password: Annotated[str, msgspec.Meta(max_length=128)]


class AccessToken(msgspec.Struct):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int | None = None


class AccountView(msgspec.Struct):
    id: int
    email: str
    role: Role
