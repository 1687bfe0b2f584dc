"""The SPC page in a browser: the limits in force, the control chart of the last lots of a recipe on a
unit and of one lot, drawn by uPlot with each lot's limits, the rule violations marked (amber) and
listed where they are; a question it cannot answer said on the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from tests.hmi.conftest import Hmi, shoot
from tests.quality.made_lots import BASELINE_1, BASELINE_2, SHIFT_M, SUSPECT, MadeLots, build


@pytest.fixture
def made(engine: Engine) -> MadeLots:
    return build(engine)


def test_the_chart_of_the_last_lots_marks_the_rule_violations(hmi: Hmi, made: MadeLots) -> None:
    page = hmi.page(Role.ENGINEER, "/spc")
    page.get_by_test_id("limit-chart-link").click()
    expect(page).to_have_url(re.compile(r"recipe=thin-composite-anode-carbon%401&unit=sputter-1"))
    chart = page.get_by_test_id("spc-chart")
    expect(chart).to_have_attribute("data-ready", "1")
    expect(chart.locator("canvas")).to_have_count(1)
    expect(chart).to_have_attribute("data-points", "118")  # 40 + 40 + 38 half-metre segments
    violations = page.get_by_test_id("spc-violation")
    count = int(chart.get_attribute("data-violations") or 0)
    assert count > 0
    expect(violations).to_have_count(count)
    # Marked on the chart: one amber triangle per point a rule fired at.
    fired = {violations.nth(i).get_attribute("data-index") for i in range(count)}
    expect(chart).to_have_attribute("data-drawn-violations", str(len(fired)))
    # Every violation is in the suspect lot: the shift at 6–8 m and the excursion at 12 m.
    for i in range(count):
        expect(violations.nth(i)).to_have_attribute("data-lot", SUSPECT)
    shift = violations.filter(has_text=f"{SHIFT_M[0]:.2f} m–")
    expect(shift.first).to_have_attribute("data-rule", "nelson-1")
    # The baseline lots were made before the limits: judged by none, and the page says so.
    for lot in (BASELINE_1, BASELINE_2):
        expect(page.get_by_test_id(f"spc-lot-{lot}")).to_contain_text("no control limits were in force")
    expect(page.get_by_test_id(f"spc-lot-{SUSPECT}")).to_contain_text("nelson (run 9)")
    shoot(page, "spc-chart")


def test_the_chart_of_one_lot_from_its_page_and_a_question_it_cannot_answer(hmi: Hmi, made: MadeLots) -> None:
    page = hmi.page(Role.OPERATOR, f"/lots/{SUSPECT}")
    page.get_by_test_id("spc-link-carbon-film.thickness").click()
    chart = page.get_by_test_id("spc-chart")
    expect(chart).to_have_attribute("data-ready", "1")
    expect(chart).to_have_attribute("data-points", "38")
    expect(page.get_by_test_id("spc-violation").first).to_have_attribute("data-lot", SUSPECT)
    expect(page.get_by_test_id("levels")).to_contain_text(f"carbon-film.thickness of {SUSPECT}")
    shoot(page, "spc-chart-lot")

    page.goto(f"/spc?lot={SUSPECT}&characteristic=carbon-film.width")
    expect(page.get_by_test_id("spc-problem")).to_contain_text("has no characteristic carbon-film.width")
    expect(page.get_by_test_id("spc-chart")).to_have_count(0)
    page.get_by_test_id("spc-recipe").fill("thin-composite-anode-carbon@1")
    page.get_by_test_id("spc-unit").fill("coater-9")
    page.get_by_test_id("spc-characteristic").fill("carbon-film.thickness")
    page.get_by_test_id("spc-show").click()
    expect(page.get_by_test_id("spc-problem")).to_contain_text("no equipment unit 'coater-9'")
