"""The band map read model: scans binned into at most MAX_COLUMNS columns along the band, per lane the
value furthest from target (a one-scan excursion survives the binning) and the mean; nothing measured
is None."""

from __future__ import annotations

import math

import pytest
from sqlalchemy.engine import Engine

from mes.base import pk
from mes.db import session_scope
from mes.lots.band_map import MAX_COLUMNS, deviation, lot_band_maps
from mes.lots.errors import LotNotFound
from mes.lots.models import Characteristic, Disposition, Layer, Lot, LotKind
from mes.lots.scans import insert_scans, scan_row

LANES = 4


def _lot(
    engine: Engine, length_m: float, scans: list[tuple[float, list[float]]], pitch_m: float = 0.01
) -> None:
    with session_scope(engine) as s:
        lot = Lot(number="A-1", kind=LotKind.ANODE, length_m=length_m)
        s.add(lot)
        s.flush()
        layer = Layer(lot_id=pk(lot), layer_index=0, name="si", material="Si", method="sputter",
                      disposition_policy=Disposition.FLAG_ONLY)  # fmt: skip
        s.add(layer)
        s.flush()
        char = Characteristic(layer_id=pk(layer), name="thickness", unit="nm", target=100, lsl=90, usl=120,
                              gauge="g", pitch_m=pitch_m, lanes=LANES)  # fmt: skip
        s.add(char)
        s.flush()
        insert_scans(s, (scan_row(pk(lot), pk(layer), pk(char), seq, p, 1.8e9 + seq, v)
                         for seq, (p, v) in enumerate(scans)))  # fmt: skip


def test_a_short_lot_has_a_column_a_scan(engine: Engine) -> None:
    _lot(engine, 0.05, [(i * 0.01, [100.0 + i, 100.0, math.nan, 100.0]) for i in range(5)])
    with session_scope(engine) as s:
        [m] = lot_band_maps(s, "A-1").maps
    assert (m.layer, m.characteristic, m.unit, m.lanes) == ("si", "thickness", "nm", LANES)
    assert m.columns == 5 and m.column_m == pytest.approx(0.01)
    assert m.scans == [1, 1, 1, 1, 1]
    assert m.worst[0] == pytest.approx([100.0, 101.0, 102.0, 103.0, 104.0])
    assert m.worst[2] == [None] * 5  # a lane the gauge never measured


def test_a_long_lot_is_bounded_and_keeps_a_one_scan_excursion(engine: Engine) -> None:
    scans = []
    for i in range(10_000):  # 100 m at 1 cm
        value = 130.0 if i == 4_321 else (85.0 if i == 7_000 else 100.0 + (i % 2))
        scans.append((i * 0.01, [value] * LANES))
    _lot(engine, 100.0, scans)
    with session_scope(engine) as s:
        [m] = lot_band_maps(s, "A-1").maps
    assert m.columns == MAX_COLUMNS and m.column_m == pytest.approx(0.25)
    assert sum(m.scans) == 10_000 and set(m.scans) == {25}
    # 43.21 m is in column 172 (43.00–43.25 m): the 130 nm scan, not the bin's mean, is its worst.
    assert m.worst[1][172] == 130.0 and m.mean[1][172] == pytest.approx((100 * 13 + 101 * 11 + 130) / 25)
    assert m.worst[1][280] == 85.0  # below the LSL: the worst on the low side
    assert m.worst[1][0] == 101.0  # calm: the value furthest from target
    assert m.mean[1][0] == pytest.approx(100.48)


def test_unmeasured_metres_are_none(engine: Engine) -> None:
    _lot(engine, 1.0, [(i * 0.01, [100.0] * LANES) for i in range(100) if not 40 <= i < 60])
    with session_scope(engine) as s:
        [m] = lot_band_maps(s, "A-1").maps
    assert m.columns == 100
    assert [c for c in range(100) if m.worst[0][c] is None] == list(range(40, 60))
    assert m.scans[40:60] == [0] * 20


def test_deviation_is_a_share_of_the_spec_on_its_side() -> None:
    import numpy as np

    found = deviation(np.asarray([100.0, 120.0, 90.0, 135.0, 95.0]), 90, 100, 120)
    assert found.tolist() == [0.0, 1.0, -1.0, 1.75, -0.5]


def test_a_lot_that_does_not_exist(engine: Engine) -> None:
    with session_scope(engine) as s, pytest.raises(LotNotFound):
        lot_band_maps(s, "NOPE")
