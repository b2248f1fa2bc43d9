"""Complete submissions per second: one embedded server against the several-servers
shape, with the same load generator in the same run, and where the time goes.

    .venv/bin/python benchmarks/throughput_benchmark.py [--duration 30] [--clients 16]
        [--profile 200] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--redis redis://127.0.0.1:6379/13]

1. **Baseline, the embedded shape** (``make run``): one gunicorn with one worker
   process and 8 threads, SQLite and Whoosh in the instance folder, jobs in process.
2. **Two app servers** (the soak benchmark's shape): two gunicorn servers (2 workers x
   4 threads each) and the RQ worker behind nginx, on a scratch PostgreSQL database
   with ``PORTAL_SEARCH_BACKEND=postgresql`` and Redis.

Both get the demo data and the same generator: ``--clients`` threads, each sending
complete submissions for ``--duration`` seconds after a warm-up (the empty question
form fetched, then sent with its tokens and a 64x48 photo; a connection per request),
with mail going to an SMTP server of the script's own. For each it prints complete
submissions/s, p50/p95 of a whole submission, and the CPU each program used per
submission (from /proc); then the ratio of the two.

3. **Where an app server's time goes**: ``--profile`` submissions through the test
   client on the PostgreSQL and Redis settings, timed, then again under cProfile with
   a CPU clock: the app's CPU per submission by area (SQL and its driver, templates,
   forms, multipart parsing, image re-encoding, jobs, file store, translations, the
   rest) and SQL statements per submission.

The last lines say what bounds the rate: the machine's cores divided by the CPU all
programs spend on one submission. Never asserts timings.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.scratch import scratch_database  # noqa: E402
from benchmarks.soak_benchmark import (  # noqa: E402
    BIN,
    TOKEN,
    Client,
    MailSink,
    Recorder,
    cpu_by_program,
    flask,
    free_port,
    gunicorn,
    nginx_config,
    percentile,
    photo,
    start,
    stop_process,
    submit,
    wait_up,
)

WARM_UP = 5.0  # seconds of load before the measured window: imports, caches, pools

# Where a profiled function's own time is counted, by the file it lives in (first match).
AREAS = [
    ("SQL and its driver (SQLAlchemy, psycopg)", ("sqlalchemy/", "psycopg")),
    ("templates (Jinja)", ("jinja2/", "portal/templates/", "markupsafe")),
    ("forms and CSRF (WTForms, Flask-WTF)", ("wtforms/", "flask_wtf/", "portal/forms.py",
                                             "portal/cases/forms.py")),
    ("multipart parsing (Werkzeug)", ("werkzeug/formparser", "werkzeug/sansio/multipart",
                                      "portal/request_limits.py")),
    ("image checks and re-encoding (Pillow)", ("PIL/", "portal/pdf_safety.py")),
    ("jobs on Redis (RQ, redis-py)", ("rq/", "redis/", "portal/jobs.py")),
    ("file store (writes, fsync)", ("portal/file_stores.py",)),
    ("translations and dates (Babel)", ("babel/", "flask_babel/", "gettext.py",
                                        "portal/i18n.py")),
    ("rate limits (Flask-Limiter)", ("flask_limiter/", "limits/")),
]
OTHER = "the rest (Flask, Werkzeug, the portal's own code, the standard library)"


def drive(base: str, clients: int, duration: float) -> tuple[Recorder, float, Counter]:
    """``clients`` threads sending complete submissions for ``duration`` seconds after
    the warm-up; the recorder of the measured window, its length and the CPU used."""
    stopping, measuring = threading.Event(), threading.Event()
    warm, measured = Recorder(), Recorder()
    image = photo()

    def citizen(seed: int) -> None:
        number = seed * 1_000_000
        while not stopping.is_set():
            number += 1
            submit(Client(base), measured if measuring.is_set() else warm, number, image)

    threads = [threading.Thread(target=citizen, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(WARM_UP)
    cpu_before = cpu_by_program()
    began = time.monotonic()
    measuring.set()
    time.sleep(duration)
    stopping.set()
    elapsed = time.monotonic() - began
    cpu = cpu_by_program()
    cpu.subtract(cpu_before)
    for thread in threads:
        thread.join()
    return measured, elapsed, cpu


def report(name: str, recorder: Recorder, elapsed: float, cpu: Counter) -> float:
    accepted = len(recorder.accepted)
    rate = accepted / elapsed
    timings = recorder.timings["submit"]
    failed = sum(count for status, count in recorder.statuses.items() if status != 302)
    print(f"\n[{name}] {accepted:,} complete submissions in {elapsed:.1f} s: {rate:.1f}/s; "
          f"a whole submission p50 {percentile(timings, .5):.0f} ms, "
          f"p95 {percentile(timings, .95):.0f} ms; not accepted: {failed}")
    per = {kind: value * 1000 / max(accepted, 1) for kind, value in cpu.items() if value > 0.2}
    print("  CPU per submission: " + ", ".join(
        f"{kind} {value:.1f} ms" for kind, value in sorted(per.items(), key=lambda i: -i[1]))
          + f"; in all {sum(per.values()):.1f} ms")
    return rate


def embedded(folder: Path, sink: MailSink, options) -> tuple[Recorder, float, Counter]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**{key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")},
           "PORTAL_INSTANCE_PATH": str(folder / "embedded"), "PORTAL_BASE_URL": base,
           "PORTAL_SECRET_KEY": "bench-" + uuid.uuid4().hex, "PORTAL_MAIL_SERVER": "127.0.0.1",
           "PORTAL_MAIL_PORT": str(sink.port), "PORTAL_MAIL_USE_TLS": "false",
           # One load generator is one address: the limits would refuse it.
           "PORTAL_RATELIMIT_ENABLED": "false"}
    flask(env, "db", "upgrade")
    flask(env, "portal", "demo")
    server = start([str(BIN / "gunicorn"), "-c", "python:portal.gunicorn_conf", "--bind",
                    f"127.0.0.1:{port}", "--no-control-socket", "wsgi:app"], env,
                   folder / "embedded.log")
    try:
        wait_up(base)
        return drive(base, options.clients, options.duration)
    finally:
        stop_process(server)


def two_servers(folder: Path, sink: MailSink, database_url: str, queue: str,
                options) -> tuple[Recorder, float, Counter]:
    ports = {"a": free_port(), "b": free_port(), "nginx": free_port()}
    base = f"http://127.0.0.1:{ports['nginx']}"
    env = {**{key: value for key, value in os.environ.items() if not key.startswith("PORTAL_")},
           **shared_settings(folder / "shared", database_url, options.redis, queue),
           "PORTAL_BASE_URL": base, "PORTAL_PROXY_HOPS": "1",
           "PORTAL_MAIL_SERVER": "127.0.0.1", "PORTAL_MAIL_PORT": str(sink.port),
           "PORTAL_MAIL_USE_TLS": "false"}
    flask(env, "db", "upgrade")
    flask(env, "portal", "demo")
    processes = {name: gunicorn(ports[name], env, folder / f"{name}.log") for name in "ab"}
    processes["worker"] = start([str(BIN / "flask"), "--app", "wsgi", "portal", "worker"],
                                env, folder / "worker.log")
    try:
        for name in "ab":
            wait_up(f"http://127.0.0.1:{ports[name]}")
        config = nginx_config(folder, ports["nginx"], [ports["a"], ports["b"]])
        processes["nginx"] = start(["nginx", "-p", str(folder), "-c", str(config), "-g",
                                    "daemon off;"], env, folder / "nginx.log")
        wait_up(base)
        return drive(base, options.clients, options.duration)
    finally:
        for process in processes.values():
            stop_process(process)


def shared_settings(instance: Path, database_url: str, redis: str, queue: str) -> dict:
    return {"PORTAL_INSTANCE_PATH": str(instance), "PORTAL_DATABASE_URL": database_url,
            "PORTAL_REDIS_URL": redis, "PORTAL_JOBS_QUEUE": queue,
            "PORTAL_SEARCH_BACKEND": "postgresql", "PORTAL_SECRET_KEY": "bench-shared-key",
            "PORTAL_RATELIMIT_ENABLED": "false"}


# ---------------------------------------------------------------- profile

def _area(filename: str) -> str:
    for name, needles in AREAS:
        if any(needle in filename for needle in needles):
            return name
    return OTHER


def profile(folder: Path, database_url: str, options, queue: str) -> None:
    """Where an app server's CPU goes in a submission: the test client under cProfile,
    with the two-server shape's settings (mail queued on Redis, not sent here)."""
    from sqlalchemy import event

    from portal import create_app, jobs
    from portal.extensions import db

    settings = {key[len("PORTAL_"):]: value for key, value in shared_settings(
        folder / "shared", database_url, options.redis, queue).items()}
    app = create_app({**settings, "RATELIMIT_ENABLED": False, "MAIL_SERVER": "127.0.0.1",
                      "MAIL_USE_TLS": False})
    statements = Counter()
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute",
                     lambda *_args: statements.update(["sql"]))
    image = photo()

    def one(number: int) -> None:
        client = app.test_client()
        page = client.get("/cases/new?kind=question").get_data(as_text=True)
        tokens = dict(TOKEN.findall(page))
        answer = client.post("/cases/new?kind=question", content_type="multipart/form-data",
                             data={"subject": f"Consulta de prueba {number} sobre la tarjeta",
                                   "topic": "unknown", "contact_name": "Vecina de Prueba",
                                   "body": "¿Qué documentos necesito para pedirla?",
                                   "contact_email": f"profile{number}@example.org",
                                   "contact_preference": "email", "language": "es", **tokens,
                                   "attachments": (io.BytesIO(image), "foto.png")})
        assert answer.status_code == 302, answer.status_code

    for number in range(20):  # warm
        one(number)
    statements.clear()
    cpu, wall = time.process_time(), time.perf_counter()
    for number in range(options.profile):
        one(1000 + number)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    per_sql = statements["sql"] / options.profile
    # CPU time, not wall time: waiting for PostgreSQL is PostgreSQL's share, counted
    # under the load above.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for number in range(options.profile):
        one(100_000 + number)
    profiler.disable()
    stats = pstats.Stats(profiler)
    areas: Counter = Counter()
    for (filename, _line, _name), (_cc, _nc, own, _cum, callers) in \
            stats.stats.items():  # type: ignore[attr-defined]
        if filename == "~":  # a built-in: its caller's area
            for (caller_file, _l, _n), (_c, _n2, from_caller, _cum2) in callers.items():
                areas[_area(caller_file)] += from_caller
        else:
            areas[_area(filename)] += own
    total = sum(areas.values())
    measured = cpu / options.profile * 1000
    print(f"\n[where an app server's time goes] {options.profile} submissions through the "
          f"test client on PostgreSQL and Redis: {measured:.1f} ms CPU and "
          f"{wall / options.profile * 1000:.1f} ms wall each (the form fetched and sent), "
          f"{per_sql:.0f} SQL statements; the CPU by area (shares under cProfile, applied "
          "to the CPU measured without it):")
    for name, seconds in areas.most_common():
        print(f"  {seconds / total:4.0%}  {seconds / total * measured:5.2f} ms  {name}")
    with app.app_context():
        jobs.queue().empty()  # the confirmations queued here, for no worker
        db.engine.dispose()


# ---------------------------------------------------------------- the run

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--profile", type=int, default=200,
                        help="in-process submissions profiled (0: no profile)")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    options = parser.parse_args()
    if not shutil.which("nginx"):
        parser.error("Debian's nginx is needed (apt-get install nginx)")
    folder = Path(tempfile.mkdtemp(prefix="throughput-"))
    queue = f"throughput-{uuid.uuid4().hex[:8]}"
    sink = MailSink()
    cores = os.cpu_count() or 1
    print(f"{cores} CPUs; {options.clients} clients for {options.duration} s a shape, "
          f"after {WARM_UP:.0f} s of warm-up")
    try:
        baseline = report("one embedded server (SQLite, Whoosh, jobs in process)",
                          *embedded(folder, sink, options))
        with scratch_database(options.postgres) as database_url:
            recorder, elapsed, cpu = two_servers(folder, sink, database_url, queue, options)
            rate = report("two app servers + RQ worker behind nginx (PostgreSQL, Redis)",
                          recorder, elapsed, cpu)
            print(f"\ntwo servers / one embedded server: {rate / baseline:.2f}x")
            spent = sum(value for value in cpu.values() if value > 0) * 1000 \
                / max(len(recorder.accepted), 1)
            print(f"bound: {spent:.1f} ms of CPU per complete submission, all programs "
                  f"together, on {cores} cores: at most {cores * 1000 / spent:.0f} "
                  "submissions/s however many servers share them")
            if options.profile:
                profile(folder, database_url, options, queue)
    finally:
        sink.stop()
        try:
            from redis import Redis
            from rq import Queue

            connection = Redis.from_url(options.redis)
            Queue(queue, connection=connection).empty()
            for key in connection.scan_iter(f"*{queue}*"):
                connection.delete(key)
        except Exception as error:  # noqa: BLE001 - cleaning up; say it and go on
            print(f"(Redis keys of {queue} not removed: {error})")
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
