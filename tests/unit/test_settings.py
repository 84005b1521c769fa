"""Settings that would make a deployment guessable are refused before it starts."""

import re
from pathlib import Path

import pytest

from app.settings import from_env

REQUIRED = {"DATABASE_URL": "postgresql+asyncpg://x/y", "REDIS_URL": "redis://x/0"}
STRONG_KEY = "q8V2mZt4Lw9xYc1Rb7Nf3Hs6Jd0Kp5Ga"


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
    compose = (Path(__file__).parents[2] / "docker-compose.yml").read_text()
    images = re.findall(r"^\s*image:\s*(\S+)", compose, re.MULTILINE)
    assert images
    for image in images:
        _, _, tag = image.partition(":")
        assert re.search(r"\d", tag), image
    assert re.search(r"SECRET_KEY: \$\{SECRET_KEY:\?", compose)
    dockerfile = (Path(__file__).parents[2] / "Dockerfile").read_text()
    assert re.search(r"^FROM \S+:\d+\.\d+\.\d+", dockerfile, re.MULTILINE)
