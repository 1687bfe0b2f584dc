"""Work orders: idempotency keys, listing, showing, cancelling (services on both backends, and the CLI)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from mes.audit.models import AuditEvent
from mes.db import session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.profile import Line, load_line
from mes.execution.scheduler import schedule, sync_units
from mes.lots.errors import OrderNotFound, OrderRefused
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState, WorkOrder, WorkOrderState
from mes.lots.order_cancel import cancel_order
from mes.lots.order_queries import list_orders, order_detail
from mes.lots.orders import expand_order, place_order
from tests.services import free_port
from tests.test_cli import assert_one_line_error, run_mes

ROOT = Path(__file__).resolve().parents[2]
LINE = ROOT / "deploy" / "line.yaml"


@pytest.fixture
def line() -> Line:
    return load_line(LINE)


@pytest.fixture
def prepared(engine: Engine, line: Line) -> Engine:
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as session:
        sync_units(session, line)
    return engine


def _count_orders(engine: Engine) -> int:
    with session_scope(engine) as session:
        return len(session.exec(select(WorkOrder)).all())


def test_an_idempotency_key_makes_one_order(prepared: Engine, line: Line) -> None:
    ask = {"by": ENGINEER, "line": line, "lot_size": 30.0, "idempotency_key": "erp-4711"}
    with session_scope(prepared) as session:
        first = place_order(session, "cathode-lco@1", 2, **ask)  # type: ignore[arg-type]
    assert first.created and first.order.idempotency_key == "erp-4711"
    assert (first.order.lot_size, first.order.lot_size_unit) == (30.0, "m")
    # Expected: the same key and the same request return the same order; nothing new is made.
    with session_scope(prepared) as session:
        again = place_order(session, "cathode-lco@1", 2, **ask)  # type: ignore[arg-type]
    assert not again.created and again.order.number == first.order.number
    assert _count_orders(prepared) == 1
    # Expected: the same key for another request is refused, naming the order the key made.
    for ref, lots, what in (("cathode-lco@1", 3, "lots 3 (it has 2)"),
                            ("capped-si-anode@1", 2, "recipe capped-si-anode@1 (it has cathode-lco@1)")):  # fmt: skip
        with (
            pytest.raises(OrderRefused, match=rf"{first.order.number}.*{re.escape(what)}"),
            session_scope(prepared) as s,
        ):
            place_order(s, ref, lots, **ask)  # type: ignore[arg-type]
    assert _count_orders(prepared) == 1
    with session_scope(prepared) as session:
        other = place_order(session, "cathode-lco@1", 2, **{**ask, "idempotency_key": "erp-4712"})  # type: ignore[arg-type]
        plain = place_order(session, "cathode-lco@1", 2, by=ENGINEER, line=line)
    assert other.created and plain.created and plain.order.idempotency_key is None
    # The table itself refuses a second order with the key (the migration's unique constraint).
    with pytest.raises(IntegrityError), session_scope(prepared) as session:
        row = session.exec(select(WorkOrder).where(WorkOrder.number == plain.order.number)).one()
        row.idempotency_key = "erp-4711"
        session.flush()
    with pytest.raises(OrderRefused, match="1 to 200 printable"), session_scope(prepared) as session:
        place_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line, idempotency_key=" ")


# PostgreSQL only: on SQLite one writer at a time means the second request sees the first's order.
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_one_key_sent_twice_at_once_makes_one_order(prepared: Engine, line: Line) -> None:
    errors: list[BaseException] = []
    with session_scope(prepared) as first:
        place_order(first, "cathode-lco@1", 1, by=ENGINEER, line=line, idempotency_key="twice")

        def second() -> None:
            try:
                with session_scope(prepared) as session:
                    place_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line, idempotency_key="twice")
            except BaseException as exc:  # noqa: BLE001 - handed to the test thread
                errors.append(exc)

        thread = threading.Thread(target=second)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive()  # waits on the first request's uncommitted key
    thread.join(10)
    # Expected: the second is refused (run again, it gets the order); one order exists.
    assert len(errors) == 1 and isinstance(errors[0], OrderRefused), errors
    assert "run the same command again" in str(errors[0])
    assert _count_orders(prepared) == 1


def test_list_and_show_orders(prepared: Engine, line: Line) -> None:
    with session_scope(prepared) as session:
        anode = place_order(session, "capped-si-anode@1", 2, by=ENGINEER, line=line).order
        cathode = place_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line).order
        expand_order(session, session.exec(select(WorkOrder).where(WorkOrder.number == anode.number)).one())
        schedule(session, line)
    with session_scope(prepared) as session:
        assert [o.number for o in list_orders(session)] == [cathode.number, anode.number]
        assert [o.number for o in list_orders(session, states=[WorkOrderState.RUNNING])] == [anode.number]
        assert [o.number for o in list_orders(session, recipe="cathode-lco")] == [cathode.number]
        assert list_orders(session, recipe="cathode-lco@2") == []
        detail = order_detail(session, anode.number)
        with pytest.raises(OrderNotFound, match="no work order WO-NOPE"):
            order_detail(session, "WO-NOPE")
    assert detail.state == WorkOrderState.RUNNING and detail.lots_created == 2
    assert [lot.status for lot in detail.lots] == [LotStatus.IN_PROCESS, LotStatus.IN_PROCESS]
    assert [[s.name for s in lot.steps] for lot in detail.lots] == [["si-active", "cu-cap"]] * 2
    # Each lot's first step went to one of the two sputter units; the second steps wait.
    assert sorted(lot.steps[0].unit or "" for lot in detail.lots) == ["sputter-1", "sputter-2"]
    assert [lot.steps[1].unit for lot in detail.lots] == [None, None]
    assert detail.cancelled is None


def test_cancel_an_order_before_production(prepared: Engine, line: Line) -> None:
    with session_scope(prepared) as session:
        order = place_order(session, "cathode-lco@1", 2, by=ENGINEER, line=line).order
        never_sent = place_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line).order
        expand_order(session, session.exec(select(WorkOrder).where(WorkOrder.number == order.number)).one())
        # All units taken: nothing of this order may be dispatched while it is cancelled.
        session.execute(sa.text("UPDATE equipment_unit SET healthy = false"))
    with pytest.raises(OrderRefused, match="say why"), session_scope(prepared) as session:
        cancel_order(session, order.number, by=ENGINEER, reason=" ")
    with session_scope(prepared) as session:
        done = cancel_order(session, order.number, by=ENGINEER, reason="customer withdrew")
    assert not done.already and done.steps_aborted == 2 and len(done.lots_cancelled) == 2
    with session_scope(prepared) as session:
        detail = order_detail(session, order.number)
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "order.cancel")).one()
    assert detail.state == WorkOrderState.ABORTED and detail.ended_at is not None
    assert {lot.status for lot in detail.lots} == {LotStatus.CANCELLED}
    assert {s.state for lot in detail.lots for s in lot.steps} == {StepRunState.ABORTED}
    assert detail.cancelled is not None and detail.cancelled.by == ENGINEER
    assert event.reason == "customer withdrew" and event.entity_id == order.number
    # Expected: a second cancel changes nothing and says who cancelled it.
    with session_scope(prepared) as session:
        again = cancel_order(session, order.number, by=ENGINEER, reason="again")
        assert again.already and again.cancellation.reason == "customer withdrew"
        assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "order.cancel")).all()) == 1
    # An order whose dispatch message was never taken is cancelled before it has lots; expanding it
    # afterwards (a late dispatch, the reconciler) makes none.
    with session_scope(prepared) as session:
        cancel_order(session, never_sent.number, by=ENGINEER, reason="duplicate")
    with session_scope(prepared) as session:
        assert order_detail(session, never_sent.number).lots == []
        orders = list_orders(session, states=[WorkOrderState.READY, WorkOrderState.RUNNING])
        assert never_sent.number not in [o.number for o in orders]


def test_cancel_is_refused_once_production_started(prepared: Engine, line: Line) -> None:
    with session_scope(prepared) as session:
        order = place_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line).order
        expand_order(session, session.exec(select(WorkOrder).where(WorkOrder.number == order.number)).one())
        [item] = schedule(session, line)
    # Expected: refused naming the step and its unit; nothing changed.
    with (
        pytest.raises(
            OrderRefused, match=r"production has started \(step WO-.*-L01-S0-1 is dispatched on coater-1"
        ),
        session_scope(prepared) as session,
    ):
        cancel_order(session, order.number, by=ENGINEER, reason="too late")
    with session_scope(prepared) as session:
        assert order_detail(session, order.number).state == WorkOrderState.RUNNING
        assert session.exec(select(Lot.status)).all().count(LotStatus.CANCELLED) == 0
        assert session.get(StepRun, item.step_run_id).state == StepRunState.DISPATCHED  # type: ignore[union-attr]


# --- the command line, as a user runs it ------------------------------------------------------------------


@pytest.fixture
def cli_env(prepared: Engine, db_url: str) -> dict[str, str]:
    return {
        "MES_DATABASE_URL": db_url,
        "MES_LINE_CONFIG": str(LINE),
        # A broker nobody answers on.
        "MES_BROKER_URL": f"redis://:hunter2@127.0.0.1:{free_port()}/0",
    }


def test_order_create_with_the_broker_away_prints_the_saved_order(
    cli_env: dict[str, str], prepared: Engine, broker: str, tmp_path: Path
) -> None:
    create = ("order", "create", "--recipe", "cathode-lco@1", "--lots", "1", "--by", ENGINEER)
    result = run_mes(*create, env=cli_env, cwd=tmp_path)
    # Expected: the committed order's number on stdout; one line naming MES_BROKER_URL (password masked)
    # and the reconciler; exit 75, not 70 "internal error" with no number (as before).
    with session_scope(prepared) as session:
        [number] = session.exec(select(WorkOrder.number)).all()
    assert result.returncode == 75, result
    assert f"work order {number}" in result.stdout
    [line] = result.stderr.strip().splitlines()
    assert "internal error" not in line and "Traceback" not in result.stderr
    for needle in (number, "MES_BROKER_URL", "redis://:***@127.0.0.1", "reconciler dispatches it"):
        assert needle in line
    assert "hunter2" not in line
    # The reconciler, once the broker is back, makes the order's lots.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    env.update({**cli_env, "MES_BROKER_URL": broker})
    subprocess.run([sys.executable, "-c", "from workers.tasks import reconcile; reconcile()"],
                   env=env, cwd=tmp_path, check=True, timeout=60)  # fmt: skip
    with session_scope(prepared) as session:
        order = session.exec(select(WorkOrder)).one()
        assert order.lots_created == 1 and order.state == WorkOrderState.RUNNING
        assert session.exec(select(StepRun).where(col(StepRun.state) == StepRunState.DISPATCHED)).all()


def test_order_create_with_an_idempotency_key(
    cli_env: dict[str, str], prepared: Engine, tmp_path: Path
) -> None:
    create = ("order", "create", "--recipe", "cathode-lco@1", "--lots", "1", "--by", ENGINEER,
              "--idempotency-key", "shift-2-order-7")  # fmt: skip
    first = run_mes(*create, env=cli_env, cwd=tmp_path)
    assert first.returncode == 75, first  # saved; the broker is away
    with session_scope(prepared) as session:
        [number] = session.exec(select(WorkOrder.number)).all()
    # Expected: the retry prints the same order, exit 0, nothing new made.
    again = run_mes(*create, env=cli_env, cwd=tmp_path)
    assert again.returncode == 0, again
    assert f"work order {number}" in again.stdout and "nothing new made" in again.stdout
    assert _count_orders(prepared) == 1
    # Expected: the key with another content is refused, naming the order it made (exit 2: the key
    # cannot be used for this request, as the API's 422).
    other = run_mes(*create[:5], "2", *create[6:], env=cli_env, cwd=tmp_path)
    assert_one_line_error(other, "shift-2-order-7", number, "lots 2 (it has 1)", code=2)
    assert _count_orders(prepared) == 1


def test_order_list_show_cancel_commands(
    cli_env: dict[str, str], prepared: Engine, line: Line, tmp_path: Path
) -> None:
    with session_scope(prepared) as session:
        running = place_order(session, "capped-si-anode@1", 1, by=ENGINEER, line=line).order
        waiting = place_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line).order
        expand_order(session, session.exec(select(WorkOrder).where(WorkOrder.number == running.number)).one())
        schedule(session, line)
    listed = json.loads(run_mes("order", "list", "--json", env=cli_env, cwd=tmp_path).stdout)
    assert [o["number"] for o in listed] == [waiting.number, running.number]
    assert set(listed[0]) >= {"number", "recipe", "state", "lots_requested", "lots_created", "created_at"}
    ready = run_mes(
        "order", "list", "--state", "ready", "--recipe", "cathode-lco", "--json", env=cli_env, cwd=tmp_path
    )
    assert [o["number"] for o in json.loads(ready.stdout)] == [waiting.number]
    shown = json.loads(run_mes("order", "show", running.number, "--json", env=cli_env, cwd=tmp_path).stdout)
    [lot] = shown["lots"]
    assert lot["status"] == "in_process"
    assert [(s["name"], s["state"], s["unit"]) for s in lot["steps"]] == [
        ("si-active", "dispatched", "sputter-1"), ("cu-cap", "pending", None)]  # fmt: skip
    text = run_mes("order", "show", running.number, env=cli_env, cwd=tmp_path).stdout
    assert "step 0 si-active: dispatched on sputter-1" in text
    refused = run_mes(
        "order", "cancel", running.number, "--by", ENGINEER, "--reason", "x", env=cli_env, cwd=tmp_path
    )
    assert_one_line_error(refused, "production has started", "sputter-1")
    cancel = ("order", "cancel", waiting.number, "--by", ENGINEER, "--reason", "planning changed")
    done = run_mes(*cancel, env=cli_env, cwd=tmp_path)
    assert done.returncode == 0 and f"work order {waiting.number} cancelled" in done.stdout
    again = run_mes(*cancel, env=cli_env, cwd=tmp_path)
    assert (
        again.returncode == 0 and "already cancelled" in again.stdout and "planning changed" in again.stdout
    )
    assert_one_line_error(
        run_mes("order", "show", "WO-NOPE", env=cli_env, cwd=tmp_path), "no work order WO-NOPE"
    )


def test_a_step_move_the_broker_does_not_take_names_the_broker_and_the_reconciler(tmp_path: Path) -> None:
    """The same kind as order create: `mes step resume` commits, then sends the step's move; with the
    broker away that ended in "internal error" (kombu's OperationalError, exit 70)."""
    code = (
        "from mes.execution.scheduler import Enqueue\n"
        "from mes.cli.app import exit_code\n"
        "from workers.tasks import send_steps\n"
        "try:\n"
        "    send_steps([Enqueue(7, 'chain', 'unit.sputter-1')], 'step J-7 resume')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exit_code(exc), exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MES_")}
    env.update(
        {"MES_BROKER_URL": "redis://:hunter2@127.0.0.1:1/0", "MES_RESULT_BACKEND": "redis://127.0.0.1:1/0"}
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                            timeout=60, check=True)  # fmt: skip
    # Expected: BrokerUnreachable (exit 75) naming the step, MES_BROKER_URL with the password masked,
    # and the reconciler.
    assert result.stdout.startswith("BrokerUnreachable 75 step J-7 resume is saved but was not sent"), result
    for needle in ("MES_BROKER_URL redis://:***@127.0.0.1:1/0", "reconciler sends it"):
        assert needle in result.stdout
    assert "hunter2" not in result.stdout
