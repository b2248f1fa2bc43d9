"""The Whoosh internals the backend relies on, checked by name.

portal/search/whoosh_backend.py matches and scores from decoded posting lists, and for
that reads private parts of whoosh-reloaded (README.md, Architecture). setup.cfg pins the version
they were tested with. When an upgrade changes one of them, these tests fail and name
it, rather than every search quietly becoming the database fallback.
"""

import inspect
from importlib.metadata import version

import pytest
from whoosh import index
from whoosh.codec import whoosh3
from whoosh.codec.whoosh3 import LENGTHS_COLUMN, W3Codec, W3LeafMatcher, W3PostingsWriter
from whoosh.matching.wrappers import FilterMatcher
from whoosh.util.numeric import byte_to_length

from portal.search.base import SearchDocument, SearchQuery
from portal.search.whoosh_backend import (
    TOC_FILE,
    Codec,
    WhooshBackend,
    _all_postings,
    _blocks,
    _LeafMatcher,
)

TESTED_WITH = "2.7.5"  # the pin in setup.cfg

# (owner, attribute, what the backend does with it)
METHODS = [
    (W3LeafMatcher, "_read_ids", "_LeafMatcher overrides it; _blocks calls it"),
    (W3LeafMatcher, "_read_weights", "_blocks calls it"),
    (W3LeafMatcher, "_read_values", "_LeafMatcher overrides it (packed positions)"),
    (W3LeafMatcher, "_read_data", "_LeafMatcher._read_ids/_read_values call it"),
    (W3LeafMatcher, "_next_block", "_blocks and _LeafMatcher.skip_to call it"),
    (W3PostingsWriter, "_mini_values", "_PostingsWriter overrides it (packed positions)"),
]
# Attributes a matcher has once it has read a block.
MATCHER_FIELDS = ["_atend", "_ids", "_weights", "_values", "_data", "_maxid", "_i",
                  "_byteids"]
WRITER_FIELDS = ["_format", "_values"]
CODEC_FIELDS = ["_blocklimit", "_compression", "_inlinelimit"]


def article(number: int, title: str, body: str) -> SearchDocument:
    return SearchDocument(doc_id=f"article:{number}", kind="article", title=title, body=body,
                          locale="es", url=f"/kb/{number}")


@pytest.fixture
def backend(tmp_path):
    """Posting lists of several blocks (Whoosh writes 128 postings a block), a deleted
    document, and two segments."""
    backend = WhooshBackend(str(tmp_path / "index"))
    backend.rebuild([article(number, f"Farola {number}", "farola apagada " * (number % 3 + 1))
                     for number in range(300)])
    backend.delete(["article:7"])
    backend.index([article(400, "Farola nueva", "Una farola en la plaza.")])
    yield backend
    backend.close()


def _problems(backend) -> list[str]:
    problems = []
    for owner, name, use in METHODS:
        if not callable(getattr(owner, name, None)):
            problems.append(f"{owner.__name__}.{name}() is gone ({use})")
    if "self._mini_values()" not in inspect.getsource(W3PostingsWriter._write_block):
        problems.append("W3PostingsWriter._write_block no longer calls _mini_values() "
                        "(_PostingsWriter's packed positions would not be written)")
    writer = W3PostingsWriter(None, blocklimit=128)
    writer._new_block()
    problems += [f"W3PostingsWriter.{name} is gone (_PostingsWriter._mini_values reads it)"
                 for name in WRITER_FIELDS if not hasattr(writer, name)]
    codec = W3Codec()
    problems += [f"W3Codec.{name} is gone (Codec.postings_writer passes it on)"
                 for name in CODEC_FIELDS if not hasattr(codec, name)]
    # (function, its leading positional parameters, the keywords Codec passes)
    for function, positional, keywords in [
            (W3Codec.postings_writer, ["dbfile", "byteids"], []),
            (W3Codec.postings_reader, ["dbfile", "terminfo", "format_", "term", "scorer"], []),
            (W3LeafMatcher.__init__, ["postfile", "startoffset", "length", "format_"],
             ["term", "scorer"]),
            (W3PostingsWriter.__init__, ["postfile"],
             ["blocklimit", "byteids", "compression", "inlinelimit"])]:
        found = list(inspect.signature(function).parameters)[1:]
        if found[:len(positional)] != positional or not set(keywords) <= set(found):
            problems.append(f"{function.__qualname__}{tuple(found)} changed (Codec calls it "
                            f"with {tuple(positional)} and keywords {tuple(keywords)})")

    searcher = backend._searcher()
    leaves = list(searcher.reader().leaf_readers())
    leaf = leaves[0][0]
    matcher = leaf.postings("text_es", "farol")
    if not isinstance(matcher, FilterMatcher) or not hasattr(matcher, "child"):
        problems.append("SegmentReader.postings no longer wraps deletions in a FilterMatcher "
                        "with .child (_postings reads past it)")
    else:
        matcher = matcher.child
    if not isinstance(getattr(leaf, "deleted_docs_set", None), frozenset):
        problems.append("SegmentReader.deleted_docs_set is gone (_postings hides deletions)")
    if not isinstance(matcher, _LeafMatcher):
        problems.append(f"postings are read by {type(matcher).__name__}, not _LeafMatcher "
                        "(Codec.postings_reader is no longer called)")
    else:
        for name in ("_read_ids", "_read_weights"):  # reported above when gone
            if callable(getattr(matcher, name, None)):
                getattr(matcher, name)()
        problems += [f"W3LeafMatcher.{name} is gone (_blocks and _LeafMatcher read it)"
                     for name in MATCHER_FIELDS if not hasattr(matcher, name)]
        data = getattr(matcher, "_data", None)
        if not (isinstance(data, tuple) and len(data) == 3):
            problems.append("W3LeafMatcher._data is no longer (ids, weights, values) "
                            "(_LeafMatcher._read_ids and _read_values index it)")

    perdoc = getattr(leaf, "_perdoc", None)
    cached_reader = getattr(perdoc, "_cached_reader", None)
    if cached_reader is None:
        problems.append("SegmentReader._perdoc._cached_reader is gone (_lengths reads the "
                        "length column with it)")
    else:
        column = cached_reader("_text_es_len", LENGTHS_COLUMN)
        missing = [name for name in ("_dbfile", "_basepos", "_count")
                   if not hasattr(column, name)]
        if column is None or missing:
            problems.append(f"the length column reader lost {missing or 'itself'} (_lengths "
                            "reads the column whole)")
    if whoosh3._lenfield("text_es") != "_text_es_len":
        problems.append("length columns are no longer named _<field>_len (_lengths)")

    if not TOC_FILE.fullmatch(index.TOC._filename("MAIN", 12)):
        problems.append(f"the table of contents is now {index.TOC._filename('MAIN', 12)!r}, "
                        "not _MAIN_<generation>.toc (WhooshBackend._stamp looks for it)")
    return problems


def test_the_whoosh_internals_the_backend_relies_on_are_there(backend):
    problems = _problems(backend)
    assert not problems, (
        f"whoosh-reloaded {version('whoosh-reloaded')} changed internals that "
        f"portal/search/whoosh_backend.py relies on (tested with {TESTED_WITH}):\n  - "
        + "\n  - ".join(problems))


def test_what_the_internals_give_equals_what_whoosh_says(backend):
    """The decoded posting lists, lengths and positions equal Whoosh's public answers."""
    searcher = backend._searcher()
    reader = searcher.reader()
    for leaf, offset in reader.leaf_readers():
        public = list(leaf.postings("text_es", "farol").all_ids())
        matcher = leaf.postings("text_es", "farol")
        child = matcher.child if isinstance(matcher, FilterMatcher) else matcher
        raw = ([docnum for ids, _weights in _blocks(child) for docnum in ids]
               if isinstance(child, W3LeafMatcher) else _all_postings(child)[0])
        assert [docnum for docnum in raw if docnum not in leaf.deleted_docs_set] == public, (
            "W3LeafMatcher block fields (_ids, _next_block) decode other document numbers")
        (table,) = [table for start, table in backend._lengths(reader, "text_es")
                    if start == offset]
        assert [byte_to_length(table[docnum]) for docnum in public] == [
            leaf.doc_field_length(docnum, "text_es") for docnum in public], (
            "the length column read through _perdoc._cached_reader disagrees with Whoosh")
    ids, _weights = backend._postings(reader, "text_es", "farol")
    assert len(ids) == reader.doc_frequency("text_es", "farol") - 1  # one is deleted
    # Positions written packed by _PostingsWriter, read back by _LeafMatcher._read_values.
    results = backend.search(SearchQuery(text='"farola apagada"'))
    assert (results.total, results.exact_total, results.fallback) == (299, True, False)
    # "farola apagada farola apagada": the reversed phrase stands in the longer bodies.
    assert backend.search(SearchQuery(text='"apagada farola"')).total > 0
    assert backend.search(SearchQuery(text='"plaza farola"')).total == 0


def test_segments_are_written_with_the_backends_codec(backend):
    reader = backend._searcher().reader()
    assert {type(leaf.segment().codec()).__name__ for leaf, _offset in reader.leaf_readers()
            } == {Codec.__name__}
