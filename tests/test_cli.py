"""The command line: demo data, accounts, the outbox."""

from portal.accounts import service
from portal.models import Department, Role, User


def test_demo_is_idempotent_and_prints_accounts_that_can_sign_in(runner, db, client):
    first = runner.invoke(args=["portal", "demo"])
    assert first.exit_code == 0, first.output
    counts = (db.session.scalar(db.select(db.func.count(Department.id))),
              db.session.scalar(db.select(db.func.count(User.id))))
    second = runner.invoke(args=["portal", "demo"])
    assert second.exit_code == 0
    assert (db.session.scalar(db.select(db.func.count(Department.id))),
            db.session.scalar(db.select(db.func.count(User.id)))) == counts
    assert counts[0] >= 5
    slugs = set(db.session.scalars(db.select(Department.slug)))
    assert {"movilidad", "medio-ambiente", "hacienda", "servicios-sociales",
            "urbanismo"} <= slugs
    # The same passwords are printed on every run, and they work.
    assert first.output == second.output
    line = next(line for line in second.output.splitlines() if "movilidad@" in line)
    email, password, role = line.split()
    assert role == "agent"
    response = client.post("/login", data={"email": email, "password": password})
    assert response.headers["Location"] == "/staff/"


def test_demo_departments_are_named_in_spanish_and_english(runner, db):
    runner.invoke(args=["portal", "demo"])
    department = db.session.scalar(db.select(Department).where(Department.slug == "movilidad"))
    assert department.name("es") == "Movilidad"
    assert department.name("en") == "Transport and Mobility"


def test_create_user_with_password_from_environment(runner, db, make_department):
    make_department(slug="hacienda")
    result = runner.invoke(
        args=["portal", "create-user", "Agent@Example.org", "--role", "agent",
              "--department", "hacienda"],
        env={"PORTAL_NEW_PASSWORD": "a long enough password"})
    assert result.exit_code == 0, result.output
    user = service.authenticate("agent@example.org", "a long enough password")
    assert user.role is Role.AGENT
    assert [department.slug for department in user.departments] == ["hacienda"]


def test_create_user_prompts_for_the_password(runner, db):
    result = runner.invoke(args=["portal", "create-user", "ana@example.org"],
                           input="prompted passphrase\nprompted passphrase\n",
                           env={"PORTAL_NEW_PASSWORD": ""})
    assert result.exit_code == 0, result.output
    assert service.authenticate("ana@example.org", "prompted passphrase").role is Role.CITIZEN


def test_create_user_refuses_unknown_department_short_password_and_duplicates(runner, make_user):
    env = {"PORTAL_NEW_PASSWORD": "a long enough password"}
    result = runner.invoke(args=["portal", "create-user", "a@example.org", "--department",
                                 "nope"], env=env)
    assert result.exit_code != 0 and "No department" in result.output
    result = runner.invoke(args=["portal", "create-user", "a@example.org"],
                           env={"PORTAL_NEW_PASSWORD": "short"})
    assert result.exit_code != 0 and "at least 12" in result.output
    make_user(email="b@example.org")
    result = runner.invoke(args=["portal", "create-user", "b@example.org"], env=env)
    assert result.exit_code != 0 and "Could not create" in result.output


def test_deployment_holidays_move_due_dates(runner, db, app, make_department):
    from datetime import UTC, date, datetime

    from portal import clock, sla
    from portal.cases import service as cases
    from portal.models import CaseKind

    department = make_department(first_response_days=2)
    with clock.frozen_at(datetime(2026, 11, 23, 9, 0, tzinfo=UTC)):  # a Monday
        case, _new = cases.submit_case(cases.Submission(
            kind=CaseKind.QUESTION, subject="s", body="b", contact_name="n",
            contact_email="e@example.org", language="es", department_id=department.id))
        db.session.commit()
        result = runner.invoke(args=["portal", "holidays", "add", "2026-11-24",
                                     "Fiesta local"])
    assert result.exit_code == 0, result.output
    assert "due dates moved" in result.output
    db.session.refresh(case)
    # Two working days from Monday 23rd, Tuesday 24th now a holiday: Thursday 26th.
    assert case.first_response_due_at.astimezone(sla.local_zone()).date() == date(2026, 11, 26)
    again = runner.invoke(args=["portal", "holidays", "add", "2026-11-24", "Otra"])
    assert again.exit_code != 0
    listing = runner.invoke(args=["portal", "holidays", "list", "--year", "2026"]).output
    assert "2026-11-24  Fiesta local" in listing and "2026-12-08  (national)" in listing
    due = sla.due_at(datetime(2026, 11, 23, 9, 0, tzinfo=UTC), 1, calendar_days=False)
    assert due.date() == date(2026, 11, 25)
