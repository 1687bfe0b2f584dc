"""Ingestion: gauge values per second from a simulator through the collector's path into PostgreSQL
with spec evaluation, against a raw batched insert of the same rows in the same run.

    .venv/bin/python -m bench.ingestion [--metres 200]

Also prints the bytes stored per gauge value and the time to read one metre of a 1,000 m layer.
Target: collector path ≥ 50 % of the raw insert rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import sqlalchemy as sa
from sqlmodel import col, select

from bench.common import PG_ADMIN, fresh_database, load_line, lot_with_layer
from mes.db import session_scope
from mes.equipment.driver import ScanRecord, UnitDriver
from mes.equipment.jobs import run_job
from mes.equipment.models import EquipmentUnit
from mes.execution.scheduler import plan
from mes.execution.steps import ingest
from mes.lots.models import StepRun, StepRunState
from mes.lots.scans import insert_scans, scan_row
from mes.sim.unit import SimUnit
from tests.lots.harness import write_line
from tests.services import drop_database

SETPOINTS = {
    "power_w": 1500.0,
    "pressure_pa": 0.6,
    "ar_flow_sccm": 30.0,
    "substrate_temp_c": 25.0,
    "web_speed_m_min": 0.135,
    "passes": 10,
    "tension_n": 57.0,
}


async def main(metres: float) -> None:
    import tempfile
    from pathlib import Path

    tmp = Path(tempfile.mkdtemp())
    line = load_line(write_line(tmp / "line.yaml", ["sputter-1"]))
    url, engine = fresh_database()
    try:
        lot_id, layer_id, char_id, step_id = lot_with_layer(engine, line, "capped-si-anode@1", metres)
        cfg = line.unit("sputter-1")
        sim = SimUnit("sputter-1", line.profiles["sputter-1"], cfg.endpoint, time_scale=200_000, seed=1)
        await sim.start()
        driver = UnitDriver(cfg, line.profiles["sputter-1"])
        await driver.connect()
        start_seq = await driver.last_seq("xrf")
        await run_job(
            driver, job_id="BENCH-1", setpoints=SETPOINTS, product="Si", length_m=metres, timeout_s=600
        )
        with session_scope(engine) as session:
            unit_id = session.exec(select(EquipmentUnit.id).where(EquipmentUnit.name == "sputter-1")).one()
            session.execute(
                sa.update(StepRun)
                .where(col(StepRun.id) == step_id)
                .values(
                    state=StepRunState.RUNNING,
                    gauge_seq_start={"xrf": start_seq},
                    chain_token="bench",
                    equipment_unit_id=unit_id,
                )
            )
        with session_scope(engine) as session:
            current = plan(session, step_id, lock=False)
        assert current is not None

        # The collector's path: read scans by sequence number over OPC UA, store, check against spec.
        t0 = time.perf_counter()
        scans: list[ScanRecord] = []
        nxt = start_seq + 1
        while True:
            batch = await driver.read_scans("xrf", nxt, 5_000)
            if not batch:
                break
            with session_scope(engine) as session:
                ingest(session, current, {"xrf": batch}, low={"xrf": start_seq})
            scans.extend(batch)
            nxt = batch[-1].seq + 1
        collector_s = time.perf_counter() - t0
        values = sum(len(s.values) for s in scans)

        # Baseline: the same rows, batched straight into the table (another characteristic id space).
        rows = [
            scan_row(lot_id, layer_id, char_id, s.seq + 10_000_000, s.position_m, s.measured_at, s.values)
            for s in scans
        ]
        t0 = time.perf_counter()
        for i in range(0, len(rows), 5_000):
            with session_scope(engine) as session:
                insert_scans(session, rows[i : i + 5_000])
        raw_s = time.perf_counter() - t0

        with engine.connect() as conn:
            size = conn.execute(sa.text("SELECT pg_total_relation_size('gauge_scan')")).scalar_one()
            stored_values = conn.execute(sa.text("SELECT COUNT(*) FROM gauge_scan")).scalar_one() * 8
            conn.execute(sa.text("ANALYZE gauge_scan"))
            reads = []
            for i in range(30):
                lo = (i * 7) % max(1, int(metres) - 1)
                t0 = time.perf_counter()
                conn.execute(
                    sa.text(
                        "SELECT seq, lane_values FROM gauge_scan WHERE lot_id = :l AND layer_id = :y "
                        "AND position_m BETWEEN :a AND :b"
                    ),
                    {"l": lot_id, "y": layer_id, "a": lo, "b": lo + 1},
                ).fetchall()
                reads.append(time.perf_counter() - t0)
        await driver.disconnect()
        await sim.stop()
        collector_rate, raw_rate = values / collector_s, values / raw_s
        print(f"scans: {len(scans)} ({values} gauge values, {metres:g} m at 1 cm, 8 lanes)")
        print(f"collector path (OPC UA read + store + spec): {collector_rate:,.0f} values/s")
        print(f"raw batched insert of the same rows:          {raw_rate:,.0f} values/s")
        print(f"ratio collector / raw: {collector_rate / raw_rate:.2f}  (target >= 0.50)")
        print(f"bytes stored per gauge value (table + indexes): {size / stored_values:.1f}")
        print(f"read one metre of a {metres:g} m layer: median {statistics.median(reads) * 1000:.2f} ms")
        print("command: .venv/bin/python -m bench.ingestion --metres", f"{metres:g}")
    finally:
        engine.dispose()
        drop_database(PG_ADMIN, url)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metres", type=float, default=200.0)
    asyncio.run(main(parser.parse_args().metres))
