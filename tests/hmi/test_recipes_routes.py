"""The recipe pages as routes (no browser): each answers every role, a missing version is an error
page, the controls follow role and status, a new version starts from a stored one, and the claim
rules a version realises are there for the API too. (That no page shows without a login is
tests/hmi/test_page_security.py's, for every page route.)"""

from __future__ import annotations

import html

import pytest
import yaml
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.recipes.load import load_recipe_text
from tests.api.conftest import ROLES, TestClient, log_in
from tests.hmi.recipe_setup import LCO, approve, import_version, lco
from tests.recipes.helpers import SHIPPED


@pytest.mark.parametrize("role", ROLES)
def test_every_role_sees_every_page(client_app: TestClient, engine: Engine, role: Role) -> None:
    ref = import_version(engine, lco())
    import_version(engine, lco(version=2, gap_um=200))
    log_in(client_app, role)
    for path in ("/recipes", "/recipes/import", f"/recipes/diff?a={ref}&b={LCO}@2", f"/recipes/{ref}",
                 f"/recipes/import?from={ref}"):  # fmt: skip
        answer = client_app.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        assert "text/html" in answer.headers["content-type"]


def test_a_missing_version_is_an_error_page(client_app: TestClient) -> None:
    log_in(client_app, Role.OPERATOR)
    answer = client_app.get("/recipes/no-such-recipe@3")
    assert answer.status_code == 404
    assert 'data-testid="error-page"' in answer.text
    assert "no recipe no-such-recipe@3" in answer.text


def test_a_diff_of_a_missing_version_says_so_beside_the_form(client_app: TestClient, engine: Engine) -> None:
    ref = import_version(engine, lco())
    log_in(client_app, Role.OPERATOR)
    answer = client_app.get(f"/recipes/diff?a={ref}&b={LCO}@9")
    assert answer.status_code == 404
    assert 'data-testid="diff-problem"' in answer.text
    assert 'data-testid="diff-form"' in answer.text


def test_a_bad_filter_is_refused(client_app: TestClient) -> None:
    log_in(client_app, Role.OPERATOR)
    assert client_app.get("/recipes?status=shiny").status_code == 422
    assert client_app.get("/recipes?status=&id=").status_code == 200


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
    client_app: TestClient, engine: Engine, role: Role, status: str, shown: set[str]
) -> None:
    ref = import_version(engine, lco())
    if status == "approved":
        approve(engine, ref)
    log_in(client_app, role)
    page = client_app.get(f"/recipes/{ref}").text
    controls = {"approve-form", "release-form", "obsolete-form", "new-version"}
    assert {c for c in controls if f'data-testid="{c}"' in page} == shown


def test_a_new_version_starts_from_a_stored_one_as_a_valid_document(
    client_app: TestClient, engine: Engine
) -> None:
    """Each shipped recipe, stored and approved, shows, and opens on the import page as a valid
    document of the next version."""
    log_in(client_app, Role.ENGINEER)
    for path in SHIPPED:
        result = load_recipe_text(path.read_text(encoding="utf-8"), path.name)
        assert result.recipe is not None, result.issues
        ref = import_version(engine, path.read_text(encoding="utf-8"), source=path.name)
        approve(engine, ref)
        assert client_app.get(f"/recipes/{ref}").status_code == 200, ref
        page = client_app.get(f"/recipes/import?from={ref}").text
        start = page.index('data-testid="import-text"')
        text = page[page.index(">", start) + 1 : page.index("</textarea>", start)]
        document = html.unescape(text)
        again = load_recipe_text(document, "from-page.yaml")
        assert again.ok, again.issues
        assert again.recipe is not None
        assert again.recipe.version == result.recipe.version + 1
        assert again.recipe.model_dump() | {"version": 1} == result.recipe.model_dump() | {"version": 1}
        assert yaml.safe_load(document)["id"] == result.recipe.id


def test_the_api_says_which_claim_rules_a_version_realises(client_app: TestClient, engine: Engine) -> None:
    ref = import_version(engine, lco())
    log_in(client_app, Role.OPERATOR)
    answer = client_app.get(f"/api/v1/recipes/{ref}/claims")
    assert answer.status_code == 200
    assert answer.json() == [
        {"family": "alloy-film-anode", "rule": "lithium-metal-oxide-cathode", "seed": "000_7bf5625862584864.txt",
         "claims": "9", "realised": True, "problems": []}
    ]  # fmt: skip
    assert client_app.get("/api/v1/recipes/nothing-here/claims").status_code == 404


def test_editing_a_draft_keeps_its_version_number(client_app: TestClient, engine: Engine) -> None:
    ref = import_version(engine, lco())
    import_version(engine, lco(version=2))
    log_in(client_app, Role.ENGINEER)
    page = html.unescape(client_app.get(f"/recipes/import?from={LCO}@2").text)
    assert "\nversion: 2\n" in page
    approve(engine, ref)
    page = html.unescape(client_app.get(f"/recipes/import?from={ref}").text)
    assert "\nversion: 3\n" in page  # the next after the newest
