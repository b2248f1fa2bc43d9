"""A citizen completes the complaint flow by keyboard alone, in Spanish and English."""

import re

import pytest

from tests.cases.helpers import jpeg_with_exif
from tests.e2e.conftest import assert_accessible, t, tab_to

pytestmark = pytest.mark.browser


def type_into(page, field_id: str, text: str) -> None:
    tab_to(page, lambda element: element["id"] == field_id)
    page.keyboard.type(text)


@pytest.mark.parametrize("language", ["es", "en"])
def test_complaint_by_keyboard(live_server, page, language, tmp_path):
    page.goto(f"{live_server.url}/cases/new?kind=complaint&lang={language}")
    assert_accessible(page)

    # Sending the empty form shows the errors, linked to their fields.
    tab_to(page, lambda element: element["tag"] == "button" and
           element["text"] == t(language, "Send"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert page.locator("[aria-invalid=true]").count() >= 4
    assert_accessible(page)

    # Follow the first error link by keyboard: focus lands on the field.
    page.locator(".error-summary a").first.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "subject"

    page.keyboard.type("Contenedor desbordado" if language == "es" else "Overflowing bin")
    tab_to(page, lambda element: element["id"] == "topic")
    page.keyboard.press("ArrowDown")  # "I don't know / other"
    type_into(page, "body", "Lleva una semana sin recogerse." if language == "es"
              else "It has not been emptied for a week.")
    type_into(page, "desired_outcome", "Que lo vacíen." if language == "es"
              else "Please empty it.")
    type_into(page, "location_text", "Plaza Mayor 3")
    photo = tmp_path / "contenedor.jpg"
    photo.write_bytes(jpeg_with_exif())
    # The operating system's file chooser is not part of the page; set the file directly.
    page.set_input_files("#attachments", str(photo))
    type_into(page, "contact_name", "Ana Soler")
    type_into(page, "contact_email", f"ana.{language}@example.org")
    tab_to(page, lambda element: element["id"] == "publish_consent")
    page.keyboard.press("Space")
    assert page.is_checked("#publish_consent")
    tab_to(page, lambda element: element["tag"] == "button" and
           element["text"] == t(language, "Send"))
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Confirmation: the reference at once, what happens next, a link to the case.
    assert re.search(r"/cases/C-[0-9A-Z]{4}-[0-9A-Z]{4}/submitted$", page.url)
    reference = page.locator(".reference").inner_text()
    assert_accessible(page)
    tab_to(page, lambda element: element["tag"] == "a" and
           element["text"] == t(language, "See your case"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"/cases/{reference}")
    assert "contenedor.jpg" in page.content()
    assert_accessible(page)

    # Reply by keyboard.
    type_into(page, "body", "Ahora hay bolsas en el suelo." if language == "es"
              else "Now there are bags on the ground.")
    tab_to(page, lambda element: element["tag"] == "button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".notice-success").is_visible()
    assert_accessible(page)

    # The confirmation email reached the outbox, in the chosen language.
    message = live_server.outbox()[0]
    assert reference in message


def test_track_page_is_accessible(live_server, page):
    for language in ("es", "en"):
        page.goto(f"{live_server.url}/track?lang={language}")
        assert_accessible(page)
        tab_to(page, lambda element: element["id"] == "reference")
        page.keyboard.type("C-0000-0000")
        page.keyboard.press("Tab")
        page.keyboard.type("nadie@example.org")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert_accessible(page)
