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
    monkeypatch.setattr(whoosh_backend, "EXACT_LIMIT", 10)
    monkeypatch.setattr(whoosh_backend, "SCAN_LIMIT", 15)
    backend = WhooshBackend(str(tmp_path / "index"))
    documents = [article(number, f"Aviso {number}", "Una farola apagada en la calle.")
                 for number in range(40)]
    documents += [article(100, "Farola caída", "Hay que retirarla."),
                  article(101, "Cambio de farolas", "Las farolas nuevas gastan menos.")]
    assert backend.rebuild(documents) == 42
    yield backend
    backend.close()


def test_bounded_search_puts_title_matches_first_and_estimates_the_total(large):
    results = large.search(SearchQuery(text="farolas"))
    assert {hit.doc_id for hit in results.hits[:2]} == {"article:100", "article:101"}
    assert len(results.hits) == 10
    assert results.exact_total is False
    assert 40 <= results.total <= 42  # estimated; 42 articles match
    assert results.pages == 2  # only the first SCAN_LIMIT (15) matches are scored
    assert sum(results.facets["department"].values()) <= whoosh_backend.FACET_SAMPLE


def test_bounded_search_pages_and_odd_words(large):
    second = large.search(SearchQuery(text="farola", page=2))
    first = large.search(SearchQuery(text="farola"))
    assert not {hit.doc_id for hit in first.hits} & {hit.doc_id for hit in second.hits}
    assert large.search(SearchQuery(text="farola apagada calle")).hits
    assert large.search(SearchQuery(text='"farola apagada"')).hits


def test_rebuild_keeps_the_words_two_documents_share_for_did_you_mean(tmp_path):
    backend = WhooshBackend(str(tmp_path / "index"))
    backend.rebuild([article(1, "Contenedores de vidrio", "Recogida semanal."),
                     article(2, "Contenedores de papel", "Recogida diaria de Zubizarreta.")])
    assert backend.search(SearchQuery(text="contenedorez")).suggestion == "contenedores"
    # A word only one article uses (a name, often) is not offered after a rebuild.
    assert backend.search(SearchQuery(text="Zubizarreto")).suggestion is None
    assert backend.status()["documents"] == 2
    backend.close()
