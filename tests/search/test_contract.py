"""The search contract: what every SearchBackend must do.

These tests speak only the interface in portal/search/base.py, and run on every backend
in BACKENDS: Whoosh (files in a folder) and PostgreSQL full text (tables in the test
database, when PORTAL_TEST_DATABASE_URL points at a server). A new backend joins by
adding a factory; the tests run unchanged.
"""

import contextlib
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text

from portal import create_app
from portal.extensions import db as _db
from portal.search.base import (
    IndexMissing,
    SearchBackend,
    SearchDocument,
    SearchQuery,
    SearchResults,
)
from portal.search.postgres_backend import TABLES
from portal.search.whoosh_backend import WhooshBackend
from tests.conftest import BASE_CONFIG


@contextlib.contextmanager
def whoosh(request, path) -> Iterator[SearchBackend]:
    backend = WhooshBackend(str(path / "index"))
    yield backend
    backend.close()


@contextlib.contextmanager
def postgresql(request, path) -> Iterator[SearchBackend]:
    """The backend of an app on the test run's PostgreSQL database, inside its app
    context: its writes join the session's transaction, which is rolled back at the end."""
    app = create_app({**BASE_CONFIG, "INSTANCE_PATH": str(path / "instance"),
                      "DATABASE_URL": request.getfixturevalue("postgres_url"),
                      "SEARCH_BACKEND": "postgresql"})
    with app.app_context():
        backend = app.extensions["portal_search"]
        try:
            yield backend
        finally:
            _db.session.rollback()
            with _db.engine.begin() as connection:
                connection.execute(text(f"TRUNCATE {', '.join(TABLES)}"))
            _db.session.remove()
            _db.engine.dispose()


BACKENDS: dict[str, Callable[..., contextlib.AbstractContextManager[SearchBackend]]] = {
    "whoosh": whoosh,
    "postgresql": postgresql,
}


def doc(number, title, body, locale="es", department="movilidad", tags=(), kind="article"):
    return SearchDocument(doc_id=f"{kind}:{number}", kind=kind, title=title, body=body,
                          locale=locale, url=f"/kb/{number}", department=department,
                          tags=tuple(tags))


CORPUS = [
    doc(1, "Cómo pagar una multa de tráfico", "Pague en la sede electrónica.",
        tags=("multas",)),
    doc(2, "Recurrir una sanción", "Si no está de acuerdo con la multa, recurra.",
        tags=("multas", "recursos")),
    doc(3, "Alta en el padrón", "El empadronamiento se pide con cita.", department="hacienda",
        tags=("padron",)),
    doc(4, "Recycling centre", "Opening hours of the recycling centre.", locale="en",
        department="medio-ambiente"),
    doc(5, "Más bancos en la plaza", "Propuesta vecinal de bancos y sombra.", kind="idea",
        department="urbanismo"),
] + [doc(100 + number, f"Aviso número {number}", "Texto de relleno sobre farolas.",
         department="urbanismo") for number in range(25)]


@pytest.fixture(params=sorted(BACKENDS))
def empty_backend(request, tmp_path):
    with BACKENDS[request.param](request, tmp_path) as backend:
        yield backend


@pytest.fixture
def backend(empty_backend):
    assert empty_backend.rebuild(CORPUS) == len(CORPUS)
    return empty_backend


def ids(results):
    return [hit.doc_id for hit in results.hits]


def test_finds_by_title_and_body_with_title_first(backend):
    results = backend.search(SearchQuery(text="multa"))
    assert ids(results)[:2] == ["article:1", "article:2"]
    assert results.total == 2


def test_accent_and_case_insensitive(backend):
    assert "article:3" in ids(backend.search(SearchQuery(text="PADRON")))
    assert "article:3" in ids(backend.search(SearchQuery(text="empadronamiento")))


def test_snippets_mark_the_matches_and_are_escaped(backend):
    backend.index([doc(7, "Horario <b>nuevo</b>", "Abrimos <script>x</script> en verano.")])
    (hit,) = backend.search(SearchQuery(text="verano")).hits
    assert "<mark>verano</mark>" in hit.snippet
    assert "<script>" not in hit.snippet


def test_filters_by_department_tag_and_kind(backend):
    assert ids(backend.search(SearchQuery(text="multa", tag="recursos"))) == ["article:2"]
    assert ids(backend.search(SearchQuery(text="padrón", department="movilidad"))) == []
    assert ids(backend.search(SearchQuery(text="bancos", kinds=("article",)))) == []
    assert ids(backend.search(SearchQuery(text="bancos"))) == ["idea:5"]


def test_facets_count_matches(backend):
    results = backend.search(SearchQuery(text="multa"))
    assert results.facets["department"] == {"movilidad": 2}
    assert results.facets["tags"]["multas"] == 2


def test_pagination(backend):
    first = backend.search(SearchQuery(text="farolas", per_page=10, page=1))
    third = backend.search(SearchQuery(text="farolas", per_page=10, page=3))
    assert first.total == 25 and first.pages == 3
    assert len(first.hits) == 10 and len(third.hits) == 5
    assert not set(ids(first)) & set(ids(third))


def test_readers_language_and_other_languages(backend):
    assert ids(backend.search(SearchQuery(text="recycling", locale="en"))) == ["article:4"]


def test_did_you_mean_for_a_typo(backend):
    results = backend.search(SearchQuery(text="multra"))
    assert results.suggestion == "multa"


def test_index_replaces_and_delete_removes(backend):
    backend.index([doc(1, "Cómo pagar una sanción", "Pague en la sede.")])
    assert "article:1" not in ids(backend.search(SearchQuery(text="multa")))
    backend.delete(["article:2", "article:does-not-exist"])
    assert ids(backend.search(SearchQuery(text="multa"))) == []


@pytest.mark.parametrize("text", ['"', "AND", "((", "title:x", "*", "~", "\\", "", "   "])
def test_odd_queries_are_answered_and_find_nothing(backend, text):
    # A healthy index answers every query itself (no SearchUnavailable, no fallback);
    # query syntax is never obeyed, so none of these finds anything in the corpus.
    results = backend.search(SearchQuery(text=text))
    assert isinstance(results, SearchResults) and not results.fallback
    assert (results.hits, results.total) == ([], 0)


@pytest.mark.parametrize("text", ["multa*", "(multa", "multa~", "+multa", "multa^5", '"multa'])
def test_query_syntax_around_a_word_is_read_as_the_word(backend, text):
    assert ids(backend.search(SearchQuery(text=text))) == ["article:1", "article:2"]


def test_status(backend):
    status = backend.status()
    assert (status["status"], status["degraded"]) == ("ok", False)
    assert (status["fallbacks"], status["failures"]) == (0, 0)


def test_an_empty_index_is_ok_and_finds_nothing(empty_backend):
    assert empty_backend.rebuild([]) == 0
    status = empty_backend.status()
    assert (status["status"], status["documents"], status["degraded"]) == ("ok", 0, False)
    results = empty_backend.search(SearchQuery(text="multa"))
    assert (results.hits, results.total, results.fallback) == ([], 0, False)
    empty_backend.index([doc(1, "Cómo pagar una multa", "En la sede.")])
    assert ids(empty_backend.search(SearchQuery(text="multa"))) == ["article:1"]


def test_missing_index_is_unavailable(tmp_path):
    # Only an index kept apart from the database can be missing (PostgreSQL's tables
    # come with the schema).
    with whoosh(None, tmp_path / "nothing") as empty:
        status = empty.status()
        assert (status["status"], status["degraded"]) == ("missing", True)
        with pytest.raises(IndexMissing):
            empty.search(SearchQuery(text="multa"))
        with pytest.raises(IndexMissing):  # a write cannot go anywhere: rebuild first
            empty.index([doc(1, "Multa", "Texto.")])
        assert empty.status()["fallbacks"] == 1


# Every query the tests above ask, and a few more forms of the same words.
SAME_ANSWERS = ["multa", "multas", "PADRON", "empadronamiento", "padrón", "verano",
                "bancos", "farolas", "recurrir sanción", "multa recurra", "sede electrónica",
                '"sede electrónica"', "multra", "horario", "aviso", "recycling", "AND", "*"]


@pytest.mark.parametrize("locale", ["es", "en", "ca"])
def test_postgresql_finds_what_whoosh_finds(request, tmp_path, locale):
    answers = {}
    for name, factory in BACKENDS.items():
        with factory(request, tmp_path / name) as backend:
            backend.rebuild(CORPUS)
            answers[name] = {text: sorted(ids(backend.search(SearchQuery(
                text=text, locale=locale, per_page=50)))) for text in SAME_ANSWERS}
    assert answers["postgresql"] == answers["whoosh"]
