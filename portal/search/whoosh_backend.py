"""Whoosh, the embedded default search backend. Only this package imports whoosh."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from whoosh import index

from portal.search.base import SearchBackend


class WhooshBackend(SearchBackend):
    name = "whoosh"

    def __init__(self, path: str) -> None:
        self.path = Path(path)

    def status(self) -> dict[str, Any]:
        try:
            if not self.path.is_dir() or not index.exists_in(self.path):
                # No index yet (or it was deleted): search falls back to the database
                # until `flask search reindex` builds it.
                return {"backend": self.name, "status": "missing"}
            with index.open_dir(self.path).searcher() as searcher:
                documents = searcher.doc_count()
        except Exception as error:  # a corrupt index raises plain struct/OS errors too
            return {"backend": self.name, "status": "error", "error": type(error).__name__}
        return {"backend": self.name, "status": "ok", "documents": documents}
