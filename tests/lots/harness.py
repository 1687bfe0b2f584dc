"""A whole line in a test: simulators in this process, real Celery workers and the collector."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.config import Settings
from mes.db import make_engine, session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.profile import Line, load_line
from mes.execution.scheduler import sync_units
from mes.lots.models import GaugeScan, Lot, StepRun, StepRunState, WorkOrder, WorkOrderState
from mes.lots.orders import create_order
from mes.migrate import upgrade
from mes.runner import LineRunner
from tests.services import free_port
from workers.app import make_app

ROOT = Path(__file__).resolve().parents[2]
PROFILE = {"sputter": "packml-sputter", "coater": "packml-coater", "winder": "packml-winder"}


def write_line(path: Path, units: list[str], external: dict[str, tuple[str, str]] | None = None) -> Path:
    """A line file; ``external`` maps a unit to the (endpoint, profile name) of a machine run elsewhere."""
    text = "line: test-line\nunits:\n"
    for unit in units:
        cls = unit.split("-")[0]
        endpoint, profile = (external or {}).get(unit, (f"opc.tcp://127.0.0.1:{free_port()}", PROFILE[cls]))
        text += (f"  - {{name: {unit}, equipment_class: {cls}, endpoint: '{endpoint}', "
                 f"profile: {ROOT / 'recipes' / 'profiles' / (profile + '.yaml')}}}\n")  # fmt: skip
    path.write_text(text)
    return path


class LineUnderTest:
    def __init__(self, tmp: Path, database_url: str, broker_url: str, units: list[str], *,
                 time_scale: float = 1_000.0, stale_after_s: float = 6.0,
                 external: dict[str, tuple[str, str]] | None = None) -> None:  # fmt: skip
        self.tmp = tmp
        self.line_file = write_line(tmp / "line.yaml", units, external)
        self.line: Line = load_line(self.line_file)
        self.database_url = database_url
        self.env = {
            "MES_DATABASE_URL": database_url,
            "MES_BROKER_URL": broker_url,
            "MES_BROKER_FOLDER": str(tmp / "broker"),
            "MES_LINE_CONFIG": str(self.line_file),
            "MES_STEP_STALE_AFTER_S": str(stale_after_s),
        }
        self.engine: Engine = make_engine(database_url)
        self.runner = LineRunner(
            self.line, self.env, tmp, time_scale=time_scale, external=frozenset(external or {})
        )

    async def start(self, *, collector: bool = True) -> None:
        upgrade(self.engine)
        prepare(self.engine, ROOT / "recipes")
        with session_scope(self.engine) as session:
            sync_units(session, self.line)
        await self.runner.start_sims()
        self.runner.start_workers()
        if collector:
            await self.runner.start_collector(self.database_url)

    def order(self, ref: str, lots: int = 1, lot_size: float | None = None) -> int:
        """Create a work order and send its dispatch message through the configured broker."""
        with session_scope(self.engine) as session:
            order = create_order(session, ref, lots, by=ENGINEER, line=self.line, lot_size=lot_size)
            order_id = order.id
        assert order_id is not None
        settings = Settings(
            broker_url=self.env["MES_BROKER_URL"], broker_folder=Path(self.env["MES_BROKER_FOLDER"])
        )
        make_app(settings).send_task("mes.dispatch_order", (order_id,), queue="dispatch")
        return order_id

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout_s:g} s waiting for {what}; logs in {self.tmp}"
                )
            await asyncio.sleep(0.05)

    def steps(self) -> list[StepRun]:
        with session_scope(self.engine) as session:
            return list(session.exec(select(StepRun).order_by(col(StepRun.id))).all())

    def orders_done(self) -> bool:
        with session_scope(self.engine) as session:
            states = session.exec(select(WorkOrder.state)).all()
        # Held: nothing left to run, but a lot of it is on hold (decision 008).
        ended = (WorkOrderState.COMPLETED, WorkOrderState.ABORTED, WorkOrderState.HELD)
        return bool(states) and all(s in ended for s in states)

    def step_in(self, state: StepRunState, index: int = 0, **extra: object) -> bool:
        for step in self.steps():
            if step.step_index == index and step.state == state:
                if all(getattr(step, k) is not None for k in extra):
                    return True
        return False

    def assert_scans_complete(self, step: StepRun) -> int:
        """Every characteristic of the step holds exactly the scans (start, end] its gauge made."""
        from mes.lots.models import Characteristic, Layer

        total = 0
        with session_scope(self.engine) as session:
            layer = session.exec(select(Layer).where(Layer.step_run_id == step.id)).one()
            for char in session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).all():
                seqs = list(session.exec(select(GaugeScan.seq).where(GaugeScan.characteristic_id == char.id)
                                         .order_by(col(GaugeScan.seq))).all())  # fmt: skip
                low = (step.gauge_seq_start or {})[char.gauge]
                high = (step.gauge_seq_end or {})[char.gauge]
                assert seqs == list(range(low + 1, high + 1)), (
                    step.step_name,
                    char.gauge,
                    low,
                    high,
                    len(seqs),
                )
                total += len(seqs)
        return total

    def lots(self) -> list[Lot]:
        with session_scope(self.engine) as session:
            return list(session.exec(select(Lot).where(col(Lot.work_order_id).is_not(None))).all())

    async def stop(self) -> None:
        await self.runner.stop()
        self.runner.wait_workers()
        self.engine.dispose()
