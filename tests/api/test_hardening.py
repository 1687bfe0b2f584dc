"""Input the routes never see: control characters in a URL, bodies of the wrong type or media type,
header values outside ASCII; and what the OpenAPI document tells a client about authentication."""

from __future__ import annotations

import pytest

from mes.auth.models import Role
from tests.api.conftest import Callers, TestClient


@pytest.mark.parametrize(
    "path",
    ["/api/v1/lots/a%00b", "/api/v1/orders/a%00b", "/api/v1/audit?actor=a%00b", "/api/v1/lots?order=x%00",
     "/api/v1/alarms?condition=%01x"],
)  # fmt: skip
def test_a_control_character_in_the_url_is_a_422_on_every_backend(
    client: TestClient, callers: Callers, path: str
) -> None:
    response = client.get(path, headers=callers.bearer(Role.QUALITY))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "U+00" in response.json()["detail"]


def test_a_value_the_database_cannot_store_is_a_422(client: TestClient, callers: Callers) -> None:
    # NUL inside a JSON string: SQLite takes it, PostgreSQL refuses it — either way, never a 500.
    response = client.post(
        "/api/v1/orders",
        json={"recipe": "a\u0000b@1", "lots": 1},
        headers={**callers.bearer(Role.OPERATOR), "Idempotency-Key": "nul-1"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [{"recipe": "x@1", "lots": "2"}, {"recipe": "x@1", "lots": 1, "start": "no"},
     {"recipe": "x@1", "lots": 1, "priority": 1.5}, {"recipe": "x@1", "lots": True}],
)  # fmt: skip
def test_numbers_and_flags_of_another_json_type_are_refused(
    client: TestClient, callers: Callers, body: dict[str, object]
) -> None:
    response = client.post(
        "/api/v1/orders", json=body, headers={**callers.bearer(Role.OPERATOR), "Idempotency-Key": "typed"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][0] == "body"


def test_a_signed_decision_takes_interval_ids_as_numbers_only(client: TestClient, callers: Callers) -> None:
    body = {
        "reason": "x",
        "intervals": [True],
        "signature": {"name": "a", "password": "b", "meaning": "review"},
    }
    response = client.post("/api/v1/lots/L1:hold", json=body, headers=callers.bearer(Role.QUALITY))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"][:2] == ["body", "intervals"]


def test_json_sent_as_a_form_is_a_415_naming_the_media_type(client: TestClient, callers: Callers) -> None:
    response = client.post(
        "/api/v1/orders/WO-1:cancel",
        content=b'{"reason": "x"}',
        headers={**callers.bearer(Role.OPERATOR), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415, response.text
    assert "application/json" in response.json()["detail"]


def test_an_idempotency_key_outside_ascii_is_refused(client: TestClient, callers: Callers) -> None:
    response = client.post(
        "/api/v1/orders",
        json={"recipe": "x@1", "lots": 1},
        headers=[(b"Authorization", f"Bearer {callers.tokens[Role.OPERATOR]}".encode()),
                 (b"Idempotency-Key", "zoë".encode())],
    )  # fmt: skip
    assert response.status_code == 422, response.text
    assert "Idempotency-Key" in response.text


def test_the_openapi_document_says_how_to_authenticate(client: TestClient) -> None:
    document = client.get("/api/v1/openapi.json").json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["session"]["name"] == "mes_session"
    assert {"bearer": []} in document["security"]
    assert '"discriminator"' not in str(document).replace("'", '"') or "oneOf" not in str(document)


@pytest.mark.parametrize("path", ["/api/v1/alarms", "/api/v1/alarms.csv", "/api/v1/audit", "/api/v1/lots",
                                  "/api/v1/orders"])  # fmt: skip
def test_a_time_filter_at_the_ends_of_the_calendar_is_a_422(
    client: TestClient, callers: Callers, path: str
) -> None:
    for query in ("since=0001-01-01T00:00:00%2B14:00", "until=9999-12-31T23:59:59-14:00"):
        response = client.get(f"{path}?{query}", headers=callers.bearer(Role.QUALITY))
        assert response.status_code == 422, (query, response.text)
        assert response.json()["errors"][0]["loc"][0] == "query"
