"""A lot's capability read model says what the quality report says, without the report's web profile
and segments: the same numbers from the same computation, and the same limits in force."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from mes.db import session_scope
from mes.quality.lot_capability import lot_capabilities
from mes.quality.report import report_of
from mes.quality.schemas import CapabilityPublic
from tests.quality.made_lots import BASELINE_1, SUSPECT, build


def test_the_capability_of_a_lot_is_the_reports(engine: Engine) -> None:
    build(engine)
    with session_scope(engine) as s:
        for number in (BASELINE_1, SUSPECT):
            report = report_of(s, number)
            [quality] = [c for layer in report.layers for c in layer.characteristics]
            [found] = lot_capabilities(s, number)
            assert (found.layer, found.characteristic, found.unit) == ("carbon-film", "thickness", "nm")
            assert isinstance(found.capability, CapabilityPublic)
            assert found.capability == quality.capability
            assert found.scans_left_out == quality.scans_left_out
            assert found.control_limits == quality.control_limits
    # The suspect lot was made after the limits: watched with them; the baseline before: with none.
    with session_scope(engine) as s:
        assert lot_capabilities(s, BASELINE_1)[0].control_limits is None
        limits = lot_capabilities(s, SUSPECT)[0].control_limits
        assert (
            limits is not None
            and limits.unit == "sputter-1"
            and limits.recipe == "thin-composite-anode-carbon@1"
        )
