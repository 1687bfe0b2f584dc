"""Errors of users, roles and signatures."""

from __future__ import annotations

from mes.errors import InputError, MesError


class AuthError(MesError):
    """Unknown user, wrong password, or a role that may not do this."""


class InvalidUserName(AuthError, InputError):
    """A name that cannot be a user name (empty, control characters, too long): the input is wrong."""


class NotAuthenticated(AuthError):
    """No valid credential came with the request: no token or session, or one expired or revoked
    (HTTP 401)."""


class LoginThrottled(AuthError):
    """Too many failed logins for this user or from this address in the window; try again later
    (HTTP 429). ``retry_after_s`` says when."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class TokenInvalid(AuthError, InputError):
    """A token asked for with a value none can have: an expiry that is not a duration, a role a
    token may not hold (exit 2)."""


class SignatureRefused(AuthError):
    """An electronic signature whose signer is unknown, inactive, a token's account, or whose password
    is wrong: one message for each (nothing to learn by probing names); counted like a failed login."""
