"""Locale selection and the language switcher.

Order: ``?lang=`` (remembered in the session), the signed-in user's preference,
the browser's ``Accept-Language``, then Spanish.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from flask import Flask, request, session
from flask_babel import get_locale
from flask_login import current_user

from portal import PROJECT_ROOT
from portal.config import DEFAULT_LANGUAGE, LANGUAGES
from portal.extensions import babel

# Each language named in itself, as a switcher should show it.
LANGUAGE_NAMES = {
    "es": "Español",
    "en": "English",
    "ca": "Català",
    "eu": "Euskara",
    "gl": "Galego",
}


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
    args = request.args.to_dict(flat=False)
    current = current_language()
    links = []
    for code in LANGUAGES:
        args["lang"] = [code]
        links.append({
            "code": code,
            "name": LANGUAGE_NAMES[code],
            # The path comes decoded: quote it again, or a "?" or "#" in it breaks the link.
            "url": f"{quote(request.path)}?{urlencode(args, doseq=True)}",
            "current": code == current,
        })
    return links


def register(app: Flask) -> None:
    # Dates are stored in UTC and shown in the deployment's time zone.
    app.config["BABEL_DEFAULT_TIMEZONE"] = app.config["PORTAL"]["TIMEZONE"]
    babel.init_app(
        app,
        default_locale=DEFAULT_LANGUAGE,
        # Flask-Babel resolves relative paths against the package; ours is top level.
        default_translation_directories=str(PROJECT_ROOT / "translations"),
        locale_selector=select_locale,
    )
    app.before_request(_remember_language)

    @app.context_processor
    def inject_language() -> dict:
        return {"current_language": current_language, "language_links": language_links}
