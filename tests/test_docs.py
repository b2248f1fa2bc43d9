"""Comments that send the reader to a document name one that is in the repository."""

from __future__ import annotations

import re
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCES = [path for folder in ("portal", "tests", "benchmarks", "migrations")
           for path in sorted((PROJECT_ROOT / folder).rglob("*.py"))]
# "README.md, Architecture (Speed)": a document's file name, then perhaps its section.
CITATION = re.compile(r"\b([A-Z][A-Za-z_-]*\.md)\b(?:, ([A-Z][A-Za-z ]+[a-z]))?")


def citations() -> list[tuple[Path, str, str | None]]:
    found = []
    for path in SOURCES:
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            found.append((path.relative_to(PROJECT_ROOT), match[1], match[2]))
    return found


def test_cited_documents_exist():
    missing = [f"{path}: {name}" for path, name, _ in citations()
               if not (PROJECT_ROOT / name).is_file()]
    assert not missing


def test_cited_readme_sections_exist():
    headings = set(re.findall(r"^#+ (.+)$", (PROJECT_ROOT / "README.md").read_text(), re.M))
    cited = [(path, section) for path, name, section in citations()
             if name == "README.md" and section]
    assert ("portal/search/whoosh_backend.py", "Architecture") in {
        (str(path), section) for path, section in cited}
    assert [f"{path}: {section}" for path, section in cited if section not in headings] == []
