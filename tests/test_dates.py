"""Dates and times in the five languages, one of each kind (issue 11, item 12)."""

from datetime import UTC, date, datetime

import pytest

from portal.dates import basque_year_suffix, format_date, format_datetime, format_time

# 2 December 2026 at 00:50, local time: the moment that once read "26/12/2 (00:50)".
MOMENT = datetime(2026, 12, 2, 0, 50)

EXPECTED = {
    "es": ("2/12/26", "2 dic 2026", "2 de diciembre de 2026",
           "miércoles, 2 de diciembre de 2026", "2 de diciembre de 2026, 0:50", "0:50"),
    "en": ("12/2/26", "Dec 2, 2026", "December 2, 2026", "Wednesday, December 2, 2026",
           "December 2, 2026, 12:50\u202fAM", "12:50\u202fAM"),
    "ca": ("2/12/26", "2 de des. 2026", "2 de desembre del 2026",
           "dimecres, 2 de desembre del 2026", "2 de desembre del 2026, 0:50", "0:50"),
    "eu": ("2026/12/02", "2026ko abe. 2a", "2026ko abenduaren 2a",
           "2026ko abenduaren 2a, asteazkena", "2026ko abenduaren 2a (00:50)", "00:50"),
    "gl": ("02/12/26", "2 de dec. de 2026", "2 de decembro de 2026",
           "mércores, 2 de decembro de 2026", "2 de decembro de 2026, 00:50", "00:50"),
}


@pytest.mark.parametrize("locale", EXPECTED)
def test_one_of_each_kind_in_every_language(locale):
    short, medium, long, full, date_time, time = EXPECTED[locale]
    assert format_date(MOMENT.date(), "short", locale) == short
    assert format_date(MOMENT.date(), "medium", locale) == medium
    assert format_date(MOMENT.date(), "long", locale) == long
    assert format_date(MOMENT.date(), "full", locale) == full
    assert format_datetime(MOMENT, "long", locale) == date_time
    assert format_time(MOMENT, "short", locale) == time
    rendered = " ".join((short, medium, long, full, date_time))
    assert "(e)" not in rendered and "(a)" not in rendered


@pytest.mark.parametrize("year, suffix", [
    (2000, "ko"), (2001, "eko"), (2010, "eko"), (2011, "ko"), (2015, "eko"), (2020, "ko"),
    (2021, "eko"), (2025, "eko"), (2026, "ko"), (2027, "ko"), (2030, "eko"), (2031, "ko"),
    (2035, "eko"), (2040, "ko"), (2100, "eko"),
])
def test_basque_year_takes_the_suffix_it_is_read_with(year, suffix):
    assert basque_year_suffix(year) == suffix
    assert format_date(date(year, 1, 19), "long", "eu") == f"{year}{suffix} urtarrilaren 19a"


def test_templates_use_these_filters_in_the_deployment_zone(app):
    from flask import render_template_string

    stored = datetime(2027, 1, 18, 23, 30, tzinfo=UTC)  # 19 January in Madrid
    with app.test_request_context("/?lang=eu"):
        app.preprocess_request()
        page = render_template_string(
            "{{ d | dateformat('long') }}|{{ d | datetimeformat('short') }}|"
            "{{ d | timeformat }}|{{ none | dateformat }}", d=stored)
    assert page == "2027ko urtarrilaren 19a|2027/01/19 (00:30)|00:30|"
