"""Drive one step on its unit (async, no database) and record what happened (sync, no equipment).

A task alternates the two: read the plan in one short transaction, talk to the
unit, write the observation in another short transaction under the same chain
token. Nothing here holds a database lock while it waits for a machine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sqlmodel import Session, select

from mes.base import beyond_limit, utcnow
from mes.equipment.driver import ScanRecord, UnitDriver
from mes.equipment.errors import BadState, CommandNotConfirmed, UnknownState
from mes.equipment.jobs import bring_to_idle, start_once
from mes.equipment.profile import Command, Line, PackMLState
from mes.equipment.states import BUSY
from mes.execution.faults import back_to_waiting, hold_step, mark_unit
from mes.execution.interrupts import (
    abort_for_order,
    end_aborted,
    hold_or_unhold,
    hold_values,
    hold_wanted,
    may_hold,
)
from mes.execution.monitor import check_rules
from mes.execution.scheduler import (
    Enqueue,
    StepPlan,
    finish_lot,
    release_lease,
    schedule,
    transition,
)
from mes.lots.models import Characteristic, Layer, Lot, StepRun, StepRunState
from mes.lots.scans import insert_scans, scan_row, stored_seqs
from mes.quality.alarms import raise_alarm
from mes.quality.models import AlarmPriority
from mes.quality.spec import Excursion, close_layer, excursions, merge_excursions

S = PackMLState
VARIABLE_GAUGE_SETTLE_S = 1.0  # > the collector's poll (0.2 s) + a batch store


@dataclass
class Observation:
    kind: str  # prepared | started | running | complete | failed | held | waiting | aborted
    reason: str = ""
    seq: dict[str, int] = field(default_factory=dict)
    scans: dict[str, list[ScanRecord]] = field(default_factory=dict)
    unit_fault: bool = False
    seen: bool = False  # the unit was seen running this job during the move
    hold: str | None = None  # "held": the unit is Held by the MES; "released": no longer (see interrupts)


# A state number the profile does not map must persist this long before it holds the step:
# one 0.75 s glitch of a machine's state variable held a step at 8 m of 20.
UNKNOWN_STATE_DEBOUNCE_S = 2.0


async def _state(driver: UnitDriver) -> PackMLState:
    """The unit's state; an unknown state number counts only once it persisted for the debounce."""
    first: float | None = None
    while True:
        try:
            return await driver.read_state()
        except UnknownState:
            now = time.monotonic()
            first = now if first is None else first
            if now - first >= UNKNOWN_STATE_DEBOUNCE_S:
                raise
            await asyncio.sleep(0.1)


async def _started(driver: UnitDriver, job_id: str) -> bool:
    """Whether the unit's start counter says it accepted a Start for ``job_id``."""
    return (await driver.read_start_counts()).get(job_id, 0) > 0


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


async def _confirm_start(driver: UnitDriver, plan: StepPlan, confirmed: PackMLState) -> Observation:
    """After a confirmed Start (``confirmed``: the state that showed it): see the unit out of Idle.

    ``start_once`` confirms by the state or by the start counter; a counter can rise while the
    state still shows Idle for a moment. A unit that stays Idle past the profile's confirmation
    time did not start the roll, whatever it counted.
    """
    if confirmed in BUSY:
        return Observation("started", seen=True)
    confirm_s = driver.profile.commands.confirm_timeout_s
    deadline = time.monotonic() + confirm_s
    while True:
        state, job = await _state(driver), await driver.read_job_id()
        if job == plan.job_id and state in BUSY:
            return Observation("started", seen=True)
        if job == plan.job_id and state != S.IDLE:
            raise BadState(f"{plan.unit}: went {state} right after Start of job {plan.job_id}")
        if time.monotonic() > deadline:
            raise CommandNotConfirmed(
                f"{plan.unit}: command Start for job {plan.job_id} not confirmed: the unit stayed {state} "
                f"with job {job!r} for {confirm_s:g} s"
            )
        await asyncio.sleep(0.1)


async def act(driver: UnitDriver, plan: StepPlan, window_s: float = 10.0) -> Observation:
    """One move of the step on its unit; returns what was observed.

    Equipment errors propagate (the task turns them into a held step, or a retry for a lost
    link). A step counts as started only when the unit is seen out of Idle with our job id. It
    completes only when the unit is seen Complete with it: the MES leaves the unit Complete
    until the next step's ``bring_to_idle``, so a running step that finds its unit Idle with its
    job id either never started (:class:`CommandNotConfirmed`) or was reset from outside, roll
    made or not (:class:`BadState`). A lot on hold or a paused order gets nothing started: a
    dispatched step goes back to waiting. A running step of a paused order holds its unit, of an
    aborted order aborts it (:mod:`mes.execution.interrupts`).
    """
    state, job = await _state(driver), await driver.read_job_id()
    if plan.state == StepRunState.DISPATCHED:
        if job == plan.job_id and state in BUSY:
            return Observation("started", "the unit had already started this job", seen=True)
        if job == plan.job_id and state == S.IDLE and await _started(driver, plan.job_id):
            # It ran and was reset without this step seeing it: whether the roll was made is unknown.
            raise BadState(
                f"{plan.unit}: Idle with job {plan.job_id}, which it started already, but the step never "
                "saw it run: whether the roll was made is unknown"
            )
        if plan.order_aborted:
            return Observation("aborted", f"its work order was aborted; {plan.job_id} was not started")
        if plan.lot_held or plan.order_paused:
            why = f"lot {plan.lot_number} is on hold" if plan.lot_held else "its work order is paused"
            return Observation("waiting", f"{why}; {plan.job_id} not started")
        if plan.gauge_seq_start is None:
            return Observation("prepared", seq={g: await driver.last_seq(g) for g in plan.gauges})
        driver.check_setpoints(plan.setpoints, recipe=plan.setpoints)
        driver.job_values(plan.job_id, plan.product, plan.length_m)  # before the unit is touched
        await bring_to_idle(driver, 30.0, lambda _s: None)
        await driver.write_setpoints(plan.setpoints, recipe=plan.setpoints)
        await driver.write_job(plan.job_id, plan.product, plan.length_m)
        return await _confirm_start(driver, plan, await start_once(driver, plan.job_id))
    deadline = time.monotonic() + window_s
    seen = plan.seen_running
    while True:
        if job != plan.job_id:
            return Observation(
                "held", f"{plan.unit} runs job {job!r}, not {plan.job_id}: the job was lost", unit_fault=True
            )
        seen = seen or state in BUSY
        if plan.order_aborted:
            ended = await abort_for_order(driver, plan, state)
            if ended is not None:  # (a roll Complete or Completing is made: it completes below)
                return Observation("aborted", ended, seen=seen)
        if seen and may_hold(plan):
            # PackML Hold while the order is paused or (recipe on_lot_hold: hold) the lot is held,
            # Unhold after (see interrupts). The step stays running and keeps its lease, so the
            # roll goes on where it stopped; no time limit while held.
            state, held = await hold_or_unhold(driver, plan, state)
            if held == "released":
                return Observation("running", seen=True, hold=held)
            if hold_wanted(plan) and state in (S.HOLDING, S.HELD):
                if time.monotonic() > deadline:
                    return Observation("running", seen=True, hold=held)
                await asyncio.sleep(0.1)
                state, job = await _state(driver), await driver.read_job_id()
                continue
        if state == S.IDLE and not seen:
            seen = await _started(driver, plan.job_id)
            if not seen:
                raise CommandNotConfirmed(
                    f"{plan.unit}: Start of job {plan.job_id} did not take: the unit is Idle with the job id "
                    "written, was never seen running it and counted no Start of it"
                )
        if state == S.IDLE:
            # The MES never resets a unit before its step's completion is recorded (the next
            # step's bring_to_idle does), so Idle with our job id after it ran means someone
            # reset it from outside — perhaps after an abort: whether the roll was made is unknown.
            raise BadState(
                f"{plan.unit}: Idle with job {plan.job_id} after it was seen running, without the MES "
                "seeing it Complete (reset outside the MES?): whether the roll was made is unknown"
            )
        if state == S.COMPLETE:
            await _settle_variable_gauges(driver, plan)
            end = {g: await driver.last_seq(g) for g in plan.gauges}
            start = plan.gauge_seq_start or {}
            scans = {g: await _read_range(driver, g, start.get(g, 0), end[g]) for g in plan.gauges}
            return Observation("complete", seq=end, scans=scans, seen=True)
        if state in (S.ABORTED, S.ABORTING, S.STOPPED, S.STOPPING):
            return Observation(
                "failed", f"{plan.unit} went {state} during the job", unit_fault=True, seen=seen
            )
        if plan.started_at_unix is not None and time.time() - plan.started_at_unix > plan.time_limit_s:
            await driver.command(Command.ABORT)
            return Observation(
                "failed", f"time limit {plan.time_limit_s:g} s exceeded; {plan.unit} aborted", unit_fault=True
            )
        if time.monotonic() > deadline:
            return Observation("running", seen=seen)
        await asyncio.sleep(0.1)
        state, job = await _state(driver), await driver.read_job_id()


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
        f"{plan.lot_number} {layer.name} {char.name} out of spec: "
        f"{beyond_limit(first.worst, first.limit)} {char.unit} beyond {first.kind.upper()} {first.limit:g} "
        f"at {first.position_m:.2f} m",
        priority=AlarmPriority.HIGH,
        lot_id=plan.lot_id,
        unit_id=plan.unit_id,
        characteristic_id=char.id,
        position_m=first.position_m,
    )


def record(session: Session, plan: StepPlan, obs: Observation, line: Line) -> tuple[list[Enqueue], bool]:
    """Write an observation; returns (tasks to enqueue after commit, whether this step's chain goes on)."""
    token, sid = plan.chain_token, plan.step_run_id
    # A move that reached the unit ends any streak of link failures and faults.
    ok: dict[str, object] = {"link_failures": 0, "link_failing_since": None, "faults": 0}
    if obs.seen and not plan.seen_running:
        ok["seen_running_at"] = utcnow()
    ok.update(hold_values(session, plan, obs.hold))
    if obs.kind == "prepared":
        return [], transition(session, sid, token, (StepRunState.DISPATCHED,), gauge_seq_start=obs.seq, **ok)
    if obs.kind == "started":
        ok.setdefault("seen_running_at", utcnow())
        return [], transition(
            session,
            sid,
            token,
            (StepRunState.DISPATCHED,),
            state=StepRunState.RUNNING,
            started_at=utcnow(),
            **ok,
        )
    if obs.kind == "running":
        return [], transition(session, sid, token, (StepRunState.RUNNING,), **ok)
    if obs.kind == "waiting":
        if not back_to_waiting(session, plan):
            return [], False
        if obs.unit_fault:
            # Nothing was started: the step waits for another unit, this one for a person.
            mark_unit(session, plan.unit_id, False, obs.reason)
            raise_alarm(
                session,
                f"unit:{plan.unit_id}:unhealthy",
                f"{plan.unit} taken out of service: {obs.reason}",
                unit_id=plan.unit_id,
            )
        return schedule(session, line), False
    if obs.kind == "aborted":
        if not end_aborted(session, plan, obs.reason, ok):
            return [], False
        return schedule(session, line), False
    step = session.get(StepRun, sid)
    assert step is not None and step.equipment_unit_id is not None  # noqa: S101 - plan() read it
    unit_id = step.equipment_unit_id
    if obs.kind == "complete":
        ok.update(pause_requested_at=None, unit_held_at=None)  # nothing is held or paused any more
        if not transition(
            session,
            sid,
            token,
            (StepRunState.RUNNING,),
            state=StepRunState.COMPLETED,
            ended_at=utcnow(),
            gauge_seq_end=obs.seq,
            **ok,
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
    if not hold_step(session, plan, to, obs.reason, unit_fault=obs.unit_fault, seen=obs.seen):
        return [], False
    return schedule(session, line), False
