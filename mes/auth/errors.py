"""Errors of users, roles and signatures."""

from __future__ import annotations

from mes.errors import InputError, MesError


class AuthError(MesError):
    """Unknown user, wrong password, or a role that may not do this."""


class InvalidUserName(AuthError, InputError):
    """A name that cannot be a user name (empty, control characters, too long): the input is wrong."""
