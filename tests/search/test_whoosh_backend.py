"""Whoosh specifics: the fused analyzer, the spelling vocabulary, bounded scoring at scale."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from whoosh.analysis import CharsetFilter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.lang import stemmer_for_language, stopwords_for_language
from whoosh.support.charset import accent_map

from portal.search import whoosh_backend
from portal.search.base import SearchDocument, SearchQuery
from portal.search.whoosh_backend import (
    LANGUAGES,
    STEMMERS,
    LanguageAnalyzer,
    WhooshBackend,
    fold,
    snippet,
    vocabulary,
)


def reference_chain(language):
    chain = RegexTokenizer() | LowercaseFilter() | CharsetFilter(accent_map)
    stem_language = STEMMERS[language]
    if stem_language:
        stops = [fold(word) for word in stopwords_for_language(stem_language)]
        chain = chain | StopFilter(stoplist=stops, minsize=2) | StemFilter(
            stemfn=stemmer_for_language(stem_language))
    return chain


def tokens(analyzer, text, **options):
    return [(token.text, token.pos, token.startchar, token.endchar, token.stopped)
            for token in analyzer(text, positions=True, chars=True, **options)]


SAMPLES = [
    "Cómo pagar una MULTA de tráfico: 3.141 euros, ¿vale?",
    "Empadronarme en el Ayuntamiento de A Coruña y la información del padrón",
    "The council's recycling centres open on Mondays",
    "Informació sobre l'empadronament a l'Ajuntament",
    "Udaletxeko erroldan izena ematea eta informazioa",
    "",
    "a e i o u",
]
WORDS = st.text(alphabet=st.sampled_from(list("aeiouáéíóúñçü nrstlcdpmAÉÑ.,'-_0123")),
                max_size=80)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("text", SAMPLES)
def test_same_tokens_as_the_filter_chain(language, text):
    assert tokens(LanguageAnalyzer(language), text) == tokens(reference_chain(language), text)
    assert (tokens(LanguageAnalyzer(language), text, removestops=False)
            == tokens(reference_chain(language), text, removestops=False))
    assert (tokens(LanguageAnalyzer(language), text, tokenize=False)
            == tokens(reference_chain(language), text, tokenize=False))


@settings(max_examples=200, deadline=None)
@given(text=WORDS, language=st.sampled_from(LANGUAGES))
def test_same_tokens_for_any_text(text, language):
    assert tokens(LanguageAnalyzer(language), text) == tokens(reference_chain(language), text)


def test_analyzer_survives_pickling_without_its_cache():
    import pickle

    analyzer = LanguageAnalyzer("es")
    list(analyzer("multas y más multas"))
    copy = pickle.loads(pickle.dumps(analyzer))  # noqa: S301 (our own bytes)
    assert copy == analyzer
    assert [token.text for token in copy("multas")] == ["mult"]


def test_vocabulary_counts_folded_words():
    assert vocabulary("Información", "informacion y MÁS") == {"informacion": 2, "y": 1, "mas": 1}


def article(number, title, body):
    return SearchDocument(doc_id=f"article:{number}", kind="article", title=title, body=body,
                          locale="es", url=f"/kb/{number}", department="movilidad")


@pytest.fixture
def large(tmp_path, monkeypatch):
    """An index where "farola" is a very common word: bounded scoring takes over."""
    monkeypatch.setattr(whoosh_backend, "SCAN_LIMIT", 15)
    backend = WhooshBackend(str(tmp_path / "index"))
    documents = [article(number, f"Aviso {number}", "Una farola apagada en la calle.")
                 for number in range(40)]
    documents += [article(100, "Farola caída", "Hay que retirarla."),
                  article(101, "Cambio de farolas", "Las farolas nuevas gastan menos.")]
    assert backend.rebuild(documents) == 42
    yield backend
    backend.close()


def test_bounded_search_puts_title_matches_first_and_counts_every_match(large):
    results = large.search(SearchQuery(text="farolas"))
    assert {hit.doc_id for hit in results.hits[:2]} == {"article:100", "article:101"}
    assert len(results.hits) == 10
    assert (results.total, results.exact_total) == (42, True)  # counted, not estimated
    assert results.pages == 2  # only SCAN_LIMIT (15) matches are scored and shown
    assert sum(results.facets["department"].values()) <= whoosh_backend.FACET_SAMPLE


def test_bounded_search_pages_and_odd_words(large):
    second = large.search(SearchQuery(text="farola", page=2))
    first = large.search(SearchQuery(text="farola"))
    assert not {hit.doc_id for hit in first.hits} & {hit.doc_id for hit in second.hits}
    assert large.search(SearchQuery(text="farola apagada calle")).total == 40
    assert large.search(SearchQuery(text="farola nuevas")).total == 1
    # Past the last page that can be shown (15 scored: 2 pages), the last page.
    beyond = large.search(SearchQuery(text="farola", page=9))
    assert beyond.page == 2 and len(beyond.hits) == 5
    assert [hit.doc_id for hit in beyond.hits] == [hit.doc_id for hit in second.hits]


def test_a_phrase_beyond_the_scoring_bound_gets_an_estimated_total(large):
    results = large.search(SearchQuery(text='"farola apagada"'))
    # 40 articles have both words; only the 15 scored were checked for the phrase.
    assert (results.total, results.exact_total) == (40, False)
    assert results.pages == 2
    assert large.search(SearchQuery(text='"apagada farola"')).total == 0


def test_filters_and_deletions_narrow_the_counted_matches(large):
    assert large.search(SearchQuery(text="farola", department="movilidad")).total == 42
    assert large.search(SearchQuery(text="farola", department="cultura")).total == 0
    large.delete([f"article:{number}" for number in range(30)])
    results = large.search(SearchQuery(text="farola"))
    assert results.total == 12
    assert "article:3" not in {hit.doc_id for hit in results.hits}
    large.index([article(3, "Aviso 3", "La farola vuelve a lucir.")])
    assert large.search(SearchQuery(text="farola")).total == 13


def test_spelling_prefers_the_nearest_word_and_never_a_stop_word(tmp_path):
    backend = WhooshBackend(str(tmp_path / "index"))
    texts = ["Hay que hacer la solicitud", "Para hacer el trámite hay que pedir cita",
             "Caer en la cuenta de que hay plazo", "La lista definitiva de la solicitud",
             "La fecha definitiva del plazo"]
    backend.rebuild([article(number, text, text) for number, text in enumerate(texts)])
    # "ha" and "hay" are closer by one letter but are stop words; "hacer" is one edit.
    assert backend.search(SearchQuery(text="haer")).suggestion == "hacer"
    assert backend.search(SearchQuery(text="deinitiva")).suggestion == "definitiva"
    # A first-letter typo is still corrected, from the whole vocabulary.
    assert backend.search(SearchQuery(text="xolicitud")).suggestion == "solicitud"
    # Short words get one edit at most: "vede" is two away from "de" and "que".
    assert backend.search(SearchQuery(text="vede")).suggestion is None
    backend.close()


def test_an_index_from_an_earlier_version_is_reported_outdated(tmp_path):
    from whoosh import index
    from whoosh.fields import ID, TEXT, Schema

    (tmp_path / "index").mkdir()
    index.create_in(tmp_path / "index", Schema(doc_id=ID(stored=True), body_es=TEXT())).close()
    backend = WhooshBackend(str(tmp_path / "index"))
    assert backend.status() == {"backend": "whoosh", "status": "error", "error": "outdated",
                                "degraded": True, "fallbacks": 0, "failures": 0}
    backend.rebuild([article(1, "Farola", "Rota.")])
    assert backend.status()["status"] == "ok"
    backend.close()


def test_rebuild_keeps_the_words_two_documents_share_for_did_you_mean(tmp_path):
    backend = WhooshBackend(str(tmp_path / "index"))
    backend.rebuild([article(1, "Contenedores de vidrio", "Recogida semanal."),
                     article(2, "Contenedores de papel", "Recogida diaria de Zubizarreta.")])
    assert backend.search(SearchQuery(text="contenedorez")).suggestion == "contenedores"
    # A word only one article uses (a name, often) is not offered after a rebuild.
    assert backend.search(SearchQuery(text="Zubizarreto")).suggestion is None
    assert backend.status()["documents"] == 2
    backend.close()


def test_result_pages_are_kept_until_the_index_changes(tmp_path):
    backend = WhooshBackend(str(tmp_path / "index"), results_cache=2)
    backend.rebuild([article(1, "Farola rota", "En la calle Mayor.")])
    first = backend.search(SearchQuery(text="farola"))
    assert backend.search(SearchQuery(text="farola")) is first
    assert backend.search(SearchQuery(text="farola", locale="en")) is not first
    backend.index([article(2, "Otra farola", "Apagada.")])  # a commit: a new state
    assert backend.search(SearchQuery(text="farola")).total == 2
    backend.delete(["article:2"])
    assert backend.search(SearchQuery(text="farola")).total == 1
    again = backend.search(SearchQuery(text="farola"))
    backend.search(SearchQuery(text="calle"))
    backend.search(SearchQuery(text="mayor"))  # the oldest of the two kept is dropped
    assert backend.search(SearchQuery(text="farola")) is not again
    backend.close()
    uncached = WhooshBackend(str(tmp_path / "index"), results_cache=0)
    assert (uncached.search(SearchQuery(text="farola"))
            is not uncached.search(SearchQuery(text="farola")))
    uncached.close()


def test_scores_are_whooshs_own_bm25f(tmp_path):
    from whoosh.query import Term

    backend = WhooshBackend(str(tmp_path / "index"))
    backend.rebuild([article(number, f"Aviso {number}", "farola " * (number % 4 + 1) + "calle")
                     for number in range(12)])
    backend.index([article(50, "Farola nueva", "Una farola más en la plaza.")])  # a segment more
    searcher = backend._searcher()
    expected = {docnum: score for score, docnum in searcher.search(
        Term("text_es", "farol"), limit=None, optimize=False).top_n}
    words = backend._words(["farola"], "es")
    ours = {docnum: score for score, docnum in backend._score(searcher, words, sorted(expected))}
    assert len(ours) == 13
    assert ours == pytest.approx(expected, rel=1e-6)
    backend.close()


def test_snippets_show_passages_around_the_first_matches():
    analyzer = LanguageAnalyzer("es")
    body = ("palabra " * 40 + "La multa se paga en la <oficina>. " + "texto " * 40
            + "Otra MULTA aquí. " + "fin " * 40 + "Tercera multa.")
    text = str(snippet(body, frozenset({"mult"}), analyzer, "resumen"))
    assert text.startswith("… ") and text.endswith(" …")
    assert text.count("<mark>") == 2 and "<mark>MULTA</mark>" in text  # two passages
    assert "&lt;oficina&gt;" in text and " … " in text.strip("… ")
    assert "Tercera" not in text  # reading stopped after the second passage
    assert str(snippet("Sin coincidencias.", frozenset({"mult"}), analyzer, "<r>")) == "&lt;r&gt;"
    short = "Pagar la sanción y otras sanciones."
    assert str(snippet(short, frozenset({"sancion"}), analyzer, "")) == (
        "Pagar la <mark>sanción</mark> y otras <mark>sanciones</mark>.")


def test_a_snippet_with_no_words_to_mark_is_the_fallback():
    analyzer = LanguageAnalyzer("es")
    assert str(snippet("La multa se paga.", frozenset(), analyzer, "Resumen")) == "Resumen"
