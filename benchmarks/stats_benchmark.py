"""The dashboard and /stats at scale: 1 000 000 cases over two years.

    .venv/bin/python benchmarks/stats_benchmark.py [--cases 1000000] [--ideas 5000]
        [--runs 5] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--no-sqlite]

Run it under ``flock /tmp/bench.lock`` on a shared machine. It prints figures and never
asserts timings.

Seeds six departments (each with its targets and a few categories), the cases received
over the last 730 days up to now (``portal.clock.now()``), a few thousand ideas and the
knowledge base's suggestion opens, then times:

1. the managers' dashboard (``GET /manage/``) for this year, this month, the last 365
   days (custom dates) for all departments, and this year for one department: p50 and
   p95 over ``--runs`` requests after one warm-up, each request in a context of its own;
2. the /stats refresh, ``portal.stats.public.refresh()``, over 3 runs;
3. the cached /stats page, ``GET /stats``, p50 and p95 over 20 requests;
4. each function of ``portal.stats.figures`` the two pages call, alone (SQL only);

beside a baseline timed in the same run on the same database (``GET /healthz``: routing,
one ``SELECT 1`` and a JSON answer), and the ratio of each figure to it. Then the plan of
the main GROUP BY (the dashboard's year, all departments): EXPLAIN QUERY PLAN on SQLite,
EXPLAIN ANALYZE on PostgreSQL.

The cases, as a service that has been running for a while would have them: about 95 %
answered (first answer in 0 to 15 working days, most within the department's target),
about 85 % resolved (resolved or closed, no ``next_due_at``), about 30 % of the resolved
rated 1 to 5 (some with a comment), about 3 % reopened once; a case received too
recently for its seeded answer to have come yet is still open. A working day is taken as
1.4 calendar days for the stored dates (the stored working-day counts are what the
figures read). Core inserts in batches of 10 000 on SQLite, ``COPY`` on PostgreSQL; then
ANALYZE (PostgreSQL: VACUUM ANALYZE, as autovacuum would give the table after a bulk
load). The SQLite file lives in a temporary directory and the PostgreSQL database is
created for the run; both are deleted at the end.
"""

from __future__ import annotations

import argparse
import contextvars
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, event, insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from portal import clock, create_app  # noqa: E402
from portal.accounts import service as accounts  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Case, Category, Department, Idea, IdeaStatus, Role  # noqa: E402
from portal.models import SuggestionOpen  # noqa: E402
from portal.models.enums import ArticleStatus, WithdrawalReason  # noqa: E402
from portal.models.knowledge import Article  # noqa: E402
from portal.stats import figures, public  # noqa: E402

SETTINGS = {"TESTING": True, "SECRET_KEY": "benchmark", "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024}
BATCH = 10_000
DAYS = 730
WORKING_DAY = 1.4  # calendar days per working day, for the seeded dates
REFRESH_RUNS = 3
CACHED_RUNS = 20
TARGETS_MS = {"dashboard year, all": 1000.0, "stats refresh": 2000.0, "stats cached": 50.0}

# (slug, name, first answer target, resolution target, categories, share of the cases)
DEPARTMENTS = [
    ("movilidad", "Movilidad", 3, 15, ["aparcamiento", "bus", "semaforos", "bicicleta"], 24),
    ("medio-ambiente", "Medio Ambiente", 5, 30, ["ruido", "limpieza", "parques"], 18),
    ("hacienda", "Hacienda", 2, 10, ["ibi", "multas", "plusvalia", "tasas"], 20),
    ("servicios-sociales", "Servicios Sociales", 2, 20, ["ayudas", "mayores", "vivienda"], 12),
    ("urbanismo", "Urbanismo", 4, 30, ["licencias", "obras", "aceras"], 16),
    ("cultura", "Cultura", 3, 12, ["bibliotecas", "eventos"], 8),
]
TRIAGE_SHARE = 0.02  # sent without a department
CHANNELS = (["web", "email", "phone", "counter"], [55, 20, 15, 10])
KINDS = (["question", "complaint"], [70, 30])
NAMES = ["María García", "José Pérez", "Lucía Fernández", "Antonio López", "Carmen Ruiz",
         "Jon Etxeberria", "Núria Puig", "Xoán Castro"]
SUBJECTS = ["IBI", "multa", "ruido", "bus", "licencia", "ayuda", "parque", "acera"]
COMMENTS = ["Muy rápido, gracias.", "Tardaron demasiado.", "La respuesta no aclara nada.",
            "Atención excelente.", "Correcto."]
IDEA_STATUSES = {IdeaStatus.SUBMITTED: 30, IdeaStatus.UNDER_REVIEW: 18,
                 IdeaStatus.PLANNED: 10, IdeaStatus.IN_PROGRESS: 8,
                 IdeaStatus.IMPLEMENTED: 14, IdeaStatus.DECLINED: 14,
                 IdeaStatus.WITHDRAWN: 6}
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's, as portal.cases.references
# An odd multiplier modulo 32**8 is a bijection: unique, random-looking references.
REFERENCE_SPACE, REFERENCE_STEP = 32 ** 8, 0x5DEECE66D

CASE_COLUMNS = [
    "reference", "submission_token", "kind", "subject", "body", "desired_outcome",
    "department_id", "category_id", "status", "priority", "channel", "citizen_id",
    "contact_name", "contact_email", "contact_phone", "contact_preference", "language",
    "link_version", "assignee_id", "location_text", "publish_consent",
    "publish_consent_version", "first_response_due_at", "first_responded_at",
    "resolution_due_at", "next_due_at", "resolved_at", "first_response_working_days",
    "resolution_working_days", "paused_working_days", "reopen_count", "closed_at",
    "resolution_summary", "satisfaction", "satisfaction_comment", "rated_at",
    "created_at", "updated_at", "version",
]


def reference(number: int, kind: str) -> str:
    value = (number * REFERENCE_STEP + 12345) % REFERENCE_SPACE
    body = "".join(ALPHABET[(value >> (5 * place)) & 31] for place in range(8))
    return f"{'Q' if kind == 'question' else 'C'}-{body[:4]}-{body[4:]}"


def _skewed(rng: random.Random, low: int, high: int) -> int:
    """An integer in [low, high], most often near ``low``."""
    return low + int((high - low + 1) * rng.random() ** 2.2)


def case_rows(start: int, stop: int, now: datetime, departments: list[tuple[int, int, int]],
              department_weights: list[int], categories: dict[int, list[int]],
              rng: random.Random):
    """Rows ``start`` to ``stop`` (dicts, every column given: COPY has no defaults)."""
    channels, channel_weights = CHANNELS
    kinds, kind_weights = KINDS
    day = timedelta(days=1)
    rows = []
    for number in range(start, stop):
        created = now - timedelta(seconds=rng.random() * DAYS * 86400)
        kind = rng.choices(kinds, kind_weights)[0]
        if rng.random() < TRIAGE_SHARE:
            department_id, first_days, resolution_days = None, 2, 10
            category_id = None
        else:
            department_id, first_days, resolution_days = rng.choices(
                departments, department_weights)[0]
            choices = categories[department_id]
            category_id = rng.choice(choices) if rng.random() < 0.9 else None
        first_due = created + day * (first_days * WORKING_DAY)
        resolution_due = created + day * (resolution_days * WORKING_DAY)

        answered = first_working = None
        resolved = resolution_working = None
        satisfaction = rated = closed = None
        comment, reopened, paused = "", 0, 0
        if rng.random() < 0.95:
            # On time about 85 % of the time: within the target, skewed low.
            if rng.random() < 0.85:
                first_working = _skewed(rng, 0, first_days)
            else:
                first_working = _skewed(rng, first_days + 1, 15)
            offset = (first_working * WORKING_DAY * 86400
                      + (rng.uniform(1800, 8 * 3600) if first_working == 0
                         else -rng.uniform(0, 6 * 3600)))
            answered = created + timedelta(seconds=offset)
            if answered > now:
                answered = first_working = None
        if answered is not None and rng.random() < 0.895:
            if rng.random() < 0.85:
                resolution_working = max(first_working,
                                         _skewed(rng, first_working, resolution_days))
            else:
                resolution_working = _skewed(rng, resolution_days + 1, resolution_days + 40)
            paused = _skewed(rng, 1, 5) if rng.random() < 0.1 else 0
            resolved = created + timedelta(
                seconds=(resolution_working + paused) * WORKING_DAY * 86400
                - rng.uniform(0, 6 * 3600))
            resolved = max(resolved, answered)
            if resolved > now:
                resolved = resolution_working = None
                paused = 0
        if resolved is not None:
            reopened = 1 if rng.random() < 0.03 else 0
            if rng.random() < 0.30:
                rated = resolved + timedelta(seconds=rng.uniform(600, 3 * 86400))
                if rated <= now:
                    satisfaction = rng.choices([1, 2, 3, 4, 5], [8, 7, 15, 35, 35])[0]
                    comment = rng.choice(COMMENTS) if rng.random() < 0.25 else ""
                else:
                    rated = None
            if now - resolved > 14 * day and rng.random() < 0.7:
                status, closed = "closed", resolved + 14 * day
            else:
                status = "resolved"
            next_due = None
        elif answered is None:
            status, next_due = "new", first_due
        else:
            status = "waiting_on_citizen" if rng.random() < 0.15 else "open"
            next_due = resolution_due
        channel = rng.choices(channels, channel_weights)[0]
        updated = max(moment for moment in (created, answered, resolved, closed, rated)
                      if moment is not None)
        rows.append({
            "reference": reference(number, kind),
            "submission_token": f"bench-{number:012d}" if channel == "web" else None,
            "kind": kind, "subject": f"Consulta sobre {rng.choice(SUBJECTS)}",
            "body": "Texto de la consulta", "desired_outcome": "",
            "department_id": department_id, "category_id": category_id,
            "status": status, "priority": "normal", "channel": channel, "citizen_id": None,
            "contact_name": rng.choice(NAMES),
            "contact_email": f"vecina{number % 50_000}@example.org", "contact_phone": "",
            "contact_preference": "email", "language": "es", "link_version": 1,
            "assignee_id": None, "location_text": "", "publish_consent": False,
            "publish_consent_version": "",
            "first_response_due_at": first_due, "first_responded_at": answered,
            "resolution_due_at": resolution_due, "next_due_at": next_due,
            "resolved_at": resolved, "first_response_working_days": first_working,
            "resolution_working_days": resolution_working, "paused_working_days": paused,
            "reopen_count": reopened, "closed_at": closed,
            "resolution_summary": "Respuesta" if resolved else "",
            "satisfaction": satisfaction, "satisfaction_comment": comment, "rated_at": rated,
            "created_at": created, "updated_at": updated, "version": 1,
        })
    return rows


def seed_cases(total: int, departments: list[Department], postgres: bool) -> None:
    rng = random.Random(42)
    now = clock.now()
    targets = [(item.id, item.first_response_days, item.resolution_days)
               for item in departments]
    weights = [spec[5] for spec in DEPARTMENTS]
    categories = {item.id: [category.id for category in item.categories]
                  for item in departments}
    if postgres:
        # COPY: a few times faster than executemany for a million rows.
        raw = db.engine.raw_connection()
        try:
            connection = raw.driver_connection
            with connection.cursor() as cursor, cursor.copy(
                    f"COPY cases ({', '.join(CASE_COLUMNS)}) FROM STDIN") as copy:
                for start in range(0, total, BATCH):
                    for row in case_rows(start, min(total, start + BATCH), now, targets,
                                         weights, categories, rng):
                        copy.write_row([row[column] for column in CASE_COLUMNS])
            connection.commit()
        finally:
            raw.close()
        return
    for start in range(0, total, BATCH):
        db.session.execute(insert(Case.__table__), case_rows(
            start, min(total, start + BATCH), now, targets, weights, categories, rng))
        db.session.commit()


def seed_ideas(count: int, department_ids: list[int]) -> None:
    rng = random.Random(7)
    now = clock.now()
    statuses, weights = list(IDEA_STATUSES), list(IDEA_STATUSES.values())
    rows = []
    for number in range(count):
        created = now - timedelta(seconds=rng.random() * DAYS * 86400)
        status = rng.choices(statuses, weights)[0]
        answered_at = None
        if status in (IdeaStatus.IMPLEMENTED, IdeaStatus.DECLINED) or rng.random() < 0.15:
            answered_at = created + (now - created) * rng.uniform(0.05, 1.0)
        hidden = rng.random() < 0.02
        is_open = not status.closed
        rows.append({
            "title": f"Propuesta {number}", "body": "Texto de la propuesta.",
            "department_id": rng.choice(department_ids) if rng.random() < 0.9 else None,
            "status": status, "language": "es",
            "official_response": "Respuesta del ayuntamiento." if answered_at else "",
            "official_response_at": answered_at,
            # Due 20 working days after it was proposed, until answered.
            "answer_due_at": created + timedelta(days=28)
            if is_open and answered_at is None else None,
            "public": not hidden, "hidden": hidden,
            "hidden_reason": "Contenido inapropiado" if hidden else "",
            "withdrawal_reason": rng.choice(list(WithdrawalReason))
            if status is IdeaStatus.WITHDRAWN else None,
            "vote_count": int(rng.lognormvariate(1, 1.5)),
            "moderated_at": created + timedelta(hours=6),
            "created_at": created, "updated_at": answered_at or created, "version": 1,
        })
    for start in range(0, count, BATCH):
        db.session.execute(insert(Idea.__table__), rows[start:start + BATCH])
    db.session.commit()


def seed_suggestion_opens(forms: int) -> None:
    """The knowledge base's deflection: forms in which a suggested answer was opened."""
    rng = random.Random(11)
    now = clock.now()
    articles = []
    for number in range(5):
        article = Article(title=f"Preguntas frecuentes {number}", body="Texto",
                          status=ArticleStatus.PUBLISHED, published_at=now - timedelta(DAYS))
        db.session.add(article)
        articles.append(article)
    db.session.flush()
    rows = []
    for number in range(forms):
        opened = now - timedelta(seconds=rng.random() * DAYS * 86400)
        sent = rng.random() < 0.6
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            rows.append({"form_token": f"form-{number}", "article_id": rng.choice(articles).id,
                         "opened_at": opened + timedelta(seconds=rng.uniform(0, 300)),
                         "submitted": sent})
    for start in range(0, len(rows), BATCH):
        db.session.execute(insert(SuggestionOpen.__table__), rows[start:start + BATCH])
    db.session.commit()


# ---------------------------------------------------------------- timing

def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def time_page(client, path: str, runs: int) -> list[float]:
    """Milliseconds per request after one warm-up. Each request runs in a context of
    its own, as when served (inside the caller's app context they would share ``g``)."""
    def get():
        return contextvars.Context().run(client.get, path)

    response = get()
    assert response.status_code == 200, (path, response.status_code)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        response = get()
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return timings


def time_work(work: Callable[[], object], runs: int, warm: bool = True) -> list[float]:
    """Milliseconds for ``work()`` (SQL and Python, no HTTP, no template)."""
    timings = []
    for _ in range(runs + (1 if warm else 0)):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
        db.session.rollback()
        db.session.expire_all()
    return timings[1:] if warm else timings


def explain(work: Callable[[], object], postgres: bool, pick: Callable[[str], bool]) -> str:
    """The plan of the first statement ``work()`` runs that ``pick`` accepts."""
    captured = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        work()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    statement, parameters = next(item for item in captured if pick(item[0]))
    prefix = ("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " if postgres
              else "EXPLAIN QUERY PLAN ")
    rows = db.session.connection().exec_driver_sql(prefix + statement, parameters).all()
    db.session.rollback()
    return "\n".join("    " + (row[0] if postgres else f"{row[3]}") for row in rows)


def line(label: str, name: str, timings: list[float], baseline: float,
         target: float | None = None) -> str:
    p50, p95 = percentile(timings, .5), percentile(timings, .95)
    verdict = ""
    if target is not None:
        verdict = f"  target <= {target:6.0f} ms: {'met' if p95 <= target else 'MISSED'} (p95)"
    return (f"{label:10} {name:<38} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms"
            f"  | {p50 / baseline:7.1f}x baseline{verdict}")


def run(label: str, database_url: str, total: int, ideas: int, runs: int) -> None:
    postgres = bool(database_url)
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({**SETTINGS, "INSTANCE_PATH": instance, "DATABASE_URL": database_url
                          or f"sqlite:///{instance}/bench.db"})
        with app.app_context():
            upgrade()
            departments = []
            for slug, name, first_days, resolution_days, slugs, _share in DEPARTMENTS:
                department = Department(slug=slug, names={"es": name},
                                        first_response_days=first_days,
                                        resolution_days=resolution_days)
                department.categories = [Category(slug=item, names={"es": item.title()})
                                         for item in slugs]
                db.session.add(department)
                departments.append(department)
            db.session.flush()
            manager = accounts.create_user("manager@example.org", "benchmark password",
                                           "Jefa", Role.MANAGER, "es", [])
            db.session.commit()
            token = accounts.start_session(manager)
            db.session.commit()
            manager_client, anonymous = app.test_client(), app.test_client()
            with manager_client.session_transaction() as session:
                session["_user_id"] = token

            started = time.perf_counter()
            seed_cases(total, departments, postgres)
            cases_seeded = time.perf_counter() - started
            started = time.perf_counter()
            seed_ideas(ideas, [item.id for item in departments])
            seed_suggestion_opens(max(1000, total // 50))
            others_seeded = time.perf_counter() - started
            started = time.perf_counter()
            if postgres:
                with db.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM ANALYZE"))
            else:
                with db.engine.begin() as connection:
                    connection.execute(text("ANALYZE"))
            analysed = time.perf_counter() - started
            print(f"{label}: {total:,} cases seeded in {cases_seeded:.1f} s; {ideas:,} ideas "
                  f"and the suggestion opens in {others_seeded:.1f} s; "
                  f"{'VACUUM ANALYZE' if postgres else 'ANALYZE'} in {analysed:.1f} s")
            shape = db.session.execute(text(
                "SELECT count(*), sum(CASE WHEN first_responded_at IS NOT NULL THEN 1 ELSE 0 END),"
                " sum(CASE WHEN first_responded_at <= first_response_due_at THEN 1 ELSE 0 END),"
                " sum(CASE WHEN resolved_at IS NOT NULL THEN 1 ELSE 0 END),"
                " sum(CASE WHEN satisfaction IS NOT NULL THEN 1 ELSE 0 END),"
                " sum(CASE WHEN reopen_count > 0 THEN 1 ELSE 0 END),"
                " sum(CASE WHEN next_due_at IS NOT NULL THEN 1 ELSE 0 END) FROM cases")).one()
            db.session.rollback()
            count, answered, on_time, resolved, rated, reopened, open_now = shape
            print(f"{label}: {answered / count:.1%} answered ({on_time / answered:.1%} on time),"
                  f" {resolved / count:.1%} resolved ({rated / resolved:.1%} of them rated,"
                  f" {reopened / resolved:.1%} reopened), {open_now:,} open now")

            # The baseline: routing, one SELECT 1, a JSON answer.
            baseline_timings = time_page(anonymous, "/healthz", max(runs, 20))
            baseline = percentile(baseline_timings, .5)
            today = figures.today()
            year_ago = today - timedelta(days=364)
            one = departments[0]
            pages = {
                "dashboard year, all": "/manage/?period=year",
                "dashboard month, all": "/manage/?period=month",
                "dashboard last 365 days, all": f"/manage/?period=custom&start="
                f"{year_ago.isoformat()}&end={today.isoformat()}",
                f"dashboard year, {one.slug}": f"/manage/?period=year&department={one.id}",
            }
            results = {name: time_page(manager_client, path, runs)
                       for name, path in pages.items()}

            # /stats: refresh (the first one makes the snapshot), then the cached page.
            db.session.rollback()
            refresh = time_work(public.refresh, REFRESH_RUNS, warm=False)
            cached = time_page(anonymous, "/stats", CACHED_RUNS)
            data = public.current()
            db.session.rollback()

            # Each figure alone, as the dashboard (year, all) and /stats call them.
            period = figures.period_for("year")
            periods = [period.previous(), period]
            months = figures.last_months(public.MONTHS)
            twelve = figures.Period(months[0].start, months[-1].end)
            parts = {
                "service_figures (year + previous)": lambda: figures.service_figures(periods),
                "volumes (year + previous)": lambda: figures.volumes(periods),
                "idea_figures (year + previous)": lambda: figures.idea_figures(periods),
                "deflection (year + previous)": lambda: figures.deflection(periods),
                "backlog": lambda: figures.backlog(),
                "ideas_awaiting": lambda: figures.ideas_awaiting(),
                "latest_comments (year)": lambda: figures.latest_comments(period),
                "service_figures (12 months, /stats)":
                    lambda: figures.service_figures(months),
                "service_figures (12-month whole, /stats)":
                    lambda: figures.service_figures([twelve]),
                "idea_figures (12 months, /stats)": lambda: figures.idea_figures(months),
                f"service_figures (year + previous, {one.slug})":
                    lambda: figures.service_figures(periods, [one.id]),
                f"volumes (year + previous, {one.slug})":
                    lambda: figures.volumes(periods, [one.id]),
            }
            sql = {name: time_work(work, runs) for name, work in parts.items()}

            print(f"{label:10} {'baseline GET /healthz':<38} "
                  f"p50 {baseline:8.1f} ms  p95 {percentile(baseline_timings, .95):8.1f} ms")
            for name, timings in results.items():
                target = TARGETS_MS[name] if name in TARGETS_MS and postgres else None
                print(line(label, f"GET {name}", timings, baseline, target))
            print(line(label, "/stats refresh (public.refresh())", refresh, baseline,
                       TARGETS_MS["stats refresh"]))
            print(line(label, "GET /stats (cached)", cached, baseline,
                       TARGETS_MS["stats cached"]))
            for name, timings in sql.items():
                print(line(label, f"SQL only, {name}", timings, baseline))
            print(f"{label:10} /stats snapshot: {len(data['departments'])} departments, "
                  f"{data['all']['year']['received']:,} cases received in 12 months")

            for title, work, pick in (
                    ("service_figures counts (year + previous, all)",
                     lambda: figures.service_figures(periods),
                     lambda statement: "count(*)" in statement.lower()),
                    ("service_figures first-answer histogram (year + previous, all)",
                     lambda: figures.service_figures(periods),
                     lambda statement: "first_response_working_days" in statement
                     and "count(*)" in statement.lower()
                     and "first_responded_at" not in statement),
                    ("volumes (year + previous, all)", lambda: figures.volumes(periods),
                     lambda statement: "GROUP BY" in statement),
                    ("backlog", lambda: figures.backlog(),
                     lambda statement: "GROUP BY" in statement)):
                print(f"{label} plan, {title}:")
                print(explain(work, postgres, pick))
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--ideas", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="server for the PostgreSQL run ('' to skip)")
    parser.add_argument("--no-sqlite", action="store_true", help="skip the SQLite run")
    options = parser.parse_args()

    if not options.no_sqlite:
        run("SQLite", "", options.cases, options.ideas, options.runs)
    if options.postgres:
        admin_url = make_url(options.postgres).set(drivername="postgresql+psycopg")
        name = f"ventanilla_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run("PostgreSQL", admin_url.set(database=name).render_as_string(
                hide_password=False), options.cases, options.ideas, options.runs)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
