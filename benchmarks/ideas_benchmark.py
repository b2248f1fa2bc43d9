"""The ideas board at scale: 100 000 ideas, 1 000 000 supports, every sort order.

    .venv/bin/python benchmarks/ideas_benchmark.py [--ideas 100000] [--supports 1000000]
        [--requests 100] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
        [--no-sqlite]

Run it under ``flock /tmp/bench.lock`` on a shared machine. It prints figures and never
asserts timings.

Seeds, with SQLAlchemy Core inserts in batches, five departments, a few thousand
citizens, the ideas (about 97 % on the board, the rest hidden or waiting for a
moderator; every status but "duplicate"; created over the last two years) and their
supports (one per citizen and idea; spread over each idea's life, with a few "hot"
ideas getting half of theirs in the last 30 days, so that the trending order has
something to rank). Each idea's ``vote_count`` is the number of supports seeded for it.

Then it renders each board page through the app, anonymously (one "mine" page signed
in), and prints p50 and p95 of the server time (routing, queries, template), the same
for a baseline of 1 000 ideas with 10 supports each on average (seeded with the same
distributions and timed in the same run on the same database), the ratio, and whether
the targets hold: p95 <= 50 ms, and p95 <= 2x the baseline's. The "SQL only" lines time
``ideas.service.board()`` alone (queries and ORM loading, no HTTP, no template).

Last, the query plans at full size of the SQL each page runs on ``ideas``, captured
from a request through the app: the page query and the count query(ies); a WARNING
line says when a request ran other SQL than ``board()`` for the same query, or was not
signed in as meant (its timings would not be of that page). EXPLAIN QUERY
PLAN on SQLite; EXPLAIN ANALYZE (actual rows, execution time) on PostgreSQL, which gets
VACUUM ANALYZE after seeding, as autovacuum would give the tables after a bulk load.
The PostgreSQL database is created for the run and dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import bindparam, event, func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from benchmarks.queue_benchmark import (  # noqa: E402
    SETTINGS,
    percentile,
    time_page,
    time_queries,
)
from benchmarks.scratch import add_database_options, scratch_database  # noqa: E402
from portal import clock, create_app  # noqa: E402
from portal.accounts import service as accounts  # noqa: E402
from portal.extensions import db  # noqa: E402
from portal.ideas import service as ideas_service  # noqa: E402
from portal.models import Department, Idea, IdeaStatus, IdeaVote, Role, User  # noqa: E402
from portal.models.enums import WithdrawalReason  # noqa: E402
from portal.models.types import UTCDateTime  # noqa: E402

BASELINE_IDEAS = 1000
BASELINE_SUPPORTS_PER_IDEA = 10
CITIZENS = 5000  # also the most supports one idea can have
BATCH = 10_000
TARGET_MS = 50.0
TARGET_RATIO = 2.0
TWO_YEARS = timedelta(days=730)
TRENDING = timedelta(days=ideas_service.TRENDING_DAYS)
# Every status but "duplicate" (merged ideas leave the board), weighted as a board
# that has been answering for a while.
STATUSES = {IdeaStatus.SUBMITTED: 30, IdeaStatus.UNDER_REVIEW: 18, IdeaStatus.PLANNED: 10,
            IdeaStatus.IN_PROGRESS: 8, IdeaStatus.IMPLEMENTED: 14, IdeaStatus.DECLINED: 14,
            IdeaStatus.WITHDRAWN: 6}
ANSWERED = {IdeaStatus.IMPLEMENTED, IdeaStatus.DECLINED}
SUBJECTS = ["carril bici", "parque infantil", "farolas", "bancos", "contenedores",
            "paso de peatones", "fuente", "biblioteca", "huerto urbano", "autobús"]
# A well-formed Argon2 string that no password matches: these citizens never sign in.
UNUSABLE_HASH = "$argon2id$v=19$m=1024,t=1,p=1$YmVuY2htYXJr$bm90LWEtcmVhbC1oYXNo"
# One citizen proposes often: the signed-in "mine" page lists their ideas.
MINE_SHARE = 1 / 500


def board_pages(department_id: int) -> dict[str, tuple[str, dict[str, str]]]:
    """Page name -> (who asks, query string) for every page timed."""
    pages: dict[str, tuple[str, dict[str, str]]] = {}
    for sort in ideas_service.SORTS:
        pages[sort] = ("anonymous", {"sort": sort})
    for sort in ideas_service.SORTS:
        pages[f"{sort}, department"] = ("anonymous",
                                        {"sort": sort, "department": str(department_id)})
    pages["supported, planned"] = ("anonymous", {"sort": "supported", "status": "planned"})
    pages["supported, page 50"] = ("anonymous", {"sort": "supported", "page": "50"})
    pages["mine (signed in)"] = ("citizen", {"sort": "supported", "mine": "1"})
    return pages


def board_query(params: dict[str, str], author) -> ideas_service.BoardQuery:
    """What the route makes of ``params`` (the "SQL only" timings call the service)."""
    return ideas_service.BoardQuery(
        sort=params["sort"],
        department_id=int(params["department"]) if "department" in params else None,
        status=IdeaStatus(params["status"]) if "status" in params else None,
        author=author if params.get("mine") == "1" else None,
        page=int(params.get("page", 1)))


def seed_citizens(count: int) -> list[int]:
    now = clock.now()
    rows = [{"email": f"vecino{number}@example.org", "display_name": f"Vecino {number}",
             "password_hash": UNUSABLE_HASH, "role": Role.CITIZEN, "locale": "es",
             "active": True, "anonymised": False, "can_publish_articles": False,
             "created_at": now - TWO_YEARS, "email_verified_at": now - TWO_YEARS}
            for number in range(count)]
    for start in range(0, count, BATCH):
        db.session.execute(insert(User.__table__), rows[start:start + BATCH])
    db.session.commit()
    return list(db.session.scalars(select(User.id).where(User.role == Role.CITIZEN)
                                   .order_by(User.id)))


def _allocate(weights: list[float], total: int, cap: int, rng: random.Random) -> list[int]:
    """``total`` supports shared in proportion to ``weights``, at most ``cap`` each."""
    weight_sum = sum(weights)
    counts = [min(cap, int(total * weight / weight_sum)) for weight in weights]
    eligible = [number for number, weight in enumerate(weights) if weight > 0]
    if total > cap * len(eligible):
        raise SystemExit(f"{total:,} supports need more than {cap:,} citizens")
    left = total - sum(counts)
    while left > 0:
        number = rng.choice(eligible)
        if counts[number] < cap:
            counts[number] += 1
            left -= 1
    return counts


def seed(count: int, supports: int, first_id: int, citizens: list[int],
         departments: list[int], rng_seed: int) -> None:
    """``count`` ideas (ids from ``first_id``) and ``supports`` supports among them."""
    rng = random.Random(rng_seed)
    now = clock.now()
    statuses, status_weights = list(STATUSES), list(STATUSES.values())
    rows, weights, windows = [], [], []
    for number in range(first_id, first_id + count):
        created = now - TWO_YEARS * rng.random()
        status = rng.choices(statuses, status_weights)[0]
        roll = rng.random()
        awaiting, hidden = roll < 0.01, 0.01 <= roll < 0.03  # ~97 % public
        if awaiting:
            status = IdeaStatus.SUBMITTED
        answered_at = None
        if status in ANSWERED or (not awaiting and rng.random() < 0.10):
            answered_at = created + (now - created) * rng.uniform(0.05, 1.0)
        closed_at = None
        if status.closed:
            closed_at = answered_at or created + (now - created) * rng.uniform(0.05, 1.0)
        is_open = not status.closed
        hot = is_open and not awaiting and not hidden and rng.random() < 0.02
        # Supports are heavy-tailed (a few ideas get thousands); a pending idea has none.
        weights.append(0.0 if awaiting else rng.lognormvariate(0, 1.5) * (4 if hot else 1))
        windows.append((created, closed_at or now, hot))
        rows.append({
            "id": number,
            "title": f"Propuesta {number}: {rng.choice(SUBJECTS)} en el barrio",
            "body": "Texto de la propuesta, con lo que se pide y por qué.",
            "author_id": citizens[0] if rng.random() < MINE_SHARE else rng.choice(citizens),
            "department_id": rng.choice(departments) if rng.random() < 0.9 else None,
            "location_text": "", "status": status, "language": "es",
            "official_response": "Respuesta del ayuntamiento." if answered_at else "",
            "official_response_at": answered_at,
            "answer_due_at": created + timedelta(days=90)
            if is_open and answered_at is None and not awaiting else None,
            "public": not (awaiting or hidden), "awaiting_approval": awaiting,
            "hidden": hidden, "hidden_reason": "Contenido inapropiado" if hidden else "",
            "hidden_at": created + timedelta(days=1) if hidden else None,
            "withdrawal_reason": rng.choice(list(WithdrawalReason))
            if status is IdeaStatus.WITHDRAWN else None,
            "comment_count": min(40, int(rng.expovariate(1 / 3))),
            "vote_count": 0, "created_at": created, "updated_at": closed_at or created,
            "version": 1,
        })
    counts = _allocate(weights, supports, len(citizens), rng)
    for row, votes in zip(rows, counts, strict=True):
        row["vote_count"] = votes
    for start in range(0, count, BATCH):
        db.session.execute(insert(Idea.__table__), rows[start:start + BATCH])
        db.session.commit()

    batch: list[dict] = []
    for row, votes, (created, end, hot) in zip(rows, counts, windows, strict=True):
        span = end - created
        recent_start = max(created, now - TRENDING)
        for user_id in rng.sample(citizens, votes):
            if hot and end - recent_start > timedelta(0) and rng.random() < 0.5:
                when = recent_start + (end - recent_start) * rng.random()
            else:
                # Most supports come soon after an idea is proposed.
                when = created + span * rng.random() ** 2
            batch.append({"idea_id": row["id"], "user_id": user_id, "created_at": when})
        if len(batch) >= BATCH:
            db.session.execute(insert(IdeaVote.__table__), batch)
            db.session.commit()
            batch = []
    if batch:
        db.session.execute(insert(IdeaVote.__table__), batch)
        db.session.commit()


@contextmanager
def captured_sql(engine):
    """The statements ``engine`` runs inside the block, with their parameters."""
    captured: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _executemany):
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield captured
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def on_ideas(captured: list[tuple[str, object]]) -> list[tuple[str, str, object]]:
    """The board's queries among ``captured``: (kind, statement, parameters)."""
    found = []
    for statement, parameters in captured:
        if re.search(r"\bFROM ideas\b", statement):
            kind = "count" if statement.lstrip().startswith("SELECT count(") else "page"
            found.append((kind, statement, parameters))
    return found


def short(statement: str) -> str:
    """The statement on one line, with the idea's column list written ``ideas.*``."""
    one_line = " ".join(statement.split())
    return re.sub(r"ideas\.id, ideas\.title, .*?ideas\.version", "ideas.*", one_line)


def explain_sql(statement: str, parameters, postgres: bool) -> str:
    prefix = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " if postgres else "EXPLAIN QUERY PLAN "
    rows = db.session.connection().exec_driver_sql(prefix + statement, parameters).all()
    db.session.rollback()
    return "\n".join("    " + (row[0] if postgres else f"{row[3]}") for row in rows)


def verdict(holds: bool) -> str:
    return "holds" if holds else "MISSED"


def seeded(label: str, postgres: bool, count: int, supports: int, first_id: int,
           citizens: list[int], departments: list[int]) -> int:
    """Seed one share of the ideas, print what the tables hold; the number of ideas."""
    started = time.perf_counter()
    seed(count, supports, first_id, citizens, departments, rng_seed=first_id)
    # The trending counts, as support() keeps them and refresh_trending() ages them; and
    # every seeded idea has been looked at by a moderator.
    since = clock.now() - TRENDING
    db.session.execute(text(
        "UPDATE ideas SET moderated_at = created_at, recent_votes = (SELECT count(*) FROM "
        "idea_votes WHERE idea_votes.idea_id = ideas.id AND idea_votes.created_at >= :since)"
        " WHERE id >= :first").bindparams(bindparam("since", since, type_=UTCDateTime)),
        {"first": first_id})
    db.session.commit()
    ideas_service.refresh_trending_if_stale()
    elapsed = time.perf_counter() - started
    if postgres:
        # The ids were given explicitly: move the sequence past them.
        db.session.execute(text("SELECT setval(pg_get_serial_sequence('ideas', 'id'), "
                                "(SELECT max(id) FROM ideas))"))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    size = db.session.scalar(select(func.count()).select_from(Idea))
    on_board = db.session.scalar(select(func.count()).select_from(Idea).where(
        Idea.public.is_(True)))
    votes = db.session.scalar(select(func.count()).select_from(IdeaVote))
    counted = db.session.scalar(select(func.sum(Idea.vote_count)))
    recent = db.session.scalar(select(func.count()).select_from(IdeaVote).where(
        IdeaVote.created_at >= clock.now() - TRENDING))
    top = db.session.scalar(select(func.max(Idea.vote_count)))
    db.session.rollback()
    print(f"{label}: {size:>7,} ideas ({on_board:,} on the board), {votes:>9,} supports "
          f"(sum of vote_count {counted:,}; {recent:,} in the last "
          f"{ideas_service.TRENDING_DAYS} days; most on one idea {top:,}) "
          f"seeded in {elapsed:6.1f} s", flush=True)
    return size


def run(label: str, database_url: str, total_ideas: int, total_supports: int,
        requests: int) -> None:
    """Requests run outside any app context of ours, so that each gets its own, as when
    served: pushed inside one, the test client's requests would share its ``g`` and so
    Flask-Login's ``g._login_user``, the first visitor's, anonymous or not."""
    postgres = bool(database_url)
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
                departments.append(department.id)
            db.session.commit()
            citizens = seed_citizens(CITIZENS)
            token = accounts.start_session(db.session.get(User, citizens[0]))
            db.session.commit()
            engine = db.engine
        clients = {"anonymous": app.test_client(), "citizen": app.test_client()}
        with clients["citizen"].session_transaction() as session:
            session["_user_id"] = token
        pages = board_pages(departments[0])

        results, sql = {}, {}
        shares = ((BASELINE_IDEAS, BASELINE_IDEAS * BASELINE_SUPPORTS_PER_IDEA, 1),
                  (total_ideas - BASELINE_IDEAS,
                   total_supports - BASELINE_IDEAS * BASELINE_SUPPORTS_PER_IDEA,
                   BASELINE_IDEAS + 1))
        for count, supports, first_id in shares:
            with app.app_context():
                size = seeded(label, postgres, count, supports, first_id, citizens,
                              departments)
            results[size] = {page: time_page(clients[who], "/ideas?" + urlencode(params),
                                             requests)
                             for page, (who, params) in pages.items()}
            with app.test_request_context():
                author = db.session.get(User, citizens[0])
                sql[size] = {page: time_queries(
                    lambda params=params, author=author: ideas_service.board(
                        board_query(params, author)),
                    requests) for page, (_who, params) in pages.items()}
                db.session.rollback()
        small_size, large_size = sorted(results)

        for page in pages:
            small, large = results[small_size][page], results[large_size][page]
            p95, base95 = percentile(large, .95), percentile(small, .95)
            print(f"{label:10} {page:<22} "
                  f"p50 {percentile(large, .5):6.1f} ms  p95 {p95:6.1f} ms"
                  f"  | {small_size:,} ideas p50 {percentile(small, .5):5.1f} ms"
                  f"  p95 {base95:5.1f} ms"
                  f"  | ratio p50 {statistics.median(large) / statistics.median(small):5.2f}x"
                  f"  p95 {p95 / base95:5.2f}x"
                  f"  | p95 <= {TARGET_MS:.0f} ms {verdict(p95 <= TARGET_MS):6}"
                  f"  p95 <= {TARGET_RATIO:.0f}x {verdict(p95 <= TARGET_RATIO * base95)}")
        for page in pages:
            small, large = sql[small_size][page], sql[large_size][page]
            print(f"{label:10} SQL only, {page:<22} "
                  f"p50 {percentile(large, .5):6.2f} ms  p95 {percentile(large, .95):6.2f} ms"
                  f"  | {small_size:,} ideas p50 {percentile(small, .5):5.2f} ms"
                  f"  p95 {percentile(small, .95):5.2f} ms"
                  f"  | ratio p95 {percentile(large, .95) / percentile(small, .95):5.2f}x")

        # The plans of what each page really runs: captured from a request through the
        # app, and checked against what the service runs for the same BoardQuery.
        explained: dict[tuple[str, str], str] = {}
        for page, (who, params) in pages.items():
            with captured_sql(engine) as captured:
                response = clients[who].get("/ideas?" + urlencode(params))
            through_app = on_ideas(captured)
            signed_in = 'name="mine"' in response.get_data(as_text=True)
            with app.test_request_context(), captured_sql(engine) as captured:
                ideas_service.board(board_query(params, db.session.get(User, citizens[0])))
                db.session.rollback()
            if ([statement for _kind, statement, _parameters in through_app]
                    != [statement for _kind, statement, _parameters in on_ideas(captured)]
                    or signed_in != (who == "citizen")):
                print(f"{label} WARNING: /ideas?{urlencode(params)} ({who}) ran other SQL "
                      f"than BoardQuery{params}: the timings above are not of this page")
            with app.app_context():
                for kind, statement, parameters in through_app:
                    key = (statement, repr(parameters))
                    print(f"{label} plan, {page}: {kind}")
                    if key in explained:
                        print(f"    (the same query as {explained[key]})")
                        continue
                    explained[key] = f"{page}: {kind}"
                    print(f"    -- {short(statement)}  {parameters}")
                    print(explain_sql(statement, parameters, postgres))
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ideas", type=int, default=100_000)
    parser.add_argument("--supports", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100)
    add_database_options(parser)
    options = parser.parse_args()
    if options.ideas <= BASELINE_IDEAS:
        parser.error(f"--ideas must be more than the {BASELINE_IDEAS:,}-idea baseline")
    if options.supports < BASELINE_IDEAS * BASELINE_SUPPORTS_PER_IDEA:
        parser.error("--supports must be at least the baseline's "
                     f"{BASELINE_IDEAS * BASELINE_SUPPORTS_PER_IDEA:,}")

    if not options.no_sqlite:
        run("SQLite", "", options.ideas, options.supports, options.requests)
    if options.postgres:
        with scratch_database(options.postgres) as url:
            run("PostgreSQL", url, options.ideas, options.supports, options.requests)


if __name__ == "__main__":
    main()
