"""Locale selection and the language switcher.

Order: ``?lang=`` (remembered in the session), the signed-in user's preference,
the browser's ``Accept-Language``, then Spanish.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote, urlencode

from babel import Locale, UnknownLocaleError
from flask import Flask, request, session
from flask_babel import get_locale, get_translations
from flask_login import current_user
from jinja2 import pass_context

from portal import dates, source_folder
from portal.catalogs import compile_catalog
from portal.config import DEFAULT_LANGUAGE, LANGUAGES
from portal.extensions import babel

log = logging.getLogger(__name__)

# Each language named in itself, as a switcher should show it.
LANGUAGE_NAMES = {
    "es": "Español",
    "en": "English",
    "ca": "Català",
    "eu": "Euskara",
    "gl": "Galego",
}


def language_name(code: str) -> str:
    """A language's name in the page's language ("euskera" on a Spanish page)."""
    try:
        return Locale.parse(code).get_language_name(current_language()) or code
    except (ValueError, UnknownLocaleError):
        return code


def select_locale() -> str:
    chosen = request.args.get("lang", "")
    if chosen in LANGUAGES:
        return chosen
    remembered = session.get("lang")
    if remembered in LANGUAGES:
        return remembered
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def current_language() -> str:
    return str(get_locale() or DEFAULT_LANGUAGE)


def _remember_language() -> None:
    chosen = request.args.get("lang", "")
    if chosen in LANGUAGES and session.get("lang") != chosen:
        session["lang"] = chosen


def language_links() -> list[dict[str, str | bool]]:
    """The switcher: the current page in every language, without JavaScript."""
    # The page's other arguments are encoded once, then each language is appended.
    others = urlencode([(key, value) for key, value in request.args.items(multi=True)
                        if key != "lang"])
    # The path comes decoded: quote it again, or a "?" or "#" in it breaks the link.
    base = f"{quote(request.path)}?{others}&" if others else f"{quote(request.path)}?"
    current = current_language()
    return [{"code": code, "name": LANGUAGE_NAMES[code], "url": f"{base}lang={code}",
             "current": code == current} for code in LANGUAGES]


# Templates translate through these: the catalog is looked up once per render (the
# context processor below puts it in the template's context), not once per string as
# Flask-Babel's own callables do, which was about a tenth of a page's rendering time.
# A template rendered without that context (a mail, a macro imported without context)
# looks the catalog up itself, so force_locale() is always honoured.
_CATALOG = "_portal_translations"


def _catalog(context):
    found = context.get(_CATALOG)
    return found if found is not None else get_translations()


@pass_context
def _gettext(context, string):
    return _catalog(context).ugettext(string)


@pass_context
def _ngettext(context, singular, plural, number):
    return _catalog(context).ungettext(singular, plural, number)


@pass_context
def _pgettext(context, message_context, string):
    return _catalog(context).upgettext(message_context, string)


@pass_context
def _npgettext(context, message_context, singular, plural, number):
    return _catalog(context).unpgettext(message_context, singular, plural, number)


def catalog_folder(source: Path, instance: Path) -> Path:
    """Where the compiled catalogs are: ``source`` when each of its ``.mo`` files is
    there and newer than its ``.po`` (a built package, or a checkout ``make`` compiled),
    else ``instance/translations``, compiled there now. An editable install that
    nobody ran ``make`` in then still speaks five languages, and the checkout is not
    written to."""
    def stale(folder: Path) -> list[str]:
        return [language for language in LANGUAGES
                if (po := source / language / "LC_MESSAGES" / "messages.po").is_file()
                and not ((mo := folder / language / "LC_MESSAGES" / "messages.mo").is_file()
                         and mo.stat().st_mtime >= po.stat().st_mtime)]

    if not stale(source):
        return source
    compiled = instance / "translations"
    for language in stale(compiled):
        compile_catalog(source / language / "LC_MESSAGES" / "messages.po",
                        compiled / language / "LC_MESSAGES" / "messages.mo")
        log.info("compiled the %s catalog into %s", language, compiled)
    return compiled


def register(app: Flask) -> None:
    # Dates are stored in UTC and shown in the deployment's time zone.
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["PORTAL"]["TIMEZONE"]
    babel.init_app(
        app,
        default_locale=DEFAULT_LANGUAGE,
        # An absolute path: Flask-Babel resolves relative ones against the app's root.
        # A built package carries its compiled catalogs; a checkout compiles them (make).
        default_translation_directories=str(catalog_folder(
            source_folder("translations"), Path(app.instance_path))),
        locale_selector=select_locale,
    )
    app.before_request(_remember_language)
    # After babel.init_app: our date filters replace Flask-Babel's (see portal/dates.py).
    dates.register(app)

    app.jinja_env.install_gettext_callables(gettext=_gettext, ngettext=_ngettext,
                                            newstyle=True, pgettext=_pgettext,
                                            npgettext=_npgettext)

    @app.context_processor
    def inject_language() -> dict:
        # Resolved once per render: a page asks for its language dozens of times.
        language = current_language()
        return {"current_language": lambda: language, "language_links": language_links,
                "language_name": language_name, _CATALOG: get_translations()}
