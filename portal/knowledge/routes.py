"""The public knowledge base (/kb) and the editors' pages (/staff/kb)."""

from __future__ import annotations

from datetime import date
from urllib.parse import quote_plus

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from wtforms import SelectChoice

from portal import markdown, page_cache
from portal.cases import references
from portal.extensions import db, limiter
from portal.i18n import LANGUAGE_NAMES, current_language
from portal.knowledge import redaction, service
from portal.knowledge.forms import ArticleForm, FeedbackForm, SearchForm
from portal.knowledge.tags import tag_label
from portal.models import Article, ArticleFeedback, ArticleStatus, Department, Role, Tag
from portal.request_limits import whole_number
from portal.search.base import SearchQuery
from portal.security import guard_blueprint, public
from portal.staff import service as staff

bp = Blueprint("knowledge", __name__)
staff_bp = Blueprint("knowledge_staff", __name__)
guard_blueprint(staff_bp, Role.AGENT)

PER_PAGE = 10


def _search_links(base: str):
    """``link(q=..., department=...)``: a link to the search page with other words or
    filters, as url_for builds it but with the route looked up once per page (a page
    of results has some twenty such links) and each value quoted once (most links
    repeat the query's words). Empty values are left out."""
    quoted: dict[object, str] = {}

    def link(**params) -> str:
        parts = []
        for key, value in params.items():
            if value:
                text = quoted.get(value)
                if text is None:
                    text = quoted[value] = quote_plus(str(value))
                parts.append(f"{key}={text}")  # the keys are plain names
        return f"{base}?{'&'.join(parts)}"
    return link


@bp.app_context_processor
def _tag_labels() -> dict:
    return {"tag_label": tag_label}


def _department_names() -> dict[str, str]:
    """Slug -> name in the page's language (kept until a department changes)."""
    language = current_language()
    return page_cache.remember(("department_names", language), lambda: {
        department.slug: department.name(language)
        for department in db.session.scalars(select(Department))})


def _tag_labels(slugs: list[str]) -> dict[str, str]:
    """Slug -> label in the page's language, for the tags of a results page."""
    if not slugs:
        return {}
    labels = page_cache.remember(("tag_labels", current_language()), lambda: {
        slug: tag_label(slug, label)
        for slug, label in db.session.execute(select(Tag.slug, Tag.label))})
    return {slug: labels[slug] for slug in slugs if slug in labels}


# ---------------------------------------------------------------- public

@bp.get("/kb")
@public
@page_cache.cached()
def index():
    form = SearchForm(request.args)
    text = (form.q.data or "").strip() if form.validate() else ""
    page = whole_number(request.args.get("page"), maximum=999) or 1
    query = SearchQuery(text=text, locale=current_language(),
                        department=request.args.get("department", "")[:64],
                        tag=request.args.get("tag", "")[:64],
                        page=page,
                        per_page=PER_PAGE)
    results = service.search_articles(query) if text else None
    latest, counts = [], {}
    if not text:  # the start page: the latest answers and the departments' counts
        latest = db.session.scalars(select(Article).where(
            Article.status == ArticleStatus.PUBLISHED, Article.locale == current_language())
            .order_by(Article.published_at.desc()).limit(10)).all()
        counts = dict(db.session.execute(
            select(Department.slug, func.count(Article.id)).join(Article.department)
            .where(Article.status == ArticleStatus.PUBLISHED).group_by(Department.slug)).all())
    tag_slugs = list(results.facets.get("tags", {})) if results else []
    tag_labels = _tag_labels(tag_slugs)
    return render_template("knowledge/index.html", form=form, query=query, results=results,
                           latest=latest, department_counts=counts, tag_labels=tag_labels,
                           department_names=_department_names(),
                           search_link=_search_links(url_for("knowledge.index")))


@bp.get("/kb/<int:article_id>", defaults={"slug": None})
@public
@bp.get("/kb/<int:article_id>/<slug:slug>")
# ?from=: a suggestion opened from a form being written, counted once per visit.
@page_cache.cached(unless=lambda: bool(request.args.get("from")))
def article(article_id: int, slug: str | None):
    item = db.session.get(Article, article_id)
    if item is None or item.status is not ArticleStatus.PUBLISHED:
        abort(404)
    form_token = request.args.get("from", "")
    if form_token:
        service.suggestion_opened(form_token, item)
        db.session.commit()
    return render_template("knowledge/article.html", article=item,
                           body=markdown.render(item.body),
                           translations=service.translations_of(item),
                           feedback_form=FeedbackForm(), language_names=LANGUAGE_NAMES,
                           department_names=_department_names(),
                           thanks=request.args.get("thanks"))


@bp.post("/kb/<int:article_id>/feedback")
@public
@limiter.limit("20 per hour")
def feedback(article_id: int):
    item = db.session.get(Article, article_id)
    if item is None or item.status is not ArticleStatus.PUBLISHED:
        abort(404)
    form = FeedbackForm()
    if form.validate_on_submit() and form.helpful.data in {"yes", "no"}:
        service.record_feedback(item, form.helpful.data == "yes", form.reason.data or "")
        db.session.commit()
        return redirect(url_for("knowledge.article", article_id=item.id, slug=item.slug or None,
                                thanks=form.helpful.data, _anchor="feedback"))
    return render_template("knowledge/article.html", article=item,
                           body=markdown.render(item.body),
                           translations=service.translations_of(item), feedback_form=form,
                           language_names=LANGUAGE_NAMES,
                           department_names=_department_names(), thanks=None), 400


@bp.get("/kb/suggest")
@public
@limiter.limit("120 per minute")
def suggest():
    """An HTML fragment for the suggestion panel (progressive enhancement)."""
    text = request.args.get("q", "")[:200]
    return render_template("knowledge/_suggestions.html", results=service.suggestions_for(text),
                           form_token=request.args.get("token", "")[:64],
                           form_kind=request.args.get("for", ""))


# ---------------------------------------------------------------- editors

def _article_form(obj=None) -> ArticleForm:
    language = current_language()
    form = ArticleForm(obj=obj)
    form.locale.choices = [SelectChoice(code, name) for code, name in LANGUAGE_NAMES.items()]
    form.department.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(department.id), department.name(language))
        for department in db.session.scalars(select(Department).order_by(Department.slug))]
    if obj is not None and not form.is_submitted():
        form.department.data = str(obj.department_id or "")
    if obj is not None and not isinstance(form.tags.data, str):
        # WTForms fills the field from the article's Tag rows when the form does not
        # send it (a post without the field was a 500): as the text the field shows.
        form.tags.data = ", ".join(tag.label for tag in obj.tags)
    return form


def _input(form: ArticleForm) -> service.ArticleInput:
    department = form.department.data
    return service.ArticleInput(
        title=form.title.data, summary=form.summary.data or "", body=form.body.data,
        locale=form.locale.data,
        department_id=int(department) if department and department.isdigit() else None,
        tags=[tag for tag in (form.tags.data or "").split(",") if tag.strip()],
        review_by=form.review_by.data)


@staff_bp.get("/")
def articles():
    today = date.today()
    return render_template("knowledge/staff_list.html", articles=service.editor_list(),
                           due=service.due_for_review(), today=today,
                           figures=service.deflection_figures(),
                           can_publish=service.can_publish(current_user))


@staff_bp.route("/new", methods=["GET", "POST"])
def new():
    translation_of = None
    translate = whole_number(request.args.get("translate"))
    if translate is not None:
        translation_of = db.session.get(Article, translate)
    form = _article_form()
    if request.method == "GET":
        form.locale.data = current_language()
        if translation_of is not None:
            form.department.data = str(translation_of.department_id or "")
            form.tags.data = ", ".join(tag.label for tag in translation_of.tags)
    if form.validate_on_submit():
        item = service.create_article(current_user, _input(form),
                                      translation_of=translation_of)
        db.session.commit()
        flash(_("Draft saved."), "success")
        return redirect(url_for("knowledge_staff.edit", article_id=item.id))
    return render_template("knowledge/edit.html", form=form, article=None,
                           translation_of=translation_of, case=None, redacted=[])


@staff_bp.route("/from-case/<reference:reference>", methods=["GET", "POST"])
def from_case(reference: str):
    try:
        case = staff.get_case(current_user, references.normalise(reference))
    except staff.PermissionDenied:
        abort(404)
    with force_locale(case.language):
        placeholders = {kind: str(label) for kind, label in PLACEHOLDER_LABELS.items()}
    try:
        draft = service.draft_from_case(current_user, case, placeholders)
    except service.KnowledgeError:
        flash(_("Only resolved cases can become articles."), "error")
        return redirect(url_for("staff.case", reference=case.reference))
    form = _article_form()
    if request.method == "GET":
        form.title.data, form.body.data = draft.data.title, draft.data.body
        form.locale.data = draft.data.locale
        form.department.data = str(draft.data.department_id or "")
    if form.validate_on_submit():
        item = service.create_article(current_user, _input(form), source_case=case)
        db.session.commit()
        flash(_("Draft saved. A manager will review and publish it."), "success")
        return redirect(url_for("knowledge_staff.edit", article_id=item.id))
    return render_template("knowledge/edit.html", form=form, article=None, case=case,
                           translation_of=None, prefilled=draft.prefilled,
                           redacted=[redaction.highlight_html(part) for part in draft.redacted])


# Placeholders written into drafts instead of personal data (in the case's language).
PLACEHOLDER_LABELS = {
    "name": _l("[name]"), "email": _l("[email address]"), "phone": _l("[phone number]"),
    "dni": _l("[DNI]"), "nie": _l("[NIE]"), "iban": _l("[IBAN]"), "address": _l("[address]"),
}


@staff_bp.route("/<int:article_id>", methods=["GET", "POST"])
def edit(article_id: int):
    item = db.session.get(Article, article_id) or abort(404)
    form = _article_form(item)
    if form.validate_on_submit():
        try:
            service.update_article(current_user, item, _input(form))
        except service.PermissionDenied:
            abort(403)
        db.session.commit()
        flash(_("Article saved."), "success")
        return redirect(url_for("knowledge_staff.edit", article_id=item.id))
    feedback = sorted((entry for entry in _feedback(item) if not entry.helpful),
                      key=lambda entry: entry.created_at, reverse=True)[:20]
    return render_template("knowledge/edit.html", form=form, article=item, case=None,
                           translation_of=None, redacted=[], feedback=feedback,
                           preview=markdown.render(item.body),
                           can_publish=service.can_publish(current_user))


def _feedback(item: Article):
    return db.session.scalars(select(ArticleFeedback).where(
        ArticleFeedback.article_id == item.id)).all()


def _editorial(article_id: int, action, message: str):
    item = db.session.get(Article, article_id) or abort(404)
    try:
        action(current_user, item)
    except service.PermissionDenied:
        abort(403)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("knowledge_staff.edit", article_id=item.id))


@staff_bp.post("/<int:article_id>/publish")
def publish(article_id: int):
    return _editorial(article_id, service.publish, _("Article published."))


@staff_bp.post("/<int:article_id>/archive")
def archive(article_id: int):
    return _editorial(article_id, service.archive, _("Article archived: it is no longer public."))
