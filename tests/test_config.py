from __future__ import annotations

from pathlib import Path

import pytest

from mes.config import load_settings
from mes.errors import ConfigError

GOOD_PRODUCTION = {
    "environment": "production",
    "secret_key": "kq3v9-a-real-secret-from-the-vault",
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
