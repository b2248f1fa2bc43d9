"""The managers' dashboard and /stats with a million cases over two years.

    .venv/bin/python benchmarks/stats_benchmark.py [--cases 1000000] [--requests 5]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--no-sqlite]

Seeds the cases in bulk (answered, resolved, rated, reopened in realistic shares, with
their stored working days), a few thousand ideas, counts them into the daily rollup
(``portal stats rebuild``: bulk inserts pass the ORM, so no day was marked), then
times through the app: the dashboard for this year and this month, all departments
and one, and for the year just after a case of each of 30 days changed (what a busy
hour leaves the rollup to recount); /stats' refresh (``portal.stats.public.refresh``:
every figure of twelve months recomputed); and /stats served from its snapshot.
Targets (issue 13): the dashboard for a year of all departments within 1 s on
PostgreSQL; /stats within 50 ms from the snapshot and its refresh within 2 s. The
baseline, timed in the same run, is /healthz (one query).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flask_migrate import upgrade  # noqa: E402
from queue_benchmark import SETTINGS, percentile, time_page  # noqa: E402

from benchmarks.scratch import add_database_options, scratch_database  # noqa: E402
from portal import clock, create_app  # noqa: E402
from portal.accounts import service as accounts  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import (  # noqa: E402
    Case,
    CaseKind,
    CaseStatus,
    Channel,
    Department,
    Idea,
    IdeaStatus,
    Role,
)
from portal.stats import public, rollup  # noqa: E402

SUBJECTS = ["Farola apagada", "Contenedor lleno", "Ruido nocturno", "Autobús con retraso",
            "Bache en la calzada", "Recibo duplicado", "Cita de valoración"]
CHANNELS = [Channel.WEB] * 6 + [Channel.EMAIL] * 2 + [Channel.PHONE, Channel.COUNTER]


def seed(total: int, departments: list[int], batch: int = 20_000) -> float:
    """Bulk Core inserts (the ORM's flush events bypassed: next_due_at set here)."""
    rng = random.Random(13)
    now = clock.now()
    started = time.perf_counter()
    for start in range(0, total, batch):
        rows = []
        for number in range(start, min(total, start + batch)):
            created = now - timedelta(minutes=rng.randint(60 * 24, 60 * 24 * 730))
            first_days = rng.choices(range(16), [30, 25, 15, 10, 6, 4, 3, 2, 1, 1, 1, 1,
                                                 .5, .5, .5, .5])[0]
            answered = rng.random() < 0.95
            resolved = answered and rng.random() < 0.9
            resolution_days = first_days + rng.randint(0, 20) if resolved else None
            first_due = created + timedelta(days=4)
            resolution_due = created + timedelta(days=20)
            rated = resolved and rng.random() < 0.3
            rows.append({
                "reference": f"B-{number:09d}", "kind": rng.choice(list(CaseKind)),
                "subject": rng.choice(SUBJECTS), "body": "Texto.",
                "status": CaseStatus.CLOSED if resolved else CaseStatus.OPEN,
                "department_id": rng.choice(departments), "channel": rng.choice(CHANNELS),
                "contact_name": "Vecina", "contact_email": f"v{number}@example.org",
                "first_response_due_at": first_due, "resolution_due_at": resolution_due,
                "first_responded_at": created + timedelta(days=first_days * 1.4, hours=2)
                if answered else None,
                "first_response_working_days": first_days if answered else None,
                "resolved_at": created + timedelta(days=resolution_days * 1.4, hours=3)
                if resolved else None,
                "resolution_working_days": resolution_days,
                "next_due_at": None if resolved else (resolution_due if answered else first_due),
                "satisfaction": rng.choice([5, 5, 4, 4, 3, 2, 1]) if rated else None,
                "rated_at": created + timedelta(days=30) if rated else None,
                "reopen_count": 1 if resolved and rng.random() < 0.03 else 0,
                "created_at": created, "updated_at": created, "version": 1,
            })
        db.session.execute(insert(Case), rows)
        db.session.commit()
    ideas = []
    for number in range(5000):
        created = now - timedelta(days=rng.uniform(1, 730))
        status = rng.choice(list(IdeaStatus)[:6])
        answered = status in (IdeaStatus.IMPLEMENTED, IdeaStatus.DECLINED)
        ideas.append({"title": f"Idea {number}", "body": "Texto.", "status": status,
                      "department_id": rng.choice(departments), "created_at": created,
                      "updated_at": created, "version": 1, "public": True,
                      "official_response": "Sí." if answered else "",
                      "official_response_at": created + timedelta(days=15) if answered
                      else None,
                      "answer_due_at": None if answered else created + timedelta(days=28)})
    db.session.execute(insert(Idea), ideas)
    db.session.commit()
    return time.perf_counter() - started


def after_changes(client, requests: int, days: int = 30) -> list[float]:
    """The year's dashboard, each time after a case on each of ``days`` days was rated."""
    cases = list(db.session.scalars(select(Case).where(Case.satisfaction.is_(None))
                                    .order_by(Case.id.desc()).limit(days * 50)))
    timings = []
    for number in range(requests):
        for case in cases[number::max(1, len(cases) // days)][:days]:
            case.satisfaction = 4
        db.session.commit()
        timings += time_page(client, "/manage/?period=year", 1)
    return timings


def run(label: str, database_url: str, total: int, requests: int) -> dict[str, float]:
    figures_ms: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({**SETTINGS, "INSTANCE_PATH": instance, "DATABASE_URL": database_url
                          or f"sqlite:///{instance}/bench.db"})
        with app.app_context():
            upgrade()
            departments = []
            for slug in ("movilidad", "medio-ambiente", "hacienda", "sociales", "urbanismo",
                         "cultura"):
                department = Department(slug=slug, names={"es": slug})
                db.session.add(department)
                db.session.flush()
                departments.append(department.id)
            manager = accounts.create_user("manager@example.org", "benchmark password",
                                           "Jefa", Role.MANAGER, "es", [])
            db.session.commit()
            seconds = seed(total, departments)
            print(f"{label}: {total:,} cases and 5,000 ideas seeded in {seconds:.1f} s")
            started = time.perf_counter()
            days = rollup.rebuild()
            print(f"{label}: {days} days counted into the rollup in "
                  f"{time.perf_counter() - started:.1f} s")
            if database_url:
                with db.engine.connect().execution_options(
                        isolation_level="AUTOCOMMIT") as connection:
                    connection.execute(text("VACUUM ANALYZE"))
            else:
                db.session.execute(text("ANALYZE"))
                db.session.commit()
            token = accounts.start_session(manager)
            db.session.commit()
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"] = token
            pages = {
                "baseline /healthz": ("/healthz", requests * 4),
                "dashboard, year, all departments": ("/manage/?period=year", requests),
                "dashboard, month, all departments": ("/manage/?period=month", requests),
                "dashboard, year, one department":
                    (f"/manage/?period=year&department={departments[0]}", requests),
            }
            results = {name: time_page(client, path, count)
                       for name, (path, count) in pages.items()}
            results["dashboard, year, after 30 days changed"] = after_changes(
                client, requests)
            refresh = []
            for _ in range(3):
                started = time.perf_counter()
                public.refresh()
                refresh.append((time.perf_counter() - started) * 1000)
            results["/stats refresh (recompute)"] = refresh
            results["/stats from its snapshot"] = time_page(client, "/stats", requests * 4)
            baseline = percentile(results["baseline /healthz"], .5)
            for name, timings in results.items():
                p50, p95 = percentile(timings, .5), percentile(timings, .95)
                figures_ms[name] = p95
                print(f"{label:10} {name:<36} p50 {p50:8.1f} ms  p95 {p95:8.1f} ms"
                      f"  | {p50 / baseline:7.1f}x the baseline")
            db.session.remove()
            db.engine.dispose()
    return figures_ms


TARGETS = {"dashboard, year, all departments": ("PostgreSQL", 1000.0),
           "dashboard, year, after 30 days changed": ("PostgreSQL", 1000.0),
           "/stats refresh (recompute)": (None, 2000.0),
           "/stats from its snapshot": (None, 50.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=5)
    add_database_options(parser)
    options = parser.parse_args()
    measured = {}
    if not options.no_sqlite:
        measured["SQLite"] = run("SQLite", "", options.cases, options.requests)
    if options.postgres:
        with scratch_database(options.postgres) as url:
            measured["PostgreSQL"] = run("PostgreSQL", url, options.cases, options.requests)
    print("targets (p95):")
    for name, (only, limit) in TARGETS.items():
        for label, figures_ms in measured.items():
            if only and label != only:
                continue
            value = figures_ms[name]
            print(f"  {label:10} {name:<36} {value:8.1f} ms  target {limit:6.0f} ms  "
                  f"{'met' if value <= limit else 'MISSED'}")


if __name__ == "__main__":
    main()
