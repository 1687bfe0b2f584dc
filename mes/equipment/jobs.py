"""Run one job on one unit: the sequence commissioning (and, later, the step tasks) rely on.

Limit-check → Reset to Idle when needed → write setpoints and job → Start →
follow the state to Complete or a failure state. A Start whose answer was lost
is reconciled with the unit's state and job id, never sent blindly again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from mes.equipment.commands import observe
from mes.equipment.driver import UnitDriver
from mes.equipment.errors import BadState, CommandRefused, ConnectionLost
from mes.equipment.profile import Command, PackMLState
from mes.equipment.states import ACTING, STARTED

S = PackMLState
FAILED = {S.ABORTED, S.STOPPED, S.HELD, S.SUSPENDED}


@dataclass
class JobResult:
    job_id: str
    final_state: PackMLState
    states: list[PackMLState] = field(default_factory=list)
    process_values: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.final_state == S.COMPLETE


# How long an unmapped state number is waited out before it counts (the step layer debounces the same).
UNKNOWN_STATE_GRACE_S = 2.0


async def bring_to_idle(
    driver: UnitDriver, timeout_s: float, on_state: Callable[[PackMLState], None]
) -> None:
    """Reset a unit that is Complete or Stopped (Clear first when Aborted); refuse anything else.
    Commands are confirmed (:class:`CommandNotConfirmed` when Clear or Reset did not take);
    :class:`BadState` when the unit is in another state or does not arrive within ``timeout_s``.
    A state number the profile does not map is waited out for a moment (a glitch is no fault)."""
    state = await driver.wait_for_state(set(PackMLState), UNKNOWN_STATE_GRACE_S)
    on_state(state)
    if state in ACTING:  # let a Resetting, Stopping, … unit arrive first
        state = await driver.wait_for_state(set(PackMLState) - ACTING, timeout_s, on_state)
    if state == S.ABORTED:
        await driver.command(Command.CLEAR)
        state = await driver.wait_for_state({S.STOPPED}, timeout_s, on_state)
    if state in (S.COMPLETE, S.STOPPED):
        await driver.command(Command.RESET)
        state = await driver.wait_for_state({S.IDLE}, timeout_s, on_state)
    if state != S.IDLE:
        raise BadState(
            f"{driver.name}: is {state}; a job starts only from Idle (or Complete/Stopped, reset first)"
        )


async def start_once(driver: UnitDriver, job_id: str, reconnect_wait_s: float = 20.0) -> PackMLState:
    """Command Start for ``job_id`` and confirm it; if the answer (or the confirmation) was lost,
    find out from the unit whether it took. A Start is never sent twice for a job the unit shows
    as started or counted. Returns the state that confirmed the Start.

    Errors: :class:`CommandNotConfirmed` (the unit did not leave Idle for this job, nor count the
    Start, within the profile's confirmation time; or it counted a refusal), :class:`CommandRefused`
    (refused; "has run on this unit already" when its start counts show the job),
    :class:`BadState` (after a lost answer the unit is neither running this job nor Idle),
    :class:`ConnectionLost` (no link within ``reconnect_wait_s``), :class:`BadStatus`,
    :class:`UnknownState`."""
    # The start counter before the Start (machines without per-job counts): if the answer is
    # lost, a counter that rose says the Start took, whatever the state shows by then.
    counter_before = await driver.read_counter("cmd.start_counter")
    try:
        return await driver.command(Command.START, job_id=job_id)
    except CommandRefused as exc:
        if job_id in await driver.read_start_counts():
            message = f"{driver.name}: job {job_id} has run on this unit already; a job id runs once"
            raise type(exc)(message) from exc
        raise
    except ConnectionLost:
        pass
    deadline = asyncio.get_running_loop().time() + reconnect_wait_s
    while True:
        try:
            seen = await observe(driver, job_id)
            counts = await driver.read_start_counts()
            counter = await driver.read_counter("cmd.start_counter")
            break
        except ConnectionLost:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)
    counted = counts.get(job_id) or (None not in (counter, counter_before) and counter != counter_before)
    if (seen.job_id == job_id and seen.state in STARTED) or counted:
        return seen.state or S.STARTING  # the Start went through before the link dropped
    if seen.state == S.IDLE:
        # It never arrived (the unit would refuse a repeat of a counted job anyway).
        return await driver.command(Command.START, job_id=job_id)
    raise BadState(f"{driver.name}: after a lost Start the unit is {seen.describe()}")


async def run_job(
    driver: UnitDriver,
    *,
    job_id: str,
    setpoints: Mapping[str, float],
    product: str = "",
    length_m: float = 10.0,
    timeout_s: float = 120.0,
    recipe: Mapping[str, float] | None = None,
    on_state: Callable[[PackMLState], None] | None = None,
) -> JobResult:
    """Run a job to its end. Setpoints are limit-checked before anything is written or commanded;
    every command is confirmed; a failed job write raises before Start. Raises the errors of
    :func:`bring_to_idle`, :meth:`UnitDriver.write_setpoints`, :meth:`UnitDriver.write_job` and
    :func:`start_once`; :class:`BadState` when the job does not end within ``timeout_s``."""
    driver.check_setpoints(setpoints, recipe)
    driver.job_values(job_id, product, length_m)  # the job's values too, before the unit is touched
    states: list[PackMLState] = []

    def seen(state: PackMLState) -> None:
        if not states or states[-1] != state:
            states.append(state)
            if on_state is not None:
                on_state(state)

    await bring_to_idle(driver, min(timeout_s, 30.0), seen)
    await driver.write_setpoints(setpoints, recipe)
    await driver.write_job(job_id, product, length_m)
    await start_once(driver, job_id)
    final = await driver.wait_for_state(
        {S.COMPLETE} | FAILED, timeout_s, seen, unknown_grace_s=UNKNOWN_STATE_GRACE_S, job_id=job_id
    )
    values = await driver.read_values() if driver.profile.process_values else {}
    return JobResult(job_id, final, states, values)
