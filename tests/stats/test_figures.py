"""The dashboard's and /stats' figures against values computed here, independently.

Cases go through the real services at frozen moments (submit, reply, resolve, rate),
so the stored working days are the portal's own; the expected values are counted
here by walking the calendar day by day, with a regional holiday in the middle.
"""

from __future__ import annotations

import csv
import io
import statistics
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal import clock
from portal.cases import service as cases
from portal.models import CaseKind, CaseStatus, Holiday, Role
from portal.sla import spanish_national_holidays
from portal.staff import service as staff
from portal.stats import figures, public

MADRID = ZoneInfo("Europe/Madrid")
HOLIDAY = date(2026, 3, 19)  # San José, a regional holiday: a Thursday


def at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=MADRID).astimezone(UTC)


def working_days_walked(start: date, end: date) -> int:
    """Independent count: each day after ``start`` up to ``end`` that is worked."""
    days, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if current.weekday() < 5 and current != HOLIDAY \
                and current not in spanish_national_holidays(current.year):
            days += 1
    return days


def nth_working_day(start: date, count: int) -> date:
    current = start
    while count:
        current += timedelta(days=1)
        if current.weekday() < 5 and current != HOLIDAY \
                and current not in spanish_national_holidays(current.year):
            count -= 1
    return current


# (received on, answered after n calendar days, resolved after n more, rating)
SEEDS = [
    (date(2026, 3, 2), 0, 1, 5), (date(2026, 3, 2), 1, 3, 4), (date(2026, 3, 3), 2, 0, None),
    (date(2026, 3, 4), 6, 2, 2), (date(2026, 3, 6), 3, 4, 3), (date(2026, 3, 9), 1, 1, 5),
    (date(2026, 3, 12), 12, 3, 1), (date(2026, 3, 13), 4, 10, None),
    (date(2026, 3, 16), 2, 1, 4), (date(2026, 3, 18), 1, 0, 5), (date(2026, 3, 18), 8, 6, 3),
    (date(2026, 3, 20), 3, 2, None), (date(2026, 3, 23), 5, 20, 4),
]


@pytest.fixture
def seeded(db, make_department, make_user):
    department = make_department(first_response_days=2, resolution_days=5)
    db.session.add(Holiday(day=HOLIDAY, name="San José"))
    db.session.commit()
    agent = make_user(Role.AGENT, departments=[department])
    expected = []
    for number, (received, answer_after, resolve_after, rating) in enumerate(SEEDS):
        with clock.frozen_at(at(received, 10)):
            case, _new = cases.submit_case(cases.Submission(
                kind=CaseKind.COMPLAINT, subject=f"Caso {number}", body="Texto privado.",
                contact_name="Ana", contact_email=f"ana{number}@example.org",
                language="es", department_id=department.id))
            db.session.commit()
        answered_on = received + timedelta(days=answer_after)
        with clock.frozen_at(at(answered_on, 12)):
            staff.reply_to_citizen(agent, case, "Respuesta.", [])
            db.session.commit()
        resolved_on = answered_on + timedelta(days=resolve_after)
        with clock.frozen_at(at(resolved_on, 13)):
            staff.set_status(agent, case, CaseStatus.RESOLVED, "Resuelto.")
            db.session.commit()
        if rating:
            with clock.frozen_at(at(resolved_on, 18)):
                cases.rate_case(case, rating, "")
                db.session.commit()
        expected.append({
            "first": working_days_walked(received, answered_on),
            "resolution": working_days_walked(received, resolved_on),
            "on_time": answered_on <= nth_working_day(received, 2),
            "resolved_on_time": resolved_on <= nth_working_day(received, 5),
            "rating": rating})
    return department, expected


def march():
    return figures.Period(date(2026, 3, 1), date(2026, 3, 31))


def test_medians_percentiles_on_time_and_satisfaction_match(seeded):
    department, expected = seeded
    with clock.frozen_at(at(date(2026, 4, 30), 12)):
        item = figures.service_figures([march()])[0][department.id]
    first = [row["first"] for row in expected]
    resolution = [row["resolution"] for row in expected]
    ratings = [row["rating"] for row in expected if row["rating"]]
    assert item.received == len(SEEDS)
    assert item.first_response_median == statistics.median(first)
    assert item.first_response_p90 == pytest.approx(
        statistics.quantiles(first, n=10, method="inclusive")[-1])
    assert item.resolution_median == statistics.median(resolution)
    assert item.resolution_p90 == pytest.approx(
        statistics.quantiles(resolution, n=10, method="inclusive")[-1])
    assert item.on_time_share == pytest.approx(
        sum(row["on_time"] for row in expected) / len(expected))
    assert item.resolved_on_time_share == pytest.approx(
        sum(row["resolved_on_time"] for row in expected) / len(expected))
    assert item.satisfaction == pytest.approx(statistics.mean(ratings))
    assert sum(item.ratings.values()) == len(ratings)
    # The holiday counts: a case received the day before it and answered the day after
    # took one working day, not two.
    assert working_days_walked(date(2026, 3, 18), date(2026, 3, 20)) == 1


def test_the_dashboard_shows_those_figures_and_compares_with_the_month_before(
        seeded, client, login_as):
    department, expected = seeded
    login_as(Role.MANAGER)
    with clock.frozen_at(at(date(2026, 4, 30), 12)):
        page = client.get("/manage/?period=custom&start=2026-03-01&end=2026-03-31"
                          f"&department={department.id}&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Answer times against the targets" in html
    assert "<svg" in html and "<title id=\"bands-chart-title\">" in html
    assert "previous period: 0" in html  # February had none
    assert "Texto privado" not in html


def test_stats_matches_the_dashboard_for_the_same_month(seeded, app):
    department, _expected = seeded
    with clock.frozen_at(at(date(2026, 3, 31), 20)):
        data = public.compute()
        item = figures.service_figures([march()])[0][department.id]
    row = next(entry for entry in data["departments"] if entry["id"] == department.id)
    month = row["months"][-1]
    assert data["months"][-1] == ["2026-03-01", "2026-03-31"]
    assert month["received"] == item.received
    assert month["first_response_median"] == round(item.first_response_median, 1)
    assert month["on_time_share"] == round(item.on_time_share, 4)
    assert month["satisfaction"] == round(item.satisfaction, 2)
    assert sum(share for _band, share in month["within"]) == pytest.approx(1, abs=1e-3)


def test_stats_page_states_definitions_and_shows_no_personal_data(seeded, client, db):
    department, _expected = seeded
    with clock.frozen_at(at(date(2026, 3, 31), 20)):
        page = client.get("/stats?lang=en")
        html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "How these figures are counted" in html
    assert "published target for a first answer, in working days" in html
    for private in ("Texto privado", "ana0@example.org", "Caso 0", "Ana"):
        assert private not in html
    assert db.session.get(public.StatsSnapshot, public.SNAPSHOT_KEY) is not None


def test_too_few_cases_to_compare(app, make_department, make_case, client):
    department = make_department()
    make_case(department=department, status=CaseStatus.OPEN)
    html = client.get("/stats?lang=en").get_data(as_text=True)
    assert "too few to compare" in html


def test_stats_are_kept_and_refreshed_when_old(app, make_department, make_case):
    department = make_department()
    first = public.current()
    make_case(department=department, status=CaseStatus.OPEN)
    assert public.current() == first  # kept: no recomputation within the hour
    with clock.frozen_at(clock.now() + timedelta(minutes=61)):
        again = public.current()
    row = next(entry for entry in again["departments"] if entry["id"] == department.id)
    assert row["year"]["received"] == 1


def test_csv_downloads_open_in_a_spreadsheet(seeded, client, login_as, db):
    department, _expected = seeded
    department.names = {"es": 'Obras, "Vías" y Señales', "en": "=HYPERLINK(\"x\")"}
    db.session.commit()
    login_as(Role.MANAGER)
    with clock.frozen_at(at(date(2026, 4, 30), 12)):
        response = client.get("/manage/dashboard.csv?table=times&period=custom"
                              "&start=2026-03-01&end=2026-03-31&lang=es")
        english = client.get("/manage/dashboard.csv?table=times&period=custom"
                             "&start=2026-03-01&end=2026-03-31&lang=en")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "Departamento"
    assert rows[1][0] == 'Obras, "Vías" y Señales'
    assert rows[1][1] == str(len(SEEDS))
    header = rows[0]
    assert len({len(row) for row in rows}) == 1  # every row as wide as the header
    assert any("(periodo anterior)" in title for title in header) or len(header) > 11
    english_rows = list(csv.reader(io.StringIO(english.get_data().decode("utf-8-sig"))))
    assert english_rows[1][0] == "'=HYPERLINK(\"x\")"  # never a formula


def test_dashboard_form_errors_are_next_to_the_fields(client, login_as):
    login_as(Role.MANAGER)
    page = client.get("/manage/?period=custom&start=2026-05-01&end=2026-04-01&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "The last day must be on or after the first day." in html
    assert 'value="2026-05-01"' in html
    assert client.get("/manage/?period=custom&start=nonsense&lang=en").status_code == 200
    assert client.get("/manage/dashboard.csv?table=nope").status_code == 404


def test_the_dashboard_is_for_managers(client, login_as):
    assert client.get("/manage/").status_code == 302
    login_as(Role.AGENT)
    assert client.get("/manage/").status_code == 403
    assert client.get("/manage/dashboard.csv?table=times").status_code == 403


def test_quantile_matches_statistics_on_random_samples():
    import random
    from collections import Counter

    rng = random.Random(7)
    for _ in range(200):
        values = [rng.randint(0, 30) for _ in range(rng.randint(1, 40))]
        histogram = Counter(values)
        assert figures.quantile(histogram, 0.5) == pytest.approx(statistics.median(values))
        if len(values) > 1:
            assert figures.quantile(histogram, 0.9) == pytest.approx(
                statistics.quantiles(values, n=10, method="inclusive")[-1])


def plant_theme(make_department, make_case, make_user, db):
    from portal.ideas import service as ideas

    department = make_department()
    author = make_user(Role.CITIZEN)
    background = ["Ruido de bares por la noche en la plaza", "Contenedor de vidrio lleno",
                  "Autobús con retraso por la mañana", "Bache grande en la calzada"]
    previous_month = date(2026, 2, 10)
    this_month = date(2026, 3, 10)
    for number in range(12):  # the same background both months
        for day in (previous_month, this_month):
            make_case(kind=CaseKind.COMPLAINT, department=department,
                      subject=background[number % 4], body="Pasa todos los días.",
                      created_at=at(day + timedelta(days=number % 5), 9),
                      status=CaseStatus.OPEN)
    make_case(kind=CaseKind.COMPLAINT, department=department, subject="Farola apagada",
              body="Una farola fundida.", created_at=at(previous_month, 11),
              status=CaseStatus.OPEN)
    planted = ["Farolas apagadas en mi calle", "La farola apagada del parque",
               "Otra farola apagada junto al colegio", "Farolas apagadas desde el lunes",
               "Farola apagada en la esquina"]
    for number, subject in enumerate(planted):
        make_case(kind=CaseKind.COMPLAINT, department=department, subject=subject,
                  body="No se ve nada por la noche.", created_at=at(this_month, 12 + number),
                  status=CaseStatus.OPEN)
    with clock.frozen_at(at(this_month, 18)):
        ideas.propose(author, ideas.Proposal(title="Cambiar las farolas apagadas por LED",
                                             body="Gastan menos.", language="es",
                                             department_id=department.id))
    db.session.commit()
    return department


def test_a_planted_rising_theme_comes_first(app, make_department, make_case, make_user, db):
    from portal.stats import themes

    plant_theme(make_department, make_case, make_user, db)
    found = themes.rising(figures.Period(date(2026, 3, 1), date(2026, 3, 31)))
    assert found, "no theme found"
    assert "farol" in found[0].term and "apag" in found[0].term
    assert found[0].label in {"farolas apagadas", "farola apagada"}
    assert found[0].count == 6 and found[0].previous == 1
    assert {source.kind for source in found[0].sources} == {"case", "idea"}
    assert all("ruido" not in theme.term for theme in found[:3])


def test_the_command_line_refreshes_the_figures(app, runner, db):
    result = runner.invoke(args=["portal", "stats", "refresh"])
    assert result.exit_code == 0, result.output
    assert "Figures computed at" in result.output
    assert db.session.get(public.StatsSnapshot, public.SNAPSHOT_KEY) is not None


def test_a_manager_names_merges_and_dismisses_themes(app, client, login_as, make_department,
                                                     make_case, make_user, db):
    from portal.models import Theme
    from portal.stats import themes

    plant_theme(make_department, make_case, make_user, db)
    login_as(Role.MANAGER)
    march_args = {"period": "custom", "start": "2026-03-01", "end": "2026-03-31"}
    top = themes.rising(march())[0]
    refused = client.post("/manage/themes?lang=en", data={**march_args, "term": top.term,
                                                          "action": "name", "name": ""})
    assert refused.status_code == 400
    assert "Enter a name for the theme." in refused.get_data(as_text=True)
    named = client.post("/manage/themes", data={**march_args, "term": top.term,
                                                "action": "name", "name": "Alumbrado"})
    assert named.status_code == 302 and "start=2026-03-01" in named.headers["Location"]
    theme = db.session.scalar(db.select(Theme).where(Theme.name == "Alumbrado"))
    assert theme.terms == [top.term]
    found = themes.compute(march())
    assert top.term not in {item.term for item in found.rising}
    tracked = next(item for item in found.named if item.theme.id == theme.id)
    assert (tracked.count, tracked.previous) == (top.count, top.previous)
    second = found.rising[0]
    client.post("/manage/themes", data={**march_args, "term": second.term, "action": "merge",
                                        "theme": str(theme.id)})
    db.session.refresh(theme)
    assert theme.terms == [top.term, second.term]
    third = themes.rising(march())[0]
    client.post("/manage/themes", data={**march_args, "term": third.term, "action": "dismiss"})
    assert third.term not in {item.term for item in themes.rising(march())}
    page = client.get("/manage/?period=custom&start=2026-03-01&end=2026-03-31&lang=en")
    assert "Alumbrado" in page.get_data(as_text=True)
