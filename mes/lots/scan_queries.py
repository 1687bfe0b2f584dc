"""Read the stored gauge scans of one characteristic of a lot, a bounded stretch at a time.

A 1,000 m roll at 1 cm pitch holds 100,000 scans per characteristic: one answer holds at most
:data:`MAX_SCANS`, counted before any is read, and a larger range is refused with the limit and a
range that fits. Lanes that are not numbers (NaN, ±Inf: the gauge measured nothing there) are None,
and empty cells in CSV: JSON has no NaN.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlmodel import Session, col, func, select

from mes.lots.errors import CharacteristicNotFound, ScansInvalid
from mes.lots.models import Characteristic, GaugeScan, Layer, Lot
from mes.lots.orders import get_lot
from mes.lots.schemas import LotScans, ScanPublic

MAX_SCANS = 10_000


def lot_characteristics(session: Session, lot: Lot) -> list[tuple[Layer, Characteristic]]:
    """Every characteristic of ``lot`` with its layer, in layer order, then as the recipe lists them."""
    return list(
        session.exec(
            select(Layer, Characteristic)
            .join(Characteristic, col(Characteristic.layer_id) == col(Layer.id))
            .where(Layer.lot_id == lot.id)
            .order_by(col(Layer.layer_index), col(Characteristic.id))
        ).all()
    )


def _characteristic(session: Session, lot: Lot, name: str) -> tuple[Layer, Characteristic]:
    """``LAYER.CHARACTERISTIC``, or ``CHARACTERISTIC`` alone when one layer of the lot has it."""
    rows = lot_characteristics(session, lot)
    known = [f"{layer.name}.{char.name}" for layer, char in rows]
    found = [(layer, char) for layer, char in rows if name in (f"{layer.name}.{char.name}", char.name)]
    if not found:
        have = ", ".join(known) if known else "none yet"
        raise CharacteristicNotFound(f"lot {lot.number} has no characteristic {name!r} (it has: {have})")
    if len(found) > 1:
        which = ", ".join(f"{layer.name}.{char.name}" for layer, char in found)
        raise ScansInvalid(
            f"characteristic {name!r} of lot {lot.number} is in more than one layer: give {which}"
        )
    return found[0]


def _lanes(values: list[float]) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in values]


def lot_scans(
    session: Session, number: str, characteristic: str, start_m: float = 0.0, end_m: float | None = None
) -> LotScans:
    """The scans of ``characteristic`` (``LAYER.NAME`` or ``NAME``) of lot ``number`` with
    ``start_m <= position_m < end_m`` (``end_m`` None: to the end), in position order.

    Raises :class:`LotNotFound`, :class:`CharacteristicNotFound`, and :class:`ScansInvalid` for an
    empty range or one holding more than :data:`MAX_SCANS` scans (nothing is read then).
    """
    if not math.isfinite(start_m) or (end_m is not None and not math.isfinite(end_m)):
        raise ScansInvalid("start_m and end_m are metres: finite numbers")
    if end_m is not None and not start_m < end_m:
        raise ScansInvalid(f"the range {start_m:g}–{end_m:g} m is empty: start_m must be below end_m")
    lot = get_lot(session, number)
    layer, char = _characteristic(session, lot, characteristic)
    where = [col(GaugeScan.characteristic_id) == char.id, col(GaugeScan.position_m) >= start_m]
    if end_m is not None:
        where.append(col(GaugeScan.position_m) < end_m)
    count = session.exec(select(func.count()).select_from(GaugeScan).where(*where)).one()
    if count > MAX_SCANS:
        span = MAX_SCANS * char.pitch_m
        to = f"{end_m:g}" if end_m is not None else "the end"
        raise ScansInvalid(
            f"{count} scans of {layer.name}.{char.name} between {start_m:g} m and {to}: one answer holds "
            f"at most {MAX_SCANS}; ask for at most {span:g} m at a time (start_m, end_m), "
            f"{char.pitch_m:g} m a scan"
        )
    rows = session.exec(
        select(GaugeScan)
        .where(*where)
        .order_by(col(GaugeScan.position_m), col(GaugeScan.seq))
        .limit(MAX_SCANS)  # scans stored since the count do not unbound the answer
    ).all()
    return LotScans(
        lot=lot.number,
        layer=layer.name,
        characteristic=char.name,
        unit=char.unit,
        lsl=char.lsl,
        target=char.target,
        usl=char.usl,
        lanes=char.lanes,
        pitch_m=char.pitch_m,
        start_m=start_m,
        end_m=end_m,
        count=len(rows),
        scans=[
            ScanPublic(
                seq=s.seq,
                position_m=s.position_m,
                measured_at=s.measured_at,
                lanes=_lanes(s.lane_values),
                min=s.min_value,
                mean=s.mean_value,
                max=s.max_value,
            )
            for s in rows
        ],  # fmt: skip
    )


def _number(value: float | None) -> str:
    """Every digit stored (``repr``): raw data, not a report; empty where there is no number."""
    return "" if value is None or not math.isfinite(value) else repr(value)


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def scans_csv(scans: LotScans) -> str:
    """One row per scan under a header: ``seq, position_m, measured_at`` (ISO 8601 UTC), ``min, mean,
    max`` and ``lane_0`` … ``lane_N-1``, values in the characteristic's unit with every stored digit;
    an empty cell where a lane has no number."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    width = max([scans.lanes, *(len(s.lanes) for s in scans.scans)])
    writer.writerow(
        ["seq", "position_m", "measured_at", "min", "mean", "max", *(f"lane_{i}" for i in range(width))]
    )
    for s in scans.scans:
        lanes = [_number(v) for v in s.lanes] + [""] * (width - len(s.lanes))
        writer.writerow([s.seq, _number(s.position_m), _time(s.measured_at), _number(s.min), _number(s.mean),
                         _number(s.max), *lanes])  # fmt: skip
    return buffer.getvalue()


@dataclass(frozen=True, eq=False)
class ScanGrid:
    """Every scan of one characteristic as arrays: ``positions`` (metres), ``values`` (scans × the
    widest scan's lanes, NaN past a scan's own lanes) and ``widths`` (each scan's lane count)."""

    positions: NDArray[np.float64]
    values: NDArray[np.float64]
    widths: NDArray[np.int64]


def scan_grid(session: Session, characteristic_id: int, *, order: Literal["seq", "position"]) -> ScanGrid:
    """The scans of a characteristic in gauge order (``seq``) or band order (``position``).

    The packed lanes (:class:`~mes.base.LaneValues`) are read as bytes and unpacked in one go:
    100,000 scans one by one took a second, this a tenth of it. Values are as stored (NaN and ±Inf
    included).
    """
    by = col(GaugeScan.seq) if order == "seq" else col(GaugeScan.position_m)
    rows = session.execute(
        select(GaugeScan.position_m, sa.type_coerce(GaugeScan.lane_values, sa.LargeBinary))
        .where(col(GaugeScan.characteristic_id) == characteristic_id)
        .order_by(by)  # the index on (characteristic, position) or (characteristic, seq): no sort
    ).all()
    positions = np.asarray([p for p, _ in rows], dtype=np.float64)
    blobs = [bytes(b) for _, b in rows]
    widths = np.asarray([len(b) // 8 for b in blobs], dtype=np.int64)
    width = int(widths.max()) if blobs else 0
    if blobs and bool((widths == width).all()):
        values = np.frombuffer(b"".join(blobs), dtype="<f8").reshape(len(blobs), width).copy()
    else:
        values = np.full((len(blobs), width), np.nan)
        for i, blob in enumerate(blobs):
            values[i, : widths[i]] = np.frombuffer(blob, dtype="<f8")
    return ScanGrid(positions, values, widths)
