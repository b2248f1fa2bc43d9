"""A complaint with a photo survives a validation error and the check step, in Chromium."""

import re

import pytest

from portal.extensions import db
from portal.models import Case
from tests.cases.helpers import jpeg_with_exif
from tests.e2e.conftest import assert_accessible, t

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["es", "gl"])
def test_photo_survives_an_error_and_the_check_step(live_server, page, language, tmp_path):
    page.goto(f"{live_server.url}/cases/new?kind=complaint&lang={language}")
    page.fill("#subject", "Farola apagada en la calle Mayor")
    page.select_option("#topic", "unknown")
    page.fill("#body", "La farola frente al número 12 lleva dos semanas apagada.")
    page.fill("#desired_outcome", "Que la reparen.")
    page.fill("#contact_name", "Ana Soler")
    page.fill("#contact_email", "ana@@example.org")  # a typo
    photo = tmp_path / "farola.jpg"
    photo.write_bytes(jpeg_with_exif())
    page.set_input_files("#attachments", str(photo))

    # Enter in a text field sends the form (it used to press "check for answers").
    page.focus("#subject")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator(".error-summary").is_visible()
    kept = page.locator(".kept-files")
    assert t(language, "Kept: %(name)s").replace("%(name)s", "farola.jpg") in kept.inner_text()
    assert_accessible(page)

    # The check step keeps it too.
    page.fill("#contact_email", "ana@example.org")
    with page.expect_navigation():
        page.get_by_role("button", name=t(language, "Check for existing answers")).click()
    assert "farola.jpg" in page.locator(".kept-files").inner_text()
    assert_accessible(page)

    page.focus("#contact_email")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert re.search(r"/cases/C-[0-9A-Z]{4}-[0-9A-Z]{4}/submitted$", page.url)
    reference = page.locator(".reference").inner_text()
    with live_server.app.app_context():
        case = db.session.scalar(db.select(Case).where(Case.reference == reference))
        assert [item.original_name for item in case.attachments] == ["farola.jpg"]
