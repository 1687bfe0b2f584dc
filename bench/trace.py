"""Genealogy trace at 100 k lots: backward from random cells and forward from random electrode-lot
intervals, against a single indexed lookup of a lot by number in the same run.

    .venv/bin/python -m bench.trace --lots 100000
    .venv/bin/python -m bench.trace --lots 100000 --database-url postgresql://postgres@127.0.0.1:5432/postgres

Default: a SQLite file in a temporary folder. With --database-url (a PostgreSQL server where this
user may CREATE DATABASE) a throwaway database is created beside it and dropped at the end.

The plant: groups of one anode and one cathode lot (1,000 m each), one separator lot (2,000 m,
two plies) and 20 cell lots, each cell winding 50 m of both electrodes and 100 m of separator;
one copper and one aluminium foil lot (10,000 m) per ten electrode lots. Each electrode lot has a
coated layer with two characteristics scanned every --scan-pitch-m metres over 8 lanes and two
out-of-spec intervals; each cell lot has its winding-inspection layer and characteristic (no
scans). Nothing asserts a time: the figures are ratios to the lookup.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from mes.base import pk
from mes.db import make_engine, normalise_url
from mes.lots.models import (
    Characteristic,
    Disposition,
    GaugeScan,
    GenealogyLink,
    IntervalStatus,
    Layer,
    LayerResult,
    Lot,
    LotKind,
    LotStatus,
    OosInterval,
)
from mes.lots.orders import get_lot
from mes.lots.trace import backward, forward, walk_nodes
from mes.migrate import upgrade
from tests.services import create_database, drop_database

CELLS_PER_LOT = 20
ELECTRODE_M = 1000.0
FOIL_M = 10_000.0
LOTS_PER_FOIL = 10
LANES = 8
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def percentile(values: list[float], pct: float) -> float:
    # Same nearest-rank rule as bench.common, which imports the whole demo stack.
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def _chunks(rows: Iterator[dict[str, Any]], size: int = 20_000) -> Iterator[list[dict[str, Any]]]:
    while batch := list(islice(rows, size)):
        yield batch


class Plant:
    """Row generators for the benchmark plant; ids are assigned here so links need no read-back."""

    def __init__(self, lots: int, scan_pitch_m: float, seed: int) -> None:
        self.rng = random.Random(seed)
        self.scan_pitch_m = scan_pitch_m
        per_group = 3 + CELLS_PER_LOT + 2 / LOTS_PER_FOIL
        self.groups = max(1, round(lots / per_group))
        self.lots: list[dict[str, Any]] = []
        self.links: list[dict[str, Any]] = []
        self.electrodes: list[tuple[int, str]] = []  # (lot id, number) of coated lots
        self.cells: list[str] = []
        self.cell_ids: list[int] = []
        self.foils: list[str] = []
        self._plan()

    def _lot(self, number: str, kind: LotKind, length_m: float, **extra: Any) -> int:
        lot_id = len(self.lots) + 1
        row = {
            "id": lot_id,
            "number": number,
            "kind": kind,
            "status": extra.get("status", LotStatus.RELEASED),
            "length_m": length_m,
            "material": extra.get("material", ""),
            "supplier": extra.get("supplier"),
            "supplier_lot": extra.get("supplier_lot"),
            "created_at": T0,
            "updated_at": T0,
        }
        self.lots.append(row)
        return lot_id

    def _link(self, parent: int, child: int, role: str, start_m: float, end_m: float) -> None:
        self.links.append(
            {
                "id": len(self.links) + 1,
                "parent_lot_id": parent,
                "child_lot_id": child,
                "role": role,
                "parent_start_m": start_m,
                "parent_end_m": end_m,
                "created_at": T0,
            }
        )

    def _plan(self) -> None:
        cu = al = 0
        for g in range(self.groups):
            slot = g % LOTS_PER_FOIL
            if slot == 0:
                cu = self._lot(
                    f"R-CU-{g:06d}", LotKind.FOIL, FOIL_M, supplier="Foilco", supplier_lot=f"CU{g}"
                )
                al = self._lot(
                    f"R-AL-{g:06d}", LotKind.FOIL, FOIL_M, supplier="Foilco", supplier_lot=f"AL{g}"
                )
                self.foils.append(f"R-CU-{g:06d}")
            anode = self._lot(f"A-{g:06d}", LotKind.ANODE, ELECTRODE_M, status=LotStatus.CONSUMED)
            cathode = self._lot(f"K-{g:06d}", LotKind.CATHODE, ELECTRODE_M, status=LotStatus.CONSUMED)
            separator = self._lot(
                f"R-SEP-{g:06d}", LotKind.SEPARATOR, 2 * ELECTRODE_M, supplier="Sepco", supplier_lot=f"S{g}"
            )
            self._link(cu, anode, "substrate", slot * ELECTRODE_M, (slot + 1) * ELECTRODE_M)
            self._link(al, cathode, "substrate", slot * ELECTRODE_M, (slot + 1) * ELECTRODE_M)
            self.electrodes += [(anode, f"A-{g:06d}"), (cathode, f"K-{g:06d}")]
            per_cell = ELECTRODE_M / CELLS_PER_LOT
            for k in range(CELLS_PER_LOT):
                number = f"C-{g:06d}-{k:02d}"
                cell = self._lot(number, LotKind.CELL, per_cell, material="cells")
                self._link(anode, cell, "anode", k * per_cell, (k + 1) * per_cell)
                self._link(cathode, cell, "cathode", k * per_cell, (k + 1) * per_cell)
                self._link(separator, cell, "separator", 2 * k * per_cell, 2 * (k + 1) * per_cell)
                self.cells.append(number)
                self.cell_ids.append(cell)

    def layers(self) -> Iterator[dict[str, Any]]:
        # Electrode lots first (layer id = index + 1), then each cell's winding inspection.
        for i, (lot_id, _) in enumerate(self.electrodes):
            yield {
                "id": i + 1,
                "lot_id": lot_id,
                "layer_index": 0,
                "name": "coating",
                "material": "graphite" if i % 2 == 0 else "NMC811",
                "method": "slot_die",
                "disposition_policy": Disposition.HOLD_INTERVAL,
                "result": LayerResult.OUT_OF_SPEC,
            }
        for i, lot_id in enumerate(self.cell_ids):
            yield {
                "id": len(self.electrodes) + i + 1,
                "lot_id": lot_id,
                "layer_index": 0,
                "name": "winding-inspection",
                "material": "18650",
                "method": "winding",
                "disposition_policy": Disposition.HOLD_LOT,
                "result": LayerResult.IN_SPEC,
            }

    def characteristics(self) -> Iterator[dict[str, Any]]:
        common = {
            "pitch_m": self.scan_pitch_m,
            "lanes": LANES,
            "result": LayerResult.OUT_OF_SPEC,
            "n_values": 0,
        }
        for i in range(len(self.electrodes)):
            for j, (name, unit, target) in enumerate(
                (("coat_weight", "mg/cm2", 10.0), ("thickness", "um", 65.0))
            ):
                yield {
                    "id": 2 * i + j + 1,
                    "layer_id": i + 1,
                    "name": name,
                    "unit": unit,
                    "target": target,
                    "lsl": target * 0.95,
                    "usl": target * 1.05,
                    "gauge": name,
                    **common,
                }
        for i in range(len(self.cell_ids)):
            yield {
                "id": 2 * len(self.electrodes) + i + 1,
                "layer_id": len(self.electrodes) + i + 1,
                "name": "edge_deviation",
                "unit": "mm",
                "target": 0.0,
                "lsl": -0.5,
                "usl": 0.5,
                "gauge": "edge-camera",
                **common,
            }

    def scans(self) -> Iterator[dict[str, Any]]:
        per_lot = int(ELECTRODE_M / self.scan_pitch_m)
        for i, (lot_id, _) in enumerate(self.electrodes):
            for j, target in enumerate((10.0, 65.0)):
                char_id = 2 * i + j + 1
                for seq in range(per_lot):
                    values = [target * (1 + self.rng.gauss(0, 0.01)) for _ in range(LANES)]
                    yield {
                        "lot_id": lot_id,
                        "layer_id": i + 1,
                        "characteristic_id": char_id,
                        "seq": seq,
                        "position_m": seq * self.scan_pitch_m,
                        "measured_at": T0 + timedelta(seconds=seq),
                        "lane_values": values,
                        "min_value": min(values),
                        "mean_value": sum(values) / LANES,
                        "max_value": max(values),
                    }

    def intervals(self) -> Iterator[dict[str, Any]]:
        for i, (lot_id, _) in enumerate(self.electrodes):
            for status in (IntervalStatus.HELD, IntervalStatus.FLAGGED):
                start = self.rng.uniform(0, ELECTRODE_M - 20)
                yield {
                    "lot_id": lot_id,
                    "layer_id": i + 1,
                    "characteristic_id": 2 * i + 1,
                    "start_m": start,
                    "end_m": start + self.rng.uniform(0.5, 20),
                    "worst_value": 10.7,
                    "limit_value": 10.5,
                    "limit_kind": "usl",
                    "disposition": Disposition.HOLD_INTERVAL,
                    "status": status,
                    "opened_at": T0,
                }


def build(engine: Engine, plant: Plant) -> dict[str, int]:
    """Bulk-insert the plant (executemany per chunk); returns the rows per table."""
    tables: list[tuple[Any, Callable[[], Iterator[dict[str, Any]]]]] = [
        (Lot, lambda: iter(plant.lots)),
        (GenealogyLink, lambda: iter(plant.links)),
        (Layer, plant.layers),
        (Characteristic, plant.characteristics),
        (GaugeScan, plant.scans),
        (OosInterval, plant.intervals),
    ]
    counts: dict[str, int] = {}
    for model, rows in tables:
        table = model.__table__
        with Session(engine) as session:
            n = 0
            for batch in _chunks(rows()):
                session.execute(sa.insert(table), batch)
                n += len(batch)
            session.commit()
        counts[table.name] = n
    if engine.dialect.name == "postgresql":
        # Explicit ids leave the sequences behind; a later insert must not collide.
        with engine.begin() as conn:
            for name in ("lot", "genealogy_link", "layer", "characteristic"):
                conn.execute(
                    sa.text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), {counts[name]})")
                )
    # What autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) would leave behind on a live plant.
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    return counts


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def statements_of(engine: Engine, fn: Callable[[], object]) -> int:
    seen = [0]

    def count(*_args: Any) -> None:
        seen[0] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return seen[0]


def run(engine: Engine, lots: int, repeat: int, scan_pitch_m: float, seed: int) -> None:
    upgrade(engine)
    plant = Plant(lots, scan_pitch_m, seed)
    t0 = time.perf_counter()
    counts = build(engine, plant)
    print(f"built in {time.perf_counter() - t0:.0f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))

    rng = random.Random(seed + 1)
    lot_numbers = [row["number"] for row in plant.lots]

    def lookup(number: str) -> Callable[[], object]:
        def op() -> object:
            with Session(engine) as session:
                return get_lot(session, number)

        return op

    def trace_back(number: str) -> Callable[[], object]:
        def op() -> object:
            with Session(engine) as session:
                return backward(session, pk(get_lot(session, number)))

        return op

    def trace_forward(number: str, start_m: float | None, end_m: float | None) -> Callable[[], object]:
        def op() -> object:
            with Session(engine) as session:
                return forward(session, pk(get_lot(session, number)), start_m, end_m)

        return op

    def interval() -> tuple[float, float]:
        start = rng.uniform(0, ELECTRODE_M - 50)
        return start, start + rng.uniform(1, 50)

    def ops() -> dict[str, Callable[[], object]]:
        return {
            "lookup by number (baseline)": lookup(rng.choice(lot_numbers)),
            "backward from a cell": trace_back(rng.choice(plant.cells)),
            "forward from electrode metres": trace_forward(rng.choice(plant.electrodes)[1], *interval()),
            "forward from foil metres (2 levels)": trace_forward(rng.choice(plant.foils), *interval()),
        }

    for _ in range(20):  # warm the pool, the caches and the statement cache
        for op in ops().values():
            op()
    samples: dict[str, list[float]] = {name: [] for name in ops()}
    for _ in range(repeat):  # interleaved, so drift hits every operation alike
        for name, op in ops().items():
            samples[name].append(timed(op))

    example = ops()
    sizes = {
        "backward from a cell": len(walk_nodes(example["backward from a cell"]())) - 1,  # type: ignore[arg-type]
        "forward from electrode metres": len(example["forward from electrode metres"]()),  # type: ignore[arg-type]
        "forward from foil metres (2 levels)": len(example["forward from foil metres (2 levels)"]()),  # type: ignore[arg-type]
    }
    base_p50 = statistics.median(samples["lookup by number (baseline)"])
    base_p99 = percentile(samples["lookup by number (baseline)"], 99)
    print(
        f"{engine.dialect.name}, {counts['lot']:,} lots, {repeat} repetitions each, one session per operation"
    )
    print(f"{'operation':38} {'p50 ms':>8} {'p99 ms':>8} {'p50 ×':>7} {'p99 ×':>7} {'SQL':>4}  lots found")
    for name, values in samples.items():
        p50, p99 = statistics.median(values), percentile(values, 99)
        n_sql = statements_of(engine, ops()[name])
        found = sizes.get(name)
        print(
            f"{name:38} {p50 * 1000:8.2f} {p99 * 1000:8.2f} {p50 / base_p50:7.1f} {p99 / base_p99:7.1f} "
            f"{n_sql:4}  {'' if found is None else found}"
        )
    print("(× = ratio to the baseline; SQL = statements per operation, lookup included)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lots", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--scan-pitch-m", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", help="PostgreSQL server to create a throwaway database on")
    args = parser.parse_args()
    command = f".venv/bin/python -m bench.trace --lots {args.lots}"
    if args.database_url:
        admin = normalise_url(args.database_url)
        if make_url(admin).get_backend_name() != "postgresql":
            parser.error("--database-url names a PostgreSQL server (SQLite is the default)")
        url = create_database(admin, prefix="mes_bench_trace")
        engine = make_engine(url)
        try:
            run(engine, args.lots, args.repeat, args.scan_pitch_m, args.seed)
        finally:
            engine.dispose()
            drop_database(admin, url)
        command += f" --database-url {make_url(admin).render_as_string(hide_password=True)}"
    else:
        with tempfile.TemporaryDirectory(prefix="mes-bench-trace-") as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'mes.db'}")
            try:
                run(engine, args.lots, args.repeat, args.scan_pitch_m, args.seed)
            finally:
                engine.dispose()
    print("command:", command)


if __name__ == "__main__":
    main()
