"""Dates and times in the reader's language: CLDR patterns (Babel), with Basque fixed.

The templates' ``dateformat``, ``datetimeformat`` and ``timeformat`` filters come from
here (they replace Flask-Babel's). Every language uses its CLDR pattern, except where
CLDR's Basque patterns cannot be shown as they are:

- the long forms hedge the suffixes they cannot inflect: "2027(e)ko urtarrilaren
  19(a)". The year takes -ko or -eko by how the number is read aloud ("2027ko",
  "2025eko"), and the day its article ("19a"), so we write the right one;
- the short form is "yy/M/d" ("26/12/2" for 2 December 2026), which a reader takes for
  a day first; we write the year in full, as Basque writes numeric dates ("2026/12/02").

A date and time is the date in the requested length and the time without seconds or
time zone ("26 de diciembre de 2026, 0:50"), joined as the locale's CLDR joins them.
"""

from __future__ import annotations

from datetime import date, datetime

from babel import Locale
from babel.dates import format_date as babel_format_date
from babel.dates import format_skeleton, format_timedelta, get_datetime_format
from babel.dates import format_time as babel_format_time
from flask import Flask
from flask_babel import get_locale, to_user_timezone

LENGTHS = ("short", "medium", "long", "full")


def basque_year_suffix(year: int) -> str:
    """``eko`` when the year, read aloud, ends in a consonant (bat, bost, hamar, ehun)."""
    tens = year % 100
    if tens == 0:
        return "ko" if year % 1000 == 0 else "eko"  # "bi mila" / "... ehun"
    # Basque counts in twenties: 31 is "hogeita hamaika", 35 "hogeita hamabost".
    return "eko" if tens % 20 in (1, 5, 10, 15) else "ko"


def _date_pattern(value: date, length: str, locale: Locale) -> str:
    if length not in LENGTHS:
        return length  # an explicit pattern
    pattern = locale.date_formats[length].pattern
    if locale.language != "eu":
        return pattern
    if length == "short":
        return "y/MM/dd"
    return (pattern.replace("y('e')'ko'", f"y'{basque_year_suffix(value.year)}'")
            .replace("d('a')", "d'a'"))


def format_date(value: date, length: str, locale: str | Locale) -> str:
    """A calendar date (already in local time) in ``locale``."""
    locale = Locale.parse(locale)
    return babel_format_date(value, _date_pattern(value, length, locale), locale=locale)


def format_time(value: datetime, length: str, locale: str | Locale) -> str:
    """A time of day (already in local time) in ``locale``."""
    return babel_format_time(value, length, locale=Locale.parse(locale))


def format_datetime(value: datetime, length: str, locale: str | Locale) -> str:
    """The date in ``length`` and the time without seconds, joined as CLDR says."""
    locale = Locale.parse(locale)
    glue = str(get_datetime_format(length if length in LENGTHS else "medium", locale=locale))
    return (glue.replace("{1}", format_date(value, length, locale))
            .replace("{0}", format_time(value, "short", locale)))


def _local(value):
    # Stored datetimes are aware UTC; show them in the deployment's zone.
    return to_user_timezone(value) if isinstance(value, datetime) else value


def dateformat(value, length: str = "medium") -> str:
    if value is None:
        return ""
    local = _local(value)
    return format_date(local.date() if isinstance(local, datetime) else local, length,
                       get_locale())


def datetimeformat(value, length: str = "medium") -> str:
    return "" if value is None else format_datetime(_local(value), length, get_locale())


def timeformat(value, length: str = "short") -> str:
    return "" if value is None else format_time(_local(value), length, get_locale())


def monthformat(value: date) -> str:
    """A month and its year ("dic 2026", "Dec 2026") as the locale writes them."""
    return format_skeleton("yMMM", value, locale=get_locale())


def since(value: datetime | None) -> str:
    """How long ago, in words and in the page's language ("hace 3 días")."""
    from portal import clock

    if value is None:
        return ""
    return format_timedelta(value - clock.now(), add_direction=True, locale=get_locale())


def register(app: Flask) -> None:
    """Use these filters in templates instead of Flask-Babel's."""
    app.jinja_env.filters.update(dateformat=dateformat, datetimeformat=datetimeformat,
                                 timeformat=timeformat, since=since,
                                 monthformat=monthformat)
