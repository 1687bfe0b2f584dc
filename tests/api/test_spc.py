"""SPC through the API: the limits in force, and the control chart of a characteristic per lot or over
the last lots of a recipe on a unit, each lot judged by the limits in force when its layer closed."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from mes.auth.models import Role
from mes.db import session_scope
from mes.lots.models import GaugeScan, Lot
from mes.quality.limits import segment_means
from tests.api.conftest import Callers, TestClient
from tests.quality.made_lots import (
    BASELINE_1,
    BASELINE_2,
    CHARACTERISTIC,
    OOS_M,
    RECIPE,
    SHIFT_M,
    SUSPECT,
    UNIT,
    MadeLots,
    build,
)

API = "/api/v1"


@pytest.fixture
def made(engine: Engine) -> MadeLots:
    return build(engine)


def test_the_limits_in_force(client: TestClient, callers: Callers, made: MadeLots) -> None:
    answer = client.get(f"{API}/spc/limits", headers=callers.bearer(Role.OPERATOR))
    assert answer.status_code == 200
    [limit] = answer.json()
    assert (limit["recipe"], limit["unit"], limit["layer"], limit["characteristic"]) == (
        RECIPE,
        UNIT,
        "carbon-film",
        "thickness",
    )
    assert limit["active"] and limit["segment_m"] == 0.5 and limit["rules"] == "nelson"


def test_the_chart_of_the_last_lots_judges_each_lot_by_its_own_limits(
    client: TestClient, callers: Callers, made: MadeLots
) -> None:
    query = {"recipe": RECIPE, "unit": UNIT, "characteristic": CHARACTERISTIC, "lots": 3}
    chart = client.get(f"{API}/spc/chart", params=query, headers=callers.bearer(Role.OPERATOR)).json()
    assert (chart["recipe"], chart["unit"], chart["layer"], chart["value_unit"]) == (
        RECIPE,
        UNIT,
        "carbon-film",
        "nm",
    )
    assert [(r["lot"], r["first"], r["count"]) for r in chart["lots"]] == [
        (BASELINE_1, 0, 40),
        (BASELINE_2, 40, 40),
        (SUSPECT, 80, 38),  # 20 m in half metres, less the unmeasured 16–17 m
    ]
    # The baseline lots closed before the limits were computed: nothing judged them.
    assert [r["limits"] is None for r in chart["lots"]] == [True, True, False]
    assert chart["lots"][0]["note"] == "no control limits were in force: spec limits only"
    assert len(chart["mean"]) == len(chart["start_m"]) == len(chart["scans"]) == 118
    assert chart["start_m"][80:83] == [0.0, 0.5, 1.0] and set(chart["scans"][:40]) == {50}
    places = {(v["lot"], v["start_m"]) for v in chart["violations"]}
    assert all(lot == SUSPECT for lot, _ in places)
    assert {m for _, m in places} >= {SHIFT_M[0], OOS_M[0]}
    first = chart["violations"][0]
    assert (first["rule"], first["meaning"], first["index"]) == ("nelson-1", "1 point beyond 3σ", 80 + 12)
    assert chart["mean"][first["index"]] > chart["lots"][2]["limits"]["ucl"]

    newest = client.get(f"{API}/spc/chart", params={**query, "lots": 1}, headers=callers.bearer(Role.QUALITY))
    assert [r["lot"] for r in newest.json()["lots"]] == [SUSPECT]


def test_the_chart_of_one_lot_has_the_segment_means_the_line_charts(
    client: TestClient, callers: Callers, made: MadeLots, engine: Engine
) -> None:
    token = callers.bearer(Role.ENGINEER)
    for name in (CHARACTERISTIC, "thickness"):
        chart = client.get(f"{API}/spc/chart", params={"lot": SUSPECT, "characteristic": name}, headers=token)
        assert chart.status_code == 200, chart.text
        assert [r["lot"] for r in chart.json()["lots"]] == [SUSPECT]
        assert len(chart.json()["mean"]) == 38
    # The database adds the segments up; numpy's floor and the monitor's segment_means agree with it.
    with session_scope(engine) as s:
        lot = s.exec(select(Lot).where(Lot.number == SUSPECT)).one()
        rows = s.exec(
            select(GaugeScan.position_m, GaugeScan.mean_value).where(
                GaugeScan.lot_id == lot.id, col(GaugeScan.mean_value).is_not(None)
            )
        ).all()
    data = np.asarray([tuple(r) for r in rows], dtype=np.float64)
    keys, means = segment_means(data[:, 0], data[:, 1], 0.5)
    found = chart.json()
    assert found["start_m"] == (keys * 0.5).tolist()
    assert found["mean"] == pytest.approx(means.tolist(), rel=1e-12)
    assert found["scans"] == np.unique(np.floor(data[:, 0] / 0.5), return_counts=True)[1].tolist()


def test_questions_the_chart_cannot_answer_are_problems(
    client: TestClient, callers: Callers, made: MadeLots
) -> None:
    token = callers.bearer(Role.OPERATOR)
    for query, status, said in (
        ({"lot": "WO-000000-NOSUCH-L01", "characteristic": "thickness"}, 404, "no lot"),
        ({"lot": SUSPECT, "characteristic": "carbon-film.width"}, 404, "has no characteristic"),
        ({"recipe": RECIPE, "unit": "coater-9", "characteristic": CHARACTERISTIC}, 404, "no equipment unit"),
        ({"recipe": "no-such-recipe@1", "unit": UNIT, "characteristic": CHARACTERISTIC}, 404, "no recipe"),
        ({"recipe": RECIPE, "unit": UNIT, "characteristic": "thickness"}, 422, "LAYER.CHARACTERISTIC"),
        ({"recipe": RECIPE.split("@")[0], "unit": UNIT, "characteristic": CHARACTERISTIC}, 422, "@"),
        ({"recipe": RECIPE, "characteristic": CHARACTERISTIC}, 422, "give lot, or recipe and unit"),
        ({"lot": SUSPECT, "recipe": RECIPE, "characteristic": CHARACTERISTIC}, 422, "not both"),
        ({"recipe": RECIPE, "unit": UNIT, "characteristic": CHARACTERISTIC, "lots": 21}, 422, "lots"),
    ):
        answer = client.get(f"{API}/spc/chart", params=query, headers=token)
        assert answer.status_code == status, (query, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert said in answer.text, (query, answer.text)
