"""What every route depends on: a database session whose transaction the request owns, and the
principal (a browser session or a bearer token) with the roles the route declares.

The transaction commits when the route returns and before the response is sent (``scope="function"``),
so a client never sees a 2xx for something that was rolled back; any error rolls it back.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Annotated
from weakref import WeakKeyDictionary

from fastapi import Depends, Request
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool
from sqlmodel import Session

from mes.api.errors import CsrfRefused, RoleRefused
from mes.auth.errors import NotAuthenticated
from mes.auth.models import Role
from mes.auth.schemas import Principal
from mes.auth.sessions import session_alive, session_user
from mes.auth.tokens import token_user
from mes.config import Settings
from mes.db import session_scope
from mes.equipment.line import load_line_for
from mes.equipment.profile import Line

SESSION_COOKIE = "mes_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def engine_of(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def line_of(request: Request) -> Line:
    """The line of ``MES_LINE_CONFIG`` (units and their profiles), loaded at its first use and kept:
    as for a worker, a changed line file takes effect when the server is started again."""
    line: Line | None = getattr(request.app.state, "line", None)
    if line is None:
        line = load_line_for(settings_of(request))
        request.app.state.line = line
    return line


def _gate(request: Request) -> asyncio.Semaphore | None:
    """The app's admission to database sessions, as many places as the pool keeps connections (None
    for a pool that does not queue); one per event loop (tests serve one app from several)."""
    pool = engine_of(request).pool
    if not isinstance(pool, QueuePool):
        return None
    gates: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] | None
    gates = getattr(request.app.state, "db_gates", None)
    if gates is None:
        gates = request.app.state.db_gates = WeakKeyDictionary()
    loop = asyncio.get_running_loop()
    if loop not in gates:
        gates[loop] = asyncio.Semaphore(max(1, pool.size()))
    return gates[loop]


async def _admitted(request: Request) -> AsyncIterator[None]:
    """Wait, without a thread or a connection, for a place among the requests that hold a session.

    A sync route's session keeps its pooled connection until the route's answer is serialised, which
    FastAPI does in another worker thread. With more requests at once than the pool has connections,
    every worker thread could wait for a connection held by a request waiting for a thread: the server
    stood still for the pool's 30 s, then answered 500s. Admitting at most the pool's size (the
    overflow stays for the checks and writes made in transactions of their own) keeps a connection
    free for every request that holds a session."""
    gate = _gate(request)
    if gate is None:
        yield
        return
    async with gate:
        yield


def get_db(
    request: Request, _admitted: Annotated[None, Depends(_admitted, scope="function")]
) -> Iterator[Session]:
    with session_scope(engine_of(request)) as session:
        yield session


DbSession = Annotated[Session, Depends(get_db, scope="function")]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header is not 'Bearer TOKEN'")
    return token.strip()


def authenticate(request: Request, db: Session) -> Principal:
    """The caller: a bearer token first, else the session cookie (with its CSRF token on a request
    that changes anything). Raises :class:`NotAuthenticated` or :class:`CsrfRefused`."""
    token = _bearer(request)
    if token is not None:
        user = token_user(db, token)
        return Principal(name=user.name, full_name=user.full_name, role=user.role, via="token")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise NotAuthenticated("log in, or send an API token as 'Authorization: Bearer TOKEN'")
    idle = timedelta(minutes=settings_of(request).web_idle_timeout_min)
    key = settings_of(request).secret_key.get_secret_value()
    user, web_session = session_user(db, cookie, idle_timeout=idle, secret_key=key)
    if request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), web_session.csrf_token.encode()):
            raise CsrfRefused(
                f"a change made with a login session needs its CSRF token in the {CSRF_HEADER} header "
                "(GET /api/v1/me gives it)"
            )
    return Principal(name=user.name, full_name=user.full_name, role=user.role, via="session",
                     csrf_token=web_session.csrf_token)  # fmt: skip


def credential_check(request: Request) -> Callable[[Session], str | None]:
    """What a long answer (an event stream) asks again while it lasts: None while the request's token
    or session still holds, else why not (revoked, expired, logged out, idle). It never moves a
    session's last-seen time: a stream that goes on is not a person at the terminal."""
    token = _bearer(request)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    settings = settings_of(request)
    idle = timedelta(minutes=settings.web_idle_timeout_min)
    key = settings.secret_key.get_secret_value()

    def check(db: Session) -> str | None:
        try:
            if token is not None:
                token_user(db, token)
            else:
                session_alive(db, cookie, idle_timeout=idle, secret_key=key)
        except NotAuthenticated as exc:
            return str(exc)
        return None

    return check


class Require:
    """A route's declared roles: ``Depends(Require(Role.QUALITY))``; no roles means any logged-in
    caller. Kept on the route so that a test can enumerate what every route needs."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    def __call__(self, request: Request, db: DbSession) -> Principal:
        principal = authenticate(request, db)
        if self.roles and principal.role not in self.roles:
            needed = " or ".join(sorted(r.value for r in self.roles))
            raise RoleRefused(
                f"{principal.name} ({principal.role.value}) may not do this: it needs the {needed} role"
            )
        return principal


class RequireCommitted(Require):
    """:class:`Require` for a route that commits its own work before it answers, because it sends a
    message after the commit (a worker must find the row it is told about; decision 014). The caller
    is authenticated in a short transaction of its own, committed before the route runs, and the
    route takes no :data:`DbSession`: on SQLite (one writer at a time) the route's transaction would
    otherwise wait for the request's, which holds the token's ``last_used_at`` write, until the end."""

    def __call__(self, request: Request) -> Principal:  # type: ignore[override]
        with session_scope(engine_of(request)) as db:
            return super().__call__(request, db)


ANY_USER = Require()
Caller = Annotated[Principal, Depends(ANY_USER)]
