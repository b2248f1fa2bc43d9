"""A citizen finds their data from their account page and downloads it, by keyboard;
axe-core on /account and /account/data (issue 14)."""

import io
import json
import zipfile
from pathlib import Path

import pytest

from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible, t, tab_to

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["es", "gl"])
def test_a_citizen_downloads_their_data_by_keyboard(live_server, page, language):
    live_server.make_user("ana@example.org", locale=language)
    page.goto(f"{live_server.url}/login?lang={language}")
    tab_to(page, lambda element: element["id"] == "email")
    page.keyboard.type("ana@example.org")
    page.keyboard.press("Tab")
    page.keyboard.type(TEST_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")

    page.goto(f"{live_server.url}/account")
    assert_accessible(page)
    link = t(language, "Download everything we hold about you")
    tab_to(page, lambda element: element["tag"] == "a" and element["text"] == link)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert_accessible(page)
    button = t(language, "Download my data")
    tab_to(page, lambda element: element["tag"] == "button" and element["text"] == button)
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    archive = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    data = json.loads(archive.read("data.json"))
    assert data["account"] == "ana@example.org"
    assert [row["email"] for row in data["tables"]["users"]] == ["ana@example.org"]
