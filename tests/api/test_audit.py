"""The audit trail through the API: filtered events, pages, roles, and the hash chain's check."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.audit.models import AuditEvent
from mes.audit.service import record
from mes.auth.models import Role
from mes.base import utcnow
from mes.db import session_scope
from tests.api.conftest import PASSWORD, Callers, TestClient, log_in
from tests.quality.test_disposition import build as build_plant

API = "/api/v1"
PROBLEM = "application/problem+json"


def test_reading_the_trail_is_for_quality_and_admin(client: TestClient, callers: Callers) -> None:
    for path in ("/audit", "/audit/verify"):
        assert client.get(API + path).status_code == 401
        for role in (Role.OPERATOR, Role.ENGINEER):
            refused = client.get(API + path, headers=callers.bearer(role))
            assert refused.status_code == 403, (path, role)
            assert refused.headers["content-type"] == PROBLEM
            assert "quality" in refused.json()["detail"]
        assert client.get(API + path, headers=callers.bearer(Role.QUALITY)).status_code == 200
    log_in(client, Role.ADMIN)
    assert client.get(f"{API}/audit").status_code == 200


def test_events_filtered_and_paged(client: TestClient, callers: Callers, engine: Engine) -> None:
    build_plant(engine)
    token = callers.bearer(Role.QUALITY)
    signature = {"name": "quality-person", "password": PASSWORD, "meaning": "review"}
    held = client.post(
        f"{API}/lots/A-1:hold", headers=token, json={"reason": "drift", "signature": signature}
    )
    assert held.status_code == 200

    def actions(query: str) -> list[tuple[str, str, str]]:
        response = client.get(f"{API}/audit?{query}", headers=token)
        assert response.status_code == 200, response.text
        return [(e["action"], e["entity_id"], e["actor"]) for e in response.json()["items"]]

    assert actions("entity_id=A-1") == [
        ("lot.hold", "A-1", "quality-person"),
        ("e-signature", "A-1", "quality-person"),
    ]
    assert actions("action=lot.hold&actor=system") == [
        ("lot.hold", c, "system") for c in ("C-3", "C-2", "C-1")
    ]
    assert [a for a, _, _ in actions("action=lot.")] == ["lot.hold"] * 4
    assert actions("entity_type=api_token&actor=admin-person") == [
        ("token.create", f"{role}-token", "admin-person") for role in ("quality", "engineer", "operator")
    ]
    signed = client.get(f"{API}/audit?action=e-signature", headers=token).json()["items"]
    assert signed[0]["after"]["printed_name"] == "Quality Person"
    assert signed[0]["after"]["meaning"] == "review"
    assert signed[0]["after"]["content_sha256"] == held.json()["signature"]["content_sha256"]
    assert signed[0]["reason"] == "drift"

    later = (utcnow() + timedelta(hours=1)).isoformat().replace("+", "%2B")
    assert actions(f"since={later}") == []
    assert len(actions(f"until={later}")) == len(actions(""))

    first = client.get(f"{API}/audit?limit=3", headers=token)
    assert len(first.json()["items"]) == 3
    cursor = first.json()["next_cursor"]
    assert cursor and 'rel="next"' in first.headers["link"]
    rest = client.get(f"{API}/audit?limit=100&cursor={cursor}", headers=token).json()
    ids = [e["id"] for e in first.json()["items"] + rest["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids) == len(actions("limit=500"))
    assert rest["next_cursor"] is None
    bad = client.get(f"{API}/audit?since=last-week", headers=token)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "since"]


def test_verify_reports_the_first_broken_link(client: TestClient, callers: Callers, engine: Engine) -> None:
    token = callers.bearer(Role.QUALITY)
    intact = client.get(f"{API}/audit/verify", headers=token).json()
    assert intact == {"ok": True, "events": 3, "first_broken_id": None, "problem": None}  # the three tokens
    with session_scope(engine) as s:
        last = s.exec(select(AuditEvent).order_by(col(AuditEvent.id).desc())).first()
        assert last is not None
        # Appended past the service: a row whose hash is not that of its content.
        forged = AuditEvent(actor="mallory", action="lot.release", entity_type="lot", entity_id="A-1",
                            prev_hash=last.hash, hash="f" * 64)  # fmt: skip
        s.add(forged)
        s.flush()
        forged_id = forged.id
    broken = client.get(f"{API}/audit/verify", headers=token)
    assert broken.status_code == 200
    assert broken.json() == {
        "ok": False,
        "events": 4,
        "first_broken_id": forged_id,
        "problem": "its content does not match its hash",
    }


def test_events_record_their_before_and_after(client: TestClient, callers: Callers, engine: Engine) -> None:
    with session_scope(engine) as s:
        record(s, actor="system", action="lot.hold", entity_type="lot", entity_id="L-9",
               before={"status": "in_process"}, after={"status": "on_hold", "layer": "si"}, reason="layer si")  # fmt: skip
    [event] = client.get(f"{API}/audit?entity_id=L-9", headers=callers.bearer(Role.QUALITY)).json()["items"]
    assert (event["before"], event["after"]) == (
        {"status": "in_process"},
        {"status": "on_hold", "layer": "si"},
    )
    assert len(event["hash"]) == 64


def test_events_as_csv_by_content_negotiation(client: TestClient, callers: Callers, engine: Engine) -> None:
    with session_scope(engine) as s:
        record(s, actor="system", action="lot.hold", entity_type="lot", entity_id="L-9",
               after={"status": "on_hold"}, reason="=HYPERLINK(\"x\")")  # fmt: skip
        record(s, actor="system", action="lot.release", entity_type="lot", entity_id="L-9", reason="ok")
    token = callers.bearer(Role.QUALITY)
    for how in ({"params": {"format": "csv"}}, {"headers": {"Accept": "text/csv"}}):
        headers = {**token, **how.get("headers", {})}
        response = client.get(
            f"{API}/audit", params={"entity_id": "L-9", **how.get("params", {})}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert 'filename="audit.csv"' in response.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert [(r["action"], r["entity_id"], r["reason"]) for r in rows] == [
            ("lot.release", "L-9", "ok"), ("lot.hold", "L-9", "'=HYPERLINK(\"x\")")]  # fmt: skip
        assert rows[1]["after"] == '{"status":"on_hold"}' and rows[1]["before"] == ""
        assert rows[1]["occurred_at"].endswith("Z") and len(rows[1]["hash"]) == 64
    assert (
        client.get(f"{API}/audit?entity_id=L-9", headers=token).headers["content-type"] == "application/json"
    )

    part = client.get(f"{API}/audit.csv", params={"limit": 1, "entity_id": "L-9"}, headers=token)
    assert [r["action"] for r in csv.DictReader(io.StringIO(part.text))] == ["lot.release"]
    after = part.headers["link"].split(";")[0].strip("<>")
    rest = client.get(after, headers=token)
    assert [r["action"] for r in csv.DictReader(io.StringIO(rest.text))] == ["lot.hold"]
    assert "link" not in rest.headers
    assert client.get(f"{API}/audit.csv?limit=10001", headers=token).status_code == 422
    for role in (Role.OPERATOR, Role.ENGINEER):
        assert client.get(f"{API}/audit.csv", headers=callers.bearer(role)).status_code == 403
        assert client.get(f"{API}/audit?format=csv", headers=callers.bearer(role)).status_code == 403
