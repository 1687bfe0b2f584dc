"""A line whose sputter units are Vendor C coaters (node-opcua), driven by real workers and the collector.

Each unit is its own Vendor C server, started with its own fault, so the cases of
issue 10 run side by side on one line (one PostgreSQL database, one Redis
database, one set of worker processes). The MES knows the machines only through
``recipes/profiles/vendor-c-sputter.yaml``; the tests read the machines' own
counters through a plain asyncua client (``tests/peers/vendor_c_client.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import col, select

from mes.db import session_scope
from mes.equipment.models import EquipmentUnit
from mes.lots.models import (
    Characteristic,
    GaugeScan,
    IntervalKind,
    Layer,
    LayerResult,
    Lot,
    LotStatus,
    OosInterval,
    StepRun,
    StepRunState,
    WorkOrder,
    WorkOrderState,
)
from mes.quality.models import Alarm
from tests.lots.harness import LineUnderTest
from tests.peers.vendor_c_client import coater
from tests.peers.vendor_c_peer import vendor_c_machine

RECIPE = "thin-composite-anode-carbon@1"  # carbon-film: 500 nm ±20 %, pitch 0.01 m, 8 lanes
RATE_UM = 0.01313  # the machine's deposition constant that puts carbon-film on target
PITCH_M = 0.01
# node-opcua revises the profile's 20 ms to about 50 ms per sample (measured: one Lanes value per
# ≈ 50 ms whatever was asked), so a pitch must take longer than that: 0.394 m/min × 25 ≈ 0.16 m/s
# of band, a 0.01 m pitch every ≈ 60 ms. At × 50 one pitch in three was never seen.
TIME_SCALE = 25.0
TERMINAL = (StepRunState.COMPLETED, StepRunState.HELD, StepRunState.ABORTED, StepRunState.FAILED)


@dataclass
class Counters:
    """What the machine itself counted (PackTags Admin) and shows."""

    starts: int
    refused: int
    state: int
    batch_id: str


async def counters(endpoint: str) -> Counters:
    async with coater(endpoint) as c:
        return Counters(
            int(await c.read("starts")),
            int(await c.read("refused")),
            int(await c.read("state")),
            str(await c.read("batch_id") or ""),
        )


async def set_fault(endpoint: str, spec: str) -> None:
    async with coater(endpoint) as c:
        await c.write("sim_fault", spec)


@dataclass
class Outcome:
    """One unit's lot as the database has it."""

    unit: str
    step: StepRun
    lot: Lot
    layer: Layer
    char: Characteristic
    seqs: list[int]
    unmeasured: list[tuple[float, float]]
    alarms: list[Alarm] = field(default_factory=list)


@dataclass
class VendorLine:
    line: LineUnderTest
    endpoints: dict[str, str]  # unit → endpoint
    before: dict[str, Counters]

    def outcome(self, unit: str) -> Outcome:
        with session_scope(self.line.engine) as session:
            row = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == unit)).one()
            step = session.exec(select(StepRun).where(StepRun.equipment_unit_id == row.id)).one()
            lot = session.get(Lot, step.lot_id)
            assert lot is not None
            layer = session.exec(select(Layer).where(Layer.step_run_id == step.id)).one()
            char = session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).one()
            seqs = list(
                session.exec(
                    select(GaugeScan.seq)
                    .where(GaugeScan.characteristic_id == char.id)
                    .order_by(col(GaugeScan.id))
                ).all()
            )
            gaps = session.exec(
                select(OosInterval).where(
                    OosInterval.characteristic_id == char.id, OosInterval.kind == IntervalKind.UNMEASURED
                )
            ).all()
            alarms = session.exec(
                select(Alarm).where(col(Alarm.lot_id) == lot.id).order_by(col(Alarm.id))
            ).all()
            held = session.exec(select(Alarm).where(Alarm.condition == f"step:{step.id}:held")).all()
            every = list({a.id: a for a in (*alarms, *held)}.values())
            for obj in (step, lot, layer, char, *every):
                session.expunge(obj)
            return Outcome(unit, step, lot, layer, char, seqs, [(g.start_m, g.end_m) for g in gaps], every)

    def positions(self, out: Outcome) -> list[float]:
        with session_scope(self.line.engine) as session:
            return list(
                session.exec(
                    select(GaugeScan.position_m)
                    .where(GaugeScan.characteristic_id == out.char.id)
                    .order_by(col(GaugeScan.seq))
                ).all()
            )

    def order_states(self) -> list[WorkOrderState]:
        with session_scope(self.line.engine) as session:
            return [WorkOrderState(s) for s in session.exec(select(WorkOrder.state)).all()]

    def unit_health(self, unit: str) -> tuple[bool, str | None]:
        with session_scope(self.line.engine) as session:
            row = session.exec(select(EquipmentUnit).where(EquipmentUnit.name == unit)).one()
            return row.healthy, row.health_reason

    def steps_terminal(self) -> bool:
        steps = self.line.steps()
        return bool(steps) and all(s.state in TERMINAL for s in steps)

    def layers_closed(self) -> bool:
        """Every step ended, and the layer of every completed step closed."""
        if not self.steps_terminal():
            return False
        with session_scope(self.line.engine) as session:
            rows = session.exec(
                select(StepRun, Layer).join(Layer, col(Layer.step_run_id) == col(StepRun.id))
            ).all()
            return all(
                layer.closed_at is not None for step, layer in rows if step.state == StepRunState.COMPLETED
            )


@asynccontextmanager
async def vendor_line(
    tmp: Path, pg_url: str, broker: str, faults: dict[str, str]
) -> AsyncIterator[VendorLine]:
    """One Vendor C coater per unit (``faults`` maps unit → fault set at power-up), the line running."""
    with ExitStack() as machines:
        endpoints = {
            unit: machines.enter_context(
                vendor_c_machine(time_scale=TIME_SCALE, faults=spec, pitch_m=PITCH_M, rate_um=RATE_UM)
            )
            for unit, spec in faults.items()
        }
        line = LineUnderTest(
            tmp, pg_url, broker, list(faults), time_scale=TIME_SCALE, stale_after_s=2,
            external={unit: (endpoint, "vendor-c-sputter") for unit, endpoint in endpoints.items()},
        )  # fmt: skip
        before = {unit: await counters(endpoint) for unit, endpoint in endpoints.items()}
        try:
            await line.start()
            yield VendorLine(line, endpoints, before)
        finally:
            await line.stop()


def assert_never_released_unmade(vl: VendorLine) -> None:
    """Issue 10's invariants, for every lot of the line: a released lot was made and wholly measured,
    and no step is left looping (each ended, with its fault budgets bounded)."""
    with session_scope(vl.line.engine) as session:
        for step in session.exec(select(StepRun)).all():
            assert step.state in TERMINAL, (step.job_id, step.state, step.error)
            assert step.faults < 3 and step.link_failures < 10, (step.job_id, step.faults, step.link_failures)
            if step.state == StepRunState.HELD:
                alarm = session.exec(select(Alarm).where(Alarm.condition == f"step:{step.id}:held")).one()
                assert alarm.is_open, step.job_id
        for lot in session.exec(select(Lot).where(col(Lot.status) == LotStatus.RELEASED)).all():
            for layer in session.exec(select(Layer).where(Layer.lot_id == lot.id)).all():
                assert layer.result == LayerResult.IN_SPEC, (lot.number, layer.result)
                for char in session.exec(
                    select(Characteristic).where(Characteristic.layer_id == layer.id)
                ).all():
                    assert char.measured_m is not None
                    assert char.measured_m >= lot.length_m * char.min_coverage_pct / 100 - 1e-6, lot.number
            unmeasured = session.exec(
                select(OosInterval).where(
                    OosInterval.lot_id == lot.id, OosInterval.kind == IntervalKind.UNMEASURED
                )
            ).all()
            assert not unmeasured, lot.number
