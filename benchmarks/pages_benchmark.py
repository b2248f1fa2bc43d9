"""Public pages under gunicorn, as a share of a hello-world Flask app served the same way.

    .venv/bin/python benchmarks/pages_benchmark.py [--articles 2000] [--duration 8]
        [--profile 300] [--pages home,kb,...]

In one run:

1. builds a temporary instance: ``flask db upgrade``, ``flask portal demo`` (departments,
   accounts, cases, the demo FAQ) and ``--articles`` generated published Spanish
   articles (the search benchmark's vocabulary), then ``flask search reindex``;
2. profiles each page in process (``--profile`` requests through the test client, no
   cookies, as a first-time visitor) and prints the functions that took the time;
3. serves the portal and a hello-world Flask app with the settings of
   ``make run`` (``gunicorn -c python:portal.gunicorn_conf --workers 1 --threads 8``
   with an access log), measures requests/s of each page with wrk on loopback (a
   connection per request, as nginx does towards gunicorn; ``Accept-Language: es``)
   and prints each page's share of hello-world, its target and whether it holds;
4. measures the search page once more on a portal started with no results cache and
   no page cache, so that every request runs its search.

The hello-world app is served by the same gunicorn process (under ``/__hello``), and a
hello-world run comes before and after every page, so that each ratio compares figures
taken seconds apart.

Run it under ``flock /tmp/bench.lock`` on a shared machine. It prints figures and never
asserts timings.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.search_benchmark import (  # noqa: E402
    Corpus,
    fetch,
    free_port,
    load,
    python_run,
    stop,
    wrk_run,
)

# Words citizens search for, each finding some demo or generated articles.
SEARCHES = ["multa", "empadronamiento", "recogida de muebles", "ibi", "licencia obra",
            "ruido vecinos", "tarjeta autobús", "basura", "ayuda alquiler", "vado"]
BAR = 0.35  # every public page, as a share of hello-world
UNCACHED_BAR = 0.15  # a search that runs its query on every request


def hello_app():
    """gunicorn entry point: the plainest Flask app, the reference for every ratio."""
    from flask import Flask

    app = Flask(__name__)

    @app.get("/")
    def hello():
        return "hello"

    return app


HELLO = "/__hello/"


def portal_app(page_cache: bool = True):
    """gunicorn entry point: the portal as ``wsgi:app`` builds it, with or without the
    page cache (off only to measure what a page costs when it is rendered), and the
    hello-world app under ``/__hello`` in the same process. Its runs alternate with
    the pages' runs, so each ratio compares two figures taken a few seconds apart on a
    machine whose load drifts (the WSGI dispatcher costs both the same)."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from portal import create_app

    app = create_app()
    if not page_cache:
        app.extensions["portal_page_cache"].size = 0
    return DispatcherMiddleware(app, {HELLO.rstrip("/"): hello_app()})


# ---------------------------------------------------------------- data

def _flask(env: dict[str, str], *args: str) -> str:
    binaries = Path(sys.executable).parent
    return subprocess.run([str(binaries / "flask"), "--app", "wsgi", *args],  # noqa: S603
                          cwd=ROOT, env=env, check=True, capture_output=True,
                          text=True).stdout


def seed(instance: Path, env: dict[str, str], articles: int) -> dict[str, list[str]]:
    """The demo data and ``articles`` more; returns the paths measured for each page."""
    _flask(env, "db", "upgrade")
    _flask(env, "portal", "demo")
    from sqlalchemy import select

    from portal import clock, create_app
    from portal.extensions import db
    from portal.knowledge import service as knowledge
    from portal.models import Article, ArticleStatus, Department

    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": env["PORTAL_SECRET_KEY"]})
    rng = random.Random(42)
    corpus = Corpus(rng, tail=2000)
    with app.app_context():
        departments = db.session.scalars(select(Department.id)).all()
        now = clock.now()
        for number in range(articles):
            document = corpus.article(number)
            db.session.add(Article(
                title=document.title[:200], slug=f"generado-{number}", summary="",
                body=document.body, locale="es", department_id=rng.choice(departments),
                status=ArticleStatus.PUBLISHED, published_at=now))
        db.session.commit()
        total = knowledge.reindex()
        article_ids = db.session.scalars(select(Article.id).where(
            Article.status == ArticleStatus.PUBLISHED, Article.locale == "es")
            .order_by(Article.id).limit(20)).all()
        print(f"data: the demo (flask portal demo) and {articles:,} generated articles; "
              f"{total:,} documents indexed")
        db.session.remove()
        db.engine.dispose()
    return {
        "home": ["/"],
        "kb": ["/kb"],
        "article": [f"/kb/{number}" for number in article_ids],
        "search": [f"/kb?q={quote(text)}" for text in SEARCHES],
        "intake": ["/cases/new?kind=question"],
    }


# ---------------------------------------------------------------- profile

def profile(instance: Path, env: dict[str, str], name: str, paths: list[str],
            requests: int, top: int = 14, cached: bool = True) -> None:
    """Where one page's time goes: ``requests`` in-process requests under cProfile."""
    from portal import create_app

    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": env["PORTAL_SECRET_KEY"],
                      **({} if cached else {"SEARCH_RESULTS_CACHE": 0})})
    if not cached:
        app.extensions["portal_page_cache"].size = 0
    client = app.test_client(use_cookies=False)
    headers = {"Accept-Language": "es-ES,es;q=0.9"}
    for path in paths * 3:  # warm: templates compiled, searchers open, caches filled
        client.get(path, headers=headers)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for number in range(requests):
        response = client.get(paths[number % len(paths)], headers=headers)
        assert response.status_code == 200, (paths[number % len(paths)], response.status_code)
    profiler.disable()
    elapsed = time.perf_counter() - started
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"\n[{name}] {requests} in-process requests: {elapsed / requests * 1000:.2f} ms each "
          f"under cProfile ({total / requests * 1000:.2f} ms profiled)")
    rows = []
    for (filename, line, function), (_calls, ncalls, tottime, cumtime, _callers) in \
            stats.stats.items():  # type: ignore[attr-defined]
        rows.append((cumtime, tottime, ncalls, _short(filename, line, function)))
    # Cumulative time, without the wrappers that hold nearly all of it.
    print("  cumulative (share of the request)  calls/request  function")
    shown = 0
    for cumtime, _tottime, ncalls, label in sorted(rows, reverse=True):
        if cumtime / total > 0.93 or label.startswith("~"):
            continue
        print(f"  {cumtime / total:6.1%}  {ncalls / requests:10.1f}  {label}")
        shown += 1
        if shown == top:
            break
    print("  own time")
    for _cumtime, tottime, ncalls, label in sorted(rows, key=lambda row: -row[1])[:8]:
        print(f"  {tottime / total:6.1%}  {ncalls / requests:10.1f}  {label}")
    with app.app_context():
        from portal.extensions import db

        db.session.remove()
        db.engine.dispose()


def _short(filename: str, line: int, function: str) -> str:
    if filename == "~":
        return f"~{function}"
    for marker in ("site-packages/", "/portal/", "/benchmarks/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            if marker != "site-packages/":
                filename = marker.strip("/") + "/" + filename
            break
    return f"{filename}:{line}({function})"


# ---------------------------------------------------------------- HTTP

def serve(instance: Path, env: dict[str, str], entry: str, probe: str) -> tuple:
    """gunicorn with ``make run``'s settings (portal/gunicorn_conf.py: one worker,
    8 threads, an access log) serving ``entry``."""
    binaries = Path(sys.executable).parent
    port = free_port()
    log = (instance / "gunicorn.log").open("a")
    server = subprocess.Popen(  # noqa: S603 (fixed arguments, loopback only)
        [str(binaries / "gunicorn"), "-c", "python:portal.gunicorn_conf",
         "--bind", f"127.0.0.1:{port}", "--workers", "1", "--threads", "8",
         "--access-logfile", str(instance / "access.log"), "--no-control-socket",
         "--chdir", str(ROOT), entry],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 60
    while True:
        try:
            if fetch(port, probe)[0] == 200:
                return server, port
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop(server)
            raise RuntimeError("gunicorn did not start: "
                               + (instance / "gunicorn.log").read_text()[-2000:])
        time.sleep(0.2)


def measure(port: int, instance: Path, label: str, paths: list[str], seconds: int) -> float:
    wrk = shutil.which("wrk")
    if wrk:
        # A browser's language, as the citizens' would be.
        language = ("Accept-Language: es-ES,es;q=0.9",)
        wrk_run(wrk, port, paths, max(2, seconds // 3), instance, language)  # warm-up
        row = wrk_run(wrk, port, paths, seconds, instance, language)
    else:
        python_run(port, paths, 20)
        row = python_run(port, paths, max(200, 20 * seconds))
    print(f"  {label:<34} {row['rps']:8.1f} req/s  p50 {row['p50']:7.1f} ms  "
          f"p99 {row['p99']:7.1f} ms  requests {row['requests']:7,}  errors {row['errors']}")
    return row["rps"]


def verdict(label: str, rps: float, hello: float, bar: float) -> str:
    ratio = rps / hello
    return (f"  {label:<34} {rps:8.1f} req/s  hello {hello:7.1f}  {ratio:6.1%}  "
            f"target >= {bar:.0%}  {'holds' if ratio >= bar else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--duration", type=int, default=8, help="seconds per wrk run")
    parser.add_argument("--profile", type=int, default=300,
                        help="in-process requests profiled per page (0: no profile)")
    parser.add_argument("--pages", default="home,kb,article,search,intake")
    options = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda _number, _frame: sys.exit(143))
    print(f"{os.cpu_count()} CPUs, load average {load()} (other processes skew the figures)")
    folder = Path(tempfile.mkdtemp(prefix="pages-benchmark-"))
    instance = folder / "instance"
    env = {**os.environ, "PORTAL_INSTANCE_PATH": str(instance),
           "PORTAL_SECRET_KEY": "benchmark"}
    try:
        paths = seed(instance, env, options.articles)
        names = [name for name in options.pages.split(",") if name in paths]
        for name in names:
            status, page = fetch_status(instance, env, paths[name][0])
            print(f"  GET {paths[name][0]}: {status}, {len(page):,} bytes")
        if options.profile:
            for name in names:
                profile(instance, env, name, paths[name], options.profile)
            if "search" in names:
                profile(instance, env, "search, no results or page cache", paths["search"],
                        options.profile, cached=False)
        wrk = shutil.which("wrk")
        print("\nHTTP: gunicorn -c python:portal.gunicorn_conf --workers 1 --threads 8 "
              "--access-logfile (make run's settings) on 127.0.0.1, serving the portal and "
              f"the hello-world app (under {HELLO}); "
              + (f"wrk -t2 -c8 -H 'Connection: close' -H 'Accept-Language: es', "
                 f"{options.duration} s per run after a warm-up; wrk shares the cores"
                 if wrk else "wrk not found: Python client, 8 threads")
              + ". A hello-world run before and after each page; the page's ratio is to "
              "their mean.")
        rows = []  # (label, page req/s, hello req/s, target)
        runs = [(name, paths[name], BAR) for name in names]
        servers = [("portal_app()", {}, runs)]
        if "search" in names:
            servers.append(("portal_app(page_cache=False)",
                            {"PORTAL_SEARCH_RESULTS_CACHE": "0"},
                            [("search, no results or page cache", paths["search"],
                              UNCACHED_BAR)]))
        for entry, extra, measured in servers:
            print(f"  server: benchmarks.pages_benchmark:{entry} {extra or ''}")
            server, port = serve(instance, {**env, **extra},
                                 f"benchmarks.pages_benchmark:{entry}", HELLO)
            try:
                before = measure(port, instance, "hello-world", [HELLO], options.duration)
                for label, page_paths, bar in measured:
                    rps = measure(port, instance, f"{label} ({len(page_paths)} paths)",
                                  page_paths, options.duration)
                    after = measure(port, instance, "hello-world", [HELLO], options.duration)
                    rows.append((label, rps, (before + after) / 2, bar))
                    before = after
            finally:
                stop(server)
        print("\nSummary (one run; the same server settings for every row)")
        for label, rps, hello, bar in rows:
            print(verdict(label, rps, hello, bar))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fetch_status(instance: Path, env: dict[str, str], path: str) -> tuple[int, str]:
    """One in-process request, to show the page answers before it is measured."""
    from portal import create_app

    app = create_app({"INSTANCE_PATH": str(instance), "SECRET_KEY": env["PORTAL_SECRET_KEY"]})
    response = app.test_client(use_cookies=False).get(path)
    body = response.get_data(as_text=True)
    with app.app_context():
        from portal.extensions import db

        db.session.remove()
        db.engine.dispose()
    return response.status_code, re.sub(r"\s+", " ", body)


if __name__ == "__main__":
    main()
