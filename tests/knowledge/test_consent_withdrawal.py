"""A citizen withdraws the permission to publish their case: the article built from it
leaves the public site and the search index, back to a draft for an editor."""

from sqlalchemy import select

from portal.cases import service as cases
from portal.extensions import db as _db
from portal.knowledge import service as knowledge
from portal.models import ArticleStatus, AuditEvent, CaseKind, CaseStatus, Role
from portal.search.base import SearchQuery


def test_withdrawing_consent_takes_the_article_down(client, login_as, db, editor,
                                                    make_department):
    department = make_department(slug="movilidad")
    citizen = login_as(Role.CITIZEN)
    case, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.QUESTION, subject="Tarjeta de autobús para mayores",
        body="¿Cómo pido la tarjeta?", contact_name="Ana", contact_email=citizen.email,
        language="es", department_id=department.id, publish_consent=True), citizen)
    case.status = CaseStatus.RESOLVED
    article = knowledge.create_article(editor, knowledge.ArticleInput(
        title="Tarjeta de autobús para mayores", body="Se pide en la oficina.",
        department_id=department.id), source_case=case)
    knowledge.publish(editor, article)
    _db.session.commit()
    assert knowledge.search_articles(SearchQuery("tarjeta autobús")).total == 1
    assert client.get(f"/kb/{article.id}").status_code == 200

    page = client.get(f"/cases/{case.reference}?lang=en")
    assert "Withdraw my permission to publish" in page.get_data(as_text=True)
    answer = client.post(f"/cases/{case.reference}/consent")
    assert answer.status_code == 302 and answer.location.endswith("#publishing")

    _db.session.refresh(case)
    _db.session.refresh(article)
    assert case.publish_consent is False
    assert article.status is ArticleStatus.DRAFT
    assert client.get(f"/kb/{article.id}").status_code == 404
    assert knowledge.search_articles(SearchQuery("tarjeta autobús")).total == 0
    actions = [event.action for event in db.session.scalars(select(AuditEvent))]
    assert "case.consent_withdrawn" in actions and "article.unpublished" in actions
    page = client.get(f"/cases/{case.reference}?lang=en").get_data(as_text=True)
    assert "Withdraw my permission to publish" not in page


def test_someone_else_cannot_withdraw_it(client, login_as, make_user, db):
    owner = make_user(Role.CITIZEN)
    case, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.QUESTION, subject="Algo", body="Texto.", contact_name="Ana",
        contact_email=owner.email, language="es", publish_consent=True), owner)
    _db.session.commit()
    login_as(Role.CITIZEN)
    assert client.post(f"/cases/{case.reference}/consent").status_code == 404
    _db.session.refresh(case)
    assert case.publish_consent is True
