"""A held step is still collected while its machine runs the job: the roll's scans are all stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from mes.base import utcnow
from mes.db import session_scope
from mes.equipment.profile import PackMLState
from mes.execution.scheduler import transition
from mes.lots.models import Characteristic, GaugeScan, Layer, StepRun, StepRunState
from tests.lots.harness import LineUnderTest


@pytest.fixture
async def sputter_line(tmp_path: Path, pg_url: str, broker: str) -> AsyncIterator[LineUnderTest]:
    line = LineUnderTest(tmp_path, pg_url, broker, ["sputter-1"], time_scale=600, stale_after_s=5)
    await line.start()
    yield line
    await line.stop()


def _stored_seqs(line: LineUnderTest, step_id: int) -> list[int]:
    with session_scope(line.engine) as session:
        return list(
            session.exec(
                select(GaugeScan.seq)
                .join(Characteristic, col(Characteristic.id) == col(GaugeScan.characteristic_id))
                .join(Layer, col(Layer.id) == col(Characteristic.layer_id))
                .where(Layer.step_run_id == step_id)
                .order_by(col(GaugeScan.seq))
            ).all()
        )


async def test_a_held_step_is_collected_until_its_machine_finishes_the_roll(
    sputter_line: LineUnderTest,
) -> None:
    line = sputter_line
    sim = line.runner.sims["sputter-1"]
    line.order("capped-si-anode@1", 1, lot_size=12)
    await line.wait_for(lambda: line.step_in(StepRunState.RUNNING, 0), 60, "the first step running")
    await line.wait_for(lambda: sim.position_m > 3.0, 60, "3 m made")
    step = next(s for s in line.steps() if s.step_index == 0)
    assert step.id is not None and step.chain_token is not None
    # held the way the step task holds on a transient unknown state number; the machine carries on
    with session_scope(line.engine) as session:
        assert transition(session, step.id, step.chain_token, (StepRunState.RUNNING,), state=StepRunState.HELD,
                          ended_at=utcnow(), error="state number 99 is not in profile packml-sputter")  # fmt: skip
    held_at_m = sim.position_m
    await line.wait_for(
        lambda: sim.machine.state == PackMLState.COMPLETE, 90, "the machine to finish the roll"
    )
    assert held_at_m < 11.0  # the hold came well before the end of the 12 m roll
    start = (step.gauge_seq_start or {})["xrf"]
    last = sim.next_seq["xrf"] - 1
    expected = list(range(start + 1, last + 1))
    await line.wait_for(
        lambda: _stored_seqs(line, step.id or 0) == expected, 30, "every scan of the roll stored"
    )
    with session_scope(line.engine) as session:
        row = session.get(StepRun, step.id)
        assert row is not None and row.state == StepRunState.HELD  # still held: collecting did not move it
