"""What every page depends on: the logged-in person (a page without one redirects to the login page),
and what that person may do, read from the API's own routes so a page never offers what the API
would refuse."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from mes.api.app import API, included_routers
from mes.api.deps import DbSession, Require, authenticate
from mes.auth.errors import NotAuthenticated
from mes.auth.models import Role
from mes.auth.schemas import Principal
from mes.hmi.errors import LoginRequired


def login_url(next_url: str) -> str:
    return f"/login?next={quote(next_url, safe='/')}"


def _next_of(request: Request) -> str:
    # After an htmx fragment's refusal, come back to the page it belongs to, not to the fragment.
    current = request.headers.get("hx-current-url")
    if current:
        parts = urlsplit(current)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def page_caller(request: Request, db: DbSession) -> Principal:
    """The person the page is for (a browser session; a bearer token works too, for scripts that
    fetch a page). Raises :class:`LoginRequired` when there is none or it ended."""
    try:
        return authenticate(request, db)
    except NotAuthenticated as exc:
        raise LoginRequired(_next_of(request)) from exc


PageCaller = Annotated[Principal, Depends(page_caller)]


def _route_roles(route: APIRoute) -> frozenset[Role] | None:
    """The roles a route declares (None: any logged-in caller)."""
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        for dep in dependant.dependencies:
            if isinstance(dep.call, Require):
                return dep.call.roles or None
            stack.append(dep)
    return None


@dataclass(frozen=True)
class Permissions:
    """Which API operations each role may call: ``(METHOD, "/lots/{number}:release")`` → roles,
    read once from the app's routes (the paths are relative to ``/api/v1``)."""

    roles: dict[tuple[str, str], frozenset[Role] | None]

    @classmethod
    def of_api(cls) -> Permissions:
        """Read from the API's routers (the same route objects the app mounts under ``/api/v1``)."""
        found: dict[tuple[str, str], frozenset[Role] | None] = {}
        for router in included_routers():
            for route in router.routes:
                if isinstance(route, APIRoute):
                    for method in route.methods or ():
                        found[(method, route.path)] = _route_roles(route)
        return cls(found)

    def allows(self, role: Role, method: str, path: str) -> bool:
        """Whether ``role`` may call ``METHOD path``; an operation the API does not have is a bug."""
        key = (method.upper(), path)
        if key not in self.roles:
            raise KeyError(f"the API has no operation {method.upper()} {API}{path}")
        needed = self.roles[key]
        return needed is None or role in needed

    def operations(self) -> Iterable[tuple[str, str]]:
        return self.roles.keys()


@cache
def api_permissions() -> Permissions:
    return Permissions.of_api()
