"""The search interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any


class SearchBackend(ABC):
    """A public search index. Only published, public content is ever given to it."""

    name: str = "abstract"

    @abstractmethod
    def status(self) -> dict[str, Any]:
        """Health for ``/healthz``: ``{"backend": name, "status": "ok" | "missing" | "error"}``."""
