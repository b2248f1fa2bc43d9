"""The foundation pages in a real browser: accessible (axe) and usable by keyboard alone."""

import re

import pytest

from portal.models import Role
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible, focused, t, tab_to

pytestmark = pytest.mark.browser

PAGES = ["/", "/login", "/register", "/password/forgot", "/accessibility", "/privacy",
         "/contact", "/no-such-page"]


@pytest.mark.parametrize("language", ["es", "en"])
def test_pages_have_no_serious_accessibility_violations(live_server, page, language):
    for path in PAGES:
        page.goto(f"{live_server.url}{path}?lang={language}")
        assert page.locator("html").get_attribute("lang") == language
        assert_accessible(page)


@pytest.mark.parametrize("language", ["es", "en"])
def test_form_error_state_is_accessible(live_server, page, language):
    page.goto(f"{live_server.url}/register?lang={language}")
    # Wait for the answer page: checking straight after the click raced the navigation.
    with page.expect_navigation():
        page.locator("button[type=submit]").last.click()
    assert page.locator(".error-summary").is_visible()
    assert page.locator("[aria-invalid=true]").count() >= 3
    assert_accessible(page)


def test_skip_link_is_the_first_stop_and_moves_focus_to_the_content(live_server, page):
    page.goto(f"{live_server.url}/?lang=en")
    page.keyboard.press("Tab")
    assert focused(page)["text"] == "Skip to main content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_language_switcher_works_by_keyboard(live_server, page):
    page.goto(f"{live_server.url}/login?lang=es")
    tab_to(page, lambda element: element["text"] == "Euskara")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"lang=eu"))
    assert page.locator("html").get_attribute("lang") == "eu"


@pytest.mark.parametrize("language", ["es", "en"])
def test_register_sign_out_and_sign_in_by_keyboard(live_server, page, language):
    page.goto(f"{live_server.url}/register?lang={language}")
    tab_to(page, lambda element: element["id"] == "display_name")
    page.keyboard.type("Ana Soler")
    page.keyboard.press("Tab")
    page.keyboard.type(f"ana.{language}@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    # The same "check your email" page for every address; the link comes by email.
    assert f"ana.{language}@example.org" in page.content()
    assert_accessible(page)
    message = live_server.outbox()[-1]
    link = re.search(r"(/register/confirm/\S+)", message).group(1)

    page.goto(f"{live_server.url}{link}")
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "password")
    page.keyboard.type(TEST_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/account$"))
    assert f"ana.{language}@example.org" in page.content()
    assert_accessible(page)

    # Sign out by keyboard.
    tab_to(page, lambda element: element["tag"] == "button" and
           element["text"] == t(language, "Sign out"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".notice-success").is_visible()

    # And back in.
    page.goto(f"{live_server.url}/login?lang={language}")
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type(f"ana.{language}@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/account$"))


@pytest.mark.parametrize("language", ["es", "en"])
def test_password_reset_by_keyboard(live_server, page, language):
    live_server.make_user("reset@example.org", Role.CITIZEN, language)
    page.goto(f"{live_server.url}/password/forgot?lang={language}")
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type("reset@example.org")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert_accessible(page)
    message = live_server.outbox()[-1]
    link = re.search(r"(/password/reset/\S+)", message).group(1)

    page.goto(f"{live_server.url}{link}")
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "password")
    page.keyboard.type("a new keyboard passphrase")
    page.keyboard.press("Tab")
    page.keyboard.type("a new keyboard passphrase")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/login" in page.url
    assert page.locator(".notice-success").is_visible()


def test_readable_at_320_pixels_without_horizontal_scrolling(live_server, browser):
    context = browser.new_context(viewport={"width": 320, "height": 640})
    page = context.new_page()
    for path in ["/", "/register", "/accessibility"]:
        page.goto(f"{live_server.url}{path}?lang=es")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 320, f"{path} scrolls sideways at 320 px ({scroll_width})"
    context.close()
