"""The recipe pages in a real browser against a real server: import (a file, or text pasted) with every
located problem shown, approve (engineer), release with an electronic signature (quality; a wrong
password refused in the dialog), obsolete, two versions side by side, and what an operator is not
shown (and the API refuses anyway)."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from tests.api.conftest import PASSWORD
from tests.hmi.conftest import Hmi, shoot
from tests.hmi.recipe_setup import LCO, LCO_FILE, approve, broken_lco, import_version, lco, release
from tests.recipes.helpers import RECIPES_DIR


def csrf(page: Page) -> str:
    token = page.locator('meta[name="mes-csrf"]').get_attribute("content")
    assert token
    return token


def test_an_engineer_imports_a_recipe_file_and_sees_it_as_a_draft(hmi: Hmi) -> None:
    page = hmi.page(Role.ENGINEER, "/recipes")
    expect(page.get_by_test_id("recipes-empty")).to_be_visible()
    page.get_by_test_id("recipes-import").click()
    page.get_by_test_id("import-file").set_input_files(RECIPES_DIR / LCO_FILE)
    expect(page.get_by_test_id("import-file-name")).to_contain_text(LCO_FILE)
    expect(page.get_by_test_id("import-text")).to_have_value(re.compile(r"^id: cathode-lco$", re.M))
    shoot(page, "recipe-import-file")
    page.get_by_test_id("import-submit").click()

    expect(page.get_by_test_id("import-outcome")).to_have_attribute("data-outcome", "created")
    expect(page).to_have_url(hmi.url(f"/recipes/{LCO}@1"))  # the notice is not shown again on a refresh
    expect(page.get_by_test_id("recipe-status")).to_have_text("draft")
    expect(page.get_by_test_id("lifecycle-draft")).to_contain_text("engineer-person")
    expect(page.get_by_test_id("setpoint-lco-coat-gap_um")).to_contain_text("180 µm")
    expect(page.get_by_test_id("setpoint-lco-coat-dryer_temp_c")).to_contain_text("120 °C")
    expect(page.get_by_test_id("characteristics-lco-coat-coat_weight")).to_contain_text("19.4 mg/cm²")
    expect(page.get_by_test_id("claim-lithium-metal-oxide-cathode")).to_have_attribute("data-realised", "yes")
    expect(page.get_by_test_id("no-signatures")).to_be_visible()
    shoot(page, "recipe-draft")

    # The list shows it as a draft, and the filters of GET /api/v1/recipes narrow it.
    page.get_by_test_id("nav-recipes").click()
    expect(page.get_by_test_id(f"recipe-status-{LCO}@1")).to_have_text("draft")
    page.get_by_test_id("filter-status").select_option("released")
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("recipes-empty")).to_be_visible()
    page.get_by_test_id("filter-status").select_option("draft")
    page.get_by_test_id("filter-id").fill(LCO)
    page.get_by_test_id("filter-apply").click()
    expect(page.get_by_test_id("recipe-row")).to_have_count(1)
    shoot(page, "recipes-list")


def test_a_broken_recipe_shows_every_located_problem(hmi: Hmi) -> None:
    broken = broken_lco()
    page = hmi.page(Role.ENGINEER, "/recipes/import")
    page.get_by_test_id("import-text").fill(broken.text)
    page.get_by_test_id("import-submit").click()

    expect(page.get_by_test_id("import-problem")).to_contain_text("422")
    rows = page.get_by_test_id("import-error")
    # Every problem the API lists is on the page, each with its line, column and field ...
    answer = page.request.post("/api/v1/recipes", data=broken.text,
                               headers={"Content-Type": "application/yaml", "X-CSRF-Token": csrf(page)})  # fmt: skip
    assert answer.status == 422
    listed = answer.json()["errors"]
    expect(rows).to_have_count(len(listed))
    for e in listed:
        row = page.locator(
            f'[data-testid="import-error"][data-line="{e["line"]}"][data-column="{e["column"]}"]'
            f'[data-field="{e["field"]}"]'
        )
        expect(row).to_contain_text(e["msg"])
    # ... and those are the three fields made wrong, where they are.
    for line, column, field in broken.located:
        expect(page.locator(f'[data-testid="import-error"][data-field="{field}"]')).to_have_attribute(
            "data-line", str(line)
        )
        expect(page.locator(f'[data-testid="import-error"][data-field="{field}"]')).to_have_attribute(
            "data-column", str(column)
        )
    expect(rows.filter(has_text="steps[0].setpoints.gap_um")).to_contain_text("outside the coater class")

    # Choosing a problem puts the cursor on its place in the document.
    line, column, field = broken.located[0]
    row = page.locator(f'[data-testid="import-error"][data-field="{field}"]')
    row.get_by_test_id("import-error-show").click()
    offset = sum(len(text) + 1 for text in broken.text.split("\n")[: line - 1]) + column - 1
    assert page.get_by_test_id("import-text").evaluate("el => el.selectionStart") == offset
    shoot(page, "recipe-import-errors")
    page.goto("/recipes")
    expect(page.get_by_test_id("recipes-empty")).to_be_visible()  # nothing was stored


def test_an_engineer_approves_a_draft_with_a_reason(hmi: Hmi, engine: Engine) -> None:
    ref = import_version(engine, lco())
    page = hmi.page(Role.ENGINEER, f"/recipes/{ref}")
    expect(page.get_by_test_id("release-form")).to_have_count(0)
    page.get_by_test_id("approve-reason").fill("coating trials on line 2 passed")
    page.get_by_test_id("approve").click()

    expect(page.get_by_test_id("recipe-status")).to_have_text("approved")
    expect(page.get_by_test_id("lifecycle-approved")).to_contain_text("engineer-person")
    history = page.locator('[data-testid="history-row"][data-action="recipe.approve"]')
    expect(history).to_contain_text("coating trials on line 2 passed")
    expect(page.get_by_test_id("approve-form")).to_have_count(0)
    expect(page.get_by_test_id("release-form")).to_have_count(0)  # release is quality's
    shoot(page, "recipe-approved")


def test_quality_releases_with_a_signature_and_a_wrong_password_is_refused(hmi: Hmi, engine: Engine) -> None:
    ref = import_version(engine, lco())
    approve(engine, ref)
    page = hmi.page(Role.QUALITY, f"/recipes/{ref}")
    expect(page.get_by_test_id("approve-form")).to_have_count(0)
    page.get_by_test_id("release").click()

    dialog = page.get_by_test_id("sign-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"Release {ref} for production")
    expect(page.get_by_test_id("sign-meaning")).to_have_value("approval")
    expect(page.get_by_test_id("sign-name")).to_have_value("quality-person")
    page.get_by_test_id("sign-reason").fill("validation lots 1-3 within specification")
    page.get_by_test_id("sign-password").fill("not my password")
    page.get_by_test_id("sign-submit").click()
    expect(page.get_by_test_id("sign-problem")).to_contain_text("403")
    expect(page.get_by_test_id("sign-problem")).to_contain_text("wrong password")
    expect(dialog).to_be_visible()
    expect(page.get_by_test_id("sign-password")).to_have_value("")
    shoot(page, "recipe-release-refused")

    page.get_by_test_id("sign-password").fill(PASSWORD)
    page.get_by_test_id("sign-submit").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("recipe-status")).to_have_text("released")
    signature = page.get_by_test_id("signature-row")
    expect(signature).to_have_count(1)
    expect(signature).to_have_attribute("data-meaning", "approval")
    expect(signature).to_contain_text("Quality Person")
    expect(signature).to_contain_text("validation lots 1-3 within specification")
    expect(signature).to_contain_text("(this content)")
    expect(page.get_by_test_id("lifecycle-released")).to_contain_text("quality-person")
    expect(page.get_by_test_id("release-form")).to_have_count(0)
    shoot(page, "recipe-released")


def test_a_released_version_is_made_obsolete_after_a_confirmation(hmi: Hmi, engine: Engine) -> None:
    ref = import_version(engine, lco())
    approve(engine, ref)
    release(engine, ref)
    page = hmi.page(Role.QUALITY, f"/recipes/{ref}")
    page.get_by_test_id("obsolete-reason").fill("superseded by the 22 mg/cm² loading")
    page.get_by_test_id("obsolete").click()
    expect(page.get_by_test_id("confirm-dialog")).to_contain_text(f"Withdraw {ref}?")
    page.get_by_test_id("confirm-ok").click()
    expect(page.get_by_test_id("recipe-status")).to_have_text("obsolete")
    expect(page.get_by_test_id("lifecycle-obsolete")).to_contain_text("quality-person")
    expect(page.get_by_test_id("no-actions")).to_contain_text("obsolete")
    shoot(page, "recipe-obsolete")


def test_two_versions_side_by_side_mark_the_changed_setpoint(hmi: Hmi, engine: Engine) -> None:
    first = import_version(engine, lco())
    second = import_version(engine, lco(version=2, gap_um=200))
    page = hmi.page(Role.OPERATOR, "/recipes")
    page.get_by_test_id(f"recipe-compare-{second}").click()
    expect(page).to_have_url(hmi.url(f"/recipes/diff?a={first}&b={second}"))

    gap = page.locator('[data-testid="diff-line"][data-path="steps[0].setpoints.gap_um"]')
    expect(gap).to_have_attribute("data-change", "changed")
    expect(gap.locator("td").first).to_have_text("≠ changed")  # a word and a shape, not a colour
    expect(gap.get_by_test_id("diff-a-value")).to_have_text("180")
    expect(gap.get_by_test_id("diff-b-value")).to_have_text("200")
    same = page.locator('[data-testid="diff-line"][data-path="steps[0].setpoints.dryer_temp_c"]')
    expect(same).to_have_attribute("data-change", "same")
    expect(page.get_by_test_id("diff-summary")).to_contain_text("2 fields differ")
    shoot(page, "recipe-diff")

    # The diff is the API's: the same changed paths, and "changed fields only" shows just those.
    answer = page.request.get(f"/api/v1/recipes/{second}/diff?against={first}").json()
    page.get_by_test_id("diff-show").select_option("changes")
    page.get_by_test_id("diff-submit").click()
    lines = page.get_by_test_id("diff-line")
    expect(lines).to_have_count(len(answer["changes"]))
    assert sorted(lines.evaluate_all("rows => rows.map(r => r.dataset.path)")) == sorted(
        c["path"] for c in answer["changes"]
    )
    shoot(page, "recipe-diff-changes")


def test_an_operator_sees_no_lifecycle_control_and_the_api_refuses_anyway(hmi: Hmi, engine: Engine) -> None:
    draft = import_version(engine, lco())
    approved = import_version(engine, lco(version=2, gap_um=200))
    approve(engine, approved)
    page = hmi.page(Role.OPERATOR, "/recipes")
    expect(page.get_by_test_id("recipe-row")).to_have_count(2)
    expect(page.get_by_test_id("recipes-import")).to_have_count(0)
    for ref in (draft, approved):
        page.goto(f"/recipes/{ref}")
        expect(page.get_by_test_id("recipe-status")).to_be_visible()
        for control in ("approve-form", "release-form", "obsolete-form", "new-version"):
            expect(page.get_by_test_id(control)).to_have_count(0)
        expect(page.get_by_test_id("no-actions")).to_contain_text("operator")
    shoot(page, "recipe-operator")
    page.goto("/recipes/import")
    expect(page.get_by_test_id("import-not-allowed")).to_be_visible()
    expect(page.get_by_test_id("import-form")).to_have_count(0)

    headers = {"X-CSRF-Token": csrf(page)}
    refused = page.request.post(f"/api/v1/recipes/{draft}:approve", data={"reason": "try"}, headers=headers)
    assert refused.status == 403
    signature = {"name": "operator-person", "password": PASSWORD, "meaning": "approval"}
    refused = page.request.post(f"/api/v1/recipes/{approved}:release", headers=headers,
                                data={"reason": "try", "signature": signature})  # fmt: skip
    assert refused.status == 403
    page.reload()
    expect(page.get_by_test_id("import-not-allowed")).to_be_visible()
    page.goto(f"/recipes/{approved}")
    expect(page.get_by_test_id("recipe-status")).to_have_text("approved")
