"""Faults of the state variable while a Vendor C coater (node-opcua) runs our job, end to end.

Three coaters side by side, real workers, collector, PostgreSQL and Redis. Once
each is executing its lot, the test writes a fault to its ``Diagnostics/SimFault``:
``BadSensorFailure`` on ``StateCurrent`` until cleared; an unknown state number
(99) for 1 s, shorter than the MES's 2 s debounce; and 99 for 5 s, longer.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from mes.lots.models import LayerResult, LotStatus, StepRunState, WorkOrderState
from tests.lots.vendor_c_line import (
    RECIPE,
    VendorLine,
    assert_never_released_unmade,
    counters,
    set_fault,
    vendor_line,
)
from tests.peers.vendor_c_client import coater

LOT_M = 2.5
AT_M = 0.5  # where along the roll the fault is set
COMPLETE = 17  # PackTags v3
FAULTS = {
    "sputter-1": "bad_status_state",
    "sputter-2": "unknown_state,seconds=1",
    "sputter-3": "unknown_state,seconds=5",
}


async def _arm_when_running(vl: VendorLine, unit: str, spec: str) -> None:
    """Set the fault once the unit runs past AT_M metres of its job. One connection, polled: a new
    session per poll took longer than the whole run on a loaded machine, and the window was missed."""
    deadline = asyncio.get_running_loop().time() + 60
    async with coater(vl.endpoints[unit]) as c:
        while True:
            state, done = int(await c.read("state")), float(await c.read("length_done"))
            if state == 6 and done >= AT_M:  # Execute, past AT_M metres of this job
                await c.write("sim_fault", spec)
                return
            assert state != COMPLETE, f"{unit} finished its job before it was seen past {AT_M} m"
            assert asyncio.get_running_loop().time() < deadline, f"{unit} never ran {AT_M} m of a job"
            await asyncio.sleep(0.05)


async def test_vendor_c_state_faults_while_running(tmp_path: Path, pg_url: str, broker: str) -> None:
    async with vendor_line(tmp_path, pg_url, broker, dict.fromkeys(FAULTS, "")) as vl:
        vl.line.order(RECIPE, lots=len(FAULTS), lot_size=LOT_M)
        await asyncio.gather(*(_arm_when_running(vl, unit, spec) for unit, spec in FAULTS.items()))
        await vl.line.wait_for(vl.steps_terminal, 90, "every step to end")
        await set_fault(vl.endpoints["sputter-1"], "")  # the sensor is fixed: its machine shows its state
        await vl.line.wait_for(vl.layers_closed, 60, "the layers of completed steps to close")
        await asyncio.sleep(5)  # reconciles later: nothing reset, rewritten or started again
        after = {unit: await counters(endpoint) for unit, endpoint in vl.endpoints.items()}
        out = {unit: vl.outcome(unit) for unit in FAULTS}

        # 5. BadSensorFailure on the state: held at once naming unit, node and status; left alone.
        bad = out["sputter-1"]
        assert bad.step.state == StepRunState.HELD, ("sputter-1", bad.step)
        error = bad.step.error or ""
        assert "sputter-1" in error and "BadSensorFailure" in error and "StateCurrent" in error, error
        [held] = [a for a in bad.alarms if a.condition == f"step:{bad.step.id}:held"]
        assert held.is_open and "sputter-1" in held.message and "BadSensorFailure" in held.message
        assert "StateCurrent" in held.message
        assert bad.lot.status != LotStatus.RELEASED
        assert bad.layer.result != LayerResult.IN_SPEC
        assert vl.unit_health("sputter-1")[0] is False
        # the machine finished the roll on its own and was neither reset nor started again
        assert (after["sputter-1"].state, after["sputter-1"].batch_id) == (COMPLETE, bad.step.job_id)
        assert after["sputter-1"].starts == vl.before["sputter-1"].starts + 1

        # 6a. An unknown state number for less than the debounce: tolerated, the lot made and released.
        brief = out["sputter-2"]
        assert brief.step.state == StepRunState.COMPLETED, brief.step.error
        assert brief.layer.result == LayerResult.IN_SPEC, (brief.unmeasured, vl.positions(brief))
        assert brief.unmeasured == []
        assert brief.lot.status == LotStatus.RELEASED
        assert brief.seqs == list(range(1, len(brief.seqs) + 1))
        assert after["sputter-2"].starts == vl.before["sputter-2"].starts + 1

        # 6b. The same for longer than the debounce: held, naming the state number seen.
        long = out["sputter-3"]
        assert long.step.state == StepRunState.HELD, ("sputter-3", long.step)
        error = long.step.error or ""
        assert "sputter-3" in error and "shows 99" in error and "UnknownState" in error, error
        [held] = [a for a in long.alarms if a.condition == f"step:{long.step.id}:held"]
        assert held.is_open and "99" in held.message
        assert long.lot.status != LotStatus.RELEASED
        assert (after["sputter-3"].state, after["sputter-3"].batch_id) == (COMPLETE, long.step.job_id)
        assert after["sputter-3"].starts == vl.before["sputter-3"].starts + 1

        assert vl.order_states() == [WorkOrderState.HELD]  # nothing left to run, lots on hold
        assert_never_released_unmade(vl)
