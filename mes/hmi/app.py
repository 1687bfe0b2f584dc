"""The web app of ``mes web``: the API (``/api/v1``) and the operator pages beside it, in one app.

:func:`create_web_app` is what ``mes web`` serves. Errors of a page (not of ``/api/v1``) are answered
as an HTML page with the same status and message as the API's problem (one mapping,
:data:`mes.api.errors.HTTP_STATUSES`); a page asked for without a session redirects to the login page.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mes.api.app import API, create_app
from mes.api.deps import authenticate
from mes.api.limits import unprintable
from mes.auth.errors import NotAuthenticated
from mes.auth.schemas import Principal
from mes.config import Settings
from mes.db import session_scope
from mes.hmi.deps import login_url
from mes.hmi.errors import LoginRequired
from mes.hmi.routes import pages_routers
from mes.hmi.templating import HERE, render

STATIC = "/static"
# Pages load nothing from another host (the plant LAN has no internet, and an injected tag must not
# reach one): scripts from this app only, no inline script, no framing. Inline style attributes are
# allowed: bars and markers are positioned by them.
PAGE_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "connect-src 'self'", "font-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
    "form-action 'self'",
])  # fmt: skip
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
Handler = Callable[[Request, Exception], Awaitable[Response]]


def create_web_app(settings: Settings | None = None, engine: Engine | None = None) -> FastAPI:
    """:func:`mes.api.app.create_app` with the operator pages installed."""
    app = create_app(settings, engine)
    install(app)
    return app


def is_page(request: Request) -> bool:
    """Whether a request is for a page or a fragment of one (not the API, not a static asset)."""
    return _is_page_path(request.url.path)


def _is_page_path(path: str) -> bool:
    return not (path == API or path.startswith((API + "/", STATIC + "/")))


def install(app: FastAPI) -> None:
    app.mount(STATIC, StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_middleware(SecurityHeaders)
    for router in pages_routers():
        app.include_router(router)
    app.add_exception_handler(LoginRequired, _login_required)
    # The API's handlers answer problem+json; a page's error is the same problem drawn as a page.
    handlers: dict[Any, Handler] = dict(app.exception_handlers)
    for kind, handler in handlers.items():
        if kind is not LoginRequired:
            app.add_exception_handler(kind, _as_page(handler))


class SecurityHeaders:
    """Pure ASGI (an event stream passes through untouched): the headers above on every answer, and
    the content security policy on pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page = _is_page_path(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
                if page:
                    headers["Content-Security-Policy"] = PAGE_POLICY
            await send(message)

        bad = unprintable(scope) if page else None
        if bad is not None:  # refused before any route, as the API does, but as a page
            problem = {"title": "Request invalid", "status": 422, "detail": bad}
            answer = render(Request(scope), "error.html", None, status_code=422, problem=problem)
            await answer(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


async def _login_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LoginRequired)  # noqa: S101 - registered for it only
    target = login_url(exc.next_url)
    if request.headers.get("hx-request"):
        # htmx follows a redirect in place (a login form inside a tile); this sends the whole page there.
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


def _caller_or_none(request: Request) -> Principal | None:
    """Who an error page is drawn for (its navigation and alarm banner), if anyone is logged in."""
    try:
        with session_scope(request.app.state.engine) as db:
            return authenticate(request, db)
    except Exception:  # noqa: BLE001 - an error page is drawn whatever the session's state
        return None


def _as_page(handler: Handler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        answer = await handler(request, exc)
        if not is_page(request):
            return answer
        if isinstance(exc, NotAuthenticated):
            return await _login_required(request, LoginRequired(request.url.path))
        try:
            problem = json.loads(bytes(answer.body))
        except ValueError:
            return answer
        status = answer.status_code
        if isinstance(exc, StarletteHTTPException) and status == 404:
            problem["detail"] = f"there is no page {request.url.path}"
        page = render(request, "error.html", _caller_or_none(request), status_code=status, problem=problem)
        for name in ("retry-after",):
            if name in answer.headers:
                page.headers[name] = answer.headers[name]
        return page

    return handle
