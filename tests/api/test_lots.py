"""Lots through the API: list, record, scans, report, and the signed hold, release and scrap."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.audit.models import AuditEvent
from mes.audit.service import verify_chain
from mes.auth.models import Role
from mes.base import utcnow
from mes.db import session_scope
from mes.lots import scan_queries
from mes.lots.models import Characteristic, GaugeScan, Lot, LotStatus
from mes.quality.disposition_content import canonical_json
from tests.api.conftest import PASSWORD, Callers, TestClient, log_in
from tests.quality.test_disposition import Plant
from tests.quality.test_disposition import build as build_plant

API = "/api/v1"
PROBLEM = "application/problem+json"


@pytest.fixture
def plant(engine: Engine) -> Plant:
    """Anode A-1 (100 m, one flagged interval at 10–12 m of si.thickness) and cells C-1, C-2, C-3
    wound from it, all released."""
    return build_plant(engine)


def signature(
    role: Role = Role.QUALITY, meaning: str = "approval", password: str = PASSWORD
) -> dict[str, str]:
    return {"name": Callers.person(role), "password": password, "meaning": meaning}


def strict_json(text: str) -> Any:
    """JSON as any reader takes it: a bare NaN or Infinity fails."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in JSON")

    return json.loads(text, parse_constant=refuse)


def events(engine: Engine, action: str | None = None) -> list[AuditEvent]:
    with session_scope(engine) as s:
        query = select(AuditEvent).order_by(col(AuditEvent.id))
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(s.exec(query).all())


def status_of(engine: Engine, number: str) -> LotStatus:
    with session_scope(engine) as s:
        return s.exec(select(Lot).where(Lot.number == number)).one().status


# --- reading -------------------------------------------------------------------------------------


def test_lots_need_a_caller(client: TestClient, plant: Plant) -> None:
    for path in ("/lots", "/lots/A-1", "/lots/A-1/scans?characteristic=thickness", "/lots/A-1/report"):
        response = client.get(API + path)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == PROBLEM


def test_the_list_pages_newest_first_and_filters(client: TestClient, callers: Callers, plant: Plant) -> None:
    token = callers.bearer(Role.OPERATOR)
    first = client.get(f"{API}/lots?limit=3", headers=token)
    assert first.status_code == 200
    assert [lot["lot"] for lot in first.json()["items"]] == ["C-3", "C-2", "C-1"]
    cursor = first.json()["next_cursor"]
    assert cursor and f"cursor={cursor}" in first.headers["link"]
    rest = client.get(f"{API}/lots", params={"limit": 3, "cursor": cursor}, headers=token).json()
    assert [lot["lot"] for lot in rest["items"]] == ["A-1"]
    assert rest["next_cursor"] is None
    [anode] = rest["items"]
    assert (anode["kind"], anode["status"], anode["layers"], anode["intervals"]) == (
        "anode",
        "released",
        1,
        1,
    )

    cells = client.get(f"{API}/lots?kind=cell&kind=separator", headers=token).json()["items"]
    assert {lot["lot"] for lot in cells} == {"C-1", "C-2", "C-3"}
    assert client.get(f"{API}/lots?status=on_hold", headers=token).json()["items"] == []
    assert client.get(f"{API}/lots?order=WO-NONE", headers=token).json()["items"] == []
    later = (utcnow() + timedelta(hours=1)).isoformat()
    assert client.get(f"{API}/lots", params={"since": later}, headers=token).json()["items"] == []
    assert len(client.get(f"{API}/lots", params={"until": later}, headers=token).json()["items"]) == 4


def test_bad_filters_are_422_problems_naming_the_parameter(
    client: TestClient, callers: Callers, plant: Plant
) -> None:
    token = callers.bearer(Role.OPERATOR)
    for query, where in (
        ("status=lost", ["query", "status", "0"]),
        ("limit=0", ["query", "limit"]),
        ("since=yesterday", ["query", "since"]),
    ):
        response = client.get(f"{API}/lots?{query}", headers=token)
        assert response.status_code == 422, query
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["loc"] == where
    assert client.get(f"{API}/lots?cursor=nonsense", headers=token).status_code == 422
    refused = client.get(f"{API}/lots?recipe=not a ref", headers=token)
    assert refused.status_code == 422 and "recipe reference" in refused.json()["detail"]


def test_the_record_has_holds_genealogy_and_signatures(
    client: TestClient, callers: Callers, plant: Plant
) -> None:
    token = callers.bearer(Role.OPERATOR)
    record = client.get(f"{API}/lots/A-1", headers=token)
    assert record.status_code == 200
    body = record.json()
    assert (body["lot"], body["status"], body["holds"], body["signatures"]) == ("A-1", "released", [], [])
    assert [i["characteristic"] for i in body["intervals"]] == ["thickness"]
    assert {h["number"] for h in body["genealogy"]["forward"]} == {"C-1", "C-2", "C-3"}
    assert body["genealogy"]["backward"]["lot"]["number"] == "A-1"
    cell = client.get(f"{API}/lots/C-1", headers=token).json()
    assert [p["lot"]["number"] for p in cell["genealogy"]["backward"]["parents"]] == ["A-1"]
    assert cell["inputs"][0]["lot"] == "A-1"

    missing = client.get(f"{API}/lots/NOPE", headers=token)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    assert "no lot NOPE" in missing.json()["detail"]


def add_scans(engine: Engine, count: int, nan_every: int = 0) -> None:
    """``count`` scans of A-1's si.thickness, 1 cm apart; every ``nan_every``-th has NaN and ±Inf lanes."""
    with session_scope(engine) as s:
        char = s.exec(select(Characteristic)).one()
        lot = s.exec(select(Lot).where(Lot.number == "A-1")).one()
        now = utcnow()
        for seq in range(count):
            lanes = [4000.0 + lane + seq / 100 for lane in range(char.lanes)]
            if nan_every and seq % nan_every == 0:
                lanes[0], lanes[3], lanes[5] = math.nan, math.inf, -math.inf
            finite = [v for v in lanes if math.isfinite(v)]
            s.add(GaugeScan(lot_id=lot.id or 0, layer_id=char.layer_id, characteristic_id=char.id or 0, seq=seq,
                            position_m=seq * char.pitch_m, measured_at=now + timedelta(seconds=seq),
                            lane_values=lanes, min_value=min(finite), mean_value=sum(finite) / len(finite),
                            max_value=max(finite)))  # fmt: skip


def test_scans_with_nan_lanes_are_valid_json_and_csv(
    client: TestClient, callers: Callers, plant: Plant, engine: Engine
) -> None:
    add_scans(engine, 30, nan_every=10)
    token = callers.bearer(Role.ENGINEER)
    response = client.get(
        f"{API}/lots/A-1/scans?characteristic=si.thickness&start_m=0.05&end_m=0.2", headers=token
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = strict_json(response.text)
    assert (body["layer"], body["characteristic"], body["unit"], body["lanes"]) == (
        "si",
        "thickness",
        "nm",
        8,
    )
    assert [scan["seq"] for scan in body["scans"]] == list(range(5, 20))  # start_m <= position < end_m
    assert body["count"] == 15
    nan_scan = next(scan for scan in body["scans"] if scan["seq"] == 10)
    assert nan_scan["lanes"][0] is None and nan_scan["lanes"][3] is None and nan_scan["lanes"][5] is None
    assert nan_scan["lanes"][1] == pytest.approx(4001.1)
    assert nan_scan["min"] == pytest.approx(4001.1)

    url = f"{API}/lots/A-1/scans"
    for as_csv in (
        client.get(url, params={"characteristic": "thickness"}, headers={**token, "Accept": "text/csv"}),
        client.get(url, params={"characteristic": "thickness", "format": "csv"}, headers=token),
    ):
        assert as_csv.status_code == 200
        assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in as_csv.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(as_csv.text)))
        assert len(rows) == 30
        assert rows[10]["seq"] == "10" and rows[10]["lane_0"] == "" and rows[10]["lane_3"] == ""
        assert float(rows[10]["lane_1"]) == pytest.approx(4001.1)
        assert rows[0]["measured_at"].endswith("Z")
    # JSON asked for in the Accept header, or preferred to CSV, stays JSON.
    both = {**token, "Accept": "text/csv;q=0.5, application/json"}
    assert client.get(f"{API}/lots/A-1/scans?characteristic=thickness", headers=both).json()["count"] == 30


def test_scans_refuse_a_range_too_large_and_bad_ranges(
    client: TestClient, callers: Callers, plant: Plant, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_scans(engine, 30)
    monkeypatch.setattr(scan_queries, "MAX_SCANS", 20)
    token = callers.bearer(Role.OPERATOR)
    url = f"{API}/lots/A-1/scans?characteristic=thickness"
    too_many = client.get(url, headers=token)
    assert too_many.status_code == 422
    assert too_many.headers["content-type"] == PROBLEM
    detail = too_many.json()["detail"]
    assert "30 scans" in detail and "at most 20" in detail and "0.2 m at a time" in detail
    assert client.get(url + "&end_m=0.2", headers=token).json()["count"] == 20

    assert client.get(url + "&start_m=0.5&end_m=0.5", headers=token).status_code == 422
    nan = client.get(url + "&start_m=nan", headers=token)
    assert nan.status_code == 422 and nan.json()["errors"][0]["loc"] == ["query", "start_m"]
    assert client.get(f"{API}/lots/A-1/scans", headers=token).json()["errors"][0]["loc"] == [
        "query",
        "characteristic",
    ]
    unknown = client.get(f"{API}/lots/A-1/scans?characteristic=density", headers=token)
    assert unknown.status_code == 404 and "si.thickness" in unknown.json()["detail"]
    assert client.get(f"{API}/lots/NOPE/scans?characteristic=thickness", headers=token).status_code == 404


def test_the_report_in_json_and_csv(
    client: TestClient, callers: Callers, plant: Plant, engine: Engine
) -> None:
    add_scans(engine, 30, nan_every=7)
    token = callers.bearer(Role.OPERATOR)
    report = client.get(f"{API}/lots/A-1/report", headers=token)
    assert report.status_code == 200
    body = strict_json(report.text)
    assert body["lot"] == "A-1"
    assert body["layers"][0]["characteristics"][0]["scans_left_out"] == 5  # the scans with NaN lanes
    assert {h["number"] for h in body["genealogy"]["forward"]} == {"C-1", "C-2", "C-3"}
    for response in (
        client.get(f"{API}/lots/A-1/report.csv", headers=token),
        client.get(f"{API}/lots/A-1/report", headers={**token, "Accept": "text/csv"}),
        client.get(f"{API}/lots/A-1/report?format=csv", headers=token),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        lines = response.text.split("# intervals\n")[1].split("\n\n")[0]
        [interval] = csv.DictReader(io.StringIO(lines))
        assert (interval["characteristic"], interval["status"], interval["start_m"]) == (
            "thickness",
            "flagged",
            "10.00",
        )
    assert client.get(f"{API}/lots/NOPE/report.csv", headers=token).status_code == 404


# --- signed decisions ----------------------------------------------------------------------------


def test_a_hold_is_signed_with_name_meaning_and_content_hash_in_the_chain(
    client: TestClient, callers: Callers, plant: Plant, engine: Engine
) -> None:
    token = callers.bearer(Role.OPERATOR)
    held = client.post(f"{API}/lots/A-1:hold", headers=token,
                       json={"reason": "  gauge drift  ", "signature": signature(Role.OPERATOR, "responsibility")})  # fmt: skip
    assert held.status_code == 200, held.text
    done = held.json()
    assert (done["lot"], done["decision"], done["status"]) == ("A-1", "hold", "on_hold")
    assert done["blocked"] == ["C-1", "C-2", "C-3"]
    signed = done["signature"]
    assert signed["signer"] == "operator-person"
    assert signed["printed_name"] == "Operator Person"
    assert (signed["meaning"], signed["signs"], signed["reason"]) == (
        "responsibility",
        "lot.hold",
        "gauge drift",
    )
    content = done["signed_content"]
    assert (content["decision"], content["scope"], content["lot"]["status"]) == ("hold", "lot", "released")
    assert [i["id"] for i in content["intervals"]] == [plant.interval_id]
    assert signed["content_sha256"] == hashlib.sha256(canonical_json(content).encode()).hexdigest()

    [record] = events(engine, "e-signature")
    assert record.actor == "operator-person"
    assert record.after is not None
    assert (record.after["printed_name"], record.after["meaning"]) == ("Operator Person", "responsibility")
    assert record.after["content_sha256"] == signed["content_sha256"]
    [decision] = events(engine, "lot.hold")[:1]
    assert decision.after is not None
    assert decision.after["signature"] == {"by": "operator-person", "meaning": "responsibility",
                                           "content_sha256": signed["content_sha256"],
                                           "requested_by": "operator-token"}  # fmt: skip
    assert status_of(engine, "C-2") == LotStatus.ON_HOLD

    lot = client.get(f"{API}/lots/A-1", headers=token).json()
    assert [s["printed_name"] for s in lot["signatures"]] == ["Operator Person"]
    [hold] = lot["holds"]
    assert (hold["source"], hold["by"], hold["signed"]) == ("signed", "operator-person", True)
    verified = client.get(f"{API}/audit/verify", headers=callers.bearer(Role.QUALITY)).json()
    assert verified["ok"] is True and verified["events"] == len(events(engine))


def test_release_and_scrap_of_intervals_need_quality_and_approval(
    client: TestClient, callers: Callers, plant: Plant, engine: Engine
) -> None:
    quality = callers.bearer(Role.QUALITY)
    url = f"{API}/lots/A-1"
    body = {"reason": "spike", "intervals": [plant.interval_id], "signature": signature(meaning="review")}
    held = client.post(f"{url}:hold", headers=quality, json=body)
    assert held.status_code == 200, held.text
    assert held.json()["blocked"] == ["C-1"]
    assert held.json()["intervals"] == [
        {
            "id": plant.interval_id,
            "characteristic": "si.thickness",
            "start_m": 10.0,
            "end_m": 12.0,
            "status": "held",
        }
    ]
    assert held.json()["signature"]["signs"] == "interval.hold"
    assert status_of(engine, "A-1") == LotStatus.RELEASED  # only the metres are held

    operator = client.post(f"{url}:release", headers=callers.bearer(Role.OPERATOR), json=body)
    assert operator.status_code == 403 and "quality" in operator.json()["detail"]
    review = client.post(f"{url}:release", headers=quality, json=body)
    assert review.status_code == 422 and "meaning approval, not review" in review.json()["detail"]
    released = client.post(f"{url}:release", headers=quality, json={**body, "signature": signature()})
    assert released.status_code == 200, released.text
    assert released.json()["intervals"][0]["status"] == "released"
    assert released.json()["blocked"] == []
    again = client.post(f"{url}:release", headers=quality, json={**body, "signature": signature()})
    assert again.status_code == 409 and "only a held or flagged interval" in again.json()["detail"]
    assert again.headers["content-type"] == PROBLEM

    scrapped = client.post(
        f"{url}:scrap", headers=quality, json={"reason": "cut out", "signature": signature()}
    )
    assert scrapped.status_code == 200
    assert scrapped.json()["status"] == "rejected"
    unknown = client.post(f"{url}:scrap", headers=quality,
                          json={"reason": "x", "intervals": [99999], "signature": signature()})  # fmt: skip
    assert unknown.status_code == 409 and "no interval 99999" in unknown.json()["detail"]
    assert [e.action for e in events(engine) if e.action.endswith(".refused")] == [
        "lot.release.refused",
        "lot.release.refused",
        "lot.scrap.refused",
    ]
    assert client.post(f"{API}/lots/NOPE:hold", headers=quality, json=body).status_code == 404


def test_a_token_alone_never_signs(
    client: TestClient, callers: Callers, plant: Plant, engine: Engine
) -> None:
    token = callers.bearer(Role.QUALITY)
    unsigned = client.post(f"{API}/lots/A-1:hold", headers=token, json={"reason": "check"})
    assert unsigned.status_code == 422
    assert unsigned.headers["content-type"] == PROBLEM
    assert ["body", "signature"] in [e["loc"] for e in unsigned.json()["errors"]]
    # The token's own account has a password nobody knows: it cannot sign as itself.
    as_itself = client.post(f"{API}/lots/A-1:hold", headers=token, json={
        "reason": "check", "signature": {"name": "quality-token", "password": "anything", "meaning": "review"}})  # fmt: skip
    assert as_itself.status_code == 403
    assert status_of(engine, "A-1") == LotStatus.RELEASED
    assert events(engine, "e-signature") == []


def test_a_wrong_password_is_a_403_and_audited(
    client: TestClient, callers: Callers, plant: Plant, engine: Engine
) -> None:
    csrf = log_in(client, Role.QUALITY)  # a session writes on every request: the refusal must still be kept
    refused = client.post(f"{API}/lots/A-1:scrap", headers=csrf,
                          json={"reason": "bad roll", "signature": signature(password="wrong-password")})  # fmt: skip
    assert refused.status_code == 403
    assert refused.headers["content-type"] == PROBLEM
    assert "wrong password" in refused.json()["detail"]
    assert status_of(engine, "A-1") == LotStatus.RELEASED
    [audited] = events(engine, "lot.scrap.refused")
    assert (audited.actor, audited.entity_id) == ("quality-person", "A-1")
    assert "wrong password" in audited.reason
    assert audited.after == {"meaning": "approval"}
    assert events(engine, "e-signature") == []
    with session_scope(engine) as s:
        assert verify_chain(s).ok


def test_a_session_signs_only_as_its_own_user(
    client: TestClient, callers: Callers, plant: Plant, engine: Engine
) -> None:
    csrf = log_in(client, Role.QUALITY)
    other = client.post(f"{API}/lots/A-1:hold", headers=csrf,
                        json={"reason": "check", "signature": signature(Role.OPERATOR, "responsibility")})  # fmt: skip
    assert other.status_code == 403
    assert "logged in as quality-person" in other.json()["detail"]
    [audited] = events(engine, "lot.hold.refused")
    assert audited.actor == "operator-person"
    assert audited.after == {"meaning": "responsibility", "requested_by": "quality-person"}
    no_csrf = client.post(f"{API}/lots/A-1:hold", json={"reason": "check", "signature": signature()})
    assert no_csrf.status_code == 403 and "X-CSRF-Token" in no_csrf.json()["detail"]
    own = client.post(
        f"{API}/lots/A-1:hold", headers=csrf, json={"reason": "check", "signature": signature()}
    )
    assert own.status_code == 200
    assert own.json()["signature"]["signer"] == "quality-person"


def test_decision_bodies_are_checked(client: TestClient, callers: Callers, plant: Plant) -> None:
    token = callers.bearer(Role.QUALITY)
    for body, where in (
        ({"reason": "   ", "signature": signature()}, ["body", "reason"]),
        ({"reason": "a\x1b[31m", "signature": signature()}, ["body", "reason"]),
        (
            {"reason": "x", "signature": {**signature(), "meaning": "agreement"}},
            ["body", "signature", "meaning"],
        ),
        ({"reason": "x", "intervals": [0], "signature": signature()}, ["body", "intervals", "0"]),
        ({"reason": "x", "signature": signature(), "force": True}, ["body", "force"]),
    ):
        response = client.post(f"{API}/lots/A-1:hold", headers=token, json=body)
        assert response.status_code == 422, body
        assert where in [e["loc"] for e in response.json()["errors"]], response.json()


# The row ids these answers may show, each because a route or command takes it; the rest is named by
# its business key (lot number, job id, recipe ID@VERSION, unit name).
HANDLES = {
    ("AlarmPublic", "id"),  # /alarms/{id}
    ("AlarmDetail", "id"),
    ("IntervalPublic", "id"),  # "intervals": [id] of a hold, release or scrap
    ("IntervalDecided", "id"),
    ("HoldReason", "interval_id"),
    ("HoldReason", "alarm_ids"),
    ("StepRunPublic", "id"),  # mes step show|resume|abort STEP
    ("AuditEventPublic", "id"),  # the cursor's row, and what verify names
    ("ChainVerification", "first_broken_id"),
}


def test_no_answer_here_shows_a_row_id_but_the_handles(client: TestClient) -> None:
    schema = client.get(f"{API}/openapi.json").json()
    defs = schema["components"]["schemas"]
    todo = [json.dumps(op) for path, item in schema["paths"].items() for op in item.values()
            if path.startswith((f"{API}/lots", f"{API}/alarms", f"{API}/audit"))]  # fmt: skip
    reached: set[str] = set()
    while todo:
        for name in re.findall(r'"#/components/schemas/([^"]+)"', todo.pop()):
            if name not in reached:
                reached.add(name)
                todo.append(json.dumps(defs[name]))
    assert {"LotRecord", "LotScans", "DispositionDone", "AlarmDetail", "ChainVerification"} <= reached
    shown = {
        (name, field)
        for name in reached
        for field, spec in defs[name].get("properties", {}).items()
        if (field == "id" or field.endswith(("_id", "_ids"))) and '"integer"' in json.dumps(spec)
    }
    assert shown - HANDLES == set()
