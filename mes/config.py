"""Runtime configuration: one validated ``Settings`` object, read from ``MES_*`` variables.

Settings are read once per process by :func:`get_settings`, which refuses, in production, what
only a desk may run with (:func:`check_production`); the line file is checked where it is
loaded (``mes.equipment.line.load_line_for``). Nothing here connects to anything, so importing
this module is free of side effects.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mes.errors import ConfigError

# Values that mean "nobody set this". Production refuses to start with any of them
# so that a demo secret never signs a real operator's session or release.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev-secret", "password", "guest"})
DEFAULT_SECRET_KEY = "dev-secret"  # noqa: S105 - the development placeholder production refuses
REDIS_SCHEMES = ("redis", "rediss", "unix")


def redis_url_problem(url: str) -> str | None:
    """Why ``url`` is not a Redis URL that means what it says, or None.

    redis-py refuses some mistakes only when the first connection is made and
    silently drops others (``redis://host:6379/x`` is database 0), so they are
    caught here, at start, with the setting named by the caller.
    """
    parts, shown = urlsplit(url), masked_url(url)
    if parts.scheme not in REDIS_SCHEMES:
        return f"{shown!r} is not a Redis URL (redis://HOST:PORT/DB, rediss://… or unix://PATH)"
    if parts.scheme == "unix":
        return None
    try:
        parts.port  # noqa: B018 - parsing it is the check
    except ValueError:
        return f"{shown!r}: the port is not a number from 1 to 65535"
    database = parts.path.strip("/")
    if database and not database.isdigit():
        return f"{shown!r}: {database!r} after the port is not a database number (redis://HOST:PORT/0)"
    return None


def _checked_redis_url(url: str) -> str:
    problem = redis_url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


class Settings(BaseSettings):
    """Everything a process of the MES needs to know about its surroundings."""

    model_config = SettingsConfigDict(
        env_prefix="MES_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    environment: Literal["development", "production"] = "development"
    database_url: str = "sqlite:///./mes.db"
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str = "redis://127.0.0.1:6379/1"
    line_config: Path = Path("deploy/line.yaml")
    # filesystem:// broker (embedded default): where its queue folder lives
    broker_folder: Path = Path(".mes-broker")
    # Redis for live values to the HMI; empty means the broker's Redis when it is one, else none
    live_url: str = ""
    secret_key: SecretStr = SecretStr(DEFAULT_SECRET_KEY)
    # SQLite waits this long for a competing writer instead of failing with
    # "database is locked"; the embedded default has a worker, the collector and
    # CLI readers on one file.
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)
    # An active step nobody advanced for this long gets a new task chain (lost
    # message, killed worker); live chains touch their step every few seconds.
    step_stale_after_s: float = Field(default=20.0, gt=1)
    # A unit unreachable for this many attempts *and* this long gets its step held
    # with an alarm and is marked unhealthy (counted on the step row, see decision 008).
    step_link_attempts: int = Field(default=10, ge=1)
    step_link_budget_s: float = Field(default=60.0, ge=0)
    # The collector's disk spool (scans the database could not take yet): at this size it stops
    # pulling scans from the units, which keep them in their ring buffers, and raises an alarm.
    collector_spool_max_mb: float = Field(default=256.0, gt=0)

    @field_validator("live_url")
    @classmethod
    def _live_url(cls, url: str) -> str:
        return _checked_redis_url(url) if url else url

    @field_validator("broker_url", "result_backend")
    @classmethod
    def _broker_url(cls, url: str) -> str:
        # Other transports (filesystem://, memory://, amqp://) are Celery's to judge.
        scheme = url.split("://", 1)[0] if "://" in url else ""
        return _checked_redis_url(url) if url and (scheme in REDIS_SCHEMES or not scheme) else url

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


def masked_url(url: str) -> str:
    """A URL fit to print: its password, if any, replaced by ``***``."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    userinfo, host = parts.netloc.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def check_production(settings: Settings) -> None:
    """Refuse settings that are acceptable on a desk but not on a plant floor.

    Raises :class:`ConfigError` naming the variable to fix. The line file is checked where it is
    loaded (``mes.equipment.line.load_line_for``): a process may be given another one than
    ``MES_LINE_CONFIG``.
    """
    if not settings.is_production:
        return
    if settings.secret_key.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS:
        raise ConfigError("MES_SECRET_KEY is a placeholder; production needs a real secret")
    if settings.database_url.startswith("sqlite"):
        raise ConfigError("MES_DATABASE_URL points at SQLite; production runs on PostgreSQL")
    for name, url in (
        ("MES_BROKER_URL", settings.broker_url),
        ("MES_RESULT_BACKEND", settings.result_backend),
    ):
        if url.startswith(("memory://", "filesystem://", "sqla+")):
            raise ConfigError(
                f"{name} is an embedded broker ({url.split(':', 1)[0]}); production runs on Redis"
            )


def load_settings(**overrides: Any) -> Settings:
    """Build and check a ``Settings``; malformed variables become one :class:`ConfigError`."""
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")  # pydantic's prefix for our own checks
        raise ConfigError(f"MES_{field.upper()}: {message}") from exc
    check_production(settings)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read on first use."""
    return load_settings()
