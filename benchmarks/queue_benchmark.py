"""Staff queues at scale: 100 000 cases, every queue page and the staff search.

    .venv/bin/python benchmarks/queue_benchmark.py [--cases 100000] [--requests 200]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres] [--no-sqlite]

Seeds the cases in bulk, then renders each staff queue page through the app (server
time: routing, queries, template) and prints p50 and p95 per page. The baseline, timed
in the same run on the same database, is the same page with only 1 000 cases, so the
ratio shows what 100 000 cases cost. Then it prints the plan of each queue's page query
and tab count at full size: EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE (actual rows
read) on PostgreSQL. PostgreSQL gets VACUUM ANALYZE after seeding, as autovacuum would
give a table after a bulk load (index-only counts need the visibility map).

The agent belongs to one of five departments; a manager sees them all.
"""

from __future__ import annotations

import argparse
import contextvars
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from benchmarks.scratch import add_database_options, scratch_database  # noqa: E402
from portal import clock, create_app  # noqa: E402
from portal.accounts import service as accounts  # noqa: E402
from portal.cases import references  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.models import Case as CaseModel  # noqa: E402
from portal.models import CaseKind, CaseStatus, Channel, Department, Role  # noqa: E402
from portal.models.case import NO_DEADLINE, OPEN_STATUSES  # noqa: E402
from portal.staff import service as staff  # noqa: E402

SETTINGS = {"TESTING": True, "SECRET_KEY": "benchmark", "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024}
QUEUES = list(staff.QUEUES)
NAMES = ["María García", "José Pérez", "Lucía Fernández", "Antonio López", "Carmen Ruiz",
         "Jon Etxeberria", "Núria Puig", "Xoán Castro"]
# Staff search: an address (index), a name (a scan that stops at the LIMIT) and a word
# that matches nothing (the worst case: the scan reads every visible case).
SEARCHES = {"email": "vecina17@example.org", "name": "fernández", "no match": "zzzqqq"}


def seed(total: int, departments: list[int], agent_id: int, batch: int = 5000,
         offset: int = 0) -> None:
    rng = random.Random(42 + offset)
    now = clock.now()
    statuses = [CaseStatus.NEW, CaseStatus.OPEN, CaseStatus.WAITING_ON_CITIZEN,
                CaseStatus.RESOLVED, CaseStatus.CLOSED]
    for start in range(0, total, batch):
        rows = []
        for number in range(start, min(total, start + batch)):
            kind = rng.choice(list(CaseKind))
            created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
            status = rng.choices(statuses, [2, 3, 1, 6, 6])[0]
            first_due, resolution_due = created + timedelta(days=3), created + timedelta(days=14)
            answered = None if status is CaseStatus.NEW else created + timedelta(days=1)
            # As the model keeps it (portal.models.case._keep_next_due_at): Core inserts
            # bypass the ORM's flush events.
            if status not in OPEN_STATUSES:
                next_due = None
            else:
                next_due = first_due if answered is None else resolution_due
            rows.append({
                "reference": references.new_reference(kind), "kind": kind,
                "subject": f"Consulta sobre {rng.choice(['IBI', 'multa', 'ruido', 'bus'])}",
                "body": "Texto de la consulta", "status": status,
                "department_id": rng.choice(departments),
                "channel": rng.choice(list(Channel)),
                "contact_name": rng.choice(NAMES),
                "contact_email": f"vecina{offset + number}@example.org",
                "assignee_id": agent_id if rng.random() < 0.05 else None,
                "first_response_due_at": first_due, "first_responded_at": answered,
                "resolution_due_at": resolution_due, "next_due_at": next_due,
                "created_at": created, "updated_at": created, "version": 1,
            })
        db.session.execute(insert(CaseModel), rows)
        db.session.commit()
    assert NO_DEADLINE  # the seeded cases all have deadlines


def time_page(client, path: str, requests: int, expect: int = 200) -> list[float]:
    """Milliseconds per request. Each runs in a context of its own, as when served: inside
    the caller's app context every request would share its ``g``, and so Flask-Login's
    user (the manager's pages were once served as the agent's)."""
    def get():
        return contextvars.Context().run(client.get, path)

    get()  # warm caches and the template
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = get()
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == expect, (path, response.status_code)
    return timings


def time_queries(work, requests: int) -> list[float]:
    """Milliseconds for ``work()``: SQL and loading, no HTTP and no template."""
    timings = []
    for _ in range(requests + 1):
        started = time.perf_counter()
        work()
        timings.append((time.perf_counter() - started) * 1000)
        db.session.expire_all()
    return timings[1:]  # the first one warms the statement caches


def explain(query, postgres: bool) -> str:
    """The plan the database chooses for ``query``, with its real parameters."""
    captured = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        captured.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", capture)
    try:
        db.session.execute(query).all()
    finally:
        event.remove(db.engine, "before_cursor_execute", capture)
    statement, parameters = captured[-1]
    prefix = ("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " if postgres
              else "EXPLAIN QUERY PLAN ")
    rows = db.session.connection().exec_driver_sql(prefix + statement, parameters).all()
    db.session.rollback()
    return "\n".join("    " + (row[0] if postgres else f"{row[3]}") for row in rows)


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
            manager = accounts.create_user("manager@example.org", "benchmark password",
                                           "Jefa", Role.MANAGER, "es", [])
            db.session.commit()
            clients = {}
            for who, user in (("agent", agent), ("manager", manager)):
                token = accounts.start_session(user)
                db.session.commit()
                clients[who] = app.test_client()
                with clients[who].session_transaction() as session:
                    session["_user_id"] = token
            pages = {f"agent   {queue}": ("agent", f"/staff/?queue={queue}", 200)
                     for queue in QUEUES}
            pages.update({f"manager {queue}": ("manager", f"/staff/?queue={queue}", 200)
                          for queue in ("department", "overdue")})
            pages.update({f"search  {what}": ("agent", f"/staff/?q={needle}", 200)
                          for what, needle in SEARCHES.items()})

            results, sql = {}, {}
            for size in (1000, total):
                started = time.perf_counter()
                seed(size - (1000 if size == total else 0), [d.id for d in departments],
                     agent.id, offset=0 if size == 1000 else 1000)
                seeded = time.perf_counter() - started
                if database_url:
                    with db.engine.connect().execution_options(
                            isolation_level="AUTOCOMMIT") as connection:
                        connection.execute(text("VACUUM ANALYZE"))
                reference = db.session.scalar(select(CaseModel.reference).where(
                    CaseModel.department_id == departments[0].id).limit(1))
                db.session.rollback()
                pages["search  reference"] = ("agent", f"/staff/?q={reference}", 302)
                results[size] = {page: time_page(clients[who], path, requests, expect)
                                 for page, (who, path, expect) in pages.items()}
                with app.test_request_context():
                    user = db.session.get(type(agent), agent.id)
                    # A queue page's SQL: its rows and all seven tab counts.
                    sql[size] = {f"agent {queue}": time_queries(
                        lambda queue=queue, user=user: (staff.queue(user, queue),
                                                        staff.queue_counts(user)),
                        requests) for queue in QUEUES}
                    sql[size].update({f"search {what}": time_queries(
                        lambda needle=needle, user=user: staff.search(user, needle), requests)
                        for what, needle in SEARCHES.items()})
                    db.session.rollback()
                print(f"{label}: {size:>7,} cases seeded in {seeded:6.1f} s")
            for page in pages:
                small, large = results[1000][page], results[total][page]
                print(f"{label:10} {page:<20} "
                      f"p50 {percentile(large, .5):6.1f} ms  p95 {percentile(large, .95):6.1f} ms"
                      f"  | 1,000 cases p50 {percentile(small, .5):6.1f} ms"
                      f"  p95 {percentile(small, .95):6.1f} ms"
                      f"  | ratio p50 {statistics.median(large) / statistics.median(small):4.2f}x"
                      f"  p95 {percentile(large, .95) / percentile(small, .95):4.2f}x")
            # The database's share alone (no HTTP, no template).
            for page in sql[total]:
                small, large = sql[1000][page], sql[total][page]
                print(f"{label:10} SQL only, {page:<16} "
                      f"p50 {percentile(large, .5):6.2f} ms  p95 {percentile(large, .95):6.2f} ms"
                      f"  | 1,000 cases p50 {percentile(small, .5):6.2f} ms"
                      f"  p95 {percentile(small, .95):6.2f} ms"
                      f"  | ratio p95 {percentile(large, .95) / percentile(small, .95):4.2f}x")
            postgres = bool(database_url)
            with app.test_request_context():
                for who, user in (("agent", agent), ("manager", manager)):
                    user = db.session.get(type(user), user.id)
                    for queue in QUEUES if who == "agent" else ("department", "overdue"):
                        print(f"{label} plan, {who}, {queue}: page")
                        print(explain(staff.queue_query(user, queue).limit(staff.PAGE_SIZE + 1),
                                      postgres))
                        print(f"{label} plan, {who}, {queue}: tab count")
                        print(explain(staff.count_query(user, queue), postgres))
                    if who == "agent":
                        for what, needle in SEARCHES.items():
                            print(f"{label} plan, agent, search {what}")
                            print(explain(staff.search_query(user, needle).limit(
                                staff.SEARCH_LIMIT + 1), postgres))
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    add_database_options(parser)
    options = parser.parse_args()

    if not options.no_sqlite:
        run("SQLite", "", options.cases, options.requests)
    if options.postgres:
        with scratch_database(options.postgres) as url:
            run("PostgreSQL", url, options.cases, options.requests)


if __name__ == "__main__":
    main()
