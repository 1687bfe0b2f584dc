from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from mes.config import SECRET_KEY_MIN_BITS, load_settings, new_secret_key, secret_key_bits
from mes.errors import ConfigError

GOOD_PRODUCTION = {
    "environment": "production",
    "secret_key": secrets.token_urlsafe(32),
    "database_url": "postgresql://mes@db:5432/mes",
    "broker_url": "redis://broker:6379/0",
    "result_backend": "redis://broker:6379/1",
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("ENVIRONMENT", "DATABASE_URL", "BROKER_URL", "RESULT_BACKEND", "LINE_CONFIG", "SECRET_KEY"):
        monkeypatch.delenv(f"MES_{name}", raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_embedded_development_setup() -> None:
    settings = load_settings()
    assert settings.environment == "development"
    assert settings.database_url == "sqlite:///./mes.db"
    assert not settings.is_production


def test_variables_are_read_with_the_mes_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MES_DATABASE_URL", "postgresql://a@b/c")
    monkeypatch.setenv("MES_LINE_CONFIG", "plant/line.yaml")
    settings = load_settings()
    assert settings.database_url == "postgresql://a@b/c"
    assert settings.line_config == Path("plant/line.yaml")


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MES_BROKER_URL=redis://elsewhere:6379/3\n")
    assert load_settings().broker_url == "redis://elsewhere:6379/3"


def test_a_malformed_variable_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MES_ENVIRONMENT", "staging")
    with pytest.raises(ConfigError, match="MES_ENVIRONMENT"):
        load_settings()


def test_production_accepts_real_settings() -> None:
    assert load_settings(**GOOD_PRODUCTION).is_production


@pytest.mark.parametrize(
    ("override", "variable"),
    [
        ({"secret_key": "change-me"}, "MES_SECRET_KEY"),
        ({"secret_key": "dev-secret"}, "MES_SECRET_KEY"),
        ({"database_url": "sqlite:///./mes.db"}, "MES_DATABASE_URL"),
        ({"broker_url": "filesystem://"}, "MES_BROKER_URL"),
        ({"result_backend": "memory://"}, "MES_RESULT_BACKEND"),
    ],
)
def test_production_refuses_placeholders(override: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable):
        load_settings(**{**GOOD_PRODUCTION, **override})


def test_development_tolerates_placeholders() -> None:
    settings = load_settings(secret_key="change-me", broker_url="filesystem://")
    assert settings.broker_url == "filesystem://"


@pytest.mark.parametrize(
    "key",
    [
        "x",  # the reproduction: accepted before
        "kq3v9-a-real-secret-from-the-vault",  # 34 printable characters: at most 223 bits
        secrets.token_urlsafe(24),  # 24 random bytes: 192 bits
        secrets.token_hex(16),  # 16 random bytes as 32 hex digits: 128 bits
        "0123456789abcdef" * 4,  # 64 hex digits, but one pattern repeated
        "Aa0-" * 20,  # every kind of character, repeated
        "correct-horse-battery-staple",
    ],
)
def test_production_refuses_a_weak_secret_key(key: str) -> None:
    # Expected: refused, naming MES_SECRET_KEY, the figure and how to make a key; the key never shown.
    with pytest.raises(ConfigError, match=r"^MES_SECRET_KEY is too weak: .* production needs 256 ") as info:
        load_settings(**{**GOOD_PRODUCTION, "secret_key": key})
    assert "mes secret new" in str(info.value)
    assert key not in str(info.value)


@pytest.mark.parametrize("key", ["change-me", " Dev-Secret ", "", "insecure"])
def test_production_refuses_a_placeholder_secret_key(key: str) -> None:
    with pytest.raises(ConfigError, match=r"^MES_SECRET_KEY is a placeholder.*mes secret new"):
        load_settings(**{**GOOD_PRODUCTION, "secret_key": key})


@pytest.mark.parametrize(
    ("make", "chars"),
    [
        (new_secret_key, 43),  # what `mes secret new` prints
        (lambda: secrets.token_urlsafe(32), 43),
        (lambda: secrets.token_hex(32), 64),  # `openssl rand -hex 32`
        (lambda: base64.b64encode(os.urandom(32)).decode(), 44),  # `openssl rand -base64 32`
    ],
)
def test_production_accepts_32_random_bytes_however_written(make: Callable[[], str], chars: int) -> None:
    # Expected: every one of 2,000 keys of 32 random bytes accepted (the bound never refuses a real key).
    for _ in range(2_000):
        key = make()
        assert len(key) == chars
        assert secret_key_bits(key) >= SECRET_KEY_MIN_BITS, key
        assert load_settings(**{**GOOD_PRODUCTION, "secret_key": key}).is_production


def test_new_secret_keys_differ() -> None:
    assert len({new_secret_key() for _ in range(100)}) == 100


@pytest.mark.parametrize("source", ["environment", ".env file"])
def test_production_checks_the_secret_key_whichever_source_gave_it(
    source: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = {**GOOD_PRODUCTION, "secret_key": "x"}
    names = {f"MES_{k.upper()}": v for k, v in values.items()}
    if source == "environment":
        for name, value in names.items():
            monkeypatch.setenv(name, value)
    else:
        (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in names.items()))
    with pytest.raises(ConfigError, match="^MES_SECRET_KEY is too weak"):
        load_settings()


def test_every_refused_setting_is_named_on_one_line() -> None:
    bad = {"secret_key": "x", "database_url": "sqlite:///./mes.db", "broker_url": "filesystem://"}
    with pytest.raises(ConfigError) as info:
        load_settings(**{**GOOD_PRODUCTION, **bad})
    message = str(info.value)
    assert "\n" not in message
    for name in ("MES_SECRET_KEY", "MES_DATABASE_URL", "MES_BROKER_URL"):
        assert name in message


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("live_url", "localhost:6379"),
        ("live_url", "http://127.0.0.1:6379/0"),
        ("live_url", "redis://127.0.0.1:99999/0"),
        ("live_url", "redis://127.0.0.1:6379/zero"),
        ("broker_url", "redis://127.0.0.1:abc/0"),
        ("result_backend", "rediss://127.0.0.1:6379/one"),
    ],
)
def test_a_malformed_redis_url_names_its_variable(field: str, url: str) -> None:
    with pytest.raises(ConfigError, match=f"^MES_{field.upper()}: ") as info:
        load_settings(**{field: url})
    assert "Value error" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "url"),
    [
        ("live_url", ""),
        ("live_url", "redis://127.0.0.1:6379/3"),
        ("live_url", "rediss://:secret@cache.plant:6380"),
        ("live_url", "unix:///run/redis.sock?db=2"),
        ("broker_url", "filesystem://"),
        ("broker_url", "redis://broker"),
        ("result_backend", "memory://"),
    ],
)
def test_redis_urls_that_redis_accepts(field: str, url: str) -> None:
    assert getattr(load_settings(**{field: url}), field) == url


def test_the_plant_time_zone_is_checked_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MES_PLANT_TIME_ZONE", "Europe/Berlin")
    assert load_settings().plant_time_zone == "Europe/Berlin"
    monkeypatch.setenv("MES_PLANT_TIME_ZONE", "Mars/Olympus_Mons")
    with pytest.raises(ConfigError, match=r"MES_PLANT_TIME_ZONE: 'Mars/Olympus_Mons' is not a time zone"):
        load_settings()
