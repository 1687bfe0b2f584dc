"""Every page an operator or a quality engineer can reach by links, on a plant with lots, holds,
intervals and alarms: no page or asset is asked of another host than the app's, no page has a script
error or a refused resource (the content security policy reports those), and every control can be hit
by a finger (44 px). Each page reached is saved as screenshots."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, Request
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from tests.hmi.conftest import Hmi, shoot
from tests.read_model_plant import build

MAX_PAGES = 40  # bounded: a crawl of the reachable pages, not of every lot
TOUCH_PX = 44
CONTROLS_JS = "button, a.button, summary.button, input:not([type=hidden]), select, textarea, .top nav a"
# A checkbox or a radio button is hit through its label: the label is what must be large enough.
SMALL_CONTROLS = """([selector, least]) => [...document.querySelectorAll(selector)]
  .map((e) => (e.type === "checkbox" || e.type === "radio") && e.closest("label") ? e.closest("label") : e)
  .filter((e) => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden")
  .filter((e) => e.getBoundingClientRect().height < least - 0.5)
  .map((e) => `${Math.round(e.getBoundingClientRect().height)} px: ${e.outerHTML.slice(0, 160)}`)"""


def _links(page: Page, base: str) -> list[str]:
    found = []
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        url = urljoin(page.url, href)
        parts = urlsplit(url)
        if url.startswith(base) and not parts.path.startswith(("/api/", "/static/")) and not parts.fragment:
            found.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return found


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.QUALITY])
def test_no_page_reaches_another_host_and_every_control_is_touchable(
    hmi: Hmi, engine: Engine, role: Role
) -> None:
    build(engine)
    page = hmi.page(role, "/")
    host = urlsplit(hmi.base_url).netloc
    requests: list[str] = []
    problems: list[str] = []

    def on_request(request: Request) -> None:
        requests.append(request.url)

    def on_console(message: ConsoleMessage) -> None:
        # htmx logs a lost event stream as an error; anything else (a refused script) is a fault.
        if message.type == "error" and "EventSource" not in message.text:
            problems.append(f"{page.url}: console: {message.text}")

    page.on("request", on_request)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: script error: {exc}"))
    seen: set[str] = set()
    queue = ["/"]
    while queue and len(seen) < MAX_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        answer = page.goto(hmi.url(path))
        assert answer is not None and answer.ok, f"{path}: {answer.status if answer else 'no answer'}"
        page.wait_for_load_state("networkidle")
        small = page.evaluate(SMALL_CONTROLS, [CONTROLS_JS, TOUCH_PX])
        assert not small, f"{path}: controls under {TOUCH_PX} px high: {small}"
        if len(seen) <= 12:
            shoot(page, f"crawl-{role.value}-{path.strip('/').replace('/', '_') or 'line'}")
        queue += [link for link in _links(page, hmi.base_url) if link not in seen]
    assert len(seen) >= 2
    foreign = sorted(
        {
            u
            for u in requests
            if urlsplit(u).scheme in ("http", "https", "ws", "wss") and urlsplit(u).netloc != host
        }
    )
    assert not foreign, foreign
    assert not problems, "\n".join(problems)
