"""Every route of the app, enumerated: none answers without authentication (but login, the docs and
the health check), and each role is refused (403) exactly where the route's declared roles say.

The routes are read from the app itself, so a route added later is covered without a new test."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from mes.api.app import API, create_app, included_routers
from mes.api.deps import Require
from mes.auth.models import Role
from mes.config import Settings
from mes.db import make_engine
from tests.api.conftest import ROLES, Callers, TestClient, log_in, make_callers

# Routes that answer without a credential, each with the reason.
PUBLIC = {
    ("POST", "/api/v1/login"): "how a credential is obtained",
    ("GET", "/api/v1/health"): "for a load balancer; says only 'ok' and the version",
    ("GET", "/api/v1/docs"): "the docs page (the API it describes still needs a credential)",
    ("GET", "/api/v1/openapi.json"): "the API's description",
}


# Routes whose answer to an authorised caller never ends (a stream): the matrix asks them nothing but
# the refusals (tests/api/test_events.py reads the stream through a real server).
STREAMS = {("GET", "/api/v1/events")}


def _routes() -> list[tuple[str, str, APIRoute]]:
    """Every (method, path, route) of the app: the routers it includes (under API) and its own routes.
    Checked against the app's OpenAPI below, so that a route that is not found here fails a test."""
    app = create_app(Settings(database_url="sqlite://"))
    found = []
    sources = [(API, r) for router in included_routers() for r in router.routes]
    sources += [("", r) for r in app.routes]
    for prefix, route in sources:
        if isinstance(route, APIRoute):
            for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
                found.append((method, prefix + route.path, route))
    return found


def test_every_operation_of_the_openapi_is_enumerated() -> None:
    app = create_app(Settings(database_url="sqlite://"))
    operations = {(m.upper(), path) for path, item in app.openapi()["paths"].items() for m in item}
    assert operations <= {(m, p) for m, p, _ in ROUTES}


def _requirements(dependant: Dependant) -> list[Require]:
    found = [d.call for d in dependant.dependencies if isinstance(d.call, Require)]
    for sub in dependant.dependencies:
        found.extend(_requirements(sub))
    return found


def _concrete(path: str) -> str:
    """A path with every parameter filled in (the value does not matter: authentication comes first)."""
    return re.sub(r"\{[^}]+\}", "x1", path)


ROUTES = _routes()


@pytest.fixture(scope="module")
def shared(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Callers]]:
    """One app, database and set of callers for the module's hundreds of requests: authentication does
    not depend on the backend (tests/api/test_auth.py runs on both), and nothing here is changed."""
    path = tmp_path_factory.mktemp("routes") / "mes.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    callers = make_callers(engine)
    with TestClient(create_app(Settings(database_url=url), engine=engine), base_url="http://127.0.0.1") as c:
        yield c, callers
    engine.dispose()


def test_the_app_has_the_routes_this_test_enumerates() -> None:
    assert len(ROUTES) > len(PUBLIC)


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in ROUTES if (m, p) not in PUBLIC])
def test_no_route_answers_without_authentication(
    shared: tuple[TestClient, Callers], method: str, path: str
) -> None:
    client, _ = shared
    client.cookies.clear()
    response = client.request(method, _concrete(path), json={})
    assert response.status_code == 401, f"{method} {path}: {response.status_code} {response.text[:200]}"
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in ROUTES if (m, p) not in PUBLIC])
def test_every_route_declares_who_may_call_it(method: str, path: str) -> None:
    route = next(r for m, p, r in ROUTES if (m, p) == (method, path))
    requirements = _requirements(route.dependant)
    assert requirements, f"{method} {path} has no Require(...) dependency"
    if method not in ("GET", "HEAD"):
        assert any(r.roles for r in requirements) or path.endswith("/logout"), (
            f"{method} {path} changes something but names no role"
        )


def _matrix() -> list[tuple[str, str, Role, bool]]:
    cases: list[tuple[str, str, Role, bool]] = []
    for method, path, route in ROUTES:
        if (method, path) in PUBLIC:
            continue
        declared = [r.roles for r in _requirements(route.dependant) if r.roles]
        for role in ROLES:
            if role is Role.ADMIN:
                continue  # a token never acts as an admin; admins are tested through a session below
            allowed = all(role in roles for roles in declared)
            if not (allowed and (method, path) in STREAMS):
                cases.append((method, path, role, allowed))
    return cases


@pytest.mark.parametrize(("method", "path", "role", "allowed"), _matrix())
def test_role_matrix(
    shared: tuple[TestClient, Callers], method: str, path: str, role: Role, allowed: bool
) -> None:
    client, callers = shared
    client.cookies.clear()
    response = client.request(method, _concrete(path), json={}, headers=callers.bearer(role))
    refused = response.status_code == 403 and response.json()["type"].endswith("/role-refused")
    assert refused is not allowed, (
        f"{method} {path} as {role.value}: {response.status_code} {response.text[:200]}"
    )
    assert response.status_code != 401
    assert response.status_code < 500, response.text


def test_a_session_without_the_csrf_token_changes_nothing(client: TestClient, callers: Callers) -> None:
    log_in(client, Role.ADMIN)
    for method, path, _ in ROUTES:
        if method in ("GET", "HEAD") or (method, path) in PUBLIC:
            continue
        response = client.request(method, _concrete(path), json={})
        assert response.status_code == 403, f"{method} {path}: {response.status_code}"
        assert response.json()["type"].endswith("/csrf-refused")
