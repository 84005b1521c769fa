"""Password hashes at a deployment's cost: argon2id, checked in constant shape, rehashed
when the cost changes."""

from argon2 import extract_parameters

from app.settings import PasswordHashing
from db.accounts import Passwords
from db.models import User


def _passwords(hashing: PasswordHashing) -> Passwords:
    return Passwords(hashing.time_cost, hashing.memory_kib, hashing.parallelism)


async def test_the_production_default_makes_argon2id_at_rfc_9106s_cost() -> None:
    made = await _passwords(PasswordHashing()).hash("correct horse battery")
    parameters = extract_parameters(made)
    assert made.startswith("$argon2id$")
    assert (parameters.time_cost, parameters.memory_cost, parameters.parallelism) == (3, 65536, 4)


async def test_a_hash_at_another_cost_still_matches_and_is_outdated() -> None:
    cheap = _passwords(PasswordHashing(time_cost=1, memory_kib=8, parallelism=1))
    stronger = _passwords(PasswordHashing(time_cost=2, memory_kib=16, parallelism=1))
    made = await cheap.hash("correct horse battery")
    assert stronger.outdated(made)
    assert not cheap.outdated(made)


async def test_only_the_right_password_of_an_existing_user_matches() -> None:
    passwords = _passwords(PasswordHashing(time_cost=1, memory_kib=8, parallelism=1))
    user = User(password_hash=await passwords.hash("correct horse battery"))
    assert await passwords.match(user, "correct horse battery")
    assert not await passwords.match(user, "wrong horse battery")
    assert not await passwords.match(None, "no such user")
