"""At 375 px the header's menus wrap within the screen, and main keeps its space above
the footer (issue 11, item 13)."""

from pathlib import Path

from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible


def _screenshot(page, name: str) -> None:
    folder = Path("test-artifacts")
    folder.mkdir(exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)


def _header_fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    # Every menu entry is on screen, whole, and none covers another.
    boxes = page.locator(".site-header a, .site-header button").evaluate_all(
        "items => items.map(item => item.getBoundingClientRect().toJSON())")
    for box in boxes:
        assert box["left"] >= 0 and box["right"] <= 375 and box["width"] > 0
    for index, one in enumerate(boxes):
        for other in boxes[index + 1:]:
            apart = (one["right"] <= other["left"] or other["right"] <= one["left"]
                     or one["bottom"] <= other["top"] or other["bottom"] <= one["top"])
            assert apart, (one, other)


def test_header_and_footer_spacing_at_375_px(live_server, browser):
    live_server.make_user("ana@example.org")
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/?lang=es")
        menu = page.locator(".main-nav a").all_inner_texts()
        assert menu == ["Inicio", page.locator(".main-nav a").nth(1).inner_text(), "Ideas",
                        "Mejoras", "Cifras", "Contacto"]
        assert page.locator(".main-nav a[href='/kb']").count() == 1
        assert page.locator(".main-nav a[href='/ideas']").count() == 1
        _header_fits(page)
        _screenshot(page, "header_375_anonymous.png")
        # The last thing in main stands clear of the footer.
        padding = page.evaluate("getComputedStyle(document.querySelector('main'))"
                                ".paddingBottom")
        assert padding == "48px"
        page.goto(f"{live_server.url}/cases/new?kind=question&lang=es")
        gap = page.evaluate("""() => {
            const buttons = [...document.querySelectorAll('main button[type=submit]')];
            const last = buttons[buttons.length - 1].getBoundingClientRect();
            return document.querySelector('.site-footer').getBoundingClientRect().top
                - last.bottom;
        }""")
        assert gap >= 40
        page.goto(f"{live_server.url}/login?lang=es")
        page.fill("#email", "ana@example.org")
        page.fill("#password", TEST_PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.goto(f"{live_server.url}/?lang=es")
        assert page.locator(".main-nav a[href='/account/cases']").inner_text() == "Mis casos"
        _header_fits(page)
        _screenshot(page, "header_375_signed_in.png")
        assert_accessible(page)
    finally:
        context.close()
