"""Shared set-up for the benchmarks: a throwaway PostgreSQL database and a lot to measure into."""

from __future__ import annotations

import os
import statistics

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.db import make_engine, session_scope
from mes.demo import ENGINEER, ROOT, prepare
from mes.equipment.profile import Line, load_line
from mes.execution.scheduler import sync_units
from mes.lots.models import Characteristic, Layer, Lot
from mes.lots.orders import create_order, expand_order
from mes.migrate import upgrade
from tests.services import ServiceUrls, create_database

PG_ADMIN = os.environ.get("MES_TEST_DATABASE_URL", ServiceUrls.from_env().pg_admin_url)


def fresh_database() -> tuple[str, Engine]:
    url = create_database(PG_ADMIN, prefix="mes_bench")
    engine = make_engine(url)
    upgrade(engine)
    prepare(engine, ROOT / "recipes")
    return url, engine


def lot_with_layer(engine: Engine, line: Line, ref: str, size: float) -> tuple[int, int, int, int]:
    """(lot id, layer id, characteristic id of the first layer, step run id) of a new one-lot order."""
    with session_scope(engine) as session:
        sync_units(session, line)
        order = create_order(session, ref, 1, by=ENGINEER, line=line, lot_size=size)
        [lot] = expand_order(session, order)
        layer = session.exec(
            select(Layer).where(Layer.lot_id == lot.id).order_by(col(Layer.layer_index))
        ).first()
        assert layer is not None and layer.step_run_id is not None
        char = session.exec(select(Characteristic).where(Characteristic.layer_id == layer.id)).first()
        assert char is not None and lot.id is not None and layer.id is not None and char.id is not None
        return lot.id, layer.id, char.id, layer.step_run_id


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def describe(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms "
        f"(n={len(values)})"
    )


__all__ = ["Lot", "ROOT", "describe", "fresh_database", "load_line", "lot_with_layer", "percentile"]
