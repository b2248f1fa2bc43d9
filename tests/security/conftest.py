"""One of everything, for the tests that walk every route: a department with a topic, a
person of each role, a guest's case with a file, a published article, an idea with a
comment, a published report with a commitment and a milestone, a saved reply, a local
holiday and a counter request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from portal.accounts import service as accounts
from portal.admin import service as admin
from portal.cases import service as cases
from portal.extensions import db as _db
from portal.ideas import service as ideas
from portal.knowledge import service as knowledge
from portal.manage import service as manage
from portal.models import CaseKind, DataRequestKind, Role, User
from portal.privacy import service as privacy
from portal.reports import service as reports
from tests.test_data_export import PNG


@dataclass
class World:
    people: dict[str, User]
    values: dict[str, str]  # a real value for each URL part, by its name


@pytest.fixture
def world(db, make_user, make_department) -> World:
    department = make_department()
    people = {"citizen": make_user(Role.CITIZEN, locale="en"),
              "agent": make_user(Role.AGENT, departments=[department], locale="en"),
              "manager": make_user(Role.MANAGER, departments=[department], locale="en"),
              "admin": make_user(Role.ADMIN, locale="en")}
    manager = people["manager"]
    category = admin.save_category(people["admin"], None, department=department, slug="farolas",
                                   names={"es": "Farolas"}, accepts_questions=True,
                                   accepts_complaints=True, active=True)
    case, _new = cases.submit_case(cases.Submission(
        kind=CaseKind.COMPLAINT, subject="Farola apagada", body="No luce desde el lunes.",
        contact_name="Ana Soler", contact_email="ana@example.org", language="es",
        department_id=department.id, files=[("foto.png", PNG)]), people["citizen"])
    _db.session.flush()
    article = knowledge.create_article(manager, knowledge.ArticleInput(
        title="Farolas apagadas", body="Se reparan en dos días.", summary="Alumbrado."))
    knowledge.publish(manager, article)
    idea = ideas.propose(people["citizen"], ideas.Proposal(
        title="Más bancos", body="En la plaza.", language="es"))
    _db.session.flush()
    comment = ideas.add_comment(idea, people["agent"], "Lo estudiamos.")
    report = reports.save(manager, None, reports.Draft(
        title="Informe de otoño", summary="Lo que hicimos.", body="Texto.", locale="es",
        period_start=date(2026, 9, 1), period_end=date(2026, 11, 30),
        commitments=[("Más farolas LED", date(2027, 3, 1))]))
    _db.session.flush()
    commitment = report.commitments[0]
    milestone = reports.add_milestone(manager, commitment, "Pedido hecho", date(2027, 1, 15))
    reports.publish(manager, report)
    canned = manage.save_canned(manager, None, "Gracias", "Gracias por escribirnos.", "es",
                                None)
    admin.add_holiday(people["admin"], date(2027, 5, 15), "San Isidro")
    request = privacy.record_request(DataRequestKind.ACCESS, "ana@example.org", people["agent"],
                                     "DNI", case.created_at)
    _db.session.commit()
    holiday_id = admin.holidays(2027)[0].id
    values = {"reference": case.reference, "attachment_id": case.attachments[0].id,
              "article_id": article.id, "slug": "farolas-apagadas", "idea_id": idea.id,
              "comment_id": comment.id, "report_id": report.id,
              "commitment_id": commitment.id, "milestone_id": milestone.id,
              "item_id": canned.id, "department_id": department.id,
              "category_id": category.id, "holiday_id": holiday_id,
              "user_id": people["agent"].id, "request_id": request.id,
              "token": accounts.password_reset_token(people["citizen"])}
    return World(people=people, values={key: str(value) for key, value in values.items()})
