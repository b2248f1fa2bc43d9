"""A year of past cases and two published improvement reports, so that a fresh
``make run`` shows the dashboard, /stats and the home page with real figures.

The past cases are answered and closed; their times are counted exactly as the
portal counts a live case's (``portal.sla``), from a fixed random seed so that every
install shows the same demo. Idempotent: nothing is added twice.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import exists, select

from portal import clock, sla
from portal.accounts.service import find_user_by_email
from portal.cases import references
from portal.cases.service import targets_for
from portal.extensions import db
from portal.models import (
    Case,
    CaseKind,
    CaseStatus,
    Category,
    Channel,
    CommitmentStatus,
    Department,
    Idea,
    Report,
)

# Past cases are written to these addresses (example.org never delivers mail).
HISTORY_DOMAIN = "historial.example.org"
SUBJECTS = {
    "movilidad": ["Autobús de la línea 3 con retraso", "Semáforo que tarda mucho en cambiar",
                  "Multa de aparcamiento que no entiendo", "Tarjeta de residente caducada",
                  "Parada de autobús sin marquesina en el barrio Oeste"],
    "medio-ambiente": ["Contenedor lleno desde hace días", "Ramas caídas en el parque",
                       "Ruido de obras por la noche", "Recogida de muebles viejos",
                       "Falta sombra en el parque infantil"],
    "hacienda": ["Recibo del IBI duplicado", "Domiciliación de la tasa de basuras",
                 "Bonificación por familia numerosa", "Plazos para pagar el impuesto"],
    "servicios-sociales": ["Cita para la valoración de dependencia", "Ayuda a domicilio",
                           "Comedor social: horarios", "Ayudas al alquiler"],
    "urbanismo": ["Licencia para cambiar ventanas", "Acera rota en la calle Olmo",
                  "Obras sin cartel de licencia", "Farola apagada en la plaza"],
}
# What neighbours started to write about lately: the dashboard's rising theme.
RISING = {"urbanismo": [
    "Farolas apagadas en la calle Olmo", "Dos farolas apagadas junto al colegio",
    "Farolas apagadas en el parque del Oeste", "Farola apagada en mi portal",
    "Siguen las farolas apagadas", "Farolas apagadas desde el lunes"]}
COMMENTS = ["Rápido y claro, gracias.", "Tardaron, pero lo resolvieron.",
            "No me solucionaron nada.", "Muy amables por teléfono.", ""]
ANSWER_HOURS = [2, 5, 20, 30, 50, 75, 100, 170, 260, 400, 650]
CHANNELS = [Channel.WEB] * 6 + [Channel.EMAIL] * 2 + [Channel.PHONE, Channel.COUNTER]


def load_history(months: int = 12, per_month: int = 12, seed: int = 2026) -> int:
    """Answered past cases for every demo department, month by month."""
    if db.session.scalar(select(exists().where(Case.contact_email.like(f"%@{HISTORY_DOMAIN}")))):
        return 0
    rng = random.Random(seed)  # noqa: S311 - demo data, the same on every install  # nosec B311
    calendar = sla.deployment_calendar()
    now = clock.now()
    departments = db.session.scalars(select(Department).order_by(Department.slug)).all()
    added = 0
    for department in departments:
        subjects = SUBJECTS.get(department.slug, ["Consulta general"])
        categories = db.session.scalars(
            select(Category).where(Category.department_id == department.id)).all()
        first_days, resolution_days, calendar_days = targets_for(department)
        rising = RISING.get(department.slug, [])
        for number_in_department in range(months * per_month + len(rising)):
            recent = number_in_department >= months * per_month
            created = now - timedelta(days=rng.uniform(8, 40) if recent else
                                      rng.uniform(8, 30 * months), minutes=rng.randint(0, 600))
            answered_in = timedelta(hours=rng.choice(ANSWER_HOURS))
            resolved_in = answered_in + timedelta(hours=rng.choice([0, 24, 70, 150, 300]))
            answered, resolved = created + answered_in, created + resolved_in
            if resolved > now - timedelta(days=1):
                continue
            number = added
            case = Case(
                reference=references.new_reference(CaseKind.COMPLAINT if number % 3 else
                                                   CaseKind.QUESTION),
                kind=CaseKind.COMPLAINT if number % 3 else CaseKind.QUESTION,
                subject=rising[number_in_department - months * per_month] if recent
                else rng.choice(subjects), body="(Caso de demostración.)",
                department=department,
                category=rng.choice(categories) if categories else None,
                channel=rng.choice(CHANNELS), status=CaseStatus.CLOSED,
                contact_name=f"Vecino {number}",
                contact_email=f"vecino{number}@{HISTORY_DOMAIN}", language="es",
                created_at=created, updated_at=resolved,
                first_response_due_at=sla.due_at(created, first_days, calendar_days, calendar),
                resolution_due_at=sla.due_at(created, resolution_days, calendar_days, calendar),
                first_responded_at=answered, resolved_at=resolved, closed_at=resolved,
                first_response_working_days=sla.working_days_elapsed(created, answered,
                                                                     calendar),
                resolution_working_days=sla.working_days_elapsed(created, resolved, calendar),
                resolution_summary="Respondido.",
                reopen_count=1 if rng.random() < 0.04 else 0)
            if rng.random() < 0.4:
                case.satisfaction = rng.choice([5, 5, 4, 4, 4, 3, 2, 1])
                case.satisfaction_comment = rng.choice(COMMENTS)
                case.rated_at = resolved + timedelta(hours=3)
            db.session.add(case)
            added += 1
    db.session.commit()
    return added


REPORTS = [
    {
        "title": "Más sombra en los parques infantiles",
        "summary": "Nos pidieron sombra en los columpios: plantamos 40 árboles y pusimos "
                   "toldos en los cinco parques con menos sombra.",
        "body": "Durante el verano recibimos quejas e ideas sobre el calor en los parques "
                "infantiles, sobre todo en el parque del Oeste.\n\n"
                "- Hemos instalado **toldos** en cinco zonas de juego.\n"
                "- Plantaremos **40 árboles** de sombra en la campaña de otoño.\n",
        "department": "medio-ambiente", "ideas": ["Más árboles de sombra en los parques "
                                                   "infantiles"],
        "case_subjects": ["Falta sombra en el parque infantil"],
        "commitments": [("Plantar 40 árboles en los parques infantiles", 60,
                         CommitmentStatus.IN_PROGRESS, 40,
                         "Plantados 16 de los 40 árboles en el parque del Oeste."),
                        ("Toldos en cinco zonas de juego", -10, CommitmentStatus.DONE, 100,
                         "Los cinco toldos están puestos.")],
    },
    {
        "title": "Bancos en la calle Mayor y marquesinas en el barrio Oeste",
        "summary": "Las personas mayores pedían dónde sentarse: hay seis bancos nuevos en "
                   "la calle Mayor y dos marquesinas en las paradas del barrio Oeste.",
        "body": "Vecinos y vecinas nos escribieron que entre la plaza y el centro de salud "
                "no había dónde descansar, y que en las paradas del Oeste se esperaba el "
                "autobús bajo la lluvia.\n\nHemos instalado seis bancos, cada 150 metros, "
                "y nos comprometemos a cubrir las dos paradas más usadas.",
        "department": None, "ideas": ["Bancos en la calle Mayor para las personas mayores"],
        "case_subjects": ["Parada de autobús sin marquesina en el barrio Oeste"],
        "commitments": [("Marquesinas en las dos paradas más usadas del barrio Oeste", -5,
                         CommitmentStatus.IN_PROGRESS, 50,
                         "La primera marquesina está instalada; la segunda espera permiso.")],
    },
]


def load_reports() -> int:
    """Two published reports with linked ideas and cases, commitments and an update."""
    from portal.reports import service as reports

    manager = find_user_by_email("gestora@ventanilla.example")
    if manager is None or db.session.scalar(select(exists().where(Report.id.is_not(None)))):
        return 0
    today = clock.now().date()
    made = 0
    for data in REPORTS:
        department = db.session.scalar(select(Department).where(
            Department.slug == data["department"])) if data["department"] else None
        idea_ids = list(db.session.scalars(select(Idea.id).where(Idea.title.in_(data["ideas"]))))
        case_ids = list(db.session.scalars(select(Case.id).where(
            Case.subject.in_(data["case_subjects"])).limit(6)))
        report = reports.save(manager, None, reports.Draft(
            title=data["title"], summary=data["summary"], body=data["body"], locale="es",
            period_start=(today - timedelta(days=90)).replace(day=1), period_end=today,
            department=department, idea_ids=idea_ids, case_ids=case_ids,
            commitments=[(title, today + timedelta(days=days))
                         for title, days, *_rest in data["commitments"]]))
        reports.publish(manager, report)
        for commitment, (_title, _days, status, progress, note) in zip(
                report.commitments, data["commitments"], strict=True):
            reports.update_commitment(manager, commitment, status, progress, note)
        made += 1
    db.session.commit()
    return made
