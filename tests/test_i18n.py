"""Five languages: the template is current, the catalogs complete, the locale chosen right."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal.config import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def test_message_template_is_current(tmp_path):
    """Fails when a string was added or changed without `make translations`."""
    fresh = tmp_path / "messages.pot"
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "extract", "-F",
         "translations/babel.cfg", "-k", "_l", "-k", "lazy_ngettext:1,2", "-k", "_lp:1c,2",
         "--no-location",
         "--omit-header", "--sort-output", "--no-wrap", "-o", str(fresh), "."],
        cwd=ROOT, check=True, capture_output=True)
    committed = (TRANSLATIONS / "messages.pot").read_text()
    assert fresh.read_text() == committed, "translations/messages.pot is stale: make translations"


def _catalog(language):
    with open(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle, locale=language)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalog_is_complete_and_matches_the_template(language):
    with open(TRANSLATIONS / "messages.pot", "rb") as handle:
        template_ids = {message.id for message in read_po(handle) if message.id}
    catalog = _catalog(language)
    ids = {message.id for message in catalog if message.id}
    assert template_ids - ids == set(), "strings missing from the catalog"
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"{language}: untranslated {message.id!r}"
        assert not message.fuzzy, f"{language}: fuzzy {message.id!r}"
        source = message.id if isinstance(message.id, tuple) else (message.id,)
        allowed = set(PLACEHOLDER.findall(" ".join(source)))
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) <= allowed, \
                f"{language}: placeholders differ in {message.id!r}"


@pytest.mark.parametrize("page", ["accessibility", "privacy", "contact"])
@pytest.mark.parametrize("language", LANGUAGES)
def test_information_pages_exist_in_every_language(client, page, language):
    response = client.get(f"/{page}?lang={language}")
    assert response.status_code == 200
    assert f'<html lang="{language}">' in response.text


HOME_HEADING = {
    "es": "¿Cómo podemos ayudarle?",
    "en": "How can we help you?",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_home_page_in_each_language(client, language):
    response = client.get(f"/?lang={language}")
    assert f'<html lang="{language}">' in response.text
    heading = _catalog(language).get("How can we help you?").string
    assert heading in response.text


def test_default_language_is_spanish(client):
    response = client.get("/")
    assert '<html lang="es">' in response.text
    assert HOME_HEADING["es"] in response.text


def test_accept_language_is_used(client):
    response = client.get("/", headers={"Accept-Language": "ca-ES,ca;q=0.9,en;q=0.5"})
    assert '<html lang="ca">' in response.text


def test_unsupported_accept_language_falls_back_to_spanish(client):
    response = client.get("/", headers={"Accept-Language": "fr-FR,de;q=0.8"})
    assert '<html lang="es">' in response.text


def test_chosen_language_is_remembered(client):
    client.get("/?lang=eu")
    assert '<html lang="eu">' in client.get("/login").text
    assert '<html lang="eu">' in client.get("/", headers={"Accept-Language": "en"}).text


def test_invalid_lang_parameter_is_ignored(client):
    assert '<html lang="es">' in client.get("/?lang=xx").text


def test_signed_in_preference_beats_accept_language(client, login_as):
    login_as(locale="gl")
    response = client.get("/account", headers={"Accept-Language": "en"})
    assert '<html lang="gl">' in response.text


def test_lang_parameter_beats_signed_in_preference(client, login_as):
    login_as(locale="gl")
    assert '<html lang="en">' in client.get("/account?lang=en").text


@pytest.mark.parametrize("path", ["/", "/login", "/register", "/password/forgot",
                                  "/accessibility", "/privacy", "/contact", "/missing"])
def test_every_page_has_a_language_switcher(client, path):
    text = client.get(f"{path}?lang=en").text
    for language in LANGUAGES:
        assert f'hreflang="{language}"' in text
    assert f'href="{path}?lang=eu"' in text


def test_switcher_keeps_other_query_arguments(client):
    text = client.get("/login?next=/account&lang=en").text
    assert 'href="/login?next=%2Faccount&amp;lang=ca"' in text


def test_dates_are_formatted_for_the_locale(client, login_as):
    login_as()
    spanish = client.get("/account?lang=es").text
    english = client.get("/account?lang=en").text
    assert re.search(r"\d{1,2} de \w+ de \d{4}", spanish)
    assert re.search(r"\w+ \d{1,2}, \d{4}", english)
