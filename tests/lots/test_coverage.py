"""Coverage at the layer's close, on SQLite and PostgreSQL: nothing unmeasured is ever judged in spec.

A 20 m cathode lot (hold_interval), two characteristics gauged every 0.02 m. Each
case stores the scans a faulty gauge would have given and closes the layer as a
completing step does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from mes.base import pk
from mes.db import session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.profile import Line, load_line
from mes.execution.scheduler import finish_lot, sync_units
from mes.lots.genealogy import usable_segments
from mes.lots.models import (
    Characteristic,
    Disposition,
    IntervalKind,
    IntervalStatus,
    Layer,
    LayerResult,
    Lot,
    LotStatus,
    OosInterval,
)
from mes.lots.orders import create_order, expand_order
from mes.lots.scans import insert_scans, scan_row
from mes.quality.models import Alarm
from mes.quality.spec import close_layer
from tests.test_cli import run_mes

ROOT = Path(__file__).resolve().parents[2]
LENGTH_M, PITCH_M, SCANS = 20.0, 0.02, 1001  # positions 0.00 … 20.00 m
NAN = math.nan
Lanes = Callable[[int, float], list[float] | None]  # (index, position) → lanes, None: no scan


@pytest.fixture
def prepared(engine: Engine) -> Engine:
    line: Line = load_line(ROOT / "deploy" / "line.yaml")
    prepare(engine, ROOT / "recipes")
    with session_scope(engine) as session:
        sync_units(session, line)
        order = create_order(session, "cathode-lco@1", 1, by=ENGINEER, line=line, lot_size=LENGTH_M)
        expand_order(session, order)
    return engine


def _good(value: float) -> Lanes:
    return lambda _i, _pos: [value] * 6


GOOD_THICKNESS = _good(65.0)


def _store(session: Session, coat_weight: Lanes, thickness: Lanes = GOOD_THICKNESS) -> tuple[Lot, Layer]:
    lot = session.exec(select(Lot).where(col(Lot.work_order_id).is_not(None))).one()
    layer = session.exec(select(Layer).where(Layer.lot_id == lot.id)).one()
    lot.status = LotStatus.IN_PROCESS  # as when its step started
    for name, lanes in (("coat_weight", coat_weight), ("thickness", thickness)):
        char = session.exec(select(Characteristic).where(Characteristic.name == name)).one()
        rows = []
        for i in range(SCANS):
            pos = round(i * PITCH_M, 9)
            values = lanes(i, pos)
            if values is not None:
                rows.append(scan_row(pk(lot), pk(layer), pk(char), i + 1, pos, 1.7e9 + i, values))
        insert_scans(session, rows)
    return lot, layer


def _char(session: Session, name: str = "coat_weight") -> Characteristic:
    return session.exec(select(Characteristic).where(Characteristic.name == name)).one()


def _unmeasured(session: Session) -> list[tuple[float, float]]:
    rows = session.exec(
        select(OosInterval)
        .where(OosInterval.kind == IntervalKind.UNMEASURED)
        .order_by(col(OosInterval.start_m))
    ).all()
    assert all(i.status == IntervalStatus.HELD and i.worst_value is None for i in rows)  # hold_interval
    return [(round(i.start_m, 6), round(i.end_m, 6)) for i in rows]


def _close_and_finish(session: Session, lot: Lot, layer: Layer) -> LayerResult:
    result = close_layer(session, layer)
    finish_lot(session, lot)
    return result


def test_a_lot_with_15_of_20_m_nan_is_held_with_finite_statistics(prepared: Engine) -> None:
    # The case: released on PostgreSQL, and on SQLite the batch failed NOT NULL for ever.
    with session_scope(prepared) as session:
        lot, layer = _store(session, lambda _i, pos: [20.0] * 6 if pos < 5.0 - 1e-9 else [NAN] * 6)
        assert _close_and_finish(session, lot, layer) == LayerResult.INCOMPLETE
        char = _char(session)
        assert char.result == LayerResult.INCOMPLETE
        assert (char.n_values, char.min_value, char.mean_value, char.max_value) == (250 * 6, 20.0, 20.0, 20.0)
        assert char.stddev_value == 0.0
        assert char.measured_m == pytest.approx(5.0)
        assert _unmeasured(session) == [(5.0, 20.0)]
        assert _char(session, "thickness").result == LayerResult.IN_SPEC
        assert lot.status == LotStatus.ON_HOLD  # whatever the disposition
        assert usable_segments(session, lot) == [(0.0, 5.0)]
        [alarm] = session.exec(select(Alarm).where(col(Alarm.condition).startswith("coverage:"))).all()
        assert lot.number in alarm.message and "lco coat_weight" in alarm.message
        assert "5.00–20.00 m" in alarm.message and "measured 5.00 of 20 m (25.0 %" in alarm.message
        assert alarm.is_open and alarm.position_m == 5.0


def test_a_dead_gauge_leaves_the_tail_unmeasured(prepared: Engine) -> None:
    with session_scope(prepared) as session:
        lot, layer = _store(session, lambda i, _pos: [20.0] * 6 if i <= 600 else None)  # last scan at 12 m
        assert _close_and_finish(session, lot, layer) == LayerResult.INCOMPLETE
        assert _unmeasured(session) == [(12.02, 20.0)]
        assert lot.status == LotStatus.ON_HOLD


def test_missing_sequence_numbers_are_a_gap_but_a_missed_scan_or_two_is_bridged(prepared: Engine) -> None:
    with session_scope(prepared) as session:
        missing = {*range(300, 400), 700, 800, 801}  # 2 m gone; one and two scans gone
        lot, layer = _store(session, lambda i, _pos: None if i in missing else [20.0] * 6)
        # A scan that does not know where it was is no measurement (and must not fail the batch).
        char = _char(session)
        insert_scans(session, [scan_row(pk(lot), pk(layer), pk(char), 5_000, NAN, 1.7e9, [20.0] * 6)])
        assert _close_and_finish(session, lot, layer) == LayerResult.INCOMPLETE
        assert _unmeasured(session) == [(6.0, 8.0)]
        assert _char(session).measured_m == pytest.approx(18.0)
        # Closing again (a redelivered completion) adds nothing.
        close_layer(session, layer)
        assert _unmeasured(session) == [(6.0, 8.0)]
        assert len(session.exec(select(Alarm)).all()) == 1


def test_nan_lanes_are_unmeasured_but_their_finite_neighbours_are_still_judged(prepared: Engine) -> None:
    def lanes(_i: int, pos: float) -> list[float]:
        if 3.0 - 1e-9 <= pos <= 4.0 + 1e-9:
            return [NAN, NAN, 21.5, 20.0, 20.0, 20.0]  # two dead lanes, and over the USL (20.6)
        return [20.0] * 6

    with session_scope(prepared) as session:
        lot, layer = _store(session, lanes)
        assert _close_and_finish(session, lot, layer) == LayerResult.INCOMPLETE
        assert _unmeasured(session) == [(3.0, 4.02)]
        assert _char(session).max_value == 21.5 and _char(session).n_values == SCANS * 6 - 51 * 2


def test_a_characteristic_with_no_scans_holds_the_lot(prepared: Engine) -> None:
    with session_scope(prepared) as session:
        lot, layer = _store(session, lambda _i, _pos: None)
        assert _close_and_finish(session, lot, layer) == LayerResult.INCOMPLETE
        char = _char(session)
        assert (char.n_values, char.mean_value, char.measured_m) == (0, None, 0.0)
        assert _unmeasured(session) == [(0.0, 20.0)]
        assert lot.status == LotStatus.ON_HOLD


def test_a_gap_within_the_recipes_coverage_requirement_holds_only_its_metres(prepared: Engine) -> None:
    with session_scope(prepared) as session:
        _char(session).min_coverage_pct = 90.0
        lot, layer = _store(session, lambda i, _pos: None if 300 <= i < 350 else [20.0] * 6)
        assert _close_and_finish(session, lot, layer) == LayerResult.IN_SPEC
        assert _unmeasured(session) == [(6.0, 7.0)]
        assert lot.status == LotStatus.RELEASED
        assert usable_segments(session, lot) == [(0.0, 6.0), (7.0, 20.0)]


def test_unmeasured_metres_within_the_requirement_hold_the_lot_under_hold_lot(prepared: Engine) -> None:
    # 97.5 % measured against a 95 % requirement: judged, but under hold_lot the unmeasured
    # metres hold the lot as an out-of-spec stretch would (it was released before).
    with session_scope(prepared) as session:
        _char(session).min_coverage_pct = 95.0
        layer = session.exec(select(Layer)).one()
        layer.disposition_policy = Disposition.HOLD_LOT
        lot, layer = _store(session, lambda i, _pos: None if i >= 975 else [20.0] * 6)
        assert _close_and_finish(session, lot, layer) == LayerResult.IN_SPEC
        assert _unmeasured(session) == [(19.5, 20.0)]
        assert lot.status == LotStatus.ON_HOLD


def test_a_fully_measured_layer_is_in_spec_and_released(prepared: Engine) -> None:
    with session_scope(prepared) as session:
        lot, layer = _store(session, _good(20.0))
        assert _close_and_finish(session, lot, layer) == LayerResult.IN_SPEC
        assert _unmeasured(session) == [] and _char(session).measured_m == pytest.approx(20.0)
        assert lot.status == LotStatus.RELEASED


def test_a_lot_whose_layer_was_never_closed_is_not_released(prepared: Engine) -> None:
    with session_scope(prepared) as session:
        lot, _layer = _store(session, _good(20.0))
        finish_lot(session, lot)  # the layer is still pending
        assert lot.status == LotStatus.ON_HOLD


def test_lot_show_and_report_print_coverage_and_no_nan(prepared: Engine) -> None:
    with session_scope(prepared) as session:
        lot, layer = _store(session, lambda i, _pos: [NAN] * 6 if 500 <= i < 600 else [20.0] * 6)
        close_layer(session, layer)
        number = lot.number
    env = {"MES_DATABASE_URL": prepared.url.render_as_string(hide_password=False)}
    shown = run_mes("lot", "show", number, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "coat_weight mg_cm2 spec 19.4–20.6: incomplete" in shown.stdout
    assert "measured 18.00 of 20 m (90.0 %)" in shown.stdout
    assert "coat_weight 10.00–12.00 m: unmeasured, held" in shown.stdout
    for args in (("lot", "show", number, "--json"), ("lot", "report", number, "--format", "json")):
        result = run_mes(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert "NaN" not in result.stdout and "Infinity" not in result.stdout
        data = json.loads(result.stdout)
        [char] = [c for c in data["layers"][0]["characteristics"] if c["name"] == "coat_weight"]
        assert char["coverage"]["measured_m"] == pytest.approx(18.0)
        assert char["coverage"]["pct"] == pytest.approx(90.0)
        [interval] = [i for i in data["intervals"] if i["kind"] == "unmeasured"]
        assert (interval["start_m"], interval["end_m"], interval["worst"]) == (10.0, 12.0, None)
