"""Attachments: checked, cleaned, stored outside the web root by content hash.

Only JPEG, PNG and PDF are accepted, and only when the file name and the sniffed
content agree. Images are re-encoded, which drops EXIF and GPS metadata and anything
hidden after the image data. The bytes go to the file store (portal/file_stores.py): a
file is written before the database row that points at it is committed; if the
transaction rolls back, the files it created are removed again, so no row points at a
missing file and no file is left without a row.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import re
import secrets
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta

from flask import abort, current_app, send_file
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event, exists, select
from sqlalchemy.orm import Session

from portal import file_stores, pdf_safety
from portal.extensions import db
from portal.file_stores import file_store

log = logging.getLogger(__name__)

EXTENSIONS = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
              ".pdf": "application/pdf"}
_PIL_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
# Markers of content that must not hide in a PDF or an image: HTML or script for a
# polyglot, and PDF actions that run code or carry other files.
_ACTIVE_MARKERS = re.compile(
    rb"<\s*(html|script|svg|body|iframe)|/JavaScript|/JS\b|/Launch|/EmbeddedFile|/XFA",
    re.IGNORECASE)
MAX_IMAGE_PIXELS = 40_000_000

_CREATED = "portal_storage_created"
_KEPT = "portal_storage_kept"


class UploadRejected(ValueError):
    """A file we will not store; ``code`` says why (for a translated message)."""

    def __init__(self, code: str, filename: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.filename = filename


@dataclass(frozen=True)
class CleanFile:
    data: bytes
    content_type: str
    original_name: str

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def safe_name(filename: str) -> str:
    """A display name without path parts or control characters, at most 120 characters."""
    name = os.path.basename(filename.replace("\\", "/")).strip()
    name = re.sub(r"[\x00-\x1f\x7f\"<>|:*?]", "_", name)
    stem, dot, extension = name.rpartition(".")
    if dot and len(name) > 120:
        name = stem[: 119 - len(extension)] + "." + extension
    return name[:120] or "file"


def _sniff(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def _clean_image(data: bytes, content_type: str) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                if image.format != _PIL_FORMATS[content_type]:
                    raise UploadRejected("mismatch")
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise UploadRejected("too_many_pixels")
                image.load()
                # Keep the photo the right way up, then drop every piece of metadata.
                upright = ImageOps.exif_transpose(image)
                if upright.mode not in ("RGB", "L") and content_type == "image/jpeg":
                    upright = upright.convert("RGB")
                clean = Image.new(upright.mode, upright.size)
                clean.paste(upright)
                if upright.mode == "P" and upright.getpalette():
                    clean.putpalette(upright.getpalette())
                output = io.BytesIO()
                if content_type == "image/jpeg":
                    clean.save(output, "JPEG", quality=90, optimize=True)
                else:
                    clean.save(output, "PNG", optimize=True)
                return output.getvalue()
        except UploadRejected:
            raise
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
                Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UploadRejected("damaged") from None


def inspect_upload(filename: str, data: bytes, max_bytes: int) -> CleanFile:
    """Check one uploaded file and return it cleaned, or raise ``UploadRejected``."""
    name = safe_name(filename)
    if not data:
        raise UploadRejected("empty", name)
    if len(data) > max_bytes:
        raise UploadRejected("too_large", name)
    extension = os.path.splitext(name)[1].lower()
    declared = EXTENSIONS.get(extension)
    if declared is None:
        raise UploadRejected("type", name)
    sniffed = _sniff(data)
    if sniffed != declared:
        raise UploadRejected("mismatch", name)
    if sniffed == "application/pdf":
        if _ACTIVE_MARKERS.search(data):
            raise UploadRejected("active_content", name)
        if b"%%EOF" not in data[-2048:]:
            raise UploadRejected("damaged", name)
        # The byte search above is a cheap first pass; escaped names, compressed object
        # streams and encryption need a parser.
        problem = pdf_safety.find_problem(data)
        if problem is not None:
            raise UploadRejected(problem.value, name)
        return CleanFile(data, sniffed, name)
    try:
        cleaned = _clean_image(data, sniffed)
    except UploadRejected as error:
        raise UploadRejected(error.code, name) from None
    return CleanFile(cleaned, sniffed, name)


# ---------------------------------------------------------------- files kept for a form

@dataclass(frozen=True)
class KeptFile:
    """A checked file held for a form that was sent back to its citizen (an error, or the
    "check for answers" step), so it need not be chosen again. Named by an unguessable
    token; never attached to anything until the form is sent."""

    token: str
    original_name: str
    content_type: str
    size: int


_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
_last_purge = 0.0


class StorageUnavailable(OSError):
    """The file store cannot be written (disk full, read-only, gone)."""


def keep_upload(clean: CleanFile) -> KeptFile:
    """Hold a checked file for a form being filled in; raise ``StorageUnavailable``."""
    _purge_now_and_then()
    token = secrets.token_urlsafe(24)
    meta = {"name": clean.original_name, "type": clean.content_type}
    store = file_store()
    try:
        store.put(f"kept/{token}.bin", clean.data)
        store.put(f"kept/{token}.json", json.dumps(meta).encode())
    except OSError as error:
        store.delete(f"kept/{token}.bin")
        _log_unwritable(error)
        raise StorageUnavailable(error.errno, error.strerror) from error
    return KeptFile(token, clean.original_name, clean.content_type, clean.size)


def kept_file(token: str) -> CleanFile | None:
    """The file held under ``token``, or None if there is none (expired, removed, bogus)."""
    if not _TOKEN.fullmatch(token or ""):
        return None
    store = file_store()
    try:
        meta = json.loads(store.get(f"kept/{token}.json"))
        data = store.get(f"kept/{token}.bin")
    except (OSError, ValueError):
        return None
    return CleanFile(data, meta["type"], meta["name"])


def describe_kept(token: str) -> KeptFile | None:
    clean = kept_file(token)
    if clean is None:
        return None
    return KeptFile(token, clean.original_name, clean.content_type, clean.size)


def discard_kept(token: str) -> None:
    if _TOKEN.fullmatch(token or ""):
        for suffix in (".json", ".bin"):
            file_store().delete(f"kept/{token}{suffix}")


def purge_kept(max_age: timedelta | None = None) -> int:
    """Remove held files older than ``max_age`` (a form never sent); return how many."""
    max_age = max_age or timedelta(hours=current_app.config["PORTAL"]["UPLOAD_KEEP_HOURS"])
    cutoff = time.time() - max_age.total_seconds()
    removed = 0
    for key in list(file_store().keys_older_than("kept/", cutoff)):
        if key.endswith(".bin"):
            discard_kept(key[len("kept/"):-len(".bin")])
            removed += 1
    return removed


def _purge_now_and_then() -> None:
    global _last_purge
    if time.monotonic() - _last_purge > 600:
        _last_purge = time.monotonic()
        purge_kept()


def _log_unwritable(error: OSError) -> None:
    # Which store, and why: the people who can free space need both. No file names.
    log.error("cannot write uploads to %s (%s): %s", file_store().describe(),
              errno.errorcode.get(error.errno or 0, "?"), error.strerror)


def key_for(content_hash: str) -> str:
    """The file store key of a stored file: its content hash, under its first two
    characters (so no folder holds more than a 256th of them)."""
    if not re.fullmatch(r"[0-9a-f]{64}", content_hash):
        raise ValueError("not a content hash")
    return f"{content_hash[:2]}/{content_hash}"


def read(content_hash: str) -> bytes | None:
    """A stored file's bytes, or None if the store no longer has them."""
    try:
        return file_store().get(key_for(content_hash))
    except FileNotFoundError:
        return None


def send(content_hash: str, **send_file_options):
    """A response with a stored file (``flask.send_file``'s options), 404 if it is gone.
    The bytes are read whole (10 MB at most), which any store can do and which gives
    the browser a length and ranges."""
    data = read(content_hash)
    if data is None:
        abort(404)
    return send_file(io.BytesIO(data), etag=content_hash, **send_file_options)


def discard(content_hash: str) -> None:
    file_store().delete(key_for(content_hash))


def withhold(content_hash: str) -> None:
    """Move a stored file out of reach (the virus scanner found something in it)."""
    store = file_store()
    data = read(content_hash)
    if data is not None:
        store.put(f"quarantine/{content_hash}", data)
        store.delete(key_for(content_hash))


def store(clean: CleanFile) -> str:
    """Write the file (if new) and remember it for this transaction; return its hash."""
    content_hash = clean.content_hash
    key = key_for(content_hash)
    files = file_store()
    session = db.session()
    session.info.setdefault(_KEPT, {})[content_hash] = clean.data
    if files.exists(key):
        return content_hash
    try:
        files.put(key, clean.data)
    except OSError as error:
        _log_unwritable(error)
        raise StorageUnavailable(error.errno, error.strerror) from error
    session.info.setdefault(_CREATED, set()).add(content_hash)
    return content_hash


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a SAVEPOINT released: the outer one decides
        return
    session.info.pop(_CREATED, None)
    kept = session.info.pop(_KEPT, {})
    # Another request with the same file may have rolled back and removed it meanwhile:
    # we still hold the bytes, so put it back.
    files = file_store()
    for content_hash, data in kept.items():
        if not files.exists(key_for(content_hash)):
            files.put(key_for(content_hash), data)


def _after_rollback(session: Session) -> None:
    created = session.info.pop(_CREATED, set())
    session.info.pop(_KEPT, None)
    if not created:
        return
    from portal.models import Attachment

    with Session(session.get_bind()) as check:
        for content_hash in created:
            referenced = check.scalar(
                select(exists().where(Attachment.content_hash == content_hash)))
            if not referenced:
                discard(content_hash)


def register(app) -> None:
    file_stores.register(app)
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback",
                     lambda session, transaction: _after_rollback(session)
                     if transaction.parent is None else None)
