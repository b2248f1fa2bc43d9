"""The search index looks after itself: missing, deleted, empty, rebuilt while serving.

A "running server" is an app object that has served searches (its backend holds open
searchers); "another process" is a second app object on the same instance folder and
database, or a ``flask search reindex`` subprocess.
"""

import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select, update

from portal import PROJECT_ROOT, search
from portal.extensions import db as _db
from portal.knowledge import service as knowledge
from portal.models import Article, Role, SearchPending
from portal.search.base import SearchQuery
from portal.search.whoosh_backend import WhooshBackend
from tests.conftest import BASE_CONFIG

FAQ = {
    "multa.md": "---\ntitle: Cómo pagar una multa de tráfico\n---\nPague en la sede electrónica.",
    "padron.md": "---\ntitle: Alta en el padrón municipal\n---\nEl empadronamiento pide cita.",
}


def fast_search(text: str):
    """Results from the service the pages use; ``fallback`` says who answered."""
    return knowledge.search_articles(SearchQuery(text=text, locale="es"))


def health(client) -> dict:
    response = client.get("/healthz")
    assert response.status_code == 200  # a degraded search is never an outage
    return response.get_json()


def search_state(client) -> tuple[str, str, str]:
    body = health(client)
    return body["status"], body["search"]["status"], body["search"]["index"]


@pytest.fixture
def editor(make_user):
    return make_user(Role.MANAGER)


@pytest.fixture
def faq(tmp_path) -> Path:
    folder = tmp_path / "faq"
    folder.mkdir()
    for name, text in FAQ.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def publish(editor, title: str, body: str) -> Article:
    article = knowledge.create_article(editor, knowledge.ArticleInput(title=title, body=body))
    knowledge.publish(editor, article)
    _db.session.commit()
    return article


def test_a_missing_index_is_built_by_the_first_write(app, client, runner, editor, faq):
    assert not Path(app.config["SEARCH_INDEX_PATH"], "_MAIN_0.toc").exists()
    assert search_state(client) == ("degraded", "degraded", "missing")
    # A fresh deployment imports its FAQ, and nobody runs `search reindex`.
    knowledge.import_faq(editor, faq)
    _db.session.commit()
    results = fast_search("multas")
    assert not results.fallback  # answered by the index, which the import built
    assert [hit.title for hit in results.hits] == ["Cómo pagar una multa de tráfico"]
    assert fast_search("empadronarme").total == 1  # stemmed: only the index does that
    assert _db.session.scalars(select(SearchPending)).all() == []
    assert search_state(client) == ("ok", "ok", "ok")
    assert health(client)["search"]["documents"] == 2
    result = runner.invoke(args=["search", "reindex", "--if-missing"])
    assert (result.exit_code, result.output) == (0, "The search index is in place.\n")


def test_an_index_deleted_while_serving_falls_back_then_a_rebuild_elsewhere_cures_it(
        app, client, make_app, editor):
    publish(editor, "Cómo pagar una multa de tráfico", "Pague en la sede electrónica.")
    assert "Cómo pagar una multa" in client.get("/kb?q=multa").text
    # Someone deletes the index under the running server (its searcher stays open).
    shutil.rmtree(app.config["SEARCH_INDEX_PATH"])

    response = client.get("/kb?q=multa")
    assert response.status_code == 200  # once a 500 (ReaderClosed)
    assert "Cómo pagar una multa de tráfico" in response.text  # from the database
    assert fast_search("multa").fallback
    assert search_state(client) == ("degraded", "degraded", "missing")

    other = make_app()  # another process on the same instance folder
    result = other.test_cli_runner().invoke(args=["search", "reindex"])
    assert result.exit_code == 0, result.output

    # The running server picks the rebuilt index up without a restart.
    results = fast_search("multas")
    assert not results.fallback and results.total == 1
    assert search_state(client) == ("ok", "ok", "ok")


def test_a_deleted_index_is_rebuilt_by_the_next_write(app, client, editor):
    publish(editor, "Cómo pagar una multa de tráfico", "Pague en la sede electrónica.")
    fast_search("multa")
    shutil.rmtree(app.config["SEARCH_INDEX_PATH"])
    publish(editor, "Recurrir una sanción", "Si no está de acuerdo con la multa, recurra.")
    results = fast_search("multa")
    assert not results.fallback and results.total == 2  # both: built from the database
    assert search_state(client) == ("ok", "ok", "ok")


def test_an_empty_index_is_a_normal_state(app, client, runner):
    # A deployment with no articles yet: --if-missing builds an empty index.
    result = runner.invoke(args=["search", "reindex", "--if-missing"])
    assert result.exit_code == 0, result.output
    assert "Indexed 0 document(s)." in result.output
    body = health(client)
    assert (body["status"], body["search"]["status"], body["search"]["index"]) == (
        "ok", "ok", "ok")
    assert body["search"]["documents"] == 0
    result = runner.invoke(args=["search", "reindex", "--if-missing"])
    assert (result.exit_code, result.output) == (0, "The search index is in place.\n")
    results = fast_search("multa")
    assert (results.hits, results.total, results.fallback) == ([], 0, False)
    response = client.get("/kb?q=multa")
    assert response.status_code == 200
    assert "modo simplificado" not in response.text  # the fallback's notice


def _reindex_in_a_subprocess(app) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")}
    env.update(PORTAL_INSTANCE_PATH=app.instance_path,
               PORTAL_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               PORTAL_SECRET_KEY=BASE_CONFIG["SECRET_KEY"],
               PORTAL_BASE_URL=BASE_CONFIG["BASE_URL"])
    completed = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "search", "reindex"], cwd=PROJECT_ROOT,
        env=env, capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "Indexed 1 document(s)." in completed.stdout


def test_an_index_rebuilt_while_serving_is_picked_up_by_every_thread(app, client, editor):
    article = publish(editor, "Farola apagada", "La farola de la plaza no luce.")
    assert fast_search("farola").total == 1
    seen_in_thread = []

    def search_in_another_thread(text):  # threads of a server keep their own searchers
        thread = threading.Thread(target=lambda: seen_in_thread.append(
            search.backend(app).search(SearchQuery(text=text)).total))
        thread.start()
        thread.join()
        return seen_in_thread.pop()

    assert search_in_another_thread("farola") == 1
    # The database changes behind the index's back (as after a restore from a backup),
    # then another process rebuilds. The fresh index has the same generation as the one
    # the server has open: only new files tell them apart.
    _db.session.execute(update(Article).where(Article.id == article.id).values(
        title="Semáforo averiado", body="El semáforo del cruce parpadea."))
    _db.session.commit()
    assert fast_search("semaforo").total == 0
    _reindex_in_a_subprocess(app)

    results = fast_search("semáforo")
    assert not results.fallback
    assert [hit.title for hit in results.hits] == ["Semáforo averiado"]
    assert fast_search("farola").total == 0
    assert search_in_another_thread("semaforo") == 1
    assert search_state(client) == ("ok", "ok", "ok")


@pytest.mark.search_faults
def test_healthz_is_degraded_while_the_fast_path_fails(app, client, editor, monkeypatch,
                                                       caplog):
    publish(editor, "Cómo pagar una multa de tráfico", "Pague en la sede electrónica.")
    assert search_state(client) == ("ok", "ok", "ok")

    def broken(*_args, **_kwargs):  # as when an upgrade renamed a Whoosh internal
        raise AttributeError("'W3LeafMatcher' object has no attribute '_maxid'")

    monkeypatch.setattr(WhooshBackend, "_score", broken)
    with caplog.at_level(logging.ERROR, logger="portal.search"):
        response = client.get("/kb?q=multa")
    assert response.status_code == 200
    assert "Cómo pagar una multa de tráfico" in response.text  # the fallback answered
    (record,) = [record for record in caplog.records if record.name.startswith("portal.search")]
    assert record.exc_info[0] is AttributeError  # logged with its traceback
    body = health(client)
    # The backend holds off the index for RETRY_AFTER seconds after a failure.
    assert (body["status"], body["search"]["status"], body["search"]["index"]) == (
        "degraded", "degraded", "error")
    assert body["search"]["error"] == "recently failed"
    assert body["search"]["failures"] == 1 and body["search"]["fallbacks"] == 1
    assert body["search"]["last_failure"]["error"] == "AttributeError"
    # Past RETRY_AFTER the index answers again, but the failure keeps search "degraded"
    # for FAILURE_WINDOW seconds; then it is history.
    from portal.search import whoosh_backend

    monkeypatch.setattr(whoosh_backend, "RETRY_AFTER", 0.0)
    assert search_state(client) == ("degraded", "degraded", "ok")
    monkeypatch.setattr(whoosh_backend, "FAILURE_WINDOW", 0.0)
    assert search_state(client) == ("ok", "ok", "ok")


def test_a_rebuild_if_missing_leaves_an_index_in_place(tmp_path):
    """What lets two first writes (threads or processes) build the index only once: the
    check is made under the rebuild lock."""
    from portal.search.base import SearchDocument

    backend = WhooshBackend(str(tmp_path / "index"))
    document = SearchDocument(doc_id="article:1", kind="article", title="Farola",
                              body="Apagada.", locale="es", url="/kb/1")
    assert backend.rebuild([document], if_missing=True) == 1
    assert backend.rebuild(iter(()), if_missing=True) is None  # there already
    assert backend.search(SearchQuery(text="farola")).total == 1
    backend.close()

