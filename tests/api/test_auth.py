"""Tokens, sessions, CSRF and login throttling, through the app's routes."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.engine import Engine
from sqlmodel import select

from mes.audit.models import AuditEvent
from mes.auth.models import Role
from mes.auth.sessions import MAX_FAILURES_PER_USER
from mes.auth.tokens import revoke_token
from mes.db import session_scope
from tests.api.conftest import PASSWORD, Callers, TestClient, log_in


def test_a_token_acts_as_its_account(client: TestClient, callers: Callers) -> None:
    me = client.get("/api/v1/me", headers=callers.bearer(Role.QUALITY))
    assert me.status_code == 200
    assert me.json()["name"] == "quality-token"
    assert me.json()["role"] == "quality"
    assert me.json()["via"] == "token"


def test_no_credential_is_a_401_problem(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 401
    assert "Bearer" in body["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_or_unknown_token_is_refused(client: TestClient, callers: Callers, engine: Engine) -> None:
    with session_scope(engine) as s:
        revoke_token(s, "operator-token", by=Callers.person(Role.ADMIN))
    assert client.get("/api/v1/me", headers=callers.bearer(Role.OPERATOR)).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Bearer mes_nothing"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_a_session_needs_its_csrf_token_to_change_anything(client: TestClient, callers: Callers) -> None:
    csrf = log_in(client, Role.OPERATOR)
    assert client.get("/api/v1/me").json()["name"] == "operator-person"
    cookie = client.cookies.get("mes_session")
    assert cookie
    refused = client.post("/api/v1/logout")
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["detail"]
    assert client.post("/api/v1/logout", headers=csrf).status_code == 204
    client.cookies.set("mes_session", cookie)
    assert client.get("/api/v1/me").status_code == 401


def test_the_session_cookie_is_httponly_and_strict(client: TestClient, callers: Callers) -> None:
    response = client.post("/api/v1/login", data={"name": "operator-person", "password": PASSWORD})
    header = response.headers["set-cookie"].lower()
    assert "httponly" in header
    assert "samesite=strict" in header


def test_failed_logins_are_counted_audited_and_throttled(
    client: TestClient, callers: Callers, engine: Engine
) -> None:
    for _ in range(MAX_FAILURES_PER_USER):
        wrong = client.post("/api/v1/login", data={"name": "quality-person", "password": "wrong-password"})
        assert wrong.status_code == 401
        assert wrong.json()["detail"] == "login refused: unknown user or wrong password"
    throttled = client.post("/api/v1/login", data={"name": "quality-person", "password": PASSWORD})
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    # Another person from the same address is not locked out by these five.
    assert (
        client.post("/api/v1/login", data={"name": "engineer-person", "password": PASSWORD}).status_code
        == 200
    )
    with session_scope(engine) as s:
        refusals = s.exec(select(AuditEvent).where(AuditEvent.action == "login.refused")).all()
    assert len(refusals) == MAX_FAILURES_PER_USER


def test_a_token_account_cannot_log_in(client: TestClient, callers: Callers) -> None:
    response = client.post("/api/v1/login", data={"name": "operator-token", "password": PASSWORD})
    assert response.status_code == 401


def test_docs_load_nothing_from_outside(client: TestClient) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "https://" not in page.text
    assert "http://" not in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert client.get(f"/api/v1/docs/assets/{asset}").status_code == 200
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "MES API"


def test_a_body_over_the_limit_is_a_413_problem(client: TestClient) -> None:
    response = client.post("/api/v1/login", content=b"x" * (3 * 1024 * 1024),
                           headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_an_idle_session_ends(client: TestClient, callers: Callers, engine: Engine) -> None:
    from datetime import timedelta

    from mes.auth.models import WebSession

    log_in(client, Role.OPERATOR)
    with session_scope(engine) as s:
        for row in s.exec(select(WebSession)).all():
            row.last_seen_at -= timedelta(minutes=16)
            s.add(row)
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert "inactivity" in response.json()["detail"]


def test_a_chunked_body_over_the_limit_is_a_413_problem(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b"x" * (100 * 1024)

    response = client.post("/api/v1/login", content=chunks(),
                           headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


def test_a_new_secret_key_ends_every_session(db_url: str, engine: Engine, callers: Callers) -> None:
    from mes.api.app import create_app
    from mes.config import Settings

    with TestClient(create_app(Settings(database_url=db_url), engine=engine)) as first:
        log_in(first, Role.OPERATOR)
        cookie = first.cookies["mes_session"]
        assert first.get("/api/v1/me").status_code == 200
    rotated = Settings(database_url=db_url, secret_key="another-key-0123456789-abcdefghijklmnopqrstu")
    with TestClient(create_app(rotated, engine=engine)) as second:
        second.cookies.set("mes_session", cookie)
        assert second.get("/api/v1/me").status_code == 401
