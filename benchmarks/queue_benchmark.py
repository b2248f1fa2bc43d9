"""Staff queue at scale: 100 000 cases, the busiest queue page, SQLite and PostgreSQL.

    .venv/bin/python benchmarks/queue_benchmark.py [--cases 100000] [--requests 200]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]

Seeds the cases in bulk, then renders the staff queue pages through the app (server
time: routing, queries, template) and prints p50 and p95 per page. The baseline, timed
in the same run on the same database, is the same page with only 1 000 cases, so the
ratio shows what 100 000 cases cost.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from portal import clock, create_app  # noqa: E402
from portal.accounts import service as accounts  # noqa: E402
from portal.cases import references  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Case as CaseModel  # noqa: E402
from portal.models import CaseKind, CaseStatus, Channel, Department, Role  # noqa: E402

SETTINGS = {"TESTING": True, "SECRET_KEY": "benchmark", "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024}
QUEUES = ["department", "mine", "overdue", "due_soon"]


def seed(total: int, departments: list[int], agent_id: int, batch: int = 5000) -> None:
    rng = random.Random(42)
    now = clock.now()
    statuses = [CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.WAITING_ON_CITIZEN,
                CaseStatus.RESOLVED, CaseStatus.CLOSED]
    for start in range(0, total, batch):
        rows = []
        for _number in range(start, min(total, start + batch)):
            kind = rng.choice(list(CaseKind))
            created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
            rows.append({
                "reference": references.new_reference(kind), "kind": kind,
                "subject": f"Consulta sobre {rng.choice(['IBI', 'multa', 'ruido', 'bus'])}",
                "body": "Texto de la consulta", "status": rng.choices(statuses,
                                                                      [2, 3, 1, 6, 6])[0],
                "department_id": rng.choice(departments),
                "channel": rng.choice(list(Channel)),
                "assignee_id": agent_id if rng.random() < 0.05 else None,
                "resolution_due_at": created + timedelta(days=14),
                "created_at": created, "updated_at": created, "version": 1,
            })
        db.session.execute(insert(CaseModel), rows)
        db.session.commit()


def time_page(client, path: str, requests: int) -> list[float]:
    client.get(path)  # warm caches and the template
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    return timings


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run(label: str, database_url: str, total: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as instance:
        app = create_app({**SETTINGS, "INSTANCE_PATH": instance, "DATABASE_URL": database_url
                          or f"sqlite:///{instance}/bench.db"})
        with app.app_context():
            upgrade()
            departments = []
            for slug in ("movilidad", "medio-ambiente", "hacienda", "sociales", "urbanismo"):
                department = Department(slug=slug, names={"es": slug})
                db.session.add(department)
                db.session.flush()
                departments.append(department)
            agent = accounts.create_user("agent@example.org", "benchmark password", "Agente",
                                         Role.AGENT, "es", departments[:1])
            db.session.commit()
            token = accounts.start_session(agent)
            db.session.commit()
            client = app.test_client()
            with client.session_transaction() as session:
                session["_user_id"] = token

            results = {}
            for size in (1000, total):
                started = time.perf_counter()
                seed(size - (1000 if size == total else 0), [d.id for d in departments],
                     agent.id)
                seeded = time.perf_counter() - started
                if database_url:
                    db.session.execute(text("ANALYZE"))
                    db.session.commit()
                results[size] = {queue: time_page(client, f"/staff/?queue={queue}", requests)
                                 for queue in QUEUES}
                print(f"{label}: {size:>7,} cases seeded in {seeded:6.1f} s")
            for queue in QUEUES:
                small, large = results[1000][queue], results[total][queue]
                print(f"{label:10} /staff/?queue={queue:<10} "
                      f"p50 {percentile(large, .5):6.1f} ms  p95 {percentile(large, .95):6.1f} ms"
                      f"  | baseline 1,000 cases p50 {percentile(small, .5):6.1f} ms"
                      f"  ratio p50 {statistics.median(large) / statistics.median(small):4.2f}x"
                      f"  p95 {percentile(large, .95) / percentile(small, .95):4.2f}x")
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="server for the PostgreSQL run ('' to skip)")
    options = parser.parse_args()

    run("SQLite", "", options.cases, options.requests)
    if options.postgres:
        admin_url = make_url(options.postgres).set(drivername="postgresql+psycopg")
        name = f"ventanilla_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            run("PostgreSQL", admin_url.set(database=name).render_as_string(
                hide_password=False), options.cases, options.requests)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


if __name__ == "__main__":
    main()
