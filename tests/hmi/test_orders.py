"""The work order pages in a browser: place an order from a released recipe (and see a broker that did
not take it said so), the list with job order states, metres and ETA, pause / resume / abort / cancel
with a reason and a confirmation where the state allows, a refused command's reason, one order with
its lots and steps following step events, and what each role is shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import expect
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mes.audit.models import AuditEvent
from mes.auth.models import Role
from mes.db import session_scope
from mes.equipment.profile import Line
from mes.execution.order_control import abort_order
from mes.lots.models import StepRun, StepRunState, WorkOrder
from tests.api.broker import celery_broker, sending_broker
from tests.hmi.conftest import Hmi, shoot
from tests.hmi.ops import OPERATOR, SI, confirm, line, place, plant, run_first_step
from tests.services import ServiceUrls

__all__ = ["line", "plant"]  # fixtures
AWAY = "redis://127.0.0.1:1/0"  # nothing listens there


@pytest.fixture
def broker(services: ServiceUrls) -> Iterator[redis.Redis]:
    """The suite's Redis database as the broker; the test reads what was sent from it."""
    with sending_broker(services) as client:
        yield client


def test_an_order_is_placed_from_a_released_recipe(plant: Hmi, engine: Engine, broker: redis.Redis) -> None:
    page = plant.page(Role.OPERATOR, "/orders", width=1920, height=1080)
    form = page.get_by_test_id("new-order-form")
    expect(form).to_be_visible()  # no order yet: the form is open
    options = page.get_by_test_id("new-order-recipe").locator("option").all_inner_texts()
    assert any(o.startswith(f"{SI} · ") for o in options)
    page.get_by_test_id("new-order-recipe").select_option(SI)
    # A lot size the recipe does not allow is refused by the server, saying why, in the form.
    page.get_by_test_id("new-order-lots").fill("2")
    page.get_by_test_id("new-order-lot-size").fill("5000")
    page.get_by_test_id("new-order-submit").click()
    confirm(page, "Place this work order?")
    problem = page.get_by_test_id("new-order-problem")
    expect(problem).to_contain_text("409")
    expect(problem).to_contain_text("lot size 5000 is outside")
    shoot(page, "orders-new-refused")
    # A number that is not exactly one is sent as typed and refused, never cut: "1e3" lots was sent
    # as 1 lot (parseInt), a priority of 1e308 as 1.
    page.get_by_test_id("new-order-lots").fill("1e3")
    page.get_by_test_id("new-order-lot-size").fill("12.5")
    page.get_by_test_id("new-order-submit").click()
    confirm(page, "Place this work order?")
    expect(problem).to_contain_text("422")
    expect(problem.locator(".field-problem")).to_contain_text("lots: Input should be a valid integer")
    with session_scope(engine) as s:
        assert s.exec(select(WorkOrder)).all() == []
    page.get_by_test_id("new-order-lots").fill("2")
    page.get_by_test_id("new-order-lot-size").fill("12.5")
    page.get_by_test_id("new-order-priority").fill("7")
    page.get_by_test_id("new-order-submit").click()
    confirm(page, "Place this work order?")
    expect(page.get_by_test_id("order-number")).to_be_visible()
    number = page.get_by_test_id("order-number").inner_text()
    expect(page).to_have_url(plant.url(f"/orders/{number}?sent=true"))
    expect(page.get_by_test_id("order-job-state")).to_have_text("AllowedToStart")
    expect(page.get_by_test_id("order-not-sent")).to_have_count(0)
    assert broker.llen("dispatch") == 1  # handed to the dispatcher once
    with session_scope(engine) as s:
        order = s.exec(select(WorkOrder).where(WorkOrder.number == number)).one()
        assert (order.lots_requested, order.lot_size, order.priority, order.created_by) == (
            2,
            12.5,
            7,
            OPERATOR,
        )
        assert order.idempotency_key  # the page sent one


def test_an_order_the_broker_did_not_take_is_said_to_be_saved_not_sent(plant: Hmi) -> None:
    page = plant.page(Role.ENGINEER, "/orders")
    page.get_by_test_id("new-order-recipe").select_option(SI)
    with celery_broker(AWAY):
        page.get_by_test_id("new-order-submit").click()
        confirm(page, "Place this work order?")
        expect(page.get_by_test_id("order-not-sent")).to_be_visible()
    notice = page.get_by_test_id("order-not-sent")
    expect(notice).to_contain_text("Saved, not sent")
    expect(notice).to_contain_text("the reconciler sends it once the broker is back")
    expect(notice).to_contain_text("Do not send this request again")
    expect(page.get_by_test_id("order-job-state")).to_have_text("AllowedToStart")
    shoot(page, "order-not-sent")
    page.get_by_test_id("nav-orders").click()
    expect(page.locator("#order-list tbody tr")).to_have_count(1)


def test_the_list_shows_states_progress_and_the_commands_each_state_allows(
    plant: Hmi, engine: Engine, line: Line
) -> None:
    waiting = place(engine, line, start=False)
    ready = place(engine, line)
    running = place(engine, line, lots=2, lot_size=10)
    job = run_first_step(engine, line, running, made_m=[0.5, 2.5])
    ended = place(engine, line)
    with session_scope(engine) as s:
        abort_order(s, ended, by=OPERATOR, reason="planning changed")
    page = plant.page(Role.OPERATOR, "/orders", width=1920, height=1080)
    states = {waiting: ("NotAllowedToStart", "waiting"), ready: ("AllowedToStart", "ready"),
              running: ("Running", "running"), ended: ("Aborted", "aborted")}  # fmt: skip
    for number, (job_state, own) in states.items():
        expect(page.get_by_test_id(f"order-job-state-{number}")).to_have_text(job_state)
        expect(page.get_by_test_id(f"order-state-{number}")).to_have_text(own)
    # Metres made of the running roll (its gauge measured up to 2.5 m of 10 m), the unit it runs on.
    roll = page.get_by_test_id(f"order-roll-{job}")
    expect(roll).to_contain_text("2.5 m of 10.0 m")
    expect(page.get_by_test_id(f"order-progress-{running}")).to_contain_text("0 of 4 steps done")
    expect(page.get_by_test_id(f"order-progress-{running}")).to_contain_text("sputter-1")
    # The commands each state allows, and only those.
    allowed = {waiting: {"start", "cancel", "abort"}, ready: {"cancel", "abort"},
               running: {"pause", "abort"}, ended: set()}  # fmt: skip
    for number, actions in allowed.items():
        for action in ("start", "pause", "resume", "cancel", "abort"):
            expect(page.get_by_test_id(f"{action}-{number}")).to_have_count(1 if action in actions else 0)
    shoot(page, "orders-list")
    page.get_by_test_id("state-running").click()
    expect(page.locator("#order-list tbody tr")).to_have_count(1)
    expect(page.get_by_test_id(f"order-{running}")).to_be_visible()
    page.get_by_test_id("state-open").click()
    expect(page.locator("#order-list tbody tr")).to_have_count(3)


def test_pause_resume_and_abort_ask_for_a_reason_and_a_confirmation(
    plant: Hmi, engine: Engine, line: Line
) -> None:
    number = place(engine, line, lots=1)
    run_first_step(engine, line, number)
    page = plant.page(Role.OPERATOR, "/orders")
    page.get_by_test_id(f"pause-{number}").click()
    page.get_by_test_id(f"pause-reason-{number}").fill("slitter jam downstream")
    page.get_by_test_id(f"pause-submit-{number}").click()
    # Cancelling the confirmation sends nothing.
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text("units of its running steps are held")
    page.get_by_test_id("confirm-cancel").click()
    expect(page.get_by_test_id(f"order-state-{number}")).to_have_text("running")
    page.get_by_test_id(f"pause-submit-{number}").click()
    confirm(page, f"Pause work order {number}?")
    expect(page.get_by_test_id(f"order-job-state-{number}")).to_have_text("Interrupted")
    expect(page.get_by_test_id(f"order-state-{number}")).to_have_text("suspended")
    expect(page.get_by_test_id(f"order-progress-{number}")).to_contain_text("paused")

    page.get_by_test_id(f"resume-{number}").click()
    page.get_by_test_id(f"resume-reason-{number}").fill("jam cleared")
    page.get_by_test_id(f"resume-submit-{number}").click()
    confirm(page, f"Resume work order {number}?")
    expect(page.get_by_test_id("order-job-state")).to_have_text("Running")  # on the order's page

    page.get_by_test_id(f"abort-{number}").click()
    page.get_by_test_id(f"abort-reason-{number}").fill("customer withdrew the order")
    page.get_by_test_id(f"abort-submit-{number}").click()
    confirm(page, f"Abort work order {number}?")
    expect(page.get_by_test_id("order-job-state")).to_have_text("Aborted")
    expect(page.get_by_test_id(f"abort-{number}")).to_have_count(0)
    with session_scope(engine) as s:
        reasons = [e.reason for e in _order_events(s, number)]
    assert reasons == ["", "slitter jam downstream", "jam cleared", "customer withdrew the order"]


def _order_events(s: Session, number: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.entity_id == number, col(AuditEvent.action).like("order.%"))
    return list(s.exec(query.order_by(col(AuditEvent.id))).all())


def test_a_cancel_the_order_has_outrun_is_refused_with_the_reason(
    plant: Hmi, engine: Engine, line: Line
) -> None:
    number = place(engine, line)
    page = plant.page(Role.OPERATOR, "/orders")
    page.get_by_test_id(f"cancel-{number}").click()
    page.get_by_test_id(f"cancel-reason-{number}").fill("planning changed")
    # Meanwhile someone else aborts it; the open form keeps the list from being redrawn under the hand.
    with session_scope(engine) as s:
        abort_order(s, number, by="engineer-person", reason="wrong recipe")
    page.get_by_test_id(f"cancel-submit-{number}").click()
    confirm(page, f"Cancel work order {number}?")
    problem = page.get_by_test_id(f"cancel-problem-{number}")
    expect(problem).to_contain_text("409")
    expect(problem).to_contain_text(f"work order {number} is aborted; there is nothing to cancel")
    shoot(page, "orders-refused")
    # Once the form is closed the list catches up with the abort.
    page.get_by_test_id(f"cancel-reason-{number}").fill("")
    page.get_by_test_id(f"cancel-{number}").click()
    expect(page.get_by_test_id(f"order-job-state-{number}")).to_have_text("Aborted")


def test_one_order_shows_its_lots_and_steps_and_follows_them(plant: Hmi, engine: Engine, line: Line) -> None:
    number = place(engine, line, lots=2, lot_size=10)
    job = run_first_step(engine, line, number, made_m=[4.0])
    page = plant.page(Role.OPERATOR, f"/orders/{number}", width=1920, height=1080)
    expect(page.get_by_test_id("order-job-state")).to_have_text("Running")
    lots = page.locator("[data-testid^=lot-link-]")
    expect(lots).to_have_count(2)
    first_lot = lots.first.inner_text()
    expect(lots.first).to_have_attribute("href", f"/lots/{first_lot}")
    expect(page.get_by_test_id(f"step-state-{job}")).to_have_text("running")
    expect(page.get_by_test_id(f"step-unit-{job}")).to_have_attribute("href", "/units/sputter-1")
    expect(page.get_by_test_id(f"step-roll-{job}")).to_contain_text("4.0 m of 10.0 m")
    expect(page.get_by_test_id("order-recipe")).to_have_attribute("href", f"/recipes/{SI}")
    shoot(page, "order-detail")
    # The step completes (the unit reported Complete): the page follows without a reload.
    with session_scope(engine) as s:
        step = s.exec(select(StepRun).where(StepRun.job_id == job)).one()
        step.state = StepRunState.COMPLETED
        s.add(step)
    expect(page.get_by_test_id(f"step-state-{job}")).to_have_text("completed")
    expect(page.get_by_test_id(f"step-roll-{job}")).to_contain_text("10.0 m of 10.0 m")
    expect(page.get_by_test_id("order-steps-done")).to_have_text("1 of 4 steps done")


def test_quality_sees_orders_but_is_not_offered_to_steer_them(plant: Hmi, engine: Engine, line: Line) -> None:
    number = place(engine, line)
    page = plant.page(Role.QUALITY, "/orders")
    expect(page.get_by_test_id(f"order-{number}")).to_be_visible()
    expect(page.get_by_test_id("new-order")).to_have_count(0)
    for action in ("start", "pause", "resume", "cancel", "abort"):
        expect(page.get_by_test_id(f"{action}-{number}")).to_have_count(0)
    page.get_by_test_id(f"order-link-{number}").click()
    expect(page.get_by_test_id("order-job-state")).to_have_text("AllowedToStart")
    expect(page.get_by_test_id(f"cancel-{number}")).to_have_count(0)
    # The server refuses it anyway: quality does not steer orders.
    answer = page.request.post(f"/api/v1/orders/{number}:cancel", data={"reason": "x"},
                               headers={"X-CSRF-Token": page.locator("meta[name=mes-csrf]").get_attribute("content") or ""})  # fmt: skip
    assert answer.status == 403 and "operator" in answer.json()["detail"]
    admin = plant.page(Role.ADMIN, "/orders")
    expect(admin.get_by_test_id(f"cancel-{number}")).to_be_visible()
    expect(admin.get_by_test_id("new-order")).to_be_visible()
