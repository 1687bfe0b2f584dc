"""User table: who may operate, engineer, release and administer."""

import enum
from datetime import datetime

from sqlmodel import Field, SQLModel

from mes.base import UTCDateTime, enum_type, utcnow


class Role(enum.StrEnum):
    OPERATOR = "operator"
    ENGINEER = "engineer"
    QUALITY = "quality"
    ADMIN = "admin"


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    full_name: str = Field(default="", max_length=200)
    # A PBKDF2/scrypt hash string, never the password: release and hold need the
    # password re-entered as an electronic signature.
    password_hash: str = Field(max_length=255)
    role: Role = Field(sa_type=enum_type(Role))
    active: bool = Field(default=True)
    # A token's identity (``mes token create``): acts through the API, never logs in, never signs.
    service_account: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    """A bearer token for automation. Only its SHA-256 is stored: the token is shown once, at creation.

    A token acts as its own service account (a :class:`User` with ``service_account`` set and no
    password anyone knows): the audit trail names the token, and it can never sign.
    """

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    token_sha256: str = Field(max_length=64, unique=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by: str | None = Field(default=None, max_length=64)


class WebSession(SQLModel, table=True):
    """A browser login. The cookie carries a random token of which only its HMAC under MES_SECRET_KEY
    is stored; the CSRF token is sent back on every state-changing request (header or form field)."""

    __tablename__ = "web_session"

    id: int | None = Field(default=None, primary_key=True)
    cookie_hmac: str = Field(max_length=64, unique=True)
    csrf_token: str = Field(max_length=64)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    address: str = Field(default="", max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginAttempt(SQLModel, table=True):
    """One try at the login form: failures in a window limit further tries per user and per address."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, primary_key=True)
    user_name: str = Field(max_length=64, index=True)
    address: str = Field(max_length=64, index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    succeeded: bool = Field(default=False)
