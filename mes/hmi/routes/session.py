"""The login page, and the fragments every page shares (the alarm banner)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from mes.api.deps import DbSession
from mes.hmi.deps import PageCaller
from mes.hmi.templating import render
from mes.quality.alarm_views import alarm_summary

router = APIRouter(include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this app only (never another host: an open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return "".join(c for c in target if c.isprintable())


@router.get("/login", response_class=HTMLResponse)
def login_page(
    request: Request, next_url: Annotated[str | None, Query(alias="next", max_length=2000)] = None
) -> HTMLResponse:
    """The login form; the browser posts it to ``POST /api/v1/login`` and goes on to ``next``."""
    return render(request, "login.html", None, next_url=safe_next(next_url))


@router.get("/hmi/alarm-banner", response_class=HTMLResponse)
def alarm_banner(request: Request, db: DbSession, caller: PageCaller) -> HTMLResponse:
    """The alarm banner of every page: open alarms per priority (refreshed on each alarm event)."""
    return render(request, "_alarm_banner.html", caller, summary=alarm_summary(db))
