"""Errors of users, roles and signatures."""

from __future__ import annotations

from mes.errors import MesError


class AuthError(MesError):
    """Unknown user, wrong password, or a role that may not do this."""
