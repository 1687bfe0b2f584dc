"""A vendor's machine is a profile: the scheduler and the order desk respect what it does not have."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from mes.db import session_scope
from mes.demo import ENGINEER, prepare
from mes.equipment.profile import load_line
from mes.lots.errors import OrderRefused
from mes.lots.orders import create_order, unit_can_run
from mes.recipes.load import load_recipe_file

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "recipes" / "profiles"


def _line_without_argon(tmp: Path) -> Path:
    text = (PROFILES / "vendor-b-sputter.yaml").read_text()
    argon = "  ar_flow_sccm: {path: Line/Coater/Recipe/ArgonSccm, data_type: Double, unit: sccm, min: 0, max: 400}\n"
    assert argon in text
    profile = tmp / "no-argon.yaml"
    profile.write_text(
        text.replace(argon, "").replace("setpoints:\n", "absent_setpoints: [ar_flow_sccm]\nsetpoints:\n", 1)
    )
    line = tmp / "line.yaml"
    line.write_text(
        "line: vendor-line\nunits:\n"
        f"  - {{name: sputter-b, equipment_class: sputter, endpoint: 'opc.tcp://127.0.0.1:4990', profile: {profile}}}\n"
    )
    return line


def test_unit_without_a_setpoint_is_never_picked_and_the_refusal_names_it(
    engine: Engine, tmp_path: Path
) -> None:
    line = load_line(_line_without_argon(tmp_path))
    recipe = load_recipe_file(ROOT / "recipes" / "capped-si-anode.yaml").recipe
    assert recipe is not None
    reason = unit_can_run(line, "sputter-b", recipe.steps[0])
    assert (
        reason is not None and "has no setpoint ar_flow_sccm (absent in profile vendor-b-sputter)" in reason
    )
    prepare(engine, ROOT / "recipes")
    with pytest.raises(
        OrderRefused, match=r"no unit of line vendor-line can run it: sputter-b has no setpoint ar_flow_sccm"
    ):
        with session_scope(engine) as session:
            create_order(session, "capped-si-anode@1", 1, by=ENGINEER, line=line)
