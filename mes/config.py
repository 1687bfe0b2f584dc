"""Runtime configuration: one validated ``Settings`` object, read from ``MES_*`` variables.

Settings are read once per process by :func:`get_settings`, which refuses, in production, what
only a desk may run with (:func:`production_problems`); the line file is checked where it is
loaded (``mes.equipment.line.load_line_for``). Nothing here connects to anything, so importing
this module is free of side effects.
"""

from __future__ import annotations

import math
import secrets
import string
import zlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from mes.errors import ConfigError

# Values that mean "nobody set this". Production refuses to start with any of them
# so that a demo secret never signs a real operator's session or release.
PLACEHOLDER_SECRETS = frozenset(
    {"", "change-me", "changeme", "changeit", "secret", "dev-secret", "password", "guest", "insecure",
     "default", "example", "test"}
)  # fmt: skip
DEFAULT_SECRET_KEY = "dev-secret"  # noqa: S105 - the development placeholder production refuses
# A signing key should carry as many random bits as its MAC's hash puts out: 256 for HMAC-SHA-256
# (RFC 2104 section 3: a key shorter than the hash output "is strongly discouraged"; the Python
# `secrets` documentation: 32 bytes of randomness suffice). `mes secret new` prints such a key.
SECRET_KEY_BYTES = 32
SECRET_KEY_MIN_BITS = 8 * SECRET_KEY_BYTES
# Alphabets keys are written in, smallest first (hex, base32-like, alphanumeric, base64url, base64):
# each character of a key carries at most log2(size) bits of the smallest one holding all of them.
_ALPHABETS = tuple(
    frozenset(chars)
    for chars in (
        string.digits,
        "0123456789abcdef",
        "0123456789ABCDEF",
        string.ascii_lowercase + string.digits,
        string.ascii_uppercase + string.digits,
        string.ascii_letters + string.digits,
        string.ascii_letters + string.digits + "-_",
        string.ascii_letters + string.digits + "+/=",
    )
)
_PRINTABLE_ASCII = 95
_ZLIB_FRAMING_BYTES = 6  # header (2) and Adler-32 (4): what zlib adds to any input
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
    # `mes web`: a browser session ends after this long without a request (an HMI left open).
    web_idle_timeout_min: float = Field(default=15.0, gt=0, le=24 * 60)
    # `mes web` in production sets the Secure flag on its cookie: it must sit behind TLS (deploy docs).
    web_secure_cookies: bool | None = None
    # The event log (GET /api/v1/events, decision 018): a client that comes back with Last-Event-ID is
    # replayed at most this many events, else told it missed them (a `gap` event) …
    events_replay_max: int = Field(default=10_000, ge=1)
    # … and rows older than this are deleted by the reconciler (a client gone longer gets a `gap`).
    events_retention_h: float = Field(default=24.0, gt=0)
    # How often `mes web` reads the log for new events when nothing wakes it (SQLite has no
    # notifications; PostgreSQL's NOTIFY wakes it at once and this is only the safety net).
    events_poll_s: float = Field(default=0.5, gt=0, le=60)
    # The operator pages show times in the plant's zone (an IANA name, e.g. Europe/Berlin); UTC stays
    # in tooltips and in every export.
    plant_time_zone: str = "UTC"
    # A live value older than this is drawn stale (greyed, hatched, its age beside it): a few scan
    # periods of the slowest gauge.
    hmi_stale_after_s: float = Field(default=10.0, gt=0, le=3600)

    @field_validator("plant_time_zone")
    @classmethod
    def _plant_time_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"{name!r} is not a time zone this machine knows (give an IANA name such as "
                "Europe/Berlin, or UTC)"
            ) from exc
        return name

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

    @property
    def live_values(self) -> tuple[str, str]:
        """The Redis of live values (the collector publishes, `mes web` relays) and the setting that
        names it: ``MES_LIVE_URL``, else the broker's when it is a Redis; ``("", …)`` for none."""
        if self.live_url:
            return self.live_url, "MES_LIVE_URL"
        scheme = self.broker_url.split("://", 1)[0]
        return (self.broker_url if scheme in REDIS_SCHEMES else ""), "MES_BROKER_URL"

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies carry the Secure flag: always in production unless switched off."""
        return self.is_production if self.web_secure_cookies is None else self.web_secure_cookies


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


def secret_key_bits(key: str) -> int:
    """An upper bound of the random bits in ``key``: what it could hold, never what it holds.

    The smaller of two bounds: its length times the bits per character of the smallest alphabet it
    is written in (95 printable characters for anything else), and eight bits per byte that zlib
    leaves of it (a key that repeats itself compresses). Randomness cannot be measured from one
    value, so a key above the bound may still be guessable; one below it certainly is.
    """
    chars = set(key)
    size = next((len(a) for a in _ALPHABETS if chars <= a), _PRINTABLE_ASCII)
    by_alphabet = len(key) * math.log2(size) if key else 0.0
    by_compression = 8 * max(0, len(zlib.compress(key.encode("utf-8"), 9)) - _ZLIB_FRAMING_BYTES)
    return math.floor(min(by_alphabet, by_compression))


def secret_key_problem(key: str) -> str | None:
    """Why production refuses ``key`` as ``MES_SECRET_KEY`` (the key itself never shown), or None."""
    how = "make one with `mes secret new`"
    if key.strip().lower() in PLACEHOLDER_SECRETS:
        return f"MES_SECRET_KEY is a placeholder; production needs a random key: {how}"
    bits = secret_key_bits(key)
    if bits < SECRET_KEY_MIN_BITS:
        return (
            f"MES_SECRET_KEY is too weak: its {len(key)} character(s) hold at most {bits} random bits, "
            f"production needs {SECRET_KEY_MIN_BITS} ({SECRET_KEY_BYTES} random bytes): {how}"
        )
    return None


def new_secret_key() -> str:
    """A new ``MES_SECRET_KEY``: 32 bytes from ``secrets.token_urlsafe``, 43 URL-safe characters."""
    while True:
        key = secrets.token_urlsafe(SECRET_KEY_BYTES)
        # Fewer than one in 10^10 draws falls short of 62 letters and digits and is drawn again.
        if secret_key_problem(key) is None:
            return key


def production_problems(settings: Settings) -> list[str]:
    """What production refuses in ``settings``, one sentence each naming its variable (empty: none).

    The line file is checked where it is loaded (``mes.equipment.line.load_line_for``): a
    process may be given another one than ``MES_LINE_CONFIG``.
    """
    if not settings.is_production:
        return []
    problems: list[str] = []
    key = secret_key_problem(settings.secret_key.get_secret_value())
    if key is not None:
        problems.append(key)
    if settings.database_url.startswith("sqlite"):
        problems.append("MES_DATABASE_URL points at SQLite; production runs on PostgreSQL")
    for name, url in (
        ("MES_BROKER_URL", settings.broker_url),
        ("MES_RESULT_BACKEND", settings.result_backend),
    ):
        if url.startswith(("memory://", "filesystem://", "sqla+")):
            scheme = url.split(":", 1)[0]
            problems.append(f"{name} is an embedded broker ({scheme}); production runs on Redis")
    return problems


def check_production(settings: Settings) -> None:
    """Refuse settings that are acceptable on a desk but not on a plant floor.

    Raises one :class:`ConfigError` naming every variable to fix.
    """
    problems = production_problems(settings)
    if problems:
        raise ConfigError("; ".join(problems))


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
