"""Settings that would make a deployment guessable are refused before it starts."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings import from_env

REQUIRED = {"DATABASE_URL": "postgresql+asyncpg://x/y", "REDIS_URL": "redis://x/0"}
STRONG_KEY = "q8V2mZt4Lw9xYc1Rb7Nf3Hs6Jd0Kp5Ga"
REPOSITORY = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("change-me", "placeholder"),
        ("please-CHANGE-ME-before-going-to-production", "placeholder"),
        ("an-example-key-that-is-long-enough-to-pass", "placeholder"),
        ("short-but-random-7Qx", "shorter than 32 bytes"),
        ("ab" * 20, "fewer than 10 different characters"),
    ],
)
def test_a_guessable_secret_key_stops_the_start(key: str, why: str) -> None:
    with pytest.raises(SystemExit, match=f"SECRET_KEY (is|has) .*{why}"):
        from_env({**REQUIRED, "SECRET_KEY": key})


def test_a_missing_secret_key_stops_the_start() -> None:
    with pytest.raises(SystemExit, match="secret_key"):
        from_env(REQUIRED)


def test_local_development_lets_a_weak_key_through() -> None:
    settings = from_env({**REQUIRED, "SECRET_KEY": "dev", "LOCAL_DEVELOPMENT": "true"})
    assert settings.secret_key == "dev"


def test_a_random_key_is_taken() -> None:
    assert from_env({**REQUIRED, "SECRET_KEY": STRONG_KEY}).secret_key == STRONG_KEY


def test_compose_pins_its_images_and_demands_a_key() -> None:
    compose = (REPOSITORY / "docker-compose.yml").read_text()
    images = re.findall(r"^\s*image:\s*(\S+)", compose, re.MULTILINE)
    assert images
    for image in images:
        _, _, tag = image.partition(":")
        assert re.search(r"\d", tag), image
    assert re.search(r"SECRET_KEY: \$\{SECRET_KEY:\?", compose)
    dockerfile = (Path(__file__).parents[2] / "Dockerfile").read_text()
    assert re.search(r"^FROM \S+:\d+\.\d+\.\d+", dockerfile, re.MULTILINE)


def test_importing_settings_starts_nothing_of_the_house() -> None:
    """Settings are a leaf: a tool that reads them loads no ORM, no metrics, no web
    framework, no Redis client and no other module of the app, and hashes nothing."""
    probe = (
        "import sys, app.settings; "
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sqlalchemy', 'prometheus_client', 'argon2', 'litestar', 'redis', 'asyncpg', 'db', "
        "'app'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=REPOSITORY
    ).stdout.split()
    assert loaded == ["app", "app.settings"]


def test_password_hashing_defaults_to_argon2_cffis_recommendation() -> None:
    hashing = from_env({**REQUIRED, "SECRET_KEY": STRONG_KEY}).passwords
    assert (hashing.time_cost, hashing.memory_kib, hashing.parallelism) == (3, 65536, 4)
    cheap = from_env(
        {**REQUIRED, "SECRET_KEY": STRONG_KEY, "PASSWORD_HASH_TIME_COST": "1"}
    ).passwords
    assert cheap.time_cost == 1
