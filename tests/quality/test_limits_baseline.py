"""Phase I limits only from a baseline fit to judge the line by: enough lots, and in control by its own rules.

Lots are stored rows with gauge scans (no line needed): each lot has complete
0.5 m segments of chosen means plus the usual short last segment.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from mes.audit.models import AuditEvent
from mes.auth.models import Role
from mes.auth.service import create_user
from mes.base import utcnow
from mes.db import make_engine, session_scope
from mes.equipment.models import EquipmentClass, EquipmentUnit
from mes.lots.models import Characteristic, Disposition, GaugeScan, Layer, Lot, LotKind, StepRun, StepRunState
from mes.migrate import upgrade
from mes.quality.errors import SpcError
from mes.quality.limits import compute_limits
from mes.quality.models import ControlLimit
from mes.recipes.models import Recipe as RecipeRow
from tests.test_cli import run_mes

SEGMENT_M, SCANS_PER_SEGMENT = 0.5, 5
BASE: dict[str, Any] = {"recipe_ref": "r@1", "unit": "sputter-1", "layer_name": "si",
                        "characteristic": "thickness", "by": "erin", "reason": "qualification"}  # fmt: skip


def _prepare(session: Session) -> tuple[int, int]:
    create_user(session, "erin", Role.ENGINEER, "engineer-pw")
    recipe = RecipeRow(name="r", version=1, title="r", product_family="f", content="{}", content_hash="h",
                       created_by="erin")  # fmt: skip
    unit = EquipmentUnit(name="sputter-1", equipment_class=EquipmentClass.SPUTTER, endpoint="x", profile="p")
    session.add(recipe)
    session.add(unit)
    session.flush()
    assert recipe.id is not None and unit.id is not None
    return recipe.id, unit.id


def _lot(session: Session, recipe_id: int, unit_id: int, number: str, means: list[float]) -> None:
    """A lot whose complete segments have these means (its last, short segment repeats the last mean)."""
    lot = Lot(number=number, kind=LotKind.ANODE, length_m=100, recipe_id=recipe_id)
    session.add(lot)
    session.flush()
    step = StepRun(lot_id=lot.id or 0, step_index=0, step_name="si", equipment_class=EquipmentClass.SPUTTER,
                   equipment_unit_id=unit_id, job_id=f"J-{number}", state=StepRunState.COMPLETED)  # fmt: skip
    session.add(step)
    session.flush()
    layer = Layer(lot_id=lot.id or 0, step_run_id=step.id, layer_index=0, name="si", material="Si",
                  method="sputter", disposition_policy=Disposition.HOLD_INTERVAL)  # fmt: skip
    session.add(layer)
    session.flush()
    char = Characteristic(layer_id=layer.id or 0, name="thickness", unit="nm", target=4000, lsl=3800, usl=4200,
                          gauge="g", pitch_m=SEGMENT_M / SCANS_PER_SEGMENT, lanes=2)  # fmt: skip
    session.add(char)
    session.flush()
    seq, now = 0, utcnow()
    for segment, mean in enumerate([*means, means[-1]] if means else []):
        for j in range(SCANS_PER_SEGMENT if segment < len(means) else 2):
            session.add(
                GaugeScan(
                    lot_id=lot.id or 0,
                    layer_id=layer.id or 0,
                    characteristic_id=char.id or 0,
                    seq=seq,
                    position_m=segment * SEGMENT_M + j * SEGMENT_M / SCANS_PER_SEGMENT,
                    measured_at=now + timedelta(seconds=seq),
                    lane_values=[mean, mean],
                    min_value=mean,
                    max_value=mean,
                    mean_value=mean,
                )  # fmt: skip
            )
            seq += 1
    session.flush()


def _in_control(n: int, seed: int) -> list[float]:
    """Normal noise, σ 2 nm; the seeds used give baselines that break no Nelson rule."""
    return list(4000 + np.random.default_rng(seed).normal(0, 2, n))


def _baseline(engine: Engine, lots: dict[str, list[float]]) -> None:
    with session_scope(engine) as session:
        recipe_id, unit_id = _prepare(session)
        for number, means in lots.items():
            _lot(session, recipe_id, unit_id, number, means)


def _audit(engine: Engine) -> AuditEvent:
    with session_scope(engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "spc.limits")).all()
        assert len(events) == 1
        session.expunge_all()
        return events[0]


def test_a_single_lot_baseline_is_refused_and_says_how_big_it_is(engine: Engine) -> None:
    _baseline(engine, {"L-01": _in_control(30, 3)})
    with session_scope(engine) as session, pytest.raises(SpcError) as info:
        compute_limits(session, **BASE, lot_numbers=["L-01"])
    message = str(info.value)
    # before: stored, and the next lot raised alarms on the shift between lots
    assert message.startswith("baseline of si.thickness refused (1 lot, 30 complete 0.5 m segments):")
    assert "- 1 lot is fewer than 20 (phase I wants 20–25 subgroups" in message
    assert "confirm with --accept-few-lots" in message
    with session_scope(engine) as session:
        assert session.exec(select(ControlLimit)).first() is None


def test_a_confirmed_short_baseline_is_stored_and_the_confirmation_audited(engine: Engine) -> None:
    _baseline(engine, {"L-01": _in_control(30, 3), "L-02": _in_control(30, 9)})
    with session_scope(engine) as session:
        result = compute_limits(session, **BASE, lot_numbers=["L-01", "L-02"], accept_few_lots=True)
        assert (result.lots, result.segments, result.baseline_violations) == (2, 60, 0)
        assert (
            result.limit.source == "phase I from lots L-01, L-02; accepted by erin: few lots, 0 violation(s)"
        )
    event = _audit(engine)
    assert event.actor == "erin"
    assert event.after is not None
    assert event.after["baseline_lots"] == 2 and event.after["n_baseline"] == 60
    assert event.after["accepted"] == [
        "few lots: 2 lots are fewer than 20 (phase I wants 20–25 subgroups, and the segments of one lot "
        "show little of the variation between lots)"
    ]


def _twenty_lots(shifted: str | None = None) -> dict[str, list[float]]:
    lots = {f"L-{i:02d}": _in_control(3, 100 + i) for i in range(1, 21)}  # the minimum, 20
    if shifted:
        lots[shifted] = [4060.0, *lots[shifted][1:]]  # 30 σ off in its first segment
    return lots


def test_a_baseline_in_control_with_enough_lots_needs_no_confirmation(engine: Engine) -> None:
    lots = _twenty_lots()
    _baseline(engine, lots)
    with session_scope(engine) as session:
        result = compute_limits(session, **BASE, lot_numbers=list(lots))
        assert (result.lots, result.segments, result.baseline_violations, result.accepted) == (20, 60, 0, [])
        assert result.limit.lcl < 4000 < result.limit.ucl
    event = _audit(engine)
    assert event.after is not None and "accepted" not in event.after


def test_a_baseline_breaking_its_own_rules_is_refused_with_each_violation(engine: Engine) -> None:
    lots = _twenty_lots(shifted="L-07")
    _baseline(engine, lots)
    with session_scope(engine) as session, pytest.raises(SpcError) as info:
        compute_limits(session, **BASE, lot_numbers=list(lots))
    lines = str(info.value).splitlines()
    assert lines[0] == "baseline of si.thickness refused (20 lots, 60 complete 0.5 m segments):"
    assert lines[1].startswith(
        "- its own points break the nelson rules against the limits computed from them"
    )
    assert lines[1].endswith("1 violation(s)")
    assert lines[2] == "    nelson-1 (1 point beyond 3σ) at lot L-07 segment 0 (0–0.5 m)"
    assert lines[3].endswith("or confirm with --accept-violations")
    with session_scope(engine) as session:
        assert session.exec(select(ControlLimit)).first() is None


def test_accepted_violations_are_stored_and_audited(engine: Engine) -> None:
    lots = _twenty_lots(shifted="L-07")
    _baseline(engine, lots)
    with session_scope(engine) as session:
        result = compute_limits(session, **BASE, lot_numbers=list(lots), accept_violations=True)
        assert result.baseline_violations == 1
    event = _audit(engine)
    assert event.after is not None
    assert event.after["accepted"] == [
        "baseline violation: nelson-1 (1 point beyond 3σ) at lot L-07 segment 0 (0–0.5 m)"
    ]
    assert event.reason == "qualification"


def test_a_lot_named_twice_is_refused(engine: Engine) -> None:
    _baseline(engine, {"L-01": _in_control(30, 3)})
    with session_scope(engine) as session, pytest.raises(SpcError, match="lot L-01 is named twice"):
        compute_limits(session, **BASE, lot_numbers=["L-01", "L-01"], accept_few_lots=True)


def test_a_lot_without_a_complete_segment_is_refused_not_skipped(engine: Engine) -> None:
    # before: a lot with no scans was left out in silence, and the baseline looked one lot bigger
    _baseline(engine, {"L-01": _in_control(30, 3), "L-02": []})
    with session_scope(engine) as session, pytest.raises(SpcError) as info:
        compute_limits(session, **BASE, lot_numbers=["L-01", "L-02"], accept_few_lots=True)
    assert str(info.value) == (
        "lot L-02 has no complete 0.5 m segment of si.thickness measured; leave it out of the baseline"
    )


def test_the_command_takes_the_confirmations(empty_db_url: str, tmp_path: Path) -> None:
    engine = make_engine(empty_db_url)
    upgrade(engine)
    _baseline(engine, {"L-01": _in_control(30, 3)})
    engine.dispose()
    env = {"MES_DATABASE_URL": empty_db_url}
    args = ["spc", "limits", "compute", "--recipe", "r@1", "--unit", "sputter-1", "--layer", "si",
            "--characteristic", "thickness", "--lots", "L-01", "--by", "erin", "--reason", "trial"]  # fmt: skip
    refused = run_mes(*args, env=env, cwd=tmp_path)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "baseline of si.thickness refused (1 lot, 30 complete 0.5 m segments)" in refused.stderr
    stored = run_mes(*args, "--accept-few-lots", env=env, cwd=tmp_path)
    assert stored.returncode == 0, stored.stderr
    assert "baseline 1 lot(s), 30 segments of 0.5 m" in stored.stdout
    assert "accepted: few lots: 1 lot is fewer than 20" in stored.stdout
