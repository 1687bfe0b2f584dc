"""The alarm pages in a browser: the active list most urgent first, acknowledge with a comment, shelve
with a reason until the shelving runs out, unshelve, the list following alarm events, the banner's
links, a refused command, the history searched in plant time and its CSV."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.base import pk, utcnow
from mes.db import session_scope
from mes.equipment.profile import Line
from mes.lots.models import Lot, LotKind, LotStatus
from mes.quality import alarms
from mes.quality.models import Alarm, AlarmPriority
from tests.hmi.conftest import Hmi, shoot
from tests.hmi.ops import OPERATOR, line, plant, unit_id

__all__ = ["line", "plant"]  # fixtures


@dataclass(frozen=True)
class Raised:
    urgent: int  # sputter-1, lot L-1, not acknowledged
    high: int  # coater-1, not acknowledged
    low: int  # acknowledged by op, still active


@pytest.fixture
def raised(plant: Hmi, engine: Engine) -> Raised:
    with session_scope(engine) as s:
        lot = Lot(number="WO-260310-L01", kind=LotKind.ANODE, status=LotStatus.IN_PROCESS, length_m=100)
        s.add(lot)
        s.flush()
        low = alarms.raise_alarm(s, "unit:winder-1:tension", "winder-1 tension drifting",
                                 priority=AlarmPriority.LOW, unit_id=unit_id(s, "winder-1"))  # fmt: skip
        alarms.acknowledge(s, pk(low), by=OPERATOR, comment="watching it")
        high = alarms.raise_alarm(s, "unit:coater-1:down", "coater-1 does not answer",
                                  priority=AlarmPriority.HIGH, unit_id=unit_id(s, "coater-1"))  # fmt: skip
        urgent = alarms.raise_alarm(s, "step:7:held", "sputter-1 arc: step held", priority=AlarmPriority.URGENT,
                                    unit_id=unit_id(s, "sputter-1"), lot_id=pk(lot))  # fmt: skip
        return Raised(urgent=pk(urgent), high=pk(high), low=pk(low))


def _rows(page: Page) -> list[str]:
    found: list[str] = page.locator("#alarm-list tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.testid)"
    )
    return found


def test_acknowledge_with_a_comment_shows_in_the_history_with_who(plant: Hmi, raised: Raised) -> None:
    page = plant.page(Role.OPERATOR, "/alarms", width=1920, height=1080)
    # Expected: most urgent first; shape, colour and word; unacknowledged ones flash; lot and unit link.
    expect(page.get_by_test_id(f"alarm-{raised.urgent}")).to_be_visible()
    assert _rows(page) == [f"alarm-{raised.urgent}", f"alarm-{raised.high}", f"alarm-{raised.low}"]
    urgent = page.get_by_test_id(f"alarm-priority-{raised.urgent}")
    expect(urgent).to_have_class("prio prio-urgent unacked")
    expect(urgent).to_contain_text("Urgent")
    expect(page.get_by_test_id(f"alarm-priority-{raised.low}")).not_to_have_class("prio prio-low unacked")
    expect(page.get_by_test_id(f"alarm-lot-{raised.urgent}")).to_have_attribute("href", "/lots/WO-260310-L01")
    expect(page.get_by_test_id(f"alarm-unit-{raised.urgent}")).to_have_attribute("href", "/units/sputter-1")
    expect(page.get_by_test_id(f"ack-{raised.low}")).to_have_count(0)  # acknowledged already
    shoot(page, "alarms-active")

    page.get_by_test_id(f"ack-comment-{raised.urgent}").fill("arc counter reset, target checked")
    page.get_by_test_id(f"ack-{raised.urgent}").click()
    row = page.get_by_test_id(f"alarm-{raised.urgent}")
    expect(row).to_have_attribute("data-state", "active_ack")
    expect(row).to_contain_text("operator-person")
    expect(page.get_by_test_id(f"alarm-priority-{raised.urgent}")).not_to_have_class(
        "prio prio-urgent unacked"
    )
    expect(page.get_by_test_id("alarm-count-urgent")).to_have_attribute("data-unacknowledged", "0")

    page.get_by_test_id("tab-history").click()
    ack = page.get_by_test_id(f"history-ack-{raised.urgent}")
    expect(ack).to_contain_text("operator-person")
    expect(ack).to_contain_text("arc counter reset, target checked")
    page.get_by_test_id(f"history-link-{raised.urgent}").click()
    expect(page.get_by_test_id("alarm-journal")).to_contain_text("acknowledge")
    expect(page.get_by_test_id("journal-2")).to_contain_text("operator-person")
    expect(page.get_by_test_id("journal-2")).to_contain_text("arc counter reset, target checked")
    shoot(page, "alarm-journal")


def test_a_shelved_alarm_leaves_the_active_list_until_its_shelving_runs_out(
    plant: Hmi, raised: Raised, engine: Engine
) -> None:
    page = plant.page(Role.OPERATOR, "/alarms")
    page.get_by_test_id(f"shelve-{raised.high}").click()
    page.get_by_test_id(f"shelve-minutes-{raised.high}").select_option("30")
    page.get_by_test_id(f"shelve-submit-{raised.high}").click()  # no reason: the browser asks for one
    expect(page.get_by_test_id(f"alarm-{raised.high}")).to_be_visible()
    page.get_by_test_id(f"shelve-reason-{raised.high}").fill("coater-1 in planned maintenance")
    page.get_by_test_id(f"shelve-submit-{raised.high}").click()
    expect(page.get_by_test_id(f"alarm-{raised.high}")).to_have_count(0)
    expect(page.get_by_test_id("tab-shelved")).to_contain_text("Shelved 1")

    # The banner's shelved count opens the shelved list: who shelved it and until when.
    page.get_by_test_id("alarm-count-shelved").click()
    expect(page).to_have_url(plant.url("/alarms?shelved=true"))
    row = page.get_by_test_id(f"alarm-{raised.high}")
    expect(row).to_contain_text("operator-person until")
    with session_scope(engine) as s:
        until = s.get(Alarm, raised.high).shelved_until  # type: ignore[union-attr]
    assert until is not None and timedelta(minutes=29) < until - utcnow() <= timedelta(minutes=30)
    shoot(page, "alarms-shelved")

    # The shelving runs out (as the server's expiry does it 30 min later): the alarm is back.
    with session_scope(engine) as s:
        assert alarms.expire_shelving(s, now=utcnow() + timedelta(minutes=31)) == 1
    expect(page.get_by_test_id(f"alarm-{raised.high}")).to_have_count(0)
    page.get_by_test_id("tab-active").click()
    expect(page.get_by_test_id(f"alarm-{raised.high}")).to_be_visible()

    # Unshelve: shelved again, then returned by hand with a comment.
    with session_scope(engine) as s:
        alarms.shelve(s, raised.urgent, by=OPERATOR, duration_s=600, reason="known")
    expect(page.get_by_test_id(f"alarm-{raised.urgent}")).to_have_count(0)
    page.goto("/alarms?shelved=true")
    page.get_by_test_id(f"unshelve-comment-{raised.urgent}").fill("maintenance done")
    page.get_by_test_id(f"unshelve-{raised.urgent}").click()
    expect(page.get_by_test_id("alarms-empty")).to_be_visible()
    page.get_by_test_id("tab-active").click()
    expect(page.get_by_test_id(f"alarm-{raised.urgent}")).to_be_visible()


def test_the_list_follows_alarm_events_and_the_banner_links_by_priority(
    plant: Hmi, engine: Engine, raised: Raised
) -> None:
    page = plant.page(Role.ENGINEER, "/alarms?priority=high")
    assert _rows(page) == [f"alarm-{raised.high}"]
    expect(page.get_by_test_id("priority-high")).to_have_attribute("aria-current", "true")
    with session_scope(engine) as s:
        new = pk(alarms.raise_alarm(s, "unit:sputter-2:vacuum", "sputter-2 vacuum lost",
                                    priority=AlarmPriority.HIGH, unit_id=unit_id(s, "sputter-2")))  # fmt: skip
        alarms.raise_alarm(
            s, "unit:sputter-2:water", "sputter-2 cooling water low", priority=AlarmPriority.MEDIUM
        )
    # Expected: the new high alarm appears without a reload, the medium one does not (filtered).
    expect(page.get_by_test_id(f"alarm-{new}")).to_be_visible()
    assert _rows(page) == [f"alarm-{new}", f"alarm-{raised.high}"]
    page.get_by_test_id("alarm-count-urgent").click()
    expect(page).to_have_url(plant.url("/alarms?priority=urgent"))
    assert _rows(page) == [f"alarm-{raised.urgent}"]
    page.get_by_test_id("priority-all").click()
    expect(page.locator("#alarm-list tbody tr")).to_have_count(5)


def test_an_acknowledgement_someone_else_made_first_is_refused_with_the_reason(
    plant: Hmi, engine: Engine, raised: Raised
) -> None:
    page = plant.page(Role.OPERATOR, "/alarms")
    # While a comment is being typed the list is not redrawn under the hand…
    page.get_by_test_id(f"ack-comment-{raised.high}").fill("checking the drive")
    with session_scope(engine) as s:
        alarms.acknowledge(s, raised.high, by="quality-person")
        alarms.raise_alarm(s, "unit:winder-1:web-break", "web break", priority=AlarmPriority.LOW)
    expect(page.get_by_test_id("alarm-count-low")).to_have_attribute("data-count", "2")
    expect(page.get_by_test_id(f"ack-comment-{raised.high}")).to_have_value("checking the drive")
    # …so the page still offers the acknowledgement, and the server refuses it, saying why.
    page.get_by_test_id(f"ack-{raised.high}").click()
    problem = page.get_by_test_id(f"ack-problem-{raised.high}")
    expect(problem).to_contain_text("409")
    expect(problem).to_contain_text("nothing to acknowledge")
    shoot(page, "alarms-refused")


def test_the_history_is_searched_in_plant_time_and_exported_as_csv(
    plant: Hmi, engine: Engine, raised: Raised, line: Line
) -> None:
    # Two alarms of a March morning: raised 08:00 and 10:00 UTC, 09:00 and 11:00 in Berlin (UTC+1).
    with session_scope(engine) as s:
        early = alarms.raise_alarm(s, "unit:sputter-1:arc", "arc at nine", priority=AlarmPriority.MEDIUM,
                                   unit_id=unit_id(s, "sputter-1"))  # fmt: skip
        late = alarms.raise_alarm(s, "unit:sputter-1:arc2", "arc at eleven", priority=AlarmPriority.HIGH,
                                  unit_id=unit_id(s, "sputter-1"))  # fmt: skip
        for alarm, hour in ((early, 8), (late, 10)):
            alarm.raised_at = datetime(2026, 3, 10, hour, tzinfo=UTC)
            s.add(alarm)
        alarms.acknowledge(s, pk(early), by="engineer-person", comment="target changed")
        ids = {"early": pk(early), "late": pk(late)}
    page = plant.page(Role.QUALITY, "/alarms/history", width=1920, height=1080)
    expect(page.locator("[data-testid=history-table] tbody tr")).to_have_count(5)
    shoot(page, "alarm-history")
    # 09:30 to 11:30 plant time is 08:30 to 10:30 UTC: only the alarm raised at 11:00 in Berlin.
    page.get_by_test_id("filter-since").fill("2026-03-10T09:30")
    page.get_by_test_id("filter-until").fill("2026-03-10T11:30")
    page.get_by_test_id("filter-apply").click()
    expect(page.locator("[data-testid=history-table] tbody tr")).to_have_count(1)
    expect(page.get_by_test_id(f"history-{ids['late']}")).to_be_visible()
    expect(page.get_by_test_id("history-bounds").locator("time").first).to_have_attribute(
        "title", "2026-03-10T08:30:00Z UTC"
    )
    # The whole morning, by unit and priority.
    page.get_by_test_id("filter-since").fill("2026-03-10T08:00")
    page.get_by_test_id("filter-unit").select_option("sputter-1")
    page.get_by_test_id("filter-priority-medium").check()
    page.get_by_test_id("filter-apply").click()
    expect(page.locator("[data-testid=history-table] tbody tr")).to_have_count(1)
    expect(page.get_by_test_id(f"history-{ids['early']}")).to_be_visible()
    # Who acknowledged: alone, it finds that person's acknowledgements at any time.
    page.goto("/alarms/history?acknowledged_by=engineer-person")
    expect(page.locator("[data-testid=history-table] tbody tr")).to_have_count(1)
    expect(page.get_by_test_id(f"history-ack-{ids['early']}")).to_contain_text("target changed")
    page.goto("/alarms/history?acknowledged_by=operator-person")
    expect(page.get_by_test_id(f"history-{raised.low}")).to_be_visible()
    expect(page.locator("[data-testid=history-table] tbody tr")).to_have_count(1)

    # The CSV has the rows the page shows, with the same filters (times in UTC).
    page.goto("/alarms/history?since=2026-03-10T08:00&until=2026-03-10T11:30&unit=sputter-1")
    expect(page.locator("[data-testid=history-table] tbody tr")).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_test_id("history-csv").click()
    rows = list(csv.DictReader(download.value.path().open(encoding="utf-8")))
    assert [int(r["id"]) for r in rows] == [ids["late"], ids["early"]]
    assert [r["raised_at"] for r in rows] == ["2026-03-10T10:00:00Z", "2026-03-10T08:00:00Z"]
    assert rows[1]["acknowledged_by"] == "engineer-person"

    # A time the clock skips (summer time starts 29 March, 02:00 → 03:00) is refused, saying why.
    page.goto("/alarms/history?since=2026-03-29T02:30")
    expect(page.get_by_test_id("filter-problem-since")).to_contain_text("does not exist in Europe/Berlin")


def test_every_role_may_acknowledge_and_shelve(plant: Hmi, raised: Raised) -> None:
    for role in (Role.QUALITY, Role.ADMIN):
        page = plant.page(role, "/alarms")
        expect(page.get_by_test_id(f"ack-{raised.urgent}")).to_be_visible()
        expect(page.get_by_test_id(f"shelve-{raised.urgent}")).to_be_visible()


def test_an_alarm_that_does_not_exist_is_a_page_that_says_so(plant: Hmi) -> None:
    page = plant.page(Role.OPERATOR, "/alarms")
    page.goto("/alarms/424242")
    expect(page.get_by_test_id("error-page")).to_contain_text("no alarm 424242")
