"""Rendered public pages kept in memory for anonymous visitors.

A public page (the home page, the knowledge base, an article, an empty intake form) is
the same for every first-time visitor who reads it in the same language, so each
process keeps the rendered HTML and serves it again until what it shows changes.

What is never served from here, or never kept:

- anything for a signed-in person (their name and menus are on every page);
- a page that shows a flash message, or a response that sets one;
- anything but a ``200`` answer to ``GET``/``HEAD``;
- a visitor's form token. A page with a form is rendered with a marker where each
  token goes (the CSRF token, an intake form's submission token), the marker is kept,
  and every response gets its own freshly made token in its place; the marker is a
  random value per process, so no text a visitor types can be mistaken for it.

The key is the endpoint, the whole path with its query string and the page's language
(after ``?lang=``, the session and ``Accept-Language`` have chosen it).

A page is kept for one *generation* of the public content, at most ``MAX_AGE`` seconds.
The generation changes when a transaction that added, changed or deleted an article,
a report, a department, a tag, a category, an idea, a holiday or the deployment's
settings (its name, contact details and texts) commits (a counter in this process, and a stamp file
in the instance folder that other processes on the host, a CLI import included, read),
and when the search index's folder changes (the index is updated after the commit that
changed an article). With ``PORTAL_REDIS_URL`` the generation also has a counter in
Redis, so that every server forgets its pages at once (several app servers); without it,
processes on other hosts see a change within ``MAX_AGE``. While Redis cannot be read,
no kept page is served.
"""

from __future__ import annotations

import contextlib
import functools
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import (
    Flask,
    Response,
    current_app,
    g,
    has_app_context,
    has_request_context,
    request,
    session,
)
from flask.globals import request_ctx
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.orm import Session

DEFAULT_SIZE = 500  # pages per process; a page is some 5-10 KB
MAX_AGE = 60.0  # seconds: the bound for changes made on another host
STAMP = "page-cache.stamp"
_CHANGED = "portal_public_content_changed"


@dataclass
class _Entry:
    generation: tuple
    stored_at: float
    body: str
    mimetype: str
    # marker -> what makes the value that replaces it in each response
    fresh: dict[str, Callable[[], str]] = field(default_factory=dict)


class PageCache:
    """The pages of one app in one process (``app.extensions["portal_page_cache"]``)."""

    def __init__(self, app: Flask, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self.stamp = Path(app.instance_path) / STAMP
        self.index_path = Path(app.config["SEARCH_INDEX_PATH"])
        self._pages: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._counter = 0
        self._values: dict[tuple, tuple[tuple, float, object]] = {}
        self.marker = secrets.token_hex(12)
        settings = app.config["PORTAL"]
        self._redis = None
        if settings["REDIS_URL"]:
            from redis import Redis

            self._redis = Redis.from_url(settings["REDIS_URL"], socket_timeout=1)
            self._shared_key = f"{settings['JOBS_QUEUE']}:page-cache-generation"

    # ------------------------------------------------------------ generations

    def generation(self) -> tuple:
        return (self._counter, _mtime(self.stamp), _mtime(self.index_path), self._shared())

    def _shared(self) -> object:
        """The generation every server reads from Redis (read once per request)."""
        if self._redis is None:
            return 0
        from redis.exceptions import RedisError

        if has_request_context() and "_page_cache_shared" in g:
            return g._page_cache_shared
        try:
            value = self._redis.get(self._shared_key) or b"0"
        except (RedisError, OSError):
            value = object()  # equal to nothing kept: no page is served from here
        if has_request_context():
            g._page_cache_shared = value
        return value

    def changed(self) -> None:
        """Public content changed: forget every page, here and in this host's processes."""
        with self._lock:
            self._counter += 1
            self._pages.clear()
            self._values.clear()
        if self._redis is not None:
            from redis.exceptions import RedisError

            # If Redis cannot take it, the other servers see the change within MAX_AGE.
            with contextlib.suppress(RedisError, OSError):
                self._redis.incr(self._shared_key)
            if has_request_context():
                g.pop("_page_cache_shared", None)
        now = time.time_ns()
        try:
            self.stamp.touch()
            # A distinct mtime even when two changes fall in one clock tick.
            previous = _mtime(self.stamp)
            os.utime(self.stamp, ns=(now, max(now, previous + 1)))
        except OSError:
            pass  # other processes then see the change within MAX_AGE

    # ------------------------------------------------------------ pages

    def get(self, key: tuple) -> _Entry | None:
        generation = self.generation()
        with self._lock:
            entry = self._pages.get(key)
            if entry is None:
                return None
            if entry.generation != generation or time.monotonic() - entry.stored_at > MAX_AGE:
                del self._pages[key]
                return None
            self._pages.move_to_end(key)
            return entry

    def put(self, key: tuple, entry: _Entry) -> None:
        with self._lock:
            self._pages[key] = entry
            self._pages.move_to_end(key)
            while len(self._pages) > self.size:
                self._pages.popitem(last=False)

    def remember(self, key: tuple, make: Callable[[], object]):
        """``make()``, kept as long as a page would be (e.g. the departments' names)."""
        generation = self.generation()
        with self._lock:
            found = self._values.get(key)
        if found is not None and found[0] == generation \
                and time.monotonic() - found[1] <= MAX_AGE:
            return found[2]
        started = time.monotonic()
        value = make()
        with self._lock:
            if len(self._values) > 4 * self.size + 100:
                self._values.clear()
            self._values[key] = (generation, started, value)
        return value

    def __len__(self) -> int:
        return len(self._pages)

    def bodies(self) -> list[str]:
        """What is kept (for tests: no token, no name, no message may be in it)."""
        with self._lock:
            return [entry.body for entry in self._pages.values()]


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return 0


def _cache() -> PageCache | None:
    cache = current_app.extensions.get("portal_page_cache")
    return cache if cache is not None and cache.size > 0 else None


def remember(key: tuple, make: Callable[[], object]):
    """A value derived from the public content, kept until that content changes.

    Callers only read what they get (it is shared between requests and threads).
    """
    cache = current_app.extensions.get("portal_page_cache")
    return make() if cache is None else cache.remember(key, make)


# ---------------------------------------------------------------- per-response values

def fresh(name: str, make: Callable[[], str]) -> str:
    """A value that must be new in every response (a form's one-time token).

    While a page is rendered to be kept, this returns a marker and remembers ``make``;
    each response then carries its own ``make()`` where the marker is. Otherwise it
    simply returns ``make()``.
    """
    pending = g.get("_page_cache_fresh")
    if pending is None:
        return make()
    marker = f"pc{pending['marker']}{name}"
    pending["values"][marker] = make
    return marker


def _new_csrf_token() -> str:
    from flask_wtf.csrf import generate_csrf

    g.pop("csrf_token", None)  # the marker stood in for it while the page was rendered
    return generate_csrf()


def _fill(body: str, values: dict[str, Callable[[], str]]) -> str:
    for marker, make in values.items():
        body = body.replace(marker, make())
    return body


# ---------------------------------------------------------------- the decorator

def _servable() -> bool:
    """Whether this request may be answered with a page someone else also got."""
    if request.method not in {"GET", "HEAD"}:
        return False
    if "_flashes" in session:
        return False
    return not current_user.is_authenticated


def _key() -> tuple:
    from portal.i18n import current_language

    return (request.endpoint, request.full_path, current_language())


def cached(unless: Callable[[], bool] | None = None) -> Callable:
    """Keep the view's page for anonymous visitors (``unless()``: not this request)."""
    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            cache = _cache()
            if cache is None or not _servable() or (unless is not None and unless()):
                return view(*args, **kwargs)
            key = _key()
            entry = cache.get(key)
            if entry is not None:
                return Response(_fill(entry.body, entry.fresh), mimetype=entry.mimetype)
            generation = cache.generation()  # before the page reads the database
            started = time.monotonic()
            pending: dict = {"marker": cache.marker, "values": {}}
            g._page_cache_fresh = pending
            csrf_marker = None
            # A token made before the view (by a hook) would be in the page as itself.
            token_made = "csrf_token" in g
            if not token_made:
                csrf_marker = fresh("csrf", _new_csrf_token)
                g.csrf_token = csrf_marker  # flask_wtf.generate_csrf returns it as is
            try:
                response = current_app.make_response(view(*args, **kwargs))
            finally:
                g.pop("_page_cache_fresh", None)
                if csrf_marker is not None and g.get("csrf_token") == csrf_marker:
                    g.pop("csrf_token")
            if response.direct_passthrough or response.is_streamed:
                return response  # a file, not a page (no marker can be in it)
            body = response.get_data(as_text=True)
            values = {marker: make for marker, make in pending["values"].items()
                      if marker in body}
            if response.status_code == 200 and not token_made and _keepable(response):
                cache.put(key, _Entry(generation, started, body, response.mimetype or
                                      "text/html", values))
            response.set_data(_fill(body, values))
            return response
        return wrapped
    return decorator


def _keepable(response: Response) -> bool:
    if "Set-Cookie" in response.headers or "_flashes" in session:
        return False
    if request_ctx.flashes:  # the page showed a message
        return False
    return not current_user.is_authenticated


# ---------------------------------------------------------------- invalidation

def _public_models() -> tuple[type, ...]:
    from portal.models import (
        Article,
        Category,
        Commitment,
        CommitmentUpdate,
        Department,
        DeploymentSettings,
        Holiday,
        Idea,
        Milestone,
        Report,
        Tag,
    )

    # DeploymentSettings: the name and contact details are on every page; Holiday: the
    # calendar every new case's deadlines are counted on (sla.deployment_calendar).
    return (Article, Report, Commitment, CommitmentUpdate, Milestone, Department, Tag,
            Category, Idea, DeploymentSettings, Holiday)


def _after_flush(session: Session, _context) -> None:
    public = _public_models()
    if any(isinstance(item, public)
           for item in (*session.new, *session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


# An execution option for UPDATEs that change only what no kept page shows (an idea's
# support and comment counts): a support must not empty the cache of every page.
NOT_SHOWN = "page_cache_not_shown"


def _on_execute(state) -> None:
    # Bulk UPDATE/DELETE statements bypass the flush.
    if (state.is_update or state.is_delete or state.is_insert) and state.bind_mapper \
            and issubclass(state.bind_mapper.class_, _public_models()) \
            and not state.execution_options.get(NOT_SHOWN):
        state.session.info[_CHANGED] = True


def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False) and has_app_context():
        cache = current_app.extensions.get("portal_page_cache")
        if cache is not None:
            cache.changed()


def register(app: Flask, size: int = DEFAULT_SIZE) -> None:
    app.extensions["portal_page_cache"] = PageCache(app, size)
    # A flag left by a transaction that was rolled back only makes the next commit
    # forget the pages once more than needed.
    for name, listener in (("after_flush", _after_flush), ("do_orm_execute", _on_execute),
                           ("after_commit", _after_commit)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)
