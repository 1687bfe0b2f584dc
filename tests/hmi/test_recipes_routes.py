"""The recipe pages as routes (no browser): each answers every role, a page without a session goes
to the login page, a missing version is an error page, the controls follow role and status, and the
claim rules a version realises are there for the API too."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.config import Settings
from mes.hmi.app import create_web_app
from mes.hmi.deps import Permissions
from mes.recipes.load import load_recipe_text
from tests.api.conftest import ROLES, log_in, make_callers
from tests.hmi.recipe_setup import LCO, approve, import_version, lco
from tests.recipes.helpers import SHIPPED


@pytest.fixture
def web(db_url: str, engine: Engine) -> Iterator[TestClient]:
    make_callers(engine)
    app = create_web_app(Settings(database_url=db_url), engine=engine)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_without_a_session_each_page_goes_to_the_login_page(web: TestClient) -> None:
    for path in ("/recipes", "/recipes/import", "/recipes/diff", f"/recipes/{LCO}@1"):
        answer = web.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=/recipes")


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_every_page(web: TestClient, engine: Engine, role: Role) -> None:
    ref = import_version(engine, lco())
    import_version(engine, lco(version=2, gap_um=200))
    log_in(web, role)
    for path in ("/recipes", "/recipes/import", f"/recipes/diff?a={ref}&b={LCO}@2", f"/recipes/{ref}",
                 f"/recipes/import?from={ref}"):  # fmt: skip
        answer = web.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert "text/html" in answer.headers["content-type"]


def test_a_missing_version_is_an_error_page(web: TestClient) -> None:
    log_in(web, Role.OPERATOR)
    answer = web.get("/recipes/no-such-recipe@3")
    assert answer.status_code == 404
    assert 'data-testid="error-page"' in answer.text
    assert "no recipe no-such-recipe@3" in answer.text


def test_a_diff_of_a_missing_version_says_so_beside_the_form(web: TestClient, engine: Engine) -> None:
    ref = import_version(engine, lco())
    log_in(web, Role.OPERATOR)
    answer = web.get(f"/recipes/diff?a={ref}&b={LCO}@9")
    assert answer.status_code == 404
    assert 'data-testid="diff-problem"' in answer.text
    assert 'data-testid="diff-form"' in answer.text


def test_a_bad_filter_is_refused(web: TestClient) -> None:
    log_in(web, Role.OPERATOR)
    assert web.get("/recipes?status=shiny").status_code == 422
    assert web.get("/recipes?status=&id=").status_code == 200


@pytest.mark.parametrize(
    ("role", "status", "shown"),
    [
        (Role.ENGINEER, "draft", {"approve-form", "obsolete-form", "new-version"}),
        (Role.QUALITY, "draft", {"obsolete-form"}),
        (Role.OPERATOR, "draft", set()),
        (Role.ADMIN, "draft", {"new-version"}),
        (Role.ENGINEER, "approved", {"obsolete-form", "new-version"}),
        (Role.QUALITY, "approved", {"release-form", "obsolete-form"}),
        (Role.OPERATOR, "approved", set()),
    ],
)
def test_the_controls_follow_role_and_status(
    web: TestClient, engine: Engine, role: Role, status: str, shown: set[str]
) -> None:
    ref = import_version(engine, lco())
    if status == "approved":
        approve(engine, ref)
    log_in(web, role)
    page = web.get(f"/recipes/{ref}").text
    controls = {"approve-form", "release-form", "obsolete-form", "new-version"}
    assert {c for c in controls if f'data-testid="{c}"' in page} == shown


def test_a_new_version_starts_from_a_stored_one_as_a_valid_document(web: TestClient, engine: Engine) -> None:
    """Each shipped recipe, stored and approved, shows, and opens on the import page as a valid
    document of the next version."""
    log_in(web, Role.ENGINEER)
    for path in SHIPPED:
        result = load_recipe_text(path.read_text(encoding="utf-8"), path.name)
        assert result.recipe is not None, result.issues
        ref = import_version(engine, path.read_text(encoding="utf-8"), source=path.name)
        approve(engine, ref)
        assert web.get(f"/recipes/{ref}").status_code == 200, ref
        page = web.get(f"/recipes/import?from={ref}").text
        start = page.index('data-testid="import-text"')
        text = page[page.index(">", start) + 1 : page.index("</textarea>", start)]
        document = html.unescape(text)
        again = load_recipe_text(document, "from-page.yaml")
        assert again.ok, again.issues
        assert again.recipe is not None
        assert again.recipe.version == result.recipe.version + 1
        assert again.recipe.model_dump() | {"version": 1} == result.recipe.model_dump() | {"version": 1}
        assert yaml.safe_load(document)["id"] == result.recipe.id


def test_the_api_says_which_claim_rules_a_version_realises(web: TestClient, engine: Engine) -> None:
    ref = import_version(engine, lco())
    log_in(web, Role.OPERATOR)
    answer = web.get(f"/api/v1/recipes/{ref}/claims")
    assert answer.status_code == 200
    assert answer.json() == [
        {"family": "alloy-film-anode", "rule": "lithium-metal-oxide-cathode", "seed": "000_7bf5625862584864.txt",
         "claims": "9", "realised": True, "problems": []}
    ]  # fmt: skip
    assert web.get("/api/v1/recipes/nothing-here/claims").status_code == 404


def test_the_pages_know_the_roles_of_the_api_operations() -> None:
    """``can()`` reads the roles from the API's own routes, whichever way FastAPI includes them."""
    permissions = Permissions.of(create_web_app(Settings(database_url="sqlite://")))
    release = ("POST", "/recipes/{ref}:release")
    assert [r for r in ROLES if permissions.allows(r, *release)] == [Role.QUALITY]
    assert [r for r in ROLES if permissions.allows(r, "POST", "/recipes/{ref}:approve")] == [Role.ENGINEER]
    assert all(permissions.allows(r, "GET", "/recipes") for r in ROLES)


def test_editing_a_draft_keeps_its_version_number(web: TestClient, engine: Engine) -> None:
    ref = import_version(engine, lco())
    import_version(engine, lco(version=2))
    log_in(web, Role.ENGINEER)
    page = html.unescape(web.get(f"/recipes/import?from={LCO}@2").text)
    assert "\nversion: 2\n" in page
    approve(engine, ref)
    page = html.unescape(web.get(f"/recipes/import?from={ref}").text)
    assert "\nversion: 3\n" in page  # the next after the newest
