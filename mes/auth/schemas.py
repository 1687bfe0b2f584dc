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
