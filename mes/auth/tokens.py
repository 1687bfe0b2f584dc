"""API tokens for automation: made, listed, revoked, and resolved to the account they act as.

A token is 32 random bytes (``secrets.token_urlsafe``) behind the prefix ``mes_``; only its SHA-256 is
stored, so a copy of the database signs in nowhere. A fast hash is right here (unlike a password): the
token carries 256 random bits, nothing to guess (OWASP, "Password Storage": slow hashes are for
low-entropy secrets).

Each token is its own service account (a :class:`User` with ``service_account`` set and a random
password hash nobody knows): every service that asks "who did this" gets the token's name, the audit
trail shows it, and it can never sign an electronic signature.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from mes.audit.service import record
from mes.auth.errors import AuthError, NotAuthenticated, TokenInvalid
from mes.auth.models import ApiToken, Role, User
from mes.auth.schemas import TokenIssued, TokenPublic
from mes.auth.service import get_user, hash_password, normal_name, require_role
from mes.base import pk, utcnow

TOKEN_PREFIX = "mes_"  # noqa: S105 - a prefix that tells a leaked token apart, not a secret
TOKEN_ROLES = (Role.OPERATOR, Role.ENGINEER, Role.QUALITY)
MAX_TOKEN_DAYS = 366
_DURATION = re.compile(r"^\s*(\d{1,4})\s*([dh])\s*$")


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_expiry(text: str) -> timedelta:
    """``90d`` or ``12h`` as a duration; at most a year. Raises :class:`TokenInvalid`."""
    match = _DURATION.match(text)
    if match is None:
        raise TokenInvalid(f"--expires {text!r}: give days or hours, like 90d or 12h")
    amount, unit = int(match.group(1)), match.group(2)
    length = timedelta(days=amount) if unit == "d" else timedelta(hours=amount)
    if not timedelta(hours=1) <= length <= timedelta(days=MAX_TOKEN_DAYS):
        raise TokenInvalid(f"--expires {text!r}: a token lives from 1 hour to {MAX_TOKEN_DAYS} days")
    return length


def _public(token: ApiToken, user: User, now: datetime) -> TokenPublic:
    return TokenPublic(
        name=token.name,
        role=user.role,
        created_by=token.created_by,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
        revoked_by=token.revoked_by,
        active=token.revoked_at is None and token.expires_at > now and user.active,
    )


def create_token(session: Session, name: str, *, role: Role, expires: timedelta, by: str) -> TokenIssued:
    """A new token named ``name`` with ``role``, made by an admin ``by``; the token is in the answer
    and nowhere else. Raises :class:`AuthError` when the name is taken by a token or a person."""
    creator = get_user(session, by)
    require_role(creator, [Role.ADMIN], "create API tokens")
    name = normal_name(name)
    if role not in TOKEN_ROLES:
        raise TokenInvalid(f"a token acts as {', '.join(r.value for r in TOKEN_ROLES)}, not {role.value}")
    if session.exec(select(User).where(User.name == name)).first() is not None:
        raise AuthError(f"{name!r} is taken (a user or a token has that name); choose another token name")
    account = User(
        name=name,
        full_name=f"API token {name}",
        role=role,
        service_account=True,
        password_hash=hash_password(secrets.token_urlsafe(32)),  # nobody knows it: never signs
    )
    session.add(account)
    session.flush()
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    row = ApiToken(
        name=name,
        user_id=pk(account),
        token_sha256=token_sha256(token),
        created_by=creator.name,
        created_at=now,
        expires_at=now + expires,
    )
    session.add(row)
    session.flush()
    record(session, actor=creator.name, action="token.create", entity_type="api_token", entity_id=name,
           after={"role": role.value, "expires_at": row.expires_at.isoformat()})  # fmt: skip
    return TokenIssued(token=token, detail=_public(row, account, now))


def list_tokens(session: Session) -> list[TokenPublic]:
    now = utcnow()
    rows = session.exec(select(ApiToken, User).join(User).order_by(col(ApiToken.name))).all()
    return [_public(token, user, now) for token, user in rows]


def revoke_token(session: Session, name: str, *, by: str) -> TokenPublic:
    """Revoke a token at once: its next request is refused (401). Its account stays, for the trail."""
    revoker = get_user(session, by)
    require_role(revoker, [Role.ADMIN], "revoke API tokens")
    name = normal_name(name)
    found = session.exec(select(ApiToken, User).join(User).where(ApiToken.name == name)).first()
    if found is None:
        raise AuthError(f"no API token {name!r} (`mes token list` shows them)")
    token, account = found
    if token.revoked_at is None:
        token.revoked_at, token.revoked_by = utcnow(), revoker.name
        account.active = False
        session.add_all([token, account])
        session.flush()
        record(session, actor=revoker.name, action="token.revoke", entity_type="api_token", entity_id=name)
    return _public(token, account, utcnow())


# A token's last use is written at most this often, so that a polling client does not write a row a request.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


def token_user(session: Session, token: str) -> User:
    """The service account a bearer token acts as. Raises :class:`NotAuthenticated` for a token that
    is unknown, expired or revoked (the same words for each: nothing to learn by probing)."""
    row = session.exec(select(ApiToken).where(ApiToken.token_sha256 == token_sha256(token))).first()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise NotAuthenticated("the bearer token is unknown, expired or revoked")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("the bearer token is unknown, expired or revoked")
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        row.last_used_at = now
        session.add(row)
        session.flush()
    return user
