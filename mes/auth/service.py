"""Users, password hashes and role checks.

Passwords are hashed with scrypt (stdlib), salted per user. Re-entering the
password is the electronic signature that recipe release and hold/release of
lots require.

A user name is stored and looked up in one form (:func:`normal_name`): Unicode
NFC without surrounding white space, so "zoë" typed with a precomposed ë and
with e + combining diaeresis is one user, and "erin " is erin. A password is
hashed and checked in its NFKC form (:func:`normal_password`), so the same
password typed on another keyboard or system signs. A hash made before
passwords were normalised still accepts the exact form it was set with, and is
replaced by a hash of the NFKC form at the next good signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
from collections.abc import Iterable

from sqlmodel import Session, col, select

from mes.auth.errors import AuthError, InvalidUserName
from mes.auth.models import Role, User
from mes.auth.schemas import UserPublic

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD_LENGTH = 8
MAX_NAME_LENGTH = 64  # the app_user.name column
# Control characters (Cc: tab, newline, NUL, DEL, C1) and invisible format characters (Cf: zero-width
# space and joiners, bidi overrides, BOM): a name with them looks like another name, or like nothing.
# Line and paragraph separators (Zl, Zp) break a name across lines in lists and logs.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def normal_name(name: str) -> str:
    """The form a user name is stored, compared and looked up in: NFC, surrounding white space removed.

    Raises :class:`InvalidUserName` for a name that is empty once trimmed, holds a
    control, format or line-separator character, or is longer than the column.
    """
    text = unicodedata.normalize("NFC", name).strip()
    if not text:
        raise InvalidUserName("a user name cannot be empty (or only white space)")
    bad = next((c for c in text if unicodedata.category(c) in _REFUSED_CATEGORIES), None)
    if bad is not None:
        what = unicodedata.name(bad, "a control character")
        raise InvalidUserName(f"user name {text!r} contains U+{ord(bad):04X} ({what}); names are printable")
    if len(text) > MAX_NAME_LENGTH:
        raise InvalidUserName(f"a user name has at most {MAX_NAME_LENGTH} characters, not {len(text)}")
    return text


def recorded_name(name: str) -> str:
    """How a name given for a refused action goes into the audit trail: its normal form, or, when it
    cannot be a user name, its printable repr cut to the column."""
    try:
        return normal_name(name)
    except InvalidUserName:
        return repr(name)[:MAX_NAME_LENGTH]


def normal_password(password: str) -> str:
    """The form a password is hashed and checked in: NFKC (compatibility forms folded, composed)."""
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """A salted scrypt hash of the password's normal form."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(normal_password(password), salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p)


def password_matches(password: str, stored: str) -> bool:
    """Whether ``password`` (in its normal form, or exactly as given for an older hash) matches ``stored``."""
    return _matches(normal_password(password), stored) or _matches_as_given(password, stored)


def _matches_as_given(password: str, stored: str) -> bool:
    """A hash made before passwords were normalised holds the form as it was typed. A hash of a normal
    form can never match a password that is not in normal form (NFKC is idempotent), so this accepts
    nothing a current hash would refuse."""
    return password != normal_password(password) and _matches(password, stored)


def _matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def create_user(session: Session, name: str, role: Role, password: str, full_name: str = "") -> User:
    """A new user under the normal form of ``name``; refused when that form is taken."""
    name = normal_name(name)
    if len(normal_password(password)) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if session.exec(select(User).where(User.name == name)).first() is not None:
        raise AuthError(f"user {name!r} exists already")
    user = User(name=name, role=role, full_name=full_name, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, name: str) -> User:
    """The active user of that name, looked up by its normal form; every ``--by`` goes through here."""
    name = normal_name(name)
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
    if _matches(normal_password(password), user.password_hash):
        return user
    if not _matches_as_given(password, user.password_hash):
        raise AuthError(f"signature refused: wrong password for {user.name}")
    # An older hash of the password as typed: from now on any form of it signs.
    user.password_hash = hash_password(password)
    session.add(user)
    session.flush()
    return user


def list_users(session: Session) -> list[UserPublic]:
    """Every user by name, with role and whether the account is active."""
    return [
        UserPublic(name=u.name, full_name=u.full_name, role=u.role, active=u.active, created_at=u.created_at)
        for u in session.exec(select(User).order_by(col(User.name)))
    ]
