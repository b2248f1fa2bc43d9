"""Browser tests: Playwright driving Debian's Chromium against a live server, with axe-core.

Skipped when Chromium is not installed, except in CI, where a skipped browser test is a
failure (CI installs Chromium).
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from portal import create_app
from portal.accounts import service as accounts
from portal.extensions import db
from portal.models import Role
from tests.conftest import BASE_CONFIG, IN_CI, TEST_PASSWORD, read_eml

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


class LiveServer:
    def __init__(self, app, instance: Path) -> None:
        self.app = app
        self.instance = instance
        self._server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)

    def outbox(self) -> list[str]:
        return [read_eml(path) for path in sorted((self.instance / "outbox").glob("*.eml"))]

    def make_user(self, email: str, role: Role = Role.CITIZEN, locale: str = "es"):
        with self.app.app_context():
            accounts.create_user(email, TEST_PASSWORD, "Ana Soler", role, locale)
            db.session.commit()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not Path(CHROMIUM).exists():
        if IN_CI:
            pytest.fail("CI must run the browser tests: install Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
def live_server(sqlite_template, tmp_path) -> Iterator[LiveServer]:
    database = tmp_path / "portal.db"
    shutil.copyfile(sqlite_template, database)
    instance = tmp_path / "instance"
    app = create_app({**BASE_CONFIG, "INSTANCE_PATH": str(instance),
                      "DATABASE_URL": f"sqlite:///{database}", "WTF_CSRF_ENABLED": True})
    server = LiveServer(app, instance)
    server.start()
    yield server
    server.stop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1024, "height": 800})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    if getattr(request.node, "rep_call", None) and request.node.rep_call.failed:
        folder = Path("test-artifacts")
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def assert_accessible(page) -> None:
    """No serious or critical axe-core violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    serious = [violation for violation in results.response["violations"]
               if violation["impact"] in {"serious", "critical"}]
    details = [(violation["id"], violation["help"],
                [node["target"] for node in violation["nodes"]][:5]) for violation in serious]
    assert serious == [], f"axe violations on {page.url}: {details}"


def t(language: str, text: str) -> str:
    """``text`` as the page shows it in ``language`` (from the catalogs)."""
    from tests.test_i18n import _catalog

    message = _catalog(language).get(text)
    return message.string if message and message.string else text


def focused(page) -> dict:
    """What has keyboard focus: its tag, id, name and text."""
    return page.evaluate("""() => {
        const el = document.activeElement;
        return {tag: el.tagName.toLowerCase(), id: el.id, name: el.name || "",
                text: (el.innerText || "").trim()};
    }""")


def tab_to(page, predicate, limit: int = 60) -> dict:
    """Press Tab until the focused element matches ``predicate``; fail after ``limit``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        element = focused(page)
        if predicate(element):
            return element
    raise AssertionError("could not reach the element by keyboard")
