"""Why a lot is on hold, read from its record and the audit trail (``LotDetail.holds``)."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from mes.audit.service import record
from mes.db import session_scope
from mes.lots.models import Lot, LotKind, LotStatus
from mes.lots.report import lot_detail
from mes.lots.schemas import HoldSource
from mes.quality.spec import hold_lot


def test_a_release_ends_the_holds_before_it_and_a_later_line_hold_is_named(engine: Engine) -> None:
    with session_scope(engine) as s:
        lot = Lot(number="A-7", kind=LotKind.ANODE, status=LotStatus.IN_PROCESS, length_m=10)
        s.add(lot)
        s.flush()
        hold_lot(s, lot, "layer si out of spec; recipe disposition hold_lot", layer="si")
        record(s, actor="qa", action="lot.release", entity_type="lot", entity_id="A-7", reason="re-measured")
        lot.status = LotStatus.IN_PROCESS
        hold_lot(s, lot, "layers not judged at the end of the lot: cap")
        [hold] = lot_detail(s, lot).holds
        assert (hold.source, hold.by, hold.signed) == (HoldSource.SYSTEM, "system", False)
        assert hold.what == "layers not judged at the end of the lot: cap" and hold.at is not None


def test_a_lot_on_hold_without_a_recorded_cause_says_so(engine: Engine) -> None:
    with session_scope(engine) as s:
        lot = Lot(number="A-8", kind=LotKind.ANODE, status=LotStatus.ON_HOLD, length_m=10)
        s.add(lot)
        s.flush()
        [hold] = lot_detail(s, lot).holds
        assert hold.what == "no cause found in the lot's record or the audit trail"
        lot.status = LotStatus.RELEASED
        assert lot_detail(s, lot).holds == []
