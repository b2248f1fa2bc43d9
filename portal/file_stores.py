"""Where the bytes of uploaded files live: a small key-to-bytes interface.

Everything else about a file — the checks, the content hash, the rows pointing at it,
what a rolled-back transaction leaves behind — is ``portal/storage.py``'s; this module
only keeps bytes under a key. Keys are relative and slash-separated ("ab/ab12…" for a
stored file, "kept/<token>.bin" for one held for a form, "quarantine/<hash>" for one the
virus scanner withheld), so an S3-compatible store can map each key to an object name
and implement the same six methods.

The one store here is a folder (``PORTAL_INSTANCE_PATH/uploads``): with several app
servers, every server and the worker mount the same folder (NFS, a shared volume).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from flask import Flask, current_app

_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*")
_EXTENSION = "portal.file_store"


class FileStore(Protocol):
    """Bytes by key. ``put`` is atomic: a reader sees the old bytes or the new, never
    part of them. Failing to write raises ``OSError`` (its errno says why)."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``; ``FileNotFoundError`` if there are none."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None:
        """Remove ``key``; nothing happens if it is not there."""
        ...

    def keys_older_than(self, prefix: str, cutoff: float) -> Iterator[str]:
        """Keys under ``prefix`` last written before ``cutoff`` (a Unix time)."""
        ...

    def describe(self) -> str:
        """Where the bytes are, for an operator's log line (never a file's name)."""
        ...


def check_key(key: str) -> str:
    """``key`` if it is a plain relative key (no "..", no leading "/"), else ValueError."""
    if not _KEY.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"not a file store key: {key!r}")
    return key


class FolderStore:
    """A folder on a disk every server mounts. Writes go to a temporary file in the
    target's folder, are flushed to disk, then renamed over the target."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def keys_older_than(self, prefix: str, cutoff: float) -> Iterator[str]:
        folder = self._path(prefix.rstrip("/"))
        if not folder.is_dir():
            return
        for path in folder.rglob("*"):
            try:
                if path.is_file() and not path.name.startswith(".") \
                        and path.stat().st_mtime < cutoff:
                    yield path.relative_to(self.root).as_posix()
            except OSError:
                continue  # removed meanwhile

    def describe(self) -> str:
        return str(self.root)


def file_store(app: Flask | None = None) -> FileStore:
    return (app or current_app).extensions[_EXTENSION]


def register(app: Flask) -> None:
    # A test (or a later S3 store) may have put its own store here already.
    app.extensions.setdefault(_EXTENSION, FolderStore(app.config["UPLOAD_PATH"]))
