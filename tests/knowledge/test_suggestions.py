"""Suggestions while asking, with and without JavaScript, and what they achieve."""

import re

import pytest

from portal.knowledge import service as knowledge
from tests.cases.helpers import question_form
from tests.cases.test_intake import submit


@pytest.fixture(autouse=True)
def no_score_floor(monkeypatch):
    """These tests index one or two articles, where BM25 scores are tiny (the IDF of a
    term grows with the number of articles): the relevance floor, tuned on the demo
    knowledge base, is tested in test_suggestion_relevance.py; here it is off."""
    monkeypatch.setattr(knowledge, "SUGGESTION_MIN_SCORE", 0.0)


@pytest.fixture
def fine_article(publish):
    return publish("Cómo pagar una multa de tráfico", "Pague la multa en la sede.")


def test_suggestion_fragment(client, fine_article):
    fragment = client.get("/kb/suggest", query_string={"q": "multa aparcamiento",
                                                       "token": "abc"}).text
    assert "Cómo pagar una multa de tráfico" in fragment
    assert f'href="/kb/{fine_article.id}/como-pagar-una-multa-de-trafico?from=abc"' in fragment
    assert client.get("/kb/suggest", query_string={"q": "mu"}).text.strip() == ""


def test_check_for_existing_answers_without_javascript(client, db, fine_article):
    data = question_form(subject="Quiero pagar una multa", body="¿Dónde se paga?")
    data["check"] = "1"
    response = client.post("/cases/new?kind=question&lang=en", data=data)
    assert response.status_code == 200
    assert "Cómo pagar una multa de tráfico" in response.text
    assert 'value="Quiero pagar una multa"' in response.text  # the form is kept
    from portal.models import Case

    assert db.session.scalar(db.select(db.func.count(Case.id))) == 0


def test_opened_suggestions_count_as_answered_unless_the_question_is_sent(client, db,
                                                                          fine_article):
    form = client.get("/cases/new?kind=question").text
    token = re.search(r'name="submission_token" type="hidden" value="([^"]+)"', form).group(1)
    client.get(f"/kb/{fine_article.id}?from={token}")
    client.get(f"/kb/{fine_article.id}?from=another-form")
    assert knowledge.deflection_figures() == {"forms": 2, "answered": 2}
    submit(client, question_form(token="x", submission_token=token), kind="question")
    assert knowledge.deflection_figures() == {"forms": 2, "answered": 1}
