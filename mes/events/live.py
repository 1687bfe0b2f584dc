"""Live process values: the message the collector publishes on Redis, and the same values read from
the database where there is no Redis (the embedded default).

Channel ``mes:live:UNIT`` (one per unit; readers subscribe to the pattern ``mes:live:*``) carries a
:class:`~mes.events.schemas.LiveMessage` as JSON: the newest scan of each gauge the collector read
for the step on that unit in one poll. Live values are measurements, not events: the database has
them as scans, and no stream replays them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from mes.equipment.models import EquipmentUnit
from mes.events.schemas import LiveMessage, LiveValue
from mes.lots.models import Characteristic, GaugeScan, Layer, Lot, StepRun

LIVE_PREFIX = "mes:live:"
LIVE_PATTERN = LIVE_PREFIX + "*"


def live_channel(unit: str) -> str:
    return LIVE_PREFIX + unit


def live_value(
    *, unit: str, lot: str, job: str, gauge: str, seq: int, position_m: float, measured_at_unix: float,
    lanes: list[float], published_at: datetime,
) -> LiveValue:  # fmt: skip
    """One gauge scan as a live value; min, mean and max over its lanes that are numbers."""
    finite = [v for v in lanes if math.isfinite(v)]
    return LiveValue(
        unit=unit,
        lot=lot,
        job=job,
        gauge=gauge,
        seq=seq,
        position_m=position_m,
        measured_at=datetime.fromtimestamp(measured_at_unix, UTC),
        min=min(finite) if finite else None,
        mean=sum(finite) / len(finite) if finite else None,
        max=max(finite) if finite else None,
        published_at=published_at,
    )


def parse_message(raw: bytes | str) -> LiveMessage:
    """A message read from ``mes:live:*`` (raises pydantic's ValidationError when it is not one)."""
    return LiveMessage.model_validate_json(raw)


def newest_scan_id(session: Session) -> int:
    return int(session.exec(select(sa.func.max(GaugeScan.id))).one() or 0)


def latest_values(session: Session, after: int) -> tuple[list[LiveValue], int]:
    """The newest scan of each characteristic among the scans stored after scan id ``after``, as
    live values, and the scan id to ask after next time."""
    newest = session.exec(
        select(sa.func.max(GaugeScan.id))
        .where(col(GaugeScan.id) > after)
        .group_by(col(GaugeScan.characteristic_id))
    ).all()
    ids = [i for i in newest if i is not None]
    if not ids:
        return [], after
    rows = session.execute(
        sa.select(
            *(col(c) for c in (GaugeScan.seq, GaugeScan.position_m, GaugeScan.measured_at)),
            *(col(c) for c in (GaugeScan.min_value, GaugeScan.mean_value, GaugeScan.max_value)),
            *(col(c) for c in (Characteristic.gauge, Lot.number, StepRun.job_id, EquipmentUnit.name)),
        )
        .join(Characteristic, col(Characteristic.id) == col(GaugeScan.characteristic_id))
        .join(Layer, col(Layer.id) == col(GaugeScan.layer_id))
        .join(Lot, col(Lot.id) == col(GaugeScan.lot_id))
        .join(StepRun, col(StepRun.id) == col(Layer.step_run_id))
        .join(EquipmentUnit, col(EquipmentUnit.id) == col(StepRun.equipment_unit_id))
        .where(col(GaugeScan.id).in_(ids))
        .order_by(col(GaugeScan.id))
    ).all()
    values = [
        LiveValue(
            unit=unit,
            lot=lot,
            job=job,
            gauge=gauge,
            seq=seq,
            position_m=position,
            measured_at=at,
            min=low,
            mean=mean,
            max=high,
        )  # fmt: skip
        for seq, position, at, low, mean, high, gauge, lot, job, unit in rows
    ]
    return values, max(ids)
