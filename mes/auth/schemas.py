"""Read models of users: never the password hash."""

from __future__ import annotations

from datetime import datetime

from mes.auth.models import Role
from mes.base import ReadModel


class UserPublic(ReadModel):
    name: str
    full_name: str
    role: Role
    active: bool
    created_at: datetime


class TokenPublic(ReadModel):
    """An API token as listed: never the token itself, never its hash."""

    name: str
    role: Role
    created_by: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None
    active: bool


class TokenIssued(ReadModel):
    """A token just made: the only time ``token`` is shown."""

    token: str
    detail: TokenPublic


class Principal(ReadModel):
    """Who a request acts for: a person's session or a token's service account."""

    name: str
    full_name: str
    role: Role
    via: str  # "session" | "token"
    csrf_token: str | None = None  # a session's: send it back as X-CSRF-Token
