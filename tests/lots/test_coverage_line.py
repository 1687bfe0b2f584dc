"""A gauge that reads NaN and a gauge that dies, on a running line: the lot is never released.

Real simulator, real Celery workers, the collector, PostgreSQL and Redis. Each
20 m cathode lot (hold_interval) runs with a fault armed for its job; the layer
must close ``incomplete`` with an unmeasured interval over exactly the metres the
gauge did not measure, an alarm naming them, and the lot held.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import col, select

from mes.config import Settings
from mes.db import session_scope
from mes.demo import ENGINEER
from mes.lots.models import (
    Characteristic,
    IntervalKind,
    IntervalStatus,
    Layer,
    LayerResult,
    Lot,
    LotStatus,
    OosInterval,
    StepRun,
    StepRunState,
)
from mes.lots.orders import create_order, expand_order
from mes.quality.models import Alarm
from mes.sim.faults import parse_fault
from tests.lots.harness import LineUnderTest
from workers.app import make_app

RECIPE, LENGTH_M = "cathode-lco@1", 20.0


def _order_with_fault(line: LineUnderTest, fault: str) -> tuple[str, str]:
    """Create the order and its lot here, arm the fault for its job, then dispatch; (lot, job)."""
    with session_scope(line.engine) as session:
        order = create_order(session, RECIPE, 1, by=ENGINEER, line=line.line, lot_size=LENGTH_M)
        (lot,) = expand_order(session, order)
        step = session.exec(select(StepRun).where(StepRun.lot_id == lot.id)).one()
        order_id, number, job = order.id, lot.number, step.job_id
    for sim in line.runner.sims.values():
        armed = parse_fault(fault)
        armed.job = job
        sim.inject(armed)
    settings = Settings(
        broker_url=line.env["MES_BROKER_URL"], broker_folder=Path(line.env["MES_BROKER_FOLDER"])
    )
    make_app(settings).send_task("mes.dispatch_order", (order_id,), queue="dispatch")
    return number, job


def _closed(line: LineUnderTest, number: str) -> bool:
    with session_scope(line.engine) as session:
        lot = session.exec(select(Lot).where(Lot.number == number)).one()
        layer = session.exec(select(Layer).where(Layer.lot_id == lot.id)).one()
        return layer.closed_at is not None


def _check(line: LineUnderTest, number: str, gap: tuple[float, float]) -> None:
    with session_scope(line.engine) as session:
        lot = session.exec(select(Lot).where(Lot.number == number)).one()
        step = session.exec(select(StepRun).where(StepRun.lot_id == lot.id)).one()
        layer = session.exec(select(Layer).where(Layer.lot_id == lot.id)).one()
        assert step.state == StepRunState.COMPLETED  # the machine made the roll …
        assert layer.result == LayerResult.INCOMPLETE  # … but did not measure all of it
        assert lot.status == LotStatus.ON_HOLD, lot.status
        chars = session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).all()
        assert {c.name for c in chars} == {"coat_weight", "thickness"}
        for char in chars:
            assert char.result == LayerResult.INCOMPLETE
            assert char.mean_value is not None and 19 < char.mean_value < 70  # finite, from measured metres
            [interval] = session.exec(
                select(OosInterval).where(
                    OosInterval.characteristic_id == char.id, OosInterval.kind == IntervalKind.UNMEASURED
                )
            ).all()
            assert (round(interval.start_m, 6), round(interval.end_m, 6)) == gap
            assert interval.status == IntervalStatus.HELD
            alarms = session.exec(
                select(Alarm).where(Alarm.lot_id == lot.id, Alarm.condition == f"coverage:{char.id}")
            ).all()
            assert len(alarms) == 1 and alarms[0].is_open
            assert f"{number} lco {char.name} unmeasured at {gap[0]:.2f}–{gap[1]:.2f} m" in alarms[0].message
        assert not session.exec(
            select(Lot).where(Lot.number == number, col(Lot.status) == LotStatus.RELEASED)
        ).first()
    assert line.assert_scans_complete(step) > 0  # nothing the gauge made was lost


async def test_nan_and_dead_gauge_faults_end_with_the_lot_held(
    tmp_path: Path, pg_url: str, broker: str
) -> None:
    line = LineUnderTest(tmp_path, pg_url, broker, ["coater-1"], time_scale=2_000)
    try:
        await line.start()
        nan_lot, _ = _order_with_fault(line, "nan,at_m=5,length_m=15")
        dead_lot, _ = _order_with_fault(line, "dead_gauge,at_m=12")
        await line.wait_for(
            lambda: _closed(line, nan_lot) and _closed(line, dead_lot), 150, "both layers closed"
        )
        _check(line, nan_lot, (5.0, 20.0))  # NaN at 5.00 … 20.00 m: 15 of 20 m
        _check(line, dead_lot, (12.0, 20.0))  # last scan at 11.98 m stands for the band to 12.00 m
    finally:
        await line.stop()
