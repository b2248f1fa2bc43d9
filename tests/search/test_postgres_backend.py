"""The PostgreSQL backend inside the portal: the documents commit with the change.

An article published is found as soon as its transaction commits, by every process on
the database; a change rolled back never reaches the index; nothing is pending and
nothing needs rebuilding. (The contract suite, test_contract.py, covers searching.)
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from portal import create_app
from portal.extensions import db as _db
from portal.knowledge import service as knowledge
from portal.models import Role, SearchPending
from portal.search.base import SearchQuery
from portal.search.postgres_backend import TABLES
from tests.conftest import BASE_CONFIG, IsolatedClient


@pytest.fixture
def pg_app(postgres_url, tmp_path):
    app = create_app({**BASE_CONFIG, "INSTANCE_PATH": str(tmp_path / "instance"),
                      "DATABASE_URL": postgres_url, "SEARCH_BACKEND": "postgresql"})
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        _db.session.remove()
        tables = ", ".join([f'"{table.name}"' for table in _db.metadata.sorted_tables]
                           + list(TABLES))
        with _db.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        _db.engine.dispose()


@pytest.fixture
def editor(pg_app):
    from portal.accounts import service as accounts

    user = accounts.create_user("editora@example.org", "a long enough password", "Editora",
                                Role.MANAGER, "es")
    _db.session.commit()
    return user


def found(app, words: str, locale: str = "es") -> list[str]:
    """What a search finds, from a second app on the same database (another server)."""
    other = create_app({**BASE_CONFIG, "INSTANCE_PATH": app.instance_path,
                        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                        "SEARCH_BACKEND": "postgresql"})
    with other.app_context():
        try:
            results = knowledge.search_articles(SearchQuery(text=words, locale=locale))
            assert not results.fallback
            return [hit.title for hit in results.hits]
        finally:
            _db.session.remove()
            _db.engine.dispose()


def draft(editor, title="Horario de la piscina municipal", body="Abre de 7 a 22 en verano."):
    return knowledge.create_article(editor, knowledge.ArticleInput(
        title=title, body=body, locale="es"))


def test_a_published_article_is_found_once_its_transaction_commits(pg_app, editor):
    article = draft(editor)
    _db.session.commit()
    assert found(pg_app, "piscina") == []  # a draft is not public
    knowledge.publish(editor, article)
    _db.session.flush()
    assert found(pg_app, "piscina") == []  # not committed yet: nobody else sees it
    _db.session.commit()
    assert found(pg_app, "piscinas") == ["Horario de la piscina municipal"]
    assert _db.session.scalar(select(func.count()).select_from(SearchPending)) == 0
    knowledge.archive(editor, article)
    _db.session.commit()
    assert found(pg_app, "piscina") == []


def test_a_change_rolled_back_never_reaches_the_index(pg_app, editor):
    article = draft(editor)
    _db.session.commit()
    knowledge.publish(editor, article)
    _db.session.rollback()
    assert found(pg_app, "piscina") == []
    assert _db.session.scalar(text("SELECT count(*) FROM search_documents")) == 0


def test_an_edit_replaces_the_words(pg_app, editor):
    article = draft(editor)
    knowledge.publish(editor, article)
    _db.session.commit()
    knowledge.update_article(editor, article, knowledge.ArticleInput(
        title="Horario del polideportivo", body="Abre de 8 a 21.", locale="es"))
    _db.session.commit()
    assert found(pg_app, "piscina") == []
    assert found(pg_app, "polideportivo") == ["Horario del polideportivo"]
    # "Did you mean" offers words of the documents as they are now.
    other = knowledge.search_articles(SearchQuery(text="polideportibo"))
    assert other.suggestion == "polideportivo"
    assert knowledge.search_articles(SearchQuery(text="piscna")).suggestion is None


def test_healthz_names_the_backend(pg_app, editor):
    knowledge.publish(editor, draft(editor))
    _db.session.commit()
    search = pg_app.test_client().get("/healthz").get_json()["search"]
    assert (search["backend"], search["status"], search["documents"]) == ("postgresql", "ok", 1)


def test_the_postgresql_backend_needs_a_postgresql_database(tmp_path):
    with pytest.raises(ValueError, match="PORTAL_DATABASE_URL"):
        create_app({**BASE_CONFIG, "INSTANCE_PATH": str(tmp_path),
                    "SEARCH_BACKEND": "postgresql"})


def test_a_very_common_word_ranks_the_title_matches_first_and_counts_up_to_a_cap(
        pg_app, monkeypatch):
    from portal.search import postgres_backend
    from portal.search.base import SearchDocument

    monkeypatch.setattr(postgres_backend, "SCAN_LIMIT", 5)
    monkeypatch.setattr(postgres_backend, "COUNT_CAP", 20)
    backend = pg_app.extensions["portal_search"]
    documents = [SearchDocument(doc_id=f"article:{number}", kind="article",
                                title=f"Aviso {number}", body="Texto sobre farolas.",
                                locale="es", url=f"/kb/{number}") for number in range(30)]
    documents.append(SearchDocument(doc_id="article:100", kind="article",
                                    title="Farolas apagadas", body="Avise al 010.",
                                    locale="es", url="/kb/100"))
    backend.rebuild(documents)
    results = backend.search(SearchQuery(text="farola", per_page=3))
    assert results.hits[0].doc_id == "article:100"  # in the title: ranked first
    assert (results.total, results.exact_total, results.reachable) == (20, False, 5)
    assert results.pages == 2
    assert len(backend.search(SearchQuery(text="farola", per_page=3, page=2)).hits) == 2
