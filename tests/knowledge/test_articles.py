"""Articles grow out of resolved cases, without personal data; readers rate them."""

import re
from pathlib import Path

import pytest

from portal import search
from portal.knowledge import service as knowledge
from portal.models import Article, ArticleStatus, CaseStatus, Role
from tests.staff.helpers import sign_in

NAME, EMAIL, PHONE, DNI, IBAN = ("Lucía Fernández Ruiz", "lucia.fernandez@example.org",
                                 "600 123 456", "12345678Z", "ES91 2100 0418 4502 0005 1332")


@pytest.fixture
def resolved_case(make_case, make_department):
    def make(consent=True):
        department = make_department(slug="hacienda")
        return make_case(
            department_id=department.id, status=CaseStatus.RESOLVED, publish_consent=consent,
            contact_name=NAME, contact_email=EMAIL, contact_phone=PHONE,
            location_text="Calle Mayor 12, 3º B",
            subject=f"Recibo del IBI duplicado de {NAME}",
            body=(f"Hola, soy {NAME}, DNI {DNI}. Me han cobrado dos veces el IBI en la cuenta "
                  f"{IBAN}. Llámenme al {PHONE} o escriban a {EMAIL}. Vivo en Calle Mayor 12."),
            resolution_summary=f"Hemos devuelto el importe duplicado a la cuenta {IBAN}.")
    return make


def test_consented_case_becomes_an_article_without_personal_data(app, db, client, make_user,
                                                                 resolved_case):
    case = resolved_case()
    agent = make_user(Role.AGENT, departments=[case.department])
    staff = sign_in(app, agent)
    draft = staff.get(f"/staff/kb/from-case/{case.reference}?lang=es")
    assert draft.status_code == 200
    # Every value is gone from the editable draft and shown as a marked replacement.
    form_part = draft.text.split('<form method="post" novalidate>')[1]
    for value in (NAME, "Lucía", "Fernández", EMAIL, PHONE, DNI, IBAN, "Calle Mayor 12"):
        assert value not in form_part, value
    assert draft.text.count('class="redacted"') >= 7

    title = re.search(r'id="title"[^>]*value="([^"]*)"', form_part).group(1)
    body = re.search(r'<textarea[^>]*id="body"[^>]*>\s*(.*?)</textarea>', form_part, re.S).group(1)
    saved = staff.post(f"/staff/kb/from-case/{case.reference}", data={
        "title": title.replace("&#34;", '"'), "body": body, "locale": "es", "summary": "",
        "department": str(case.department_id), "tags": "ibi, recibos"})
    assert saved.status_code == 302
    article = db.session.scalar(db.select(Article))
    assert article.status is ArticleStatus.DRAFT
    assert article.source_cases == [case]

    # The agent cannot publish; a manager can.
    assert staff.post(f"/staff/kb/{article.id}/publish").status_code == 403
    manager = sign_in(app, make_user(Role.MANAGER))
    assert manager.post(f"/staff/kb/{article.id}/publish").status_code == 302

    page = client.get(f"/kb/{article.id}").text
    everything_indexed = _index_text(app)
    for value in (NAME, "Lucía", "Fernández", EMAIL, PHONE, DNI, IBAN, "2100 0418",
                  "Calle Mayor 12", case.reference):
        assert value not in page, value
        assert value.lower() not in everything_indexed, value
        results = search.backend().search(knowledge.SearchQuery(text=value, locale="es"))
        assert all(value not in hit.title + hit.snippet for hit in results.hits)
    assert "devuelto el importe duplicado" in page


def _index_text(app) -> str:
    """Every stored field and every indexed term of the whole index, lower-cased."""
    from whoosh import index

    ix = index.open_dir(app.config["SEARCH_INDEX_PATH"])
    with ix.searcher() as searcher:
        stored = " ".join(str(value) for fields in searcher.all_stored_fields()
                          for value in fields.values())
        terms = " ".join(text.decode() if isinstance(text, bytes) else str(text)
                         for _field, text in searcher.reader().all_terms())
    ix.close()
    return f"{stored} {terms}".lower()


def test_without_consent_nothing_of_the_case_is_prefilled(app, make_user, resolved_case):
    case = resolved_case(consent=False)
    staff = sign_in(app, make_user(Role.AGENT, departments=[case.department]))
    page = staff.get(f"/staff/kb/from-case/{case.reference}?lang=en").text
    assert "did not agree to publish" in page
    assert "IBI" not in page.split('<form method="post" novalidate>')[1]


def test_open_cases_cannot_become_articles(app, make_user, make_case, make_department):
    department = make_department()
    case = make_case(department_id=department.id, publish_consent=True)
    staff = sign_in(app, make_user(Role.AGENT, departments=[department]))
    assert staff.get(f"/staff/kb/from-case/{case.reference}").status_code == 302


def test_agents_with_the_publish_right_publish(app, db, make_user):
    agent = make_user(Role.AGENT)
    agent.can_publish_articles = True
    db.session.commit()
    staff = sign_in(app, agent)
    staff.post("/staff/kb/new", data={"title": "Horario de verano", "body": "De 8 a 13.",
                                      "locale": "es"})
    article = db.session.scalar(db.select(Article))
    assert staff.post(f"/staff/kb/{article.id}/publish").status_code == 302
    db.session.refresh(article)
    assert article.status is ArticleStatus.PUBLISHED and article.review_by is not None


def test_markdown_is_rendered_and_raw_html_never_reaches_the_page(client, publish):
    article = publish("Cómo pedir cita", "## Pasos\n\n1. Entre en la **sede**\n"
                      "2. [Pida cita](https://sede.example.es/cita)\n\n"
                      "<script>alert(1)</script><img src=x onerror=alert(2)>\n\n"
                      "[malo](javascript:alert(3))")
    page = client.get(f"/kb/{article.id}").text
    assert "<h2>Pasos</h2>" in page and "<strong>sede</strong>" in page
    assert 'href="https://sede.example.es/cita"' in page
    # Raw HTML is shown as text, never as markup; a javascript: link is not a link.
    assert "<script>alert(1)" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript' not in page


def test_article_links_its_translations(client, db, publish, editor):
    spanish = publish("Punto limpio", "Horarios del punto limpio.")
    english = knowledge.create_article(editor, knowledge.ArticleInput(
        title="Recycling centre", body="Opening hours.", locale="en"), translation_of=spanish)
    knowledge.publish(editor, english)
    db.session.commit()
    page = client.get(f"/kb/{spanish.id}/{spanish.slug}").text
    assert f'href="/kb/{english.id}/recycling-centre" hreflang="en"' in page
    assert '<article lang="es"' in page


def test_was_this_helpful(client, db, publish, app, make_user):
    article = publish("Punto limpio", "Horarios del punto limpio.")
    client.post(f"/kb/{article.id}/feedback", data={"helpful": "yes"})
    response = client.post(f"/kb/{article.id}/feedback",
                           data={"helpful": "no", "reason": "Falta el horario de agosto."})
    assert response.status_code == 302
    db.session.refresh(article)
    assert (article.helpful_yes, article.helpful_no) == (1, 1)
    staff = sign_in(app, make_user(Role.MANAGER))
    assert "Falta el horario de agosto." in staff.get(f"/staff/kb/{article.id}").text
    assert client.post(f"/kb/{article.id}/feedback", data={"helpful": "maybe"}
                       ).status_code == 400


def test_editors_see_articles_overdue_for_review(app, db, publish, make_user):
    from datetime import date

    article = publish("Tasa de basuras", "Se paga en octubre.")
    article.review_by = date(2020, 1, 1)
    db.session.commit()
    page = sign_in(app, make_user(Role.AGENT)).get("/staff/kb/?lang=en").text
    assert "Due for review" in page and "Tasa de basuras" in page


def test_import_a_csv_faq(app, db, tmp_path, make_department, make_user):
    make_department(slug="movilidad")
    make_user(Role.ADMIN)
    faq = tmp_path / "faq.csv"
    faq.write_text("title,body,department,tags,locale\n"
                   "Cómo pagar una multa,Pague en la sede.,movilidad,\"multas, pagos\",es\n"
                   "Pay a fine,Pay online.,movilidad,fines,en\n"
                   ",sin título,movilidad,,es\n", encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["portal", "kb", "import", str(faq)])
    assert result.exit_code == 0, result.output
    assert "Imported 2 article(s)" in result.output and "line 4" in result.output
    again = runner.invoke(args=["portal", "kb", "import", str(faq)])
    assert "Imported 0 article(s); 2 already there." in again.output
    found = knowledge.search_articles(knowledge.SearchQuery(text="multas", locale="es"))
    assert [hit.title for hit in found.hits] == ["Cómo pagar una multa"]


def test_import_the_demo_markdown_folder(app, db, make_user, make_department):
    from portal.demo import DEMO_KB

    for slug in ("movilidad", "medio-ambiente", "hacienda", "servicios-sociales", "urbanismo"):
        make_department(slug=slug)
    admin = make_user(Role.ADMIN)
    imported, skipped, problems = knowledge.import_faq(admin, DEMO_KB)
    db.session.commit()
    assert imported >= 60 and problems == []
    locales = set(db.session.scalars(db.select(Article.locale)))
    assert locales == {"es", "en", "ca", "eu", "gl"}
    grouped = db.session.scalar(db.select(db.func.count(Article.id)).where(
        Article.translation_group.is_not(None)))
    assert grouped >= 10
    assert Path(DEMO_KB).is_dir()
