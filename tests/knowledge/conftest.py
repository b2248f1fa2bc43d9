"""Fixtures for the knowledge base: published articles and a fresh index."""

import pytest

from portal.accounts import service as accounts
from portal.extensions import db as _db
from portal.knowledge import service as knowledge
from portal.models import Role


@pytest.fixture(autouse=True)
def empty_index(app, db):
    """Every test starts with an empty, existing index (as `search reindex` leaves it)."""
    knowledge.reindex()
    yield
    from portal import search

    search.backend().close()


@pytest.fixture
def editor(make_user):
    return make_user(Role.MANAGER, name="Marta Gestora")


@pytest.fixture
def publish(app, db, editor, make_department):
    """Create and publish an article; the index is updated after the commit."""
    departments = {}

    def make(title, body, locale="es", department="movilidad", tags=(), summary=""):
        if department not in departments:
            departments[department] = make_department(
                slug=department, names={"es": department.title(), "en": department.title()})
        article = knowledge.create_article(editor, knowledge.ArticleInput(
            title=title, body=body, summary=summary, locale=locale,
            department_id=departments[department].id, tags=list(tags)))
        knowledge.publish(editor, article)
        _db.session.commit()
        return article

    return make


@pytest.fixture
def reindexed(app, db):
    def run():
        return knowledge.reindex()
    return run


__all__ = ["accounts"]
