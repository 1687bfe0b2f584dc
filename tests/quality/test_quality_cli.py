"""``mes alarm …`` and ``mes spc limits …`` as a user runs them: a separate process, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.auth.service import create_user
from mes.db import make_engine, session_scope
from mes.demo import ENGINEER, prepare
from mes.migrate import upgrade
from mes.quality import alarms
from mes.quality.errors import SpcError
from mes.quality.limits import compute_limits
from tests.test_cli import assert_one_line_error, run_mes

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(empty_db_url: str) -> dict[str, str]:
    engine = make_engine(empty_db_url)
    upgrade(engine)
    with session_scope(engine) as session:
        create_user(session, "op", Role.OPERATOR, "operator-pw")
        alarms.raise_alarm(session, "coater-1:gap", "slot-die gap drifting")
    engine.dispose()
    return {"MES_DATABASE_URL": empty_db_url}


def test_alarm_list_ack_shelve(env: dict[str, str], tmp_path: Path) -> None:
    listed = json.loads(run_mes("alarm", "list", "--json", env=env, cwd=tmp_path).stdout)
    assert [(a["id"], a["state"], a["message"]) for a in listed] == [
        (1, "active_unack", "slot-die gap drifting")
    ]
    shelved = run_mes("alarm", "shelve", "1", "--minutes", "30", "--by", "op", "--reason", "die change",
                      env=env, cwd=tmp_path)  # fmt: skip
    assert shelved.returncode == 0 and "shelved by op until" in shelved.stdout
    assert json.loads(run_mes("alarm", "list", "--json", env=env, cwd=tmp_path).stdout)[0]["shelved_until"]
    acked = run_mes("alarm", "ack", "1", "--by", "op", "--comment", "seen", env=env, cwd=tmp_path)
    assert acked.returncode == 0 and "now active_ack" in acked.stdout
    assert_one_line_error(
        run_mes("alarm", "ack", "1", "--by", "op", env=env, cwd=tmp_path), "nothing to acknowledge"
    )
    assert_one_line_error(run_mes("alarm", "ack", "7", "--by", "op", env=env, cwd=tmp_path), "no alarm 7")
    assert_one_line_error(
        run_mes(
            "alarm", "shelve", "1", "--minutes", "600", "--by", "op", "--reason", "x", env=env, cwd=tmp_path
        ),
        "at most 480 minutes, not 600 minutes",
        code=2,  # a duration no alarm can be shelved for: a usage error (it was 1, and "not 36000 s")
    )
    assert run_mes("alarm", "list", "--all", env=env, cwd=tmp_path).returncode == 0


def test_limits_refuse_bad_baselines(engine: Engine) -> None:
    prepare(engine, ROOT / "recipes")
    base: dict[str, Any] = {
        "recipe_ref": "capped-si-anode@1",
        "unit": "sputter-1",
        "layer_name": "si-active",
        "characteristic": "thickness",
        "by": ENGINEER,
        "reason": "qualification",
    }
    cases: list[tuple[dict[str, Any], str]] = [
        ({"lot_numbers": []}, "at least one baseline lot"),
        ({"lot_numbers": ["X"], "rules": "shewhart"}, "not 'shewhart'"),
        ({"lot_numbers": ["X"], "rules": "nelson:1,9"}, "no rule 9"),
        ({"lot_numbers": ["X"], "rules": "nelson:a"}, "rule numbers"),
        ({"lot_numbers": ["X"], "segment_m": 0}, "segment length"),
        ({"lot_numbers": ["X"], "recipe_ref": "capped-si-anode"}, "ID@VERSION"),
        ({"lot_numbers": ["X"]}, "no equipment unit 'sputter-1'"),
    ]
    for extra, match in cases:
        with session_scope(engine) as session, pytest.raises(Exception, match=match) as caught:
            compute_limits(session, **{**base, **extra})
        assert isinstance(caught.value, SpcError) or "VERSION" in match
    with session_scope(engine) as session, pytest.raises(Exception, match="may not set control limits"):
        create_user(session, "op", Role.OPERATOR, "operator-pw")
        session.flush()
        compute_limits(session, **{**base, "by": "op", "lot_numbers": ["X"]})
