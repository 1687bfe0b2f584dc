"""A lot's capability read model says what the quality report says, without the report's web profile
and segments: the same numbers from the same computation, and the same limits in force."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from mes.db import session_scope
from mes.quality.lot_capability import lot_capabilities
from mes.quality.report import report_of
from mes.quality.schemas import CapabilityPublic
from tests.quality.made_lots import BASELINE_1, SUSPECT, build
from tests.read_model_plant import HELD_BY_FAULT
from tests.read_model_plant import build as build_plant


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


def test_a_characteristic_with_no_complete_scan_has_no_capability_and_the_report_says_why(
    engine: Engine,
) -> None:
    # Expected: "no scans with every lane measured" — it was an IndexError (an empty (0, 0) array
    # indexed by column), a 500 on the lot's page and a traceback from `mes lot report`.
    build_plant(engine)
    with session_scope(engine) as s:
        for found in lot_capabilities(s, HELD_BY_FAULT):
            assert not isinstance(found.capability, CapabilityPublic)
            assert "no scans with every lane measured" in str(found.capability)
        [quality] = [c for layer in report_of(s, HELD_BY_FAULT).layers for c in layer.characteristics]
        assert not isinstance(quality.capability, CapabilityPublic)
