"""The band map of a lot: each characteristic's scans binned into at most :data:`MAX_COLUMNS`
stretches along the band, lane by lane across it, for a page to draw.

A 1,000 m roll at 1 cm pitch has 100,000 scans a characteristic; a screen has a thousand or so
pixels. Each bin keeps the value furthest from target of each lane (so a 1 cm excursion in a 2.5 m
bin still shows) and the lane's mean. Positions are metres from the start of the lot's roll.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session

from mes.base import pk
from mes.lots.models import Characteristic, Layer, Lot
from mes.lots.orders import get_lot
from mes.lots.scan_queries import lot_characteristics, scan_grid
from mes.lots.schemas import BandMap, LotBandMaps

MAX_COLUMNS = 400

Grid = NDArray[np.float64]


def lot_band_maps(session: Session, number: str, max_columns: int = MAX_COLUMNS) -> LotBandMaps:
    """The band map of every characteristic of lot ``number``. Raises :class:`LotNotFound`."""
    lot = get_lot(session, number)
    rows = lot_characteristics(session, lot)
    maps = [band_map(session, lot, layer, char, max_columns) for layer, char in rows]
    return LotBandMaps(lot=lot.number, length_m=lot.length_m, maps=maps)


def deviation(values: Grid, lsl: float, target: float, usl: float) -> Grid:
    """How far values are from ``target`` as a share of the spec on their side: 0 on target, +1 at the
    USL, −1 at the LSL, beyond ±1 out of spec (a target on a limit counts half the spec that side)."""
    half = (usl - lsl) / 2
    up, down = (usl - target) or half, (target - lsl) or half
    return np.where(values >= target, (values - target) / up, (values - target) / down)


def _rows(values: Grid) -> list[list[float | None]]:
    """(columns × lanes) → one list per lane, None where NaN (JSON has no NaN)."""
    return [[float(v) if math.isfinite(v) else None for v in lane] for lane in values.T.tolist()]


def band_map(session: Session, lot: Lot, layer: Layer, char: Characteristic, max_columns: int) -> BandMap:
    """The scans of ``char`` binned along the band (see :class:`BandMap`)."""
    lanes = char.lanes
    found = scan_grid(session, pk(char), order="position")
    positions, scans = found.positions, found.positions.size > 0
    grid = np.full((positions.size, lanes), np.nan)
    kept = min(lanes, found.values.shape[1])
    grid[:, :kept] = found.values[:, :kept]  # a scan's extra lanes are left out, missing ones NaN
    grid[~np.isfinite(grid)] = np.nan
    start_m = min(0.0, float(positions[0])) if scans else 0.0
    end_m = max(lot.length_m, float(positions[-1]) + char.pitch_m) if scans else lot.length_m
    columns = max(1, min(max_columns, math.ceil((end_m - start_m) / char.pitch_m - 1e-9)))
    column_m = (end_m - start_m) / columns
    # A millionth of a column of slack: 0.25 m is 25 × 0.01 m, though not in binary floating point.
    index = np.clip(np.floor((positions - start_m) / column_m + 1e-6).astype(np.int64), 0, columns - 1)
    counts = np.bincount(index, minlength=columns)
    worst = np.full((columns, lanes), np.nan)
    mean = np.full((columns, lanes), np.nan)
    if scans:
        used = np.flatnonzero(counts)
        starts = np.searchsorted(index, used)  # scans are in position order: a bin is a run of rows
        with np.errstate(invalid="ignore"):
            high = np.fmax.reduceat(grid, starts, axis=0)
            low = np.fmin.reduceat(grid, starts, axis=0)
            finite = np.isfinite(grid)
            sums = np.add.reduceat(np.where(finite, grid, 0.0), starts, axis=0)
            numbers = np.add.reduceat(finite.astype(np.int64), starts, axis=0)
            mean[used] = np.where(numbers > 0, sums / np.maximum(numbers, 1), np.nan)
        above = np.nan_to_num(deviation(high, char.lsl, char.target, char.usl), nan=-np.inf)
        below = np.nan_to_num(-deviation(low, char.lsl, char.target, char.usl), nan=-np.inf)
        worst[used] = np.where(above >= below, high, low)
    return BandMap(
        layer=layer.name,
        characteristic=char.name,
        unit=char.unit,
        lsl=char.lsl,
        target=char.target,
        usl=char.usl,
        lanes=lanes,
        pitch_m=char.pitch_m,
        start_m=start_m,
        end_m=end_m,
        column_m=column_m,
        columns=columns,
        scans=counts.tolist(),
        worst=_rows(worst),
        mean=_rows(mean),
    )
