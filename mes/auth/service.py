"""Users, password hashes and role checks.

Passwords are hashed with scrypt (stdlib), salted per user. Re-entering the
password is the electronic signature that recipe release and hold/release of
lots require.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from sqlmodel import Session, col, select

from mes.auth.models import Role, User
from mes.auth.schemas import UserPublic
from mes.errors import MesError

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8


class AuthError(MesError):
    """Unknown user, wrong password, or a role that may not do this."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def create_user(session: Session, name: str, role: Role, password: str, full_name: str = "") -> User:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if session.exec(select(User).where(User.name == name)).first() is not None:
        raise AuthError(f"user {name!r} exists already")
    user = User(name=name, role=role, full_name=full_name, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, name: str) -> User:
    user = session.exec(select(User).where(User.name == name)).first()
    if user is None or not user.active:
        raise AuthError(f"no active user {name!r} (add one with `mes user add`)")
    return user


def require_role(user: User, roles: Iterable[Role], doing: str) -> None:
    allowed = set(roles)
    if user.role not in allowed:
        names = " or ".join(sorted(r.value for r in allowed))
        raise AuthError(f"{user.name} ({user.role}) may not {doing}: that needs the {names} role")


def sign(session: Session, name: str, password: str, roles: Iterable[Role], doing: str) -> User:
    """Electronic signature: the user exists, holds one of ``roles`` and re-entered the right password."""
    user = get_user(session, name)
    require_role(user, roles, doing)
    if not password_matches(password, user.password_hash):
        raise AuthError(f"signature refused: wrong password for {name}")
    return user


def list_users(session: Session) -> list[UserPublic]:
    """Every user by name, with role and whether the account is active."""
    return [
        UserPublic(name=u.name, full_name=u.full_name, role=u.role, active=u.active, created_at=u.created_at)
        for u in session.exec(select(User).order_by(col(User.name)))
    ]
