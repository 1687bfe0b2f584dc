"""Browser tests of the operator pages: Playwright for Python driving Debian's Chromium
(``/usr/bin/chromium``; ``.ci/run`` installs it, and ``playwright install`` is never run: it downloads).

- :func:`browser`: one headless Chromium per test session;
- :func:`hmi`: the app of a test's database served by a real uvicorn in a thread, one person per role
  (``tests/api/conftest.py``'s users), and :func:`open_as` to log a new page in as one of them;
- screenshots go to ``MES_TEST_ARTIFACTS`` (default ``test-artifacts/`` at the project root, ignored
  by git): :func:`shoot` saves a page at 1920×1080 and 1280×800.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Page as AsyncPage
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright
from sqlalchemy.engine import Engine

from mes.auth.models import Role
from mes.config import Settings
from mes.hmi.app import create_web_app
from tests.api.conftest import PASSWORD, Callers, TestClient, make_callers
from tests.api.server import serve

CHROMIUM = os.environ.get("MES_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("MES_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
SIZES = ((1920, 1080), (1280, 800))
expect.set_options(timeout=10_000)


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Pages read through the services, which run on both backends in their own tests; a browser test
    runs on SQLite unless it asks for PostgreSQL (``@pytest.mark.parametrize("backend", …, indirect=True)``)."""
    return str(request.param)


# Package scope, not session: Playwright's sync API keeps an event loop running in the main thread
# while it is open, and every asyncio test run after it in the same session (tests/lots, tests/workers…)
# would fail with "Runner.run() cannot be called from a running event loop". Closed when tests/hmi ends.
@pytest.fixture(scope="package")
def playwright_session() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium package (.ci/run does)")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    b = playwright_session.chromium.launch(executable_path=CHROMIUM, headless=True,
                                           args=["--no-sandbox", "--disable-dev-shm-usage"])  # fmt: skip
    yield b
    b.close()


@dataclass
class Hmi:
    """A served app and its callers; :meth:`page` opens a logged-in page for a role."""

    base_url: str
    callers: Callers
    browser: Browser
    contexts: list[BrowserContext]

    def url(self, path: str) -> str:
        return self.base_url + path

    def page(self, role: Role, path: str = "/", *, width: int = 1280, height: int = 800) -> Page:
        context = self.browser.new_context(
            viewport={"width": width, "height": height}, base_url=self.base_url
        )
        self.contexts.append(context)
        page = context.new_page()
        log_in(page, Callers.person(role), PASSWORD, path)
        return page


def log_in(page: Page, name: str, password: str, path: str = "/") -> None:
    """Open ``path`` (the login page comes first), log in, and wait for ``path`` to be shown."""
    page.goto(path)
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.get_by_test_id("login-name").fill(name)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("who")).to_be_visible()


@pytest.fixture
def hmi(db_url: str, engine: Engine, browser: Browser) -> Iterator[Hmi]:
    callers = make_callers(engine)
    app = create_web_app(Settings(database_url=db_url), engine=engine)
    with serve(app) as base_url:
        found = Hmi(base_url, callers, browser, [])
        yield found
        for context in found.contexts:
            context.close()


@pytest.fixture
def client_app(db_url: str, engine: Engine) -> Iterator[TestClient]:
    """The web app in process (FastAPI's TestClient: for route-level tests), with the usual callers."""
    make_callers(engine)
    app = create_web_app(Settings(database_url=db_url), engine=engine)
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def _artifact(name: str, width: int, height: int) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^\w.-]", "_", name)
    return ARTIFACTS / f"{safe}-{width}x{height}.png"


async def shoot_async(page: AsyncPage, name: str) -> None:
    """:func:`shoot` for Playwright's async API (the end-to-end test shares its loop with the line)."""
    for width, height in SIZES:
        await page.set_viewport_size({"width": width, "height": height})
        await page.screenshot(path=str(_artifact(name, width, height)))


def shoot(page: Page, name: str) -> list[Path]:
    """Save ``page`` at every size of :data:`SIZES` (``NAME-1920x1080.png``…); the paths."""
    saved = []
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        path = _artifact(name, width, height)
        page.screenshot(path=str(path), full_page=False)
        saved.append(path)
    return saved
