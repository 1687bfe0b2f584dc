"""The main job end to end with real worker processes, real simulators, PostgreSQL and Redis."""

from __future__ import annotations

from pathlib import Path

from mes.lots.models import LotStatus, StepRunState
from tests.lots.harness import LineUnderTest


def _job_starts(line: LineUnderTest) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sim in line.runner.sims.values():
        for job, n in sim.start_counts.items():
            counts[job] = counts.get(job, 0) + n
    return counts


async def test_production_mode_flow(tmp_path: Path, pg_url: str, broker: str) -> None:
    line = LineUnderTest(tmp_path, pg_url, broker, ["sputter-1", "coater-1", "winder-1"], time_scale=2_000)
    try:
        await line.start()
        line.order("alloy-film-anode@1", 1, lot_size=15)
        line.order("cathode-lco@1", 1, lot_size=15)
        line.order("jelly-roll-alloy-film@1", 1, lot_size=10)
        from mes.db import session_scope
        from mes.lots.models import LotKind
        from mes.lots.orders import receive_lot

        with session_scope(line.engine) as session:
            receive_lot(session, kind=LotKind.SEPARATOR, material="PE", length_m=100, supplier="S", supplier_lot="X1",
                        by="demo-engineer")  # fmt: skip
        await line.wait_for(line.orders_done, 150, "all work orders complete")
        steps = line.steps()
        assert [s.state for s in steps] == [StepRunState.COMPLETED] * 4
        starts = _job_starts(line)
        assert all(starts[s.job_id] == 1 for s in steps)  # every job started exactly once
        for step in steps:
            assert line.assert_scans_complete(step) > 0, step.step_name
        statuses = {lot.kind.value: lot.status for lot in line.lots()}
        assert statuses["anode"] == LotStatus.RELEASED
        assert statuses["cell"] in (LotStatus.RELEASED, LotStatus.ON_HOLD)
        assert line.runner.collector is not None
        assert line.runner.collector.stored > 0
    finally:
        await line.stop()
