"""The lot as ``mes lot show`` presents it: the record, with each hold linked to the alarms it raised.

The record (:func:`mes.lots.report.lot_detail`) knows why a lot is held; the alarms raised for
the same cause are quality's. A step fault's hold goes with the open alarms of the lot on that
step's unit that are not about a characteristic; a layer's or an interval's hold with the open
alarms of the lot about that layer's (or interval's) characteristics.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from mes.auth.signatures import signatures_of
from mes.base import pk
from mes.equipment.models import EquipmentUnit
from mes.lots.models import Characteristic, Layer, Lot
from mes.lots.orders import get_lot
from mes.lots.report import lot_detail
from mes.lots.schemas import HoldReason, HoldSource, LotDetail
from mes.lots.trace import backward, forward
from mes.quality.models import Alarm
from mes.quality.schemas import Genealogy, LotRecord


def _alarm_ids(
    hold: HoldReason, alarms: list[Alarm], unit_ids: dict[str, int], chars: dict[int, tuple[str, str]]
) -> list[int]:
    found = []
    for alarm in alarms:
        if hold.source == HoldSource.STEP and hold.unit is not None:
            hit = alarm.characteristic_id is None and alarm.equipment_unit_id == unit_ids.get(hold.unit)
        elif hold.layer is not None and alarm.characteristic_id in chars:
            layer, name = chars[alarm.characteristic_id]
            hit = layer == hold.layer and hold.characteristic in (None, name)
        else:
            hit = False
        if hit and alarm.id is not None:
            found.append(alarm.id)
    return found


def lot_view(session: Session, lot: Lot) -> LotDetail:
    """:func:`~mes.lots.report.lot_detail` with the open alarms of each hold (``alarm_ids``)."""
    detail = lot_detail(session, lot)
    alarms = list(
        session.exec(select(Alarm).where(Alarm.lot_id == lot.id, col(Alarm.is_open)).order_by(col(Alarm.id)))
    )
    if not alarms or not detail.holds:
        return detail
    unit_ids = {u.name: u.id for u in session.exec(select(EquipmentUnit)) if u.id is not None}
    chars = {
        c.id: (layer.name, c.name)
        for c, layer in session.exec(
            select(Characteristic, Layer)
            .join(Layer, col(Layer.id) == col(Characteristic.layer_id))
            .where(Layer.lot_id == lot.id)
        )
        if c.id is not None
    }
    holds = [h.model_copy(update={"alarm_ids": _alarm_ids(h, alarms, unit_ids, chars)}) for h in detail.holds]
    return detail.model_copy(update={"holds": holds})


def lot_record(session: Session, number: str) -> LotRecord:
    """:func:`lot_view` of lot ``number`` with genealogy both ways (inputs back to the suppliers' lots,
    every lot made from it) and its electronic signatures. Raises :class:`LotNotFound`."""
    lot = get_lot(session, number)
    detail = lot_view(session, lot)
    lot_id = pk(lot)
    return LotRecord(
        **detail.model_dump(),
        genealogy=Genealogy(backward=backward(session, lot_id), forward=forward(session, lot_id)),
        signatures=signatures_of(session, "lot", lot.number),
    )
