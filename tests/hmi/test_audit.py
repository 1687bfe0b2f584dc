"""The audit journal in a browser: filtered as GET /api/v1/audit is (who, action or its kind, entity,
time typed in plant time), paged, exported as CSV with the same filters; quality and admin read it,
anyone else gets a 403 page."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

from playwright.sync_api import expect
from sqlalchemy.engine import Engine

from mes.audit.service import record
from mes.auth.models import Role
from mes.db import session_scope
from mes.equipment.profile import Line
from mes.lots.order_cancel import cancel_order
from tests.hmi.conftest import Hmi, shoot
from tests.hmi.ops import OPERATOR, line, place, plant

__all__ = ["line", "plant"]  # fixtures
ROWS = "[data-testid=audit-table] tbody tr"


def test_quality_searches_the_journal_and_exports_what_it_found(
    plant: Hmi, engine: Engine, line: Line
) -> None:
    number = place(engine, line)
    with session_scope(engine) as s:
        cancel_order(s, number, by=OPERATOR, reason="planning changed")
        # A March morning in the trail: 09:00 and 11:00 in Berlin (08:00 and 10:00 UTC).
        for hour, reason in ((8, "morning check"), (10, "late check")):
            record(s, actor="engineer-person", action="unit.set_healthy", entity_type="equipment_unit",
                   entity_id="coater-1", before={"healthy": False}, after={"healthy": True}, reason=reason,
                   occurred_at=datetime(2026, 3, 10, hour, tzinfo=UTC))  # fmt: skip
    page = plant.page(Role.QUALITY, "/audit", width=1920, height=1080)
    expect(page.locator(ROWS).first).to_be_visible()
    shoot(page, "audit")

    # Who and the kind of action: the order's creation and its cancellation, with their reasons.
    page.get_by_test_id("filter-actor").fill(OPERATOR)
    page.get_by_test_id("filter-action").fill("order.")
    page.get_by_test_id("filter-apply").click()
    expect(page.locator(ROWS)).to_have_count(2)
    cancel = page.locator(f"{ROWS}[data-action='order.cancel']")
    expect(cancel).to_contain_text("planning changed")
    expect(cancel).to_contain_text("ready → aborted")
    expect(cancel.locator("a")).to_have_attribute("href", f"/orders/{number}")
    # The entity and its type.
    page.goto(f"/audit?entity_type=work_order&entity_id={number}")
    expect(page.locator(ROWS)).to_have_count(2)
    page.goto("/audit?entity_type=control_limit")
    expect(page.get_by_test_id("audit-empty")).to_be_visible()

    # Time typed in plant time: 09:30 to 11:30 in Berlin finds the 11:00 event only.
    page.goto("/audit")
    page.get_by_test_id("filter-since").fill("2026-03-10T09:30")
    page.get_by_test_id("filter-until").fill("2026-03-10T11:30")
    page.get_by_test_id("filter-apply").click()
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS)).to_contain_text("late check")
    expect(page.locator(ROWS)).to_contain_text("false → true")

    # The CSV: the same events (the whole morning), times in UTC.
    page.goto("/audit?since=2026-03-10T08:00&until=2026-03-10T12:00&actor=engineer-person")
    expect(page.locator(ROWS)).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_test_id("audit-csv").click()
    rows = list(csv.DictReader(download.value.path().open(encoding="utf-8")))
    assert [(r["occurred_at"], r["reason"]) for r in rows] == [
        ("2026-03-10T10:00:00Z", "late check"), ("2026-03-10T08:00:00Z", "morning check")]  # fmt: skip
    assert rows[0]["after"] == '{"healthy":true}'
    assert download.value.suggested_filename == "audit.csv"


def test_the_journal_is_paged_newest_first(plant: Hmi, engine: Engine) -> None:
    with session_scope(engine) as s:
        for i in range(60):
            record(
                s,
                actor="system",
                action="lot.hold",
                entity_type="lot",
                entity_id=f"L-{i:02d}",
                reason=f"r{i}",
            )
    page = plant.page(Role.ADMIN, "/audit?action=lot.hold")
    expect(page.locator(ROWS)).to_have_count(50)
    expect(page.locator(ROWS).first).to_contain_text("L-59")
    expect(page.locator(ROWS).first.locator("a")).to_have_attribute("href", "/lots/L-59")
    page.get_by_test_id("page-older").click()
    expect(page.locator(ROWS)).to_have_count(10)
    expect(page.locator(ROWS).first).to_contain_text("L-09")
    expect(page.get_by_test_id("filter-action")).to_have_value("lot.hold")  # the filters stay
    page.get_by_test_id("page-newest").click()
    expect(page.locator(ROWS).first).to_contain_text("L-59")


def test_operators_and_engineers_get_a_403_page(plant: Hmi) -> None:
    for role in (Role.OPERATOR, Role.ENGINEER):
        page = plant.page(role, "/alarms")
        # The navigation offers no page the person may not read; asked for anyway, it is refused.
        expect(page.get_by_test_id("nav-alarms")).to_be_visible()
        expect(page.get_by_test_id("nav-audit")).to_have_count(0)
        page.goto("/audit")
        error = page.get_by_test_id("error-page")
        expect(page.get_by_test_id("who")).to_contain_text(role.value)  # drawn with its navigation
        expect(error).to_contain_text("403")
        expect(error).to_contain_text("may not read the audit journal: it needs the admin or quality role")
        expect(page.get_by_test_id("audit-table")).to_have_count(0)
        expect(page.get_by_test_id("audit-filters")).to_have_count(0)
        if role is Role.OPERATOR:
            shoot(page, "audit-refused")
