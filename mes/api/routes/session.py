"""Log in (browser session cookie), log out, and who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response

from mes.api.deps import SESSION_COOKIE, Caller, DbSession, engine_of, settings_of
from mes.auth.errors import NotAuthenticated
from mes.auth.schemas import Principal
from mes.auth.sessions import LOGIN_REFUSED, login, logout
from mes.db import session_scope

router = APIRouter(tags=["session"])


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


@router.post("/login", response_model=Principal, summary="Log in: a session cookie and its CSRF token")
def post_login(
    request: Request,
    response: Response,
    name: Annotated[str, Form(min_length=1, max_length=200)],
    password: Annotated[str, Form(min_length=1, max_length=1024)],
) -> Principal:
    """Check name and password (form fields) and set the ``mes_session`` cookie (HttpOnly,
    SameSite=Strict, Secure in production). Every state-changing request made with it must send the
    returned ``csrf_token`` as ``X-CSRF-Token``. Failed logins are limited per user and per address
    (429 with Retry-After)."""
    # Its own transaction: a refused login is counted (rate limit) and audited although the request fails.
    with session_scope(engine_of(request)) as db:
        key = settings_of(request).secret_key.get_secret_value()
        done = login(db, name, password, address=_address(request), secret_key=key)
    if done is None:
        raise NotAuthenticated(LOGIN_REFUSED)
    response.set_cookie(
        SESSION_COOKIE,
        done.cookie,
        httponly=True,
        samesite="strict",
        secure=settings_of(request).secure_cookies,
        path="/",
    )
    user = done.user
    return Principal(name=user.name, full_name=user.full_name, role=user.role, via="session",
                     csrf_token=done.csrf_token)  # fmt: skip


@router.post("/logout", status_code=204, summary="End this browser session")
def post_logout(request: Request, response: Response, db: DbSession, _caller: Caller) -> None:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        logout(db, cookie, secret_key=settings_of(request).secret_key.get_secret_value())
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me", response_model=Principal, summary="Who this request acts for")
def get_me(caller: Caller) -> Principal:
    return caller
