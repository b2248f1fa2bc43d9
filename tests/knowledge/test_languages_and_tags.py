"""Articles in another language say so; tags read as words (issue 11, item 12)."""

import re

import pytest


@pytest.fixture(autouse=True)
def no_score_floor(monkeypatch):
    from portal.knowledge import service

    monkeypatch.setattr(service, "SUGGESTION_MIN_SCORE", 0.0)  # a one-article index


def test_an_article_in_another_language_says_so_and_carries_its_lang(client, publish):
    article = publish("Tresna handiak jasotzea", "Deitu 010 telefonora.", locale="eu",
                      tags=["zbe", "tresna handiak"])
    page = client.get(f"/kb/{article.id}?lang=en").text
    assert "This answer is written in Basque." in page
    assert '<article lang="eu"' in page
    # In its own language, no notice.
    assert "This answer is written in" not in client.get(f"/kb/{article.id}?lang=eu").text


def test_results_in_another_language_name_it(app):
    """Whichever page lists a hit in another language, it says which, and marks it up."""
    from flask import render_template
    from markupsafe import Markup

    from portal.search.base import Hit, SearchResults

    hit = Hit(doc_id="article:1", kind="article", title="Tresna handiak jasotzea",
              url="/kb/1", snippet=Markup("Deitu 010"), locale="eu", department="",
              tags=(), score=20.0)
    results = SearchResults(hits=[hit], total=1, page=1, per_page=10)
    with app.test_request_context("/?lang=en"):
        app.preprocess_request()
        fragment = render_template("knowledge/_suggestions.html", results=results,
                                   form_token="")
        page = render_template("knowledge/index.html", form=None, query=type(
            "Q", (), {"text": "x", "department": "", "tag": ""})(), results=results,
            latest=[], department_counts={}, tag_labels={}, department_names={},
            search_link=lambda **params: "/kb")
    for html in (fragment, page):
        assert 'lang="eu"' in html and "Language: Basque" in html

def test_tags_show_readable_labels_not_slugs(client, publish):
    article = publish("Zona de bajas emisiones", "Qué vehículos pueden entrar.",
                      tags=["zbe", "ora", "vehículos"])
    page = client.get(f"/kb/{article.id}?lang=en").text
    labels = re.findall(r'<a href="/kb\?q=[^"]*tag=[^"]*">([^<]+)</a>', page)
    assert sorted(labels) == ["Low-emission zone (ZBE)", "Regulated parking (ORA)",
                              "Vehículos"]
    facets = client.get("/kb", query_string={"q": "emisiones", "lang": "en"}).text
    assert "Low-emission zone (ZBE)" in facets and ">zbe<" not in facets
