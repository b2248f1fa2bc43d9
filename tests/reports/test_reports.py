"""Improvement reports: compose with the pickers, publish (figures frozen, everyone
linked told once, in their language), read in public and in the feed, withdraw, and
follow the commitments."""

from __future__ import annotations

from datetime import date, timedelta

import feedparser
import pytest

from portal import clock, search
from portal.extensions import db as _db
from portal.ideas import service as ideas
from portal.knowledge import service as knowledge
from portal.models import CaseStatus, CommitmentStatus, IdeaStatus, Report, ReportStatus, Role
from portal.reports import service as reports

PRIVATE = "Vivo en el tercero B y mi vecino Julián deja la basura en el portal"


@pytest.fixture(autouse=True)
def empty_index(app, db):
    knowledge.reindex()
    yield
    search.backend().close()


@pytest.fixture
def people(make_user, make_department, make_case, db):
    department = make_department(slug="parques", names={"es": "Parques", "en": "Parks"})
    manager = make_user(Role.MANAGER, email="gestora@example.org", name="Marta Gestora")
    author = make_user(Role.CITIZEN, email="autora@example.org", name="Ana Autora",
                       locale="ca")
    follower = make_user(Role.CITIZEN, email="seguidor@example.org", name="Sergio",
                         locale="en")
    citizen = make_user(Role.CITIZEN, email="vecino@example.org", name="Vecino", locale="eu")
    idea = ideas.propose(author, ideas.Proposal(
        title="Sombra en los columpios", body="Toldos o árboles, por favor.", language="es",
        department_id=department.id))
    db.session.commit()
    ideas.follow(idea, follower)
    ideas.follow(idea, citizen)  # also the citizen of a case below: told once
    db.session.commit()
    case = make_case(department=department, body=PRIVATE, subject="Basura en mi portal",
                     citizen_id=citizen.id, contact_email=citizen.email,
                     status=CaseStatus.OPEN)
    guest_case = make_case(department=department, body=PRIVATE, subject="Otra queja",
                           contact_name="Invitada", contact_email="invitada@example.org",
                           language="gl", status=CaseStatus.OPEN)
    # The same guest twice: one email.
    make_case(department=department, body="x", contact_email="INVITADA@example.org",
              language="gl", status=CaseStatus.OPEN)
    return {"department": department, "manager": manager, "idea": idea, "case": case,
            "guest_case": guest_case, "author": author, "follower": follower,
            "citizen": citizen}


def draft_for(people, **fields):
    today = clock.now().date()
    return reports.Draft(
        title=fields.pop("title", "Sombra en los parques infantiles"),
        summary=fields.pop("summary", "Pusimos toldos en cinco parques."),
        body=fields.pop("body", "**Toldos** en cinco zonas de juego.\n\n<script>x()</script>"),
        locale="es", period_start=today - timedelta(days=30), period_end=today,
        department=people["department"], idea_ids=[people["idea"].id],
        implemented_idea_ids=[people["idea"].id],
        case_ids=[people["case"].id, people["guest_case"].id],
        commitments=[("Plantar 40 árboles", today + timedelta(days=60))], **fields)


def test_publishing_tells_everyone_once_in_their_language_and_shows_everywhere(
        people, client, outbox, db):
    report = reports.save(people["manager"], None, draft_for(people))
    db.session.commit()
    assert client.get(f"/reports/{report.id}").status_code == 404  # a draft is private
    before = len(outbox())
    told = reports.publish(people["manager"], report)
    db.session.commit()
    assert told == 4  # author, follower, citizen (a follower too: once), guest
    mails = outbox()[before:]
    by_address = {}
    for text in mails:
        address = next(line.split(": ", 1)[1] for line in text.splitlines()
                       if line.startswith("To: "))
        by_address.setdefault(address.lower(), []).append(text)
    assert sorted(by_address) == ["autora@example.org", "invitada@example.org",
                                  "seguidor@example.org", "vecino@example.org"]
    assert all(len(texts) == 1 for texts in by_address.values())
    from tests.test_i18n import _catalog

    def t(language, text):
        message = _catalog(language).get(text)
        return message.string if message and message.string else text

    line = "Read the report, its figures and what we committed to:"
    for address, language in (("autora@example.org", "ca"), ("seguidor@example.org", "en"),
                              ("vecino@example.org", "eu"), ("invitada@example.org", "gl")):
        assert t(language, line) in by_address[address][0], (address, language)
    assert t("ca", line) != t("gl", line) != line
    assert "Kaixo, Vecino" in by_address["vecino@example.org"][0]  # Basque
    assert "Ola, Invitada" in by_address["invitada@example.org"][0]  # Galician
    assert "Hello Sergio" in by_address["seguidor@example.org"][0]
    assert f"/reports/{report.id}" in by_address["invitada@example.org"][0]

    idea = db.session.get(type(people["idea"]), people["idea"].id)
    assert idea.status is IdeaStatus.IMPLEMENTED
    assert report.title in idea.official_response

    assert report.figures["received"] >= 2
    home = client.get("/?lang=es").get_data(as_text=True)
    assert report.title in home and "Lo que nos pidió, lo que hicimos" in home
    listing = client.get("/reports?lang=es").get_data(as_text=True)
    assert report.title in listing
    page = client.get(f"/reports/{report.id}?lang=en").get_data(as_text=True)
    assert "<strong>Toldos</strong>" in page and "<script>x()" not in page
    assert "2 questions and complaints" in page or "answers 2" in page
    feed = feedparser.parse(client.get("/reports/feed.atom").get_data())
    assert not feed.bozo
    assert [entry.title for entry in feed.entries] == [report.title]
    assert feed.entries[0].link.endswith(f"/reports/{report.id}")


def test_no_private_case_text_on_any_public_page(people, client, db):
    report = reports.save(people["manager"], None, draft_for(people))
    reports.publish(people["manager"], report)
    db.session.commit()
    pages = ["/", "/reports", f"/reports/{report.id}", "/reports/feed.atom", "/stats",
             f"/ideas/{people['idea'].id}", "/ideas", "/kb", "/ideas/feed.atom"]
    for path in pages:
        for language in ("es", "en"):
            response = client.get(f"{path}?lang={language}")
            assert response.status_code == 200, path
            text = response.get_data(as_text=True)
            for secret in (PRIVATE, "Basura en mi portal", people["case"].reference,
                           "invitada@example.org", "Invitada"):
                assert secret not in text, (path, secret)


def test_withdrawing_needs_a_reason_and_the_page_says_why(people, client, login_as, db):
    report = reports.save(people["manager"], None, draft_for(people))
    reports.publish(people["manager"], report)
    db.session.commit()
    login_as(Role.MANAGER)
    refused = client.post(f"/manage/reports/{report.id}/withdraw", data={"reason": " "})
    assert refused.status_code == 400
    assert "Say why" in refused.get_data(as_text=True) or "reason" in \
        refused.get_data(as_text=True)
    done = client.post(f"/manage/reports/{report.id}/withdraw",
                       data={"reason": "Las cifras eran de otro periodo."})
    assert done.status_code == 302
    page = client.get(f"/reports/{report.id}?lang=es").get_data(as_text=True)
    assert "Las cifras eran de otro periodo." in page
    assert report.title not in client.get("/?lang=es").get_data(as_text=True)
    feed = feedparser.parse(client.get("/reports/feed.atom?lang=en").get_data())
    assert feed.entries[0].title.startswith("Withdrawn")


def test_a_commitment_update_is_dated_on_the_report_and_told_once(people, client, outbox, db):
    report = reports.save(people["manager"], None, draft_for(people))
    reports.publish(people["manager"], report)
    db.session.commit()
    figures_before = dict(report.figures)
    before = len(outbox())
    commitment = report.commitments[0]
    reports.update_commitment(people["manager"], commitment, CommitmentStatus.IN_PROGRESS,
                              40, "Plantados 16 de 40.")
    db.session.commit()
    mails = outbox()[before:]
    assert len(mails) == 4
    assert len({mail.split("To: ")[1].split("\n")[0].lower() for mail in mails}) == len(mails)
    page = client.get(f"/reports/{report.id}?lang=es").get_data(as_text=True)
    assert "Plantados 16 de 40." in page and 'value="40"' in page
    assert db.session.get(Report, report.id).figures == figures_before  # frozen
    with pytest.raises(reports.ReportError):
        reports.update_commitment(people["manager"], commitment, CommitmentStatus.IN_PROGRESS,
                                  40, "")
    # Late: past its date and not done, counted on /reports.
    commitment.due_on = date(2020, 1, 1)
    db.session.commit()
    assert reports.commitment_totals().late == 1


def test_a_published_report_cannot_be_edited(people, client, login_as, db):
    report = reports.save(people["manager"], None, draft_for(people))
    reports.publish(people["manager"], report)
    db.session.commit()
    with pytest.raises(reports.ReportError):
        reports.save(people["manager"], report, draft_for(people, title="Otro"))
    login_as(Role.MANAGER)
    assert client.get(f"/manage/reports/{report.id}/edit").status_code == 302


def test_the_editor_by_form_search_pickers_errors_and_publish(people, client, login_as, db):
    login_as(Role.MANAGER)
    form = {"title": "Sombra", "summary": "", "locale": "es", "period_start": "2026-11-01",
            "period_end": "2026-10-01", "department": "", "action": "save",
            "commitments-0-title": "Plantar árboles", "commitments-0-due_on": "2027-03-01"}
    errors = client.post("/manage/reports/new?lang=en", data=form)
    html = errors.get_data(as_text=True)
    assert errors.status_code == 400
    assert "Enter a summary" in html and "on or after the first day" in html
    assert 'value="Plantar árboles"' in html  # what was typed is kept
    found = client.post("/manage/reports/new?lang=en", data={
        **form, "action": "find_ideas", "idea_query": "columpios"})
    assert f'value="{people["idea"].id}"' in found.get_data(as_text=True)
    # Enter in the search box sends the form's first button (save): it searches.
    entered = client.post("/manage/reports/new?lang=en", data={
        **form, "action": "save", "idea_query": "columpios"})
    assert entered.status_code == 200
    assert f'value="{people["idea"].id}"' in entered.get_data(as_text=True)
    assert db.session.scalar(_db.select(Report)) is None
    found = client.post("/manage/reports/new?lang=en", data={
        **form, "action": "find_cases", "case_query": people["case"].reference})
    assert f'value="{people["case"].id}"' in found.get_data(as_text=True)
    more = client.post("/manage/reports/new?lang=en", data={**form, "action": "add_commitment"})
    assert 'name="commitments-3-title"' in more.get_data(as_text=True)
    saved = client.post("/manage/reports/new?lang=en", data={
        **form, "summary": "Pusimos toldos.", "period_end": "2026-11-30",
        "ideas": [str(people["idea"].id)], "cases": [str(people["case"].id)]})
    assert saved.status_code == 302
    report = db.session.scalar(_db.select(Report))
    assert [idea.id for idea in report.ideas] == [people["idea"].id]
    assert [case.id for case in report.cases] == [people["case"].id]
    assert [item.title for item in report.commitments] == ["Plantar árboles"]
    published = client.post(f"/manage/reports/{report.id}/publish")
    assert published.status_code == 302
    assert db.session.get(Report, report.id).status is ReportStatus.PUBLISHED


def test_reports_are_for_managers(people, client, login_as):
    assert client.get("/manage/reports/").status_code == 302
    login_as(Role.AGENT)
    assert client.get("/manage/reports/new").status_code == 403
