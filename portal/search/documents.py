"""Search documents from the domain model: whitelisted public fields only.

Only published articles and public ideas become documents; a case's text never does.
"""

from __future__ import annotations

from flask import url_for

from portal.markdown import plain_text
from portal.models import Article, ArticleStatus, Idea
from portal.search.base import SearchDocument


def article_document(article: Article) -> SearchDocument | None:
    if article.status is not ArticleStatus.PUBLISHED:
        return None
    return SearchDocument(
        doc_id=f"article:{article.id}", kind="article", title=article.title,
        summary=article.summary, body=plain_text(article.body), locale=article.locale,
        url=url_for("knowledge.article", article_id=article.id, slug=article.slug or None),
        department=article.department.slug if article.department else "",
        tags=tuple(tag.slug for tag in article.tags), published_at=article.published_at)


def idea_document(idea: Idea) -> SearchDocument | None:
    # Only ideas on the board: not hidden, not awaiting approval, not merged (a merged
    # idea is found through the one it joined).
    if not idea.public or "ideas.idea" not in _endpoints():
        return None
    return SearchDocument(
        doc_id=f"idea:{idea.id}", kind="idea", title=idea.title, body=idea.body,
        summary=idea.official_response, locale=idea.language,
        url=url_for("ideas.idea", idea_id=idea.id),
        department=idea.department.slug if idea.department else "",
        published_at=idea.created_at)


def _endpoints():
    from flask import current_app

    return current_app.view_functions
