"""Jobs on RQ: with PORTAL_REDIS_URL, the web process queues them and a worker runs them.

Against the local Redis (PORTAL_TEST_REDIS_URL, default redis://127.0.0.1:6379/15): a
case is submitted through the web, its confirmation waits in the outbox and on the
queue, and ``flask --app wsgi portal worker --burst``, a real process, delivers it
exactly once. A job lost with Redis is redone from the outbox by the worker's sweep. A
job whose retries are spent is listed for administrators, who can put it back. Skipped
(but required in CI) where no Redis answers.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import jobs
from portal.models import OutboxMessage, OutboxStatus, Role, StatsSnapshot
from tests.cases.helpers import question_form
from tests.cases.test_intake import submit
from tests.served import PROJECT_ROOT, _environment
from tests.staff.helpers import sign_in

FLASK = Path(sys.executable).with_name("flask")


@pytest.fixture
def rq_app(make_app, redis_url, database_url):
    name = f"ventanilla-test-{uuid.uuid4().hex[:8]}"
    app = make_app(REDIS_URL=redis_url, JOBS_QUEUE=name)
    with app.app_context():
        yield app
        queue = jobs.queue(app)
        connection = queue.connection
        # The jobs' own keys do not carry the queue's name.
        ids = set(queue.job_ids)
        for registry in (queue.failed_job_registry, queue.finished_job_registry,
                         queue.started_job_registry, queue.scheduled_job_registry,
                         queue.deferred_job_registry, queue.canceled_job_registry):
            ids |= set(registry.get_job_ids())
        for job_id in ids:
            connection.delete(f"rq:job:{job_id}", f"rq:results:{job_id}")
        connection.srem("rq:queues", queue.key)
        for key in connection.scan_iter(f"*{name}*"):
            connection.delete(key)


def run_worker(app) -> subprocess.CompletedProcess:
    """``flask --app wsgi portal worker --burst`` on the app's database and queue."""
    settings = app.config["PORTAL"]
    env = _environment(Path(app.instance_path), app.config["SQLALCHEMY_DATABASE_URI"],
                       settings["BASE_URL"], {"REDIS_URL": settings["REDIS_URL"],
                                              "JOBS_QUEUE": settings["JOBS_QUEUE"]})
    result = subprocess.run([str(FLASK), "--app", "wsgi", "portal", "worker", "--burst"],
                            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def confirmations(outbox, reference: str) -> int:
    return sum(reference in message for message in outbox())


def test_the_worker_delivers_a_queued_confirmation_exactly_once(rq_app, db, outbox):
    response = submit(rq_app.test_client(), question_form(), kind="question")
    assert response.status_code == 302
    reference = response.headers["Location"].split("/")[2]
    # Queued, not sent: the web process only put the job on the queue.
    message = db.session.scalar(select(OutboxMessage))
    assert message.status is OutboxStatus.PENDING and outbox() == []
    queue = jobs.queue(rq_app)
    assert [job.description for job in queue.get_jobs()] == ["deliver_pending"]
    run_worker(rq_app)
    assert confirmations(outbox, reference) == 1
    db.session.expire_all()
    assert db.session.get(OutboxMessage, message.id).status is OutboxStatus.SENT
    assert len(queue) == 0
    # Its sweep also did the features' periodic work: /stats has its figures.
    assert db.session.get(StatsSnapshot, "public") is not None
    run_worker(rq_app)  # nothing is sent twice
    assert confirmations(outbox, reference) == 1


def test_one_waiting_delivery_job_serves_every_submission_before_it_starts(
        rq_app, db, outbox):
    references = []
    for number in range(3):
        response = submit(rq_app.test_client(),
                          question_form(contact_email=f"vecina{number}@example.org",
                                        token=f"waiting-{number}"),
                          kind="question")
        references.append(response.headers["Location"].split("/")[2])
    queue = jobs.queue(rq_app)
    assert [job.description for job in queue.get_jobs()] == ["deliver_pending"]
    run_worker(rq_app)
    assert len(set(references)) == 3
    assert [confirmations(outbox, reference) for reference in references] == [1, 1, 1]
    # The job that ran no longer stands for the next one: a new case queues its own.
    later = submit(rq_app.test_client(), question_form(token="waiting-later"),
                   kind="question")
    assert later.status_code == 302
    assert [job.description for job in queue.get_jobs()] == ["deliver_pending"]


def test_a_job_lost_with_redis_is_redone_from_the_outbox(rq_app, db, outbox):
    response = submit(rq_app.test_client(), question_form(), kind="question")
    reference = response.headers["Location"].split("/")[2]
    queue = jobs.queue(rq_app)
    queue.empty()  # Redis lost the job (a restart without persistence)
    assert outbox() == []
    run_worker(rq_app)  # its sweep delivers what the outbox still holds
    assert confirmations(outbox, reference) == 1


def test_without_redis_at_hand_a_job_runs_in_the_web_process(make_app, db, outbox):
    # Redis configured but not answering: the change is not lost, nor its mail.
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", JOBS_QUEUE="nowhere")
    with app.app_context():
        response = submit(app.test_client(), question_form(), kind="question")
        assert response.status_code == 302
        assert len(outbox()) == 1


def explode() -> None:
    """A job that always fails (the worker imports it from this module)."""
    raise RuntimeError("the mail server refused us")


def test_a_failed_job_is_shown_to_administrators_who_can_put_it_back(rq_app, db, make_user):
    queue = jobs.queue(rq_app)
    queue.enqueue(jobs.run_job, "tests.test_jobs_rq:explode", (), description="explode")
    run_worker(rq_app)
    assert len(queue.failed_job_registry) == 1
    client = sign_in(rq_app, make_user(Role.ADMIN))
    page = client.get("/manage/admin/jobs?lang=en").text
    assert "explode" in page and "RuntimeError: the mail server refused us" in page
    assert "0 jobs waiting to run." in page
    job_id = queue.failed_job_registry.get_job_ids()[0]
    answer = client.post("/manage/admin/jobs/retry", data={"job_id": job_id})
    assert answer.status_code == 302
    assert len(queue) == 1 and len(queue.failed_job_registry) == 0
    assert "1 job waiting to run." in client.get("/manage/admin/jobs?lang=en").text
    # Once back in the queue it is no longer among the failed ones.
    client.post("/manage/admin/jobs/retry", data={"job_id": job_id})
    assert "no longer among the failed ones" in client.get("/manage/admin/jobs?lang=en").text


def test_the_worker_needs_redis(app):
    result = subprocess.run([str(FLASK), "--app", "wsgi", "portal", "worker", "--burst"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
                            env=_environment(Path(app.instance_path),
                                             app.config["SQLALCHEMY_DATABASE_URI"],
                                             "http://localhost", {}))
    assert result.returncode != 0 and "PORTAL_REDIS_URL is not set" in result.stderr


def test_healthz_names_rq_and_says_degraded_while_redis_does_not_answer(rq_app, make_app):
    health = rq_app.test_client().get("/healthz").get_json()
    assert health["jobs"] == {"backend": "rq", "status": "ok"}

    unreachable = make_app(REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_ENABLED=False)
    response = unreachable.test_client().get("/healthz")
    assert response.status_code == 200  # the portal still takes cases: the outbox keeps them
    body = response.get_json()
    assert body["jobs"] == {"backend": "rq", "status": "unavailable"}
    assert body["status"] == "degraded"
