"""Lots end to end through another vendor's machine (Vendor C, node-opcua), faults set at power-up.

Four coaters side by side on one line, driven by real Celery workers and the
collector with PostgreSQL and Redis, known to the MES only by their profile: one
without a fault, one that refuses Start, one whose gauge reads NaN over a stretch,
one whose gauge dies. One lot each (the scheduler gives each free unit one lot).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mes.lots.models import LayerResult, LotStatus, StepRunState, WorkOrderState
from tests.lots.vendor_c_line import RECIPE, Outcome, assert_never_released_unmade, counters, vendor_line

LOT_M = 2.0
NAN_AT_M, NAN_M, DEAD_AT_M = 0.6, 0.4, 1.2
FAULTS = {
    "sputter-1": "",
    "sputter-2": "refuse_start",
    "sputter-3": f"nan_gauge,at_m={NAN_AT_M},length_m={NAN_M}",
    "sputter-4": f"dead_gauge,at_m={DEAD_AT_M}",
}
SLACK_M = 0.025  # a pitch or two of band


def _one_gap(out: Outcome, start_m: float, end_m: float) -> None:
    assert len(out.unmeasured) == 1, (out.unit, out.unmeasured)
    [(a, b)] = out.unmeasured
    assert a == pytest.approx(start_m, abs=SLACK_M), (out.unit, a, b)
    assert b == pytest.approx(end_m, abs=SLACK_M), (out.unit, a, b)
    assert any(al.condition == f"coverage:{out.char.id}" and al.is_open for al in out.alarms), out.unit


async def test_vendor_c_lots_with_faults_at_power_up(tmp_path: Path, pg_url: str, broker: str) -> None:
    async with vendor_line(tmp_path, pg_url, broker, FAULTS) as vl:
        vl.line.order(RECIPE, lots=len(FAULTS), lot_size=LOT_M)
        await vl.line.wait_for(vl.layers_closed, 120, "every step ended and its layer closed")
        await asyncio.sleep(5)  # two reconciles later nothing moved again (no silent loop)
        after = {unit: await counters(endpoint) for unit, endpoint in vl.endpoints.items()}
        out = {unit: vl.outcome(unit) for unit in FAULTS}
        assert {o.step.job_id for o in out.values()} == {s.job_id for s in vl.line.steps()}  # one lot each

        # 1. No fault: made, measured all along, in spec, released; started exactly once.
        good = out["sputter-1"]
        assert good.step.state == StepRunState.COMPLETED, good.step.error
        assert good.layer.result == LayerResult.IN_SPEC, (
            good.unmeasured,
            good.char.measured_m,
            len(good.seqs),
            vl.positions(good),
        )
        assert good.char.result == LayerResult.IN_SPEC
        assert good.char.measured_m is not None
        assert good.char.measured_m >= LOT_M * good.char.min_coverage_pct / 100 - 1e-6
        assert good.char.mean_value is not None and 400 < good.char.mean_value < 600
        assert good.lot.status == LotStatus.RELEASED
        assert good.unmeasured == []
        assert good.seqs == list(range(1, len(good.seqs) + 1))  # numbered by the MES, none repeated
        assert len(good.seqs) > 0.9 * LOT_M / 0.01  # nearly every 0.01 m pitch was sampled
        assert after["sputter-1"].starts == vl.before["sputter-1"].starts + 1
        assert after["sputter-1"].batch_id == good.step.job_id

        # 2. refuse_start: held naming unit, command and what was seen; nothing made, nothing released.
        refused = out["sputter-2"]
        assert refused.step.state == StepRunState.HELD
        error = refused.step.error or ""
        assert "sputter-2: Start refused" in error and "seen: state Idle" in error, error
        [held] = [a for a in refused.alarms if a.condition == f"step:{refused.step.id}:held"]
        assert held.is_open and "sputter-2" in held.message and "Start" in held.message
        assert refused.layer.result != LayerResult.IN_SPEC
        assert refused.seqs == []
        assert refused.lot.status != LotStatus.RELEASED
        assert after["sputter-2"].starts == vl.before["sputter-2"].starts  # never started …
        assert after["sputter-2"].refused > vl.before["sputter-2"].refused  # … the machine refused it
        assert after["sputter-2"].state == 4  # still Idle
        assert vl.unit_health("sputter-2")[0] is False

        # 3. NaN lanes over a stretch: those metres unmeasured, alarm, lot held.
        nan = out["sputter-3"]
        assert nan.step.state == StepRunState.COMPLETED  # the machine made the roll …
        assert nan.layer.result == LayerResult.INCOMPLETE  # … the gauge did not measure all of it
        _one_gap(nan, NAN_AT_M, NAN_AT_M + NAN_M)
        assert nan.lot.status == LotStatus.ON_HOLD
        assert nan.seqs == list(range(1, len(nan.seqs) + 1))
        assert after["sputter-3"].starts == vl.before["sputter-3"].starts + 1

        # 4. The gauge dies: unmeasured from there to the end of the roll, lot held.
        dead = out["sputter-4"]
        assert dead.step.state == StepRunState.COMPLETED
        assert dead.layer.result == LayerResult.INCOMPLETE
        _one_gap(dead, DEAD_AT_M, LOT_M)
        assert dead.lot.status == LotStatus.ON_HOLD
        assert dead.seqs == list(range(1, len(dead.seqs) + 1))
        assert after["sputter-4"].starts == vl.before["sputter-4"].starts + 1

        assert vl.order_states() == [WorkOrderState.HELD]  # nothing left to run, lots on hold
        assert_never_released_unmade(vl)
