"""Browser sessions: log in with name and password, stay logged in while active, log out.

The cookie carries 32 random bytes; only their HMAC under ``MES_SECRET_KEY`` is stored. A session ends
after ``idle_timeout`` without a request (ISA-62443-3-3 SR 2.5 "session lock"; 21 CFR 11.300(d) asks
for safeguards against unauthorised use of a left-open terminal). Failed logins are counted per user
name and per address in a sliding window (OWASP "Authentication Cheat Sheet", login throttling): past
the limit a login is refused (HTTP 429) without checking the password, so the limit cannot be probed
for the right one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from mes.audit.service import record
from mes.auth.errors import LoginThrottled, NotAuthenticated
from mes.auth.models import LoginAttempt, User, WebSession
from mes.auth.service import password_matches, recorded_name
from mes.base import pk, utcnow

LOGIN_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
# Last seen is written at most this often: an HMI polling every second does not write a row a second
# (the idle timeout is minutes; it is late by at most this much).
_LAST_SEEN_RESOLUTION = timedelta(seconds=30)
LOGIN_REFUSED = "login refused: unknown user or wrong password"


@dataclass(frozen=True)
class LoggedIn:
    """A new session: ``cookie`` goes into the Set-Cookie header and nowhere else."""

    cookie: str
    csrf_token: str
    user: User


def _failures(
    session: Session, since: datetime, *, user_name: str | None = None, address: str | None = None
) -> int:
    query = (
        select(func.count())
        .select_from(LoginAttempt)
        .where(col(LoginAttempt.at) > since, col(LoginAttempt.succeeded).is_(False))
    )
    if user_name is not None:
        query = query.where(LoginAttempt.user_name == user_name)
    if address is not None:
        query = query.where(LoginAttempt.address == address)
    return int(session.exec(query).one())


def session_digest(cookie: str, secret_key: str) -> str:
    """What is stored of a session cookie: HMAC-SHA-256 under ``MES_SECRET_KEY`` (RFC 2104), so that a
    copy of the database opens no session, and a new key ends every session at once."""
    return hmac.new(secret_key.encode(), cookie.encode(), hashlib.sha256).hexdigest()


def check_throttle(session: Session, who: str, address: str | None) -> None:
    """Raise :class:`LoginThrottled` when ``who`` (or ``address``, if given) has failed too often in the
    window: failed logins and refused electronic signatures count alike (the same password)."""
    since = utcnow() - LOGIN_WINDOW
    checks = [(_failures(session, since, user_name=who), MAX_FAILURES_PER_USER, f"user {who}")]
    if address is not None:
        checks.append(
            (_failures(session, since, address=address), MAX_FAILURES_PER_ADDRESS, f"address {address}")
        )
    for count, limit, what in checks:
        if count >= limit:
            raise LoginThrottled(
                f"refused: {count} failed logins or signatures for {what} in the last "
                f"{int(LOGIN_WINDOW.total_seconds() // 60)} minutes; try again later",
                retry_after_s=int(LOGIN_WINDOW.total_seconds()),
            )


def login(session: Session, name: str, password: str, *, address: str, secret_key: str) -> LoggedIn | None:
    """Check name and password and open a session; None for a wrong name or password (the caller
    commits the counted, audited failure, then refuses with :data:`LOGIN_REFUSED`, one message for
    both). Raises :class:`LoginThrottled` past the failure limit, before the password is looked at."""
    now = utcnow()
    who = recorded_name(name)
    address = address[:64]
    check_throttle(session, who, address)
    user = session.exec(select(User).where(User.name == who)).first()
    ok = (
        user is not None
        and user.active
        and not user.service_account
        and password_matches(password, user.password_hash)
    )
    session.add(LoginAttempt(user_name=who, address=address, at=now, succeeded=ok))
    session.flush()
    if not ok or user is None:
        record(session, actor=who, action="login.refused", entity_type="user", entity_id=who,
               after={"address": address})  # fmt: skip
        return None
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.add(WebSession(cookie_hmac=session_digest(cookie, secret_key), csrf_token=csrf, user_id=pk(user),
                           address=address, created_at=now, last_seen_at=now))  # fmt: skip
    session.flush()
    record(session, actor=user.name, action="login", entity_type="user", entity_id=user.name,
           after={"address": address})  # fmt: skip
    return LoggedIn(cookie=cookie, csrf_token=csrf, user=user)


def session_alive(
    session: Session, cookie: str, *, idle_timeout: timedelta, secret_key: str
) -> tuple[User, WebSession]:
    """The user of a live session, without moving its last-seen time (a stream that goes on is no
    activity). Raises :class:`NotAuthenticated` for an unknown, ended or idle-expired session (an idle
    one is ended here) or an account no longer active."""
    row = session.exec(
        select(WebSession).where(WebSession.cookie_hmac == session_digest(cookie, secret_key))
    ).first()
    now = utcnow()
    if row is None or row.ended_at is not None:
        raise NotAuthenticated("not logged in, or the session has ended: log in again")
    if now - row.last_seen_at > idle_timeout:
        row.ended_at = now
        session.add(row)
        session.flush()
        raise NotAuthenticated("the session ended after inactivity: log in again")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("the account of this session is no longer active")
    return user, row


def session_user(
    session: Session, cookie: str, *, idle_timeout: timedelta, secret_key: str
) -> tuple[User, WebSession]:
    """:func:`session_alive` for a request: its last-seen time moves on."""
    user, row = session_alive(session, cookie, idle_timeout=idle_timeout, secret_key=secret_key)
    now = utcnow()
    if now - row.last_seen_at > _LAST_SEEN_RESOLUTION:
        row.last_seen_at = now
        session.add(row)
        session.flush()
    return user, row


def logout(session: Session, cookie: str, *, secret_key: str) -> None:
    """End the session of ``cookie`` (nothing happens for an unknown one)."""
    row = session.exec(
        select(WebSession).where(WebSession.cookie_hmac == session_digest(cookie, secret_key))
    ).first()
    if row is not None and row.ended_at is None:
        row.ended_at = utcnow()
        session.add(row)
        session.flush()
