"""Every page route, enumerated from the app: none is shown without a login (the login page comes
instead, remembering where to go back), a page never offers a control the API would refuse, and every
page's answer forbids framing and sniffing like the API's."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from mes.auth.models import Role
from mes.hmi.deps import Permissions
from mes.hmi.routes import pages_routers
from mes.hmi.routes.session import safe_next
from tests.api.conftest import TestClient, log_in

PUBLIC_PAGES = {"/login": "how a person logs in"}


def _page_routes() -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for router in pages_routers()
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in (route.methods or set()) - {"HEAD"}
    )


PAGES = _page_routes()


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x1", path)


def test_pages_are_enumerated() -> None:
    paths = {p for _, p in PAGES}
    assert not any(p.startswith(("/api/", "/static/")) for p in paths)
    assert {"/", "/login", "/hmi/alarm-banner"} <= paths
    assert all(method == "GET" for method, _ in PAGES), "a page changes nothing: commands go to /api/v1"


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_no_page_without_a_login(client_app: TestClient, method: str, path: str) -> None:
    if path in PUBLIC_PAGES:
        return
    answer = client_app.request(method, _concrete(path), follow_redirects=False)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/login?next=/")
    fragment = client_app.request(
        method, _concrete(path), headers={"HX-Request": "true"}, follow_redirects=False
    )
    assert fragment.status_code == 204 and fragment.headers["hx-redirect"].startswith("/login?next=")


@pytest.mark.parametrize(
    ("given", "kept"),
    [("/lots?x=1", "/lots?x=1"), ("//evil.example/", "/"), ("https://evil.example/", "/"),
     ("/\\evil", "/"), (None, "/"), ("lots", "/")],
)  # fmt: skip
def test_after_login_only_a_path_of_this_app(given: str | None, kept: str) -> None:
    assert safe_next(given) == kept


def test_the_permissions_are_the_api_routes_roles() -> None:
    permissions = Permissions.of_api()
    assert permissions.allows(Role.QUALITY, "POST", "/lots/{number}:release")
    assert not permissions.allows(Role.OPERATOR, "POST", "/lots/{number}:release")
    assert permissions.allows(Role.OPERATOR, "GET", "/lots")
    with pytest.raises(KeyError, match="no operation"):
        permissions.allows(Role.ADMIN, "POST", "/no/such/route")


def test_pages_forbid_framing_sniffing_and_other_hosts(client_app: TestClient) -> None:
    log_in(client_app, Role.OPERATOR)
    page = client_app.get("/")
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy and "http" not in policy
    assert client_app.get("/api/v1/me").headers["x-content-type-options"] == "nosniff"


def test_an_unknown_page_is_a_page_not_a_problem(client_app: TestClient) -> None:
    log_in(client_app, Role.OPERATOR)
    answer = client_app.get("/no-such-page")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "there is no page /no-such-page" in answer.text
    api = client_app.get("/api/v1/no-such-route")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"


def test_a_control_character_in_a_page_address_is_a_page_not_a_problem(client_app: TestClient) -> None:
    # Expected: the HTML error page, as other bad input of a page gets (it was the API's problem+json).
    log_in(client_app, Role.OPERATOR)
    for path in ("/lots?status=%00", "/orders/x%0d%0a", "/alarms/history?unit=%07"):
        answer = client_app.get(path)
        assert answer.status_code == 422, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert 'data-testid="error-page"' in answer.text and "U+00" in answer.text
    assert client_app.get("/api/v1/lots?status=%00").headers["content-type"] == "application/problem+json"
