"""Drive one step on its unit (async, no database) and record what happened (sync, no equipment).

A task alternates the two: read the plan in one short transaction, talk to the
unit, write the observation in another short transaction under the same chain
token. Nothing here holds a database lock while it waits for a machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from sqlmodel import Session, select

from mes.base import utcnow
from mes.equipment.driver import ScanRecord, UnitDriver
from mes.equipment.errors import BadState, CommandRefused, LimitViolation
from mes.equipment.jobs import bring_to_idle, start_once
from mes.equipment.models import EquipmentUnit
from mes.equipment.profile import Command, Line, PackMLState
from mes.lots.execution import (
    Enqueue,
    StepPlan,
    finish_lot,
    release_lease,
    schedule,
    transition,
)
from mes.lots.models import Characteristic, Layer, Lot, LotStatus, StepRun, StepRunState
from mes.lots.scans import insert_scans, scan_row, stored_seqs
from mes.quality.alarms import raise_alarm
from mes.quality.models import AlarmPriority
from mes.quality.monitor import check_rules
from mes.quality.spec import Excursion, close_layer, excursions, merge_excursions

S = PackMLState
RUNNING_STATES = {
    S.STARTING,
    S.EXECUTE,
    S.COMPLETING,
    S.HOLDING,
    S.HELD,
    S.UNHOLDING,
    S.SUSPENDING,
    S.SUSPENDED,
    S.UNSUSPENDING,
}
VARIABLE_GAUGE_SETTLE_S = 1.0  # > the collector's poll (0.2 s) + a batch store


@dataclass
class Observation:
    kind: str  # prepared | started | running | complete | failed | held
    reason: str = ""
    seq: dict[str, int] = field(default_factory=dict)
    scans: dict[str, list[ScanRecord]] = field(default_factory=dict)
    unit_fault: bool = False


async def _read_range(driver: UnitDriver, gauge: str, low: int, high: int) -> list[ScanRecord]:
    scans: list[ScanRecord] = []
    nxt = low + 1
    while nxt <= high:
        batch = [s for s in await driver.read_scans(gauge, nxt, 5_000) if s.seq <= high]
        if not batch:
            break  # the ring buffer no longer has them: the collector's copy is what we have
        scans.extend(batch)
        nxt = batch[-1].seq + 1
    return scans


async def _settle_variable_gauges(driver: UnitDriver, plan: StepPlan) -> None:
    """A variable gauge has no history to backfill from: completion records what the collector
    stored. Give its last samples (in flight in the subscription, the collector's poll and its
    batch) a bounded moment to land before the layer closes; later ones stay a gap at the roll's end."""
    gauges = [g for gid, g in driver.profile.variable_gauges().items() if gid in plan.gauges]
    if gauges:
        await asyncio.sleep(VARIABLE_GAUGE_SETTLE_S + 2 * max(g.sampling_ms for g in gauges) / 1000)


async def act(driver: UnitDriver, plan: StepPlan, window_s: float = 10.0) -> Observation:
    """One move of the step on its unit; returns what was observed. Raises on a lost link."""
    state, job = await driver.read_state(), await driver.read_job_id()
    if plan.state == StepRunState.DISPATCHED:
        if job == plan.job_id and (state in RUNNING_STATES or state == S.COMPLETE):
            return Observation("started", "the unit had already started this job")
        if plan.gauge_seq_start is None:
            return Observation("prepared", seq={g: await driver.last_seq(g) for g in plan.gauges})
        try:
            await bring_to_idle(driver, 30.0, lambda _s: None)
            await driver.write_setpoints(plan.setpoints, recipe=plan.setpoints)
            await driver.write_job(plan.job_id, plan.product, plan.length_m)
            await start_once(driver, plan.job_id)
        except (BadState, CommandRefused) as exc:
            return Observation("held", str(exc), unit_fault=True)
        except LimitViolation as exc:
            return Observation("failed", str(exc))
        return Observation("started")
    deadline = time.monotonic() + window_s
    while True:
        if job != plan.job_id:
            return Observation(
                "held", f"{plan.unit} runs job {job!r}, not {plan.job_id}: the job was lost", unit_fault=True
            )
        if state == S.COMPLETE or (state == S.IDLE and plan.started_at_unix is not None):
            # Idle with our job id: it completed and was reset by an earlier move whose record was lost.
            await _settle_variable_gauges(driver, plan)
            end = {g: await driver.last_seq(g) for g in plan.gauges}
            start = plan.gauge_seq_start or {}
            scans = {g: await _read_range(driver, g, start.get(g, 0), end[g]) for g in plan.gauges}
            if state == S.COMPLETE:
                with contextlib.suppress(CommandRefused):
                    await driver.command(Command.RESET)  # ready for the next job while we record this one
            return Observation("complete", seq=end, scans=scans)
        if state in (S.ABORTED, S.ABORTING, S.STOPPED, S.STOPPING):
            return Observation("failed", f"{plan.unit} went {state} during the job", unit_fault=True)
        if plan.started_at_unix is not None and time.time() - plan.started_at_unix > plan.time_limit_s:
            await driver.command(Command.ABORT)
            return Observation(
                "failed", f"time limit {plan.time_limit_s:g} s exceeded; {plan.unit} aborted", unit_fault=True
            )
        if time.monotonic() > deadline:
            return Observation("running")
        await asyncio.sleep(0.1)
        state, job = await driver.read_state(), await driver.read_job_id()


def ingest(
    session: Session,
    plan: StepPlan,
    scans: dict[str, list[ScanRecord]],
    *,
    low: dict[str, int] | None = None,
    high: dict[str, int] | None = None,
    final: bool = False,
) -> int:
    """Store the step's scans (idempotent); fold excursions into intervals and check the rules on new ones.

    ``final`` (the step's completion) also charts the layer's last, shorter
    segment. Returns the rows offered.
    """
    # The collector and the completing worker both come here for the same layer: taking the
    # layer's row lock before any insert keeps them in one order (no deadlock on PostgreSQL).
    layer = session.exec(select(Layer).where(Layer.id == plan.layer_id).with_for_update()).one()
    offered = 0
    for gauge, records in scans.items():
        char_id = plan.gauges.get(gauge)
        if char_id is None:
            continue
        lo, hi = (low or {}).get(gauge, -1), (high or {}).get(gauge)
        mine = [r for r in records if r.seq > lo and (hi is None or r.seq <= hi)]
        if not mine and not final:
            continue
        # Only scans not stored before are new to the spec and rule checks: the same scans come
        # from the collector and again at completion, and must not raise what was dealt with.
        known = (
            stored_seqs(session, char_id, min(r.seq for r in mine) - 1, max(r.seq for r in mine))
            if mine
            else set()
        )
        fresh = [r for r in mine if r.seq not in known]
        insert_scans(
            session,
            (
                scan_row(plan.lot_id, plan.layer_id, char_id, r.seq, r.position_m, r.measured_at, r.values)
                for r in fresh
            ),
        )
        char = session.get(Characteristic, char_id)
        assert char is not None  # noqa: S101
        found = excursions(((r.position_m, r.values) for r in fresh), char.lsl, char.usl)
        merge_excursions(session, char, layer, found)
        if _layer_open(session, layer):
            if found:
                _raise_out_of_spec(session, plan, layer, char, found)
            check_rules(
                session, plan, layer, char, [(r.seq, r.position_m, r.values) for r in fresh], final=final
            )
        offered += len(mine)
    session.flush()
    return offered


def _layer_open(session: Session, layer: Layer) -> bool:
    """Whether the layer is still being made, as of now: its live conditions end when it closes.

    The collector can read the layer just before the step's completion closes it
    and write just after; a late copy of the scans must not raise the closed
    layer's alarms again. Reading after our insert (SQLite: we hold the write
    lock by then) and with a row lock (PostgreSQL: waits for the closing
    transaction) sees the close.
    """
    closed_at = session.exec(select(Layer.closed_at).where(Layer.id == layer.id).with_for_update()).one()
    return closed_at is None


def _raise_out_of_spec(
    session: Session, plan: StepPlan, layer: Layer, char: Characteristic, found: list[Excursion]
) -> None:
    first = min(found, key=lambda e: e.position_m)
    raise_alarm(
        session,
        f"char:{char.id}:oos",
        f"{plan.lot_number} {layer.name} {char.name} out of spec: {first.worst:.4g} {char.unit} "
        f"beyond {first.kind.upper()} {first.limit:g} at {first.position_m:.2f} m",
        priority=AlarmPriority.HIGH,
        lot_id=plan.lot_id,
        unit_id=plan.unit_id,
        characteristic_id=char.id,
        position_m=first.position_m,
    )


def record(session: Session, plan: StepPlan, obs: Observation, line: Line) -> tuple[list[Enqueue], bool]:
    """Write an observation; returns (tasks to enqueue after commit, whether this step's chain goes on)."""
    token, sid = plan.chain_token, plan.step_run_id
    if obs.kind == "prepared":
        return [], transition(session, sid, token, (StepRunState.DISPATCHED,), gauge_seq_start=obs.seq)
    if obs.kind == "started":
        return [], transition(
            session, sid, token, (StepRunState.DISPATCHED,), state=StepRunState.RUNNING, started_at=utcnow()
        )
    if obs.kind == "running":
        return [], transition(session, sid, token, (StepRunState.RUNNING,))
    step = session.get(StepRun, sid)
    assert step is not None and step.equipment_unit_id is not None  # noqa: S101 - plan() read it
    unit_id = step.equipment_unit_id
    if obs.kind == "complete":
        if not transition(
            session,
            sid,
            token,
            (StepRunState.RUNNING,),
            state=StepRunState.COMPLETED,
            ended_at=utcnow(),
            gauge_seq_end=obs.seq,
        ):
            return [], False
        ingest(session, plan, obs.scans, low=plan.gauge_seq_start, high=obs.seq, final=True)
        layer = session.get(Layer, plan.layer_id)
        assert layer is not None  # noqa: S101
        close_layer(session, layer)
        release_lease(session, unit_id, sid)
        lot = session.get(Lot, plan.lot_id)
        assert lot is not None  # noqa: S101
        if plan.is_last_step:
            finish_lot(session, lot)
        return schedule(session, line), False
    to = StepRunState.FAILED if obs.kind == "failed" else StepRunState.HELD
    if not transition(
        session,
        sid,
        token,
        (StepRunState.DISPATCHED, StepRunState.RUNNING),
        state=to,
        ended_at=utcnow(),
        error=obs.reason,
    ):
        return [], False
    release_lease(session, unit_id, sid)
    lot = session.get(Lot, plan.lot_id)
    assert lot is not None  # noqa: S101
    lot.status, lot.updated_at = LotStatus.ON_HOLD, utcnow()
    session.add(lot)
    if obs.unit_fault:
        unit = session.get(EquipmentUnit, unit_id)
        if unit is not None:
            unit.healthy = False  # nothing more goes there until someone has looked
            session.add(unit)
    raise_alarm(
        session,
        f"step:{sid}:{to.value}",
        f"{plan.lot_number} step {plan.job_id} {to.value}: {obs.reason}",
        lot_id=plan.lot_id,
        unit_id=unit_id,
    )
    return schedule(session, line), False
