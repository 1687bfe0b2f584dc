"""A gauge without a ring buffer, through a real collector: samples numbered by the MES, positioned by the
web position, and a collector restart mid-roll leaves a gap — no invented value, no repeated number."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import col, select

from mes.db import session_scope
from mes.lots.models import Characteristic, GaugeScan, Layer, StepRunState
from tests.lots import harness
from tests.lots.harness import LineUnderTest

LENGTH_M = 100.0


def _stored(line: LineUnderTest) -> dict[str, list[GaugeScan]]:
    with session_scope(line.engine) as session:
        chars = session.exec(select(Characteristic).join(Layer)).all()
        return {
            c.gauge: list(
                session.exec(
                    select(GaugeScan).where(GaugeScan.characteristic_id == c.id).order_by(col(GaugeScan.seq))
                ).all()
            )
            for c in chars
        }


def _furthest(line: LineUnderTest) -> float:
    return max((s[-1].position_m for s in _stored(line).values() if s), default=0.0)


async def _restart_collector(line: LineUnderTest, away_m: float) -> tuple[float, float]:
    runner = line.runner
    assert runner._stop is not None and runner._collector_task is not None
    runner._stop.set()
    await runner._collector_task
    sim = runner.sims["coater-1"]
    left_at = sim.position_m
    await line.wait_for(lambda: sim.position_m >= left_at + away_m, 30, "the web to run on")
    back_at = sim.position_m
    await runner.start_collector(line.database_url)
    return left_at, back_at


async def test_variable_gauge_samples_and_a_collector_restart(
    tmp_path: Path, pg_url: str, broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(harness.PROFILE, "coater", "packml-coater-live-gauges")
    line = LineUnderTest(tmp_path, pg_url, broker, ["coater-1"], time_scale=100.0)
    await line.start()
    try:
        line.order("cathode-lco@1", lot_size=LENGTH_M)
        await line.wait_for(lambda: _furthest(line) > 20.0, 60, "samples stored up to 20 m")
        left_at, back_at = await _restart_collector(line, away_m=5.0)
        await line.wait_for(line.orders_done, 120, "the order to complete")
        sim = line.runner.sims["coater-1"]
        stored = _stored(line)
        assert set(stored) == {"beta", "laser-caliper"}
        for gauge, scans in stored.items():
            seqs = [s.seq for s in scans]
            assert seqs == list(range(1, len(seqs) + 1)), gauge  # MES numbers: from 1, none repeated
            positions = [s.position_m for s in scans]
            assert positions == sorted(set(positions)), gauge  # one sample per position, in order
            # every stored value is one the gauge measured (the simulator keeps them all) …
            made = {tuple(v): pos for _seq, pos, _t, v in sim.rings[gauge]}
            for scan in scans:
                measured_at_m = made.get(tuple(scan.lane_values))
                assert measured_at_m is not None, (gauge, scan.seq)
                assert 0.0 <= scan.position_m - measured_at_m <= 2.0  # the web position when it arrived
            # … the collector's absence is a gap of at least the metres it was away …
            gaps = [(a, b) for a, b in zip(positions, positions[1:], strict=False) if b - a >= 5.0 - 1e-6]
            assert len(gaps) == 1, (gauge, gaps)
            assert gaps[0][0] <= left_at + 2.0 and gaps[0][1] >= back_at, (gauge, gaps, left_at, back_at)
            # … and the roll's end was stored before the layer closed
            assert positions[-1] >= LENGTH_M - 2.0, gauge
            assert len(scans) > 100
        assert line.step_in(StepRunState.COMPLETED)
    finally:
        await line.stop()
