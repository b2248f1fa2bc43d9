"""A civil servant, where the second factor is required, sets it up and signs in with it,
by keyboard, in a real browser; axe-core on each of those pages (issue 16)."""

import time

import pyotp
import pytest

from portal.models import Role
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible, t, tab_to

pytestmark = pytest.mark.browser


def _enter(page):
    with page.expect_navigation():
        page.keyboard.press("Enter")


def _password_step(page, server, language: str) -> None:
    page.goto(f"{server.url}/login?lang={language}")
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type("agente@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    _enter(page)


@pytest.mark.parametrize("language", ["es", "ca"])
def test_an_agent_sets_up_the_second_factor_and_signs_in_with_it(live_server, page, language):
    live_server.app.config["PORTAL"]["STAFF_SECOND_FACTOR_REQUIRED"] = True
    live_server.make_user("agente@example.org", Role.AGENT, locale=language)

    _password_step(page, live_server, language)
    assert page.url.endswith("/account/second-factor")  # not the staff area yet
    assert_accessible(page)
    secret = page.inner_text(".secret-key code").replace(" ", "")
    tab_to(page, lambda element: element["id"] == "code")
    page.keyboard.type("000000")
    _enter(page)
    assert page.locator("#code-error").is_visible()
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "code")
    page.keyboard.type(pyotp.TOTP(secret).now())
    _enter(page)
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    assert_accessible(page)

    page.goto(f"{live_server.url}/account")
    sign_out = t(language, "Sign out")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == sign_out)
    _enter(page)

    _password_step(page, live_server, language)
    assert page.url.endswith("/login/code")
    assert_accessible(page)
    tab_to(page, lambda element: element["id"] == "code")
    # The next time step's code: the one used to set it up works only once.
    page.keyboard.type(pyotp.TOTP(secret).at(time.time() + 30))
    _enter(page)
    assert page.url.endswith("/staff/")
    assert_accessible(page)
