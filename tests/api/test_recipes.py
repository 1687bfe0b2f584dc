"""Recipes through the API: YAML import with located problems, list, show, diff, and the lifecycle with
an electronic signature over the content hash."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.api.bodies import MAX_DOCUMENT_BYTES
from mes.audit.models import AuditEvent
from mes.audit.service import verify_chain
from mes.auth.models import Role
from mes.db import session_scope
from mes.recipes.load import load_recipe_text
from mes.recipes.service import content_hash
from tests.api.conftest import PASSWORD, Callers, TestClient, log_in
from tests.recipes.helpers import text_of

PROBLEM = "application/problem+json"
RECIPES = "/api/v1/recipes"
YAML = {"Content-Type": "application/yaml"}
LCO = "cathode-lco@1"


def post_yaml(client: TestClient, callers: Callers, text: str | bytes, role: Role = Role.ENGINEER) -> Any:
    return client.post(RECIPES, content=text, headers={**YAML, **callers.bearer(role)})


def signed(
    reason: str, name: str = "quality-person", password: str = PASSWORD, meaning: str = "approval"
) -> Any:
    return {"reason": reason, "signature": {"name": name, "password": password, "meaning": meaning}}


def actions(engine: Engine) -> list[tuple[str, str, str]]:
    """(action, actor, recipe) of every audit event about recipes, oldest first."""
    with session_scope(engine) as s:
        events = s.exec(
            select(AuditEvent).where(AuditEvent.entity_type == "recipe").order_by(col(AuditEvent.id))
        ).all()
        return [(e.action, e.actor, e.entity_id) for e in events]


@pytest.fixture
def approved(client: TestClient, callers: Callers) -> str:
    """cathode-lco@1 imported and approved through the API."""
    assert post_yaml(client, callers, text_of("cathode-lco.yaml")).status_code == 201
    approve = client.post(f"{RECIPES}/{LCO}:approve", json={"reason": "trials passed"},
                          headers=callers.bearer(Role.ENGINEER))  # fmt: skip
    assert approve.status_code == 200, approve.text
    assert approve.json()["status"] == "approved"
    return LCO


@pytest.mark.parametrize("media", ["application/yaml", "text/yaml", "application/x-yaml; charset=utf-8"])
def test_a_shipped_recipe_file_imports_as_a_draft(
    client: TestClient, callers: Callers, engine: Engine, media: str
) -> None:
    text = text_of("cathode-lco.yaml")
    created = client.post(
        RECIPES, content=text, headers={"Content-Type": media, **callers.bearer(Role.ENGINEER)}
    )
    assert created.status_code == 201, created.text
    assert created.headers["location"].endswith(f"{RECIPES}/{LCO}")
    body = created.json()
    assert body["outcome"] == "created"
    recipe = load_recipe_text(text).recipe
    assert recipe is not None
    assert body["recipe"]["status"] == "draft"
    assert body["recipe"]["content_hash"] == content_hash(recipe)
    assert body["recipe"]["created_by"] == "engineer-token"
    assert [h["action"] for h in body["recipe"]["history"]] == ["recipe.import"]

    again = post_yaml(client, callers, text)
    assert again.status_code == 200
    assert again.json()["outcome"] == "unchanged"
    shown = client.get(created.headers["location"], headers=callers.bearer(Role.OPERATOR))
    assert shown.status_code == 200
    assert shown.json()["content"]["id"] == "cathode-lco"
    assert actions(engine) == [("recipe.import", "engineer-token", LCO)]


def test_a_broken_document_is_a_422_listing_every_problem_located(
    client: TestClient, callers: Callers
) -> None:
    text = (
        text_of("capped-si-anode.yaml")
        .replace("title: Sputtered", "titel: Sputtered")  # unknown key (and title missing)
        .replace("power_w: 1500 ", "power_w: -5 ")  # out of range
        .replace("passes: 10 ", "passes: ten ")  # not a number
        .replace("lanes: 8", "lanes: 010")  # a YAML 1.1 octal
        .replace("ar_flow_sccm: 30 ", "ar_flow_sccm: 0b_ ")  # a number to no reader
    )
    expected = load_recipe_text(text, "request body").issues
    assert len(expected) >= 5

    response = post_yaml(client, callers, text)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("/recipe-invalid")
    got = [(e["field"], e["line"], e["column"], e["msg"]) for e in body["errors"]]
    assert got == [(i.field, i.line, i.column, i.message) for i in expected]
    for issue in expected:
        assert f"request body:{issue.line}:{issue.column}: {issue.field}: " in body["detail"]
    passes = next(e for e in body["errors"] if e["field"] == "steps[0].setpoints.passes")
    assert passes["loc"] == ["body", "steps", "0", "setpoints", "passes"]
    assert (
        passes["line"]
        == text.splitlines().index(next(ln for ln in text.splitlines() if "passes: ten" in ln)) + 1
    )
    assert client.get(f"{RECIPES}/capped-si-anode", headers=callers.bearer(Role.ENGINEER)).status_code == 404


def test_a_body_that_is_not_yaml_is_a_located_422(client: TestClient, callers: Callers) -> None:
    response = post_yaml(client, callers, "id: [unclosed\nversion: 1\n")
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [(e["line"], e["column"], e["loc"]) for e in errors] == [(1, 1, ["body"]), (2, 8, ["body"])]
    assert "not valid YAML" in errors[1]["msg"]
    assert "request body:2:8: (recipe): not valid YAML" in response.json()["detail"]


def test_a_nul_written_as_an_escape_is_a_422_not_a_database_error(
    client: TestClient, callers: Callers
) -> None:
    text = text_of("cathode-lco.yaml")
    title = next(line for line in text.splitlines() if line.startswith("title:"))
    response = post_yaml(client, callers, text.replace(title, 'title: "LCO\\0cathode"'))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["title"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "text/plain"},
        {},
        {"Content-Type": "application/yaml; charset=latin-1"},
    ],  # fmt: skip
    ids=["json", "text", "none", "latin-1"],
)
def test_a_body_that_is_not_yaml_by_media_type_is_a_415(
    client: TestClient, callers: Callers, headers: dict[str, str]
) -> None:
    response = client.post(RECIPES, content=text_of("cathode-lco.yaml").encode(),
                           headers={**headers, **callers.bearer(Role.ENGINEER)})  # fmt: skip
    assert response.status_code == 415
    assert response.headers["content-type"] == PROBLEM
    assert "application/yaml" in response.json()["detail"] or "UTF-8" in response.json()["detail"]


def test_a_body_over_1_mib_is_a_413_with_or_without_its_length(client: TestClient, callers: Callers) -> None:
    big = b"# " + b"x" * MAX_DOCUMENT_BYTES + b"\n"
    response = post_yaml(client, callers, big)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM

    def chunks() -> Iterator[bytes]:  # sent chunked: no Content-Length to go by
        for _ in range(0, len(big), 65_536):
            yield b"#" * 65_536

    chunked = client.post(RECIPES, content=chunks(), headers={**YAML, **callers.bearer(Role.ENGINEER)})
    assert chunked.status_code == 413
    assert "larger than" in chunked.json()["detail"]


def test_importing_needs_a_caller_with_the_role(client: TestClient, callers: Callers) -> None:
    text = text_of("cathode-lco.yaml")
    assert client.post(RECIPES, content=text, headers=YAML).status_code == 401
    refused = post_yaml(client, callers, text, role=Role.OPERATOR)
    assert refused.status_code == 403
    assert "engineer" in refused.json()["detail"]


def test_release_is_signed_over_the_content_hash_and_chained(
    client: TestClient, callers: Callers, engine: Engine, approved: str
) -> None:
    released = client.post(f"{RECIPES}/{approved}:release", json=signed("PPAP passed", meaning="responsibility"),
                           headers=callers.bearer(Role.QUALITY))  # fmt: skip
    assert released.status_code == 200, released.text
    detail = released.json()
    assert (detail["status"], detail["released_by"]) == ("released", "quality-person")
    [signature] = detail["signatures"]
    assert signature["printed_name"] == "Quality Person"
    assert signature["signer"] == "quality-person"
    assert signature["meaning"] == "responsibility"
    assert signature["content_sha256"] == detail["content_hash"]
    assert signature["reason"] == "PPAP passed"
    assert signature["signs"] == "recipe.release"
    assert [h["status"] for h in detail["history"]] == ["draft", "approved", "released"]

    with session_scope(engine) as s:
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "e-signature")).one()
        assert event.after is not None
        assert (event.actor, event.entity_id, event.reason) == ("quality-person", approved, "PPAP passed")
        assert event.after["printed_name"] == "Quality Person"
        assert event.after["meaning"] == "responsibility"
        assert event.after["content_sha256"] == detail["content_hash"]
        assert verify_chain(s).ok
    assert [a for a, _, _ in actions(engine)] == [
        "recipe.import",
        "recipe.approve",
        "e-signature",
        "recipe.release",
    ]
    shown = client.get(f"{RECIPES}/cathode-lco", headers=callers.bearer(Role.OPERATOR)).json()
    assert shown["signatures"] == detail["signatures"]

    obsolete = client.post(f"{RECIPES}/{approved}:obsolete", json={"reason": "superseded"},
                           headers=callers.bearer(Role.QUALITY))  # fmt: skip
    assert obsolete.status_code == 200
    assert obsolete.json()["status"] == "obsolete"
    again = client.post(f"{RECIPES}/{approved}:obsolete", json={"reason": "twice"},
                        headers=callers.bearer(Role.ENGINEER))  # fmt: skip
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert "is obsolete" in again.json()["detail"]


def test_a_wrong_password_is_a_403_and_audited(
    client: TestClient, callers: Callers, engine: Engine, approved: str
) -> None:
    refused = client.post(f"{RECIPES}/{approved}:release", json=signed("go", password="not-the-password"),
                          headers=callers.bearer(Role.QUALITY))  # fmt: skip
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert "wrong password" in refused.json()["detail"]
    assert actions(engine)[-1] == ("recipe.release.refused", "quality-person", approved)
    shown = client.get(f"{RECIPES}/{approved}", headers=callers.bearer(Role.QUALITY)).json()
    assert (shown["status"], shown["signatures"]) == ("approved", [])
    with session_scope(engine) as s:
        assert verify_chain(s).ok


def test_a_signer_without_the_quality_role_is_refused_and_audited(
    client: TestClient, callers: Callers, engine: Engine, approved: str
) -> None:
    refused = client.post(f"{RECIPES}/{approved}:release", json=signed("go", name="engineer-person"),
                          headers=callers.bearer(Role.QUALITY))  # fmt: skip
    assert refused.status_code == 403
    assert "needs the quality role" in refused.json()["detail"]
    assert actions(engine)[-1] == ("recipe.release.refused", "engineer-person", approved)


def test_a_token_without_a_signature_never_releases(
    client: TestClient, callers: Callers, engine: Engine, approved: str
) -> None:
    response = client.post(f"{RECIPES}/{approved}:release", json={"reason": "go"},
                           headers=callers.bearer(Role.QUALITY))  # fmt: skip
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert ["body", "signature"] in [e["loc"] for e in response.json()["errors"]]
    # The token's account has no password anyone knows: naming it as the signer is refused too.
    as_token = client.post(f"{RECIPES}/{approved}:release", json=signed("go", name="quality-token"),
                           headers=callers.bearer(Role.QUALITY))  # fmt: skip
    assert as_token.status_code == 403
    assert (
        client.get(f"{RECIPES}/{approved}", headers=callers.bearer(Role.QUALITY)).json()["status"]
        == "approved"
    )


def test_a_session_signs_only_as_its_own_person(
    client: TestClient, callers: Callers, engine: Engine, approved: str
) -> None:
    csrf = log_in(client, Role.QUALITY)
    other = client.post(
        f"{RECIPES}/{approved}:release", json=signed("go", name="quality-other"), headers=csrf
    )
    assert other.status_code == 403
    assert "not quality-other's" in other.json()["detail"]
    assert actions(engine)[-1] == ("recipe.release.refused", "quality-other", approved)
    own = client.post(f"{RECIPES}/{approved}:release", json=signed("go", meaning="review"), headers=csrf)
    assert own.status_code == 200, own.text
    assert own.json()["signatures"][0]["meaning"] == "review"


def test_releasing_a_draft_is_a_409_and_audited(client: TestClient, callers: Callers, engine: Engine) -> None:
    assert post_yaml(client, callers, text_of("cathode-lco.yaml")).status_code == 201
    response = client.post(f"{RECIPES}/{LCO}:release", json=signed("skip approval"),
                           headers=callers.bearer(Role.QUALITY))  # fmt: skip
    assert response.status_code == 409
    assert "only a approved recipe" in response.json()["detail"]
    assert [a for a, _, _ in actions(engine)] == ["recipe.import", "recipe.release.refused"]


def test_approving_needs_an_engineer_and_a_draft(client: TestClient, callers: Callers, approved: str) -> None:
    url = f"{RECIPES}/{approved}:approve"
    assert client.post(url, json={"reason": "ok"}, headers=callers.bearer(Role.QUALITY)).status_code == 403
    assert (
        client.post(url, json={"reason": "again"}, headers=callers.bearer(Role.ENGINEER)).status_code == 409
    )
    blank = client.post(url, json={"reason": "  "}, headers=callers.bearer(Role.ENGINEER))
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["loc"] == ["body", "reason"]
    extra = client.post(url, json={"reason": "ok", "by": "x"}, headers=callers.bearer(Role.ENGINEER))
    assert extra.status_code == 422
    unknown = client.post(
        f"{RECIPES}/nope@1:approve", json={"reason": "ok"}, headers=callers.bearer(Role.ENGINEER)
    )
    assert unknown.status_code == 404
    no_version = client.post(f"{RECIPES}/cathode-lco:approve", json={"reason": "ok"},
                             headers=callers.bearer(Role.ENGINEER))  # fmt: skip
    assert no_version.status_code == 422


def test_list_filters_and_pages_newest_first(client: TestClient, callers: Callers, approved: str) -> None:
    for name in ("capped-si-anode.yaml", "alloy-film-anode.yaml"):
        assert post_yaml(client, callers, text_of(name)).status_code == 201
    bearer = callers.bearer(Role.OPERATOR)
    everything = client.get(RECIPES, headers=bearer)
    assert everything.status_code == 200
    assert [r["ref"] for r in everything.json()["items"]] == ["alloy-film-anode@1", "capped-si-anode@1", LCO]
    assert everything.json()["next_cursor"] is None

    first = client.get(RECIPES, params={"limit": 2}, headers=bearer)
    assert [r["ref"] for r in first.json()["items"]] == ["alloy-film-anode@1", "capped-si-anode@1"]
    assert 'rel="next"' in first.headers["link"]
    rest = client.get(RECIPES, params={"limit": 2, "cursor": first.json()["next_cursor"]}, headers=bearer)
    assert [r["ref"] for r in rest.json()["items"]] == [LCO]

    approved_only = client.get(RECIPES, params={"status": "approved"}, headers=bearer).json()["items"]
    assert [r["ref"] for r in approved_only] == [LCO]
    by_id = client.get(RECIPES, params={"id": "capped-si-anode"}, headers=bearer).json()["items"]
    assert [r["ref"] for r in by_id] == ["capped-si-anode@1"]
    assert client.get(RECIPES, params={"status": "lost"}, headers=bearer).status_code == 422
    assert client.get(RECIPES, params={"id": "nul\x00"}, headers=bearer).status_code == 422
    assert client.get(RECIPES, params={"cursor": "nonsense"}, headers=bearer).status_code == 422
    assert client.get(RECIPES).status_code == 401


def test_show_answers_404_and_422_as_problems(client: TestClient, callers: Callers) -> None:
    missing = client.get(f"{RECIPES}/nope@1", headers=callers.bearer(Role.OPERATOR))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert "no recipe nope@1" in missing.json()["detail"]
    assert client.get(f"{RECIPES}/Not A Ref", headers=callers.bearer(Role.OPERATOR)).status_code == 422


def test_diff_between_two_versions(client: TestClient, callers: Callers) -> None:
    v1 = text_of("capped-si-anode.yaml")
    v2 = v1.replace("version: 1", "version: 2").replace("passes: 10 ", "passes: 11 ")
    assert post_yaml(client, callers, v1).status_code == 201
    assert post_yaml(client, callers, v2).status_code == 201
    response = client.get(f"{RECIPES}/capped-si-anode/diff", params={"against": "capped-si-anode@1"},
                          headers=callers.bearer(Role.OPERATOR))  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert (body["ref"], body["against"]) == ("capped-si-anode@2", "capped-si-anode@1")
    assert body["changes"] == [
        {"path": "steps[0].setpoints.passes", "before": 10, "after": 11},
        {"path": "version", "before": 1, "after": 2},
    ]
    same = client.get(f"{RECIPES}/capped-si-anode@1/diff", params={"against": "capped-si-anode@1"},
                      headers=callers.bearer(Role.OPERATOR))  # fmt: skip
    assert same.json()["changes"] == []
    missing = client.get(f"{RECIPES}/capped-si-anode/diff", params={"against": "capped-si-anode@9"},
                         headers=callers.bearer(Role.OPERATOR))  # fmt: skip
    assert missing.status_code == 404
    assert (
        client.get(f"{RECIPES}/capped-si-anode/diff", headers=callers.bearer(Role.OPERATOR)).status_code
        == 422
    )


def test_openapi_documents_the_yaml_body(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    post = doc["paths"][RECIPES]["post"]
    content = post["requestBody"]["content"]
    assert set(content) == {"application/yaml", "application/x-yaml", "text/yaml"}
    ref = content["application/yaml"]["schema"]["$ref"]
    assert ref.rsplit("/", 1)[-1] in doc["components"]["schemas"]
    assert {"201", "413", "415", "422"} <= set(post["responses"])
    release = doc["paths"][f"{RECIPES}/{{ref}}:release"]["post"]
    signed_ref = release["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    signed_schema = doc["components"]["schemas"][signed_ref.rsplit("/", 1)[-1]]
    assert set(signed_schema["required"]) == {"reason", "signature"}
