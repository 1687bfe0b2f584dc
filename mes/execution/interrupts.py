"""What a step's chain does on its unit when its order is paused, resumed or aborted, or its lot held.

::

    order paused ──pause_order()──▶ step.pause_requested_at ──chain: Hold (confirmed)──▶ unit Held
                                                                 step.unit_held_at (seen Held)
    order resumed ─resume_order()─▶ chain: Unhold (confirmed) ──▶ unit Execute; both cleared,
                                                                 the time held added to held_s
    order aborted ─abort_order()──▶ chain: Abort (confirmed) ──▶ step aborted, unit lease freed

The person's request is a row (the order's state, the step's ``pause_requested_at``); the step's
own chain acts on it in its next move and records what it saw by compare-and-set under its chain
token, as every other move does, so a killed worker or a lost message changes nothing: the next
chain reads the same rows and the unit's state and carries on. A Hold is sent only for a step whose
row already says the pause reached it, so the Unhold it owes is never forgotten. Hold is accepted
in Execute only (Starting, Completing, … are waited out); a roll that is Complete, or Completing,
when its order is aborted completes (it is made), its lot held for quality.
"""

from __future__ import annotations

from sqlmodel import Session

from mes.base import utcnow
from mes.equipment.driver import UnitDriver
from mes.equipment.profile import Command, PackMLState
from mes.execution.scheduler import ACTIVE, StepPlan, release_lease, transition
from mes.lots.models import Lot, LotStatus, StepRun, StepRunState

S = PackMLState
# The unit has stopped making the roll (or never started it): nothing to command for an abort.
NOT_MAKING = frozenset({S.ABORTING, S.ABORTED, S.STOPPING, S.STOPPED, S.IDLE, S.CLEARING, S.RESETTING})


def hold_wanted(plan: StepPlan) -> bool:
    """Whether the step's unit is to be Held now: its order is paused (and the row says the pause
    reached the step), or its lot is held and the recipe step says ``on_lot_hold: hold``."""
    return (plan.order_paused and plan.pause_requested) or (plan.lot_held and plan.on_lot_hold == "hold")


def may_hold(plan: StepPlan) -> bool:
    """Whether the MES holds (or held, and owes an Unhold to) this step's unit."""
    return plan.on_lot_hold == "hold" or plan.pause_requested or plan.unit_held


async def hold_or_unhold(
    driver: UnitDriver, plan: StepPlan, state: PackMLState
) -> tuple[PackMLState, str | None]:
    """Hold or Unhold the unit as :func:`hold_wanted` says (each command confirmed by the state it
    leads to, :class:`CommandNotConfirmed` otherwise). Returns the unit's state and ``"held"`` (it is
    Held, as wanted), ``"released"`` (no hold is wanted any more and the unit is not, or no longer,
    Held: the pause is over on it) or None (nothing to record yet)."""
    if hold_wanted(plan):
        if state == S.EXECUTE:
            state = await driver.command(Command.HOLD)
        return state, "held" if state == S.HELD else None
    if state == S.HELD:
        return await driver.command(Command.UNHOLD), "released"
    if (plan.pause_requested or plan.unit_held) and state != S.HOLDING:
        return state, "released"
    return state, None  # Holding: Unhold is accepted once it is Held


async def abort_for_order(driver: UnitDriver, plan: StepPlan, state: PackMLState) -> str | None:
    """The step of an aborted order: its unit commanded Abort (confirmed), unless it has stopped
    making the roll already; returns why the step ends aborted. None when the roll is Complete or
    Completing: it is made, and completes."""
    if state in (S.COMPLETE, S.COMPLETING):
        return None
    if state in NOT_MAKING:
        return f"its work order was aborted; {plan.unit} was {state}"
    now = await driver.command(Command.ABORT)
    return f"its work order was aborted; {plan.unit} commanded Abort ({now})"


def hold_values(session: Session, plan: StepPlan, hold: str | None) -> dict[str, object]:
    """Columns a move writes about pause and hold, under its chain token: the pause reaching the
    step (before any Hold is sent for it), the unit seen Held, the hold over (time held counted)."""
    values: dict[str, object] = {}
    now = utcnow()
    if plan.order_paused and not plan.pause_requested:
        values["pause_requested_at"] = now
    if hold == "held" and not plan.unit_held:
        values["unit_held_at"] = now
    elif hold == "released":
        step = session.get(StepRun, plan.step_run_id)
        if step is not None and step.unit_held_at is not None:
            values["held_s"] = step.held_s + max(0.0, (now - step.unit_held_at).total_seconds())
        values["unit_held_at"] = None
        if not plan.order_paused:
            values["pause_requested_at"] = None
    return values


def end_aborted(session: Session, plan: StepPlan, reason: str, values: dict[str, object]) -> bool:
    """Record a step of an aborted order as aborted: lease freed, its lot held for quality (what was
    made of it is not released). False when another chain moved the step first."""
    if not transition(
        session,
        plan.step_run_id,
        plan.chain_token,
        ACTIVE,
        state=StepRunState.ABORTED,
        ended_at=utcnow(),
        error=reason,
        chain_token=None,
        **values,
    ):
        return False
    release_lease(session, plan.unit_id, plan.step_run_id)
    lot = session.get(Lot, plan.lot_id)
    if lot is not None and lot.status in (LotStatus.PLANNED, LotStatus.IN_PROCESS):
        lot.status, lot.updated_at = LotStatus.ON_HOLD, utcnow()
        session.add(lot)
    session.flush()
    return True
