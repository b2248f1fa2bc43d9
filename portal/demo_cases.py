"""Demo cases: every queue and status, in Spanish and English, with citizens who have
written several times to different departments, so a newcomer sees a living service.

Each case is created through the same services the portal uses, at a moment in the
past, and then worked by the demo staff as it would have been.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import exists, select

from portal import clock
from portal.accounts.service import find_user_by_email
from portal.cases import service as cases
from portal.extensions import db
from portal.models import CannedResponse, Case, CaseKind, Channel, Department

# (days ago, kind, department, citizen email, name, language, subject, body, steps)
# Steps: ("assign", agent) · ("reply", agent, text) · ("ask", agent, text)
# · ("citizen", text) · ("resolve", agent, summary) · ("rate", score, comment)
# · ("close", agent) · ("transfer", agent, department, reason) · ("note", agent, text)
CASES = [
    (1, "question", "movilidad", "vecina@ventanilla.example", "María García", "es",
     "¿Cómo solicito la tarjeta de aparcamiento para residentes?",
     "Me he mudado al barrio centro y quiero saber qué documentos necesito.", []),
    (2, "complaint", "medio-ambiente", "vecina@ventanilla.example", "María García", "es",
     "Contenedor de vidrio desbordado en la plaza del Sol",
     "Lleva más de una semana lleno y hay cristales en la acera.",
     [("assign", "medioambiente"), ("reply", "medioambiente",
      "Gracias por avisarnos. Hemos pedido un vaciado urgente para mañana.")]),
    (40, "question", "hacienda", "vecina@ventanilla.example", "María García", "es",
     "Fraccionar el pago del IBI",
     "¿Puedo pagar el IBI de este año en varios plazos?",
     [("assign", "hacienda"), ("resolve", "hacienda",
      "Sí: puede fraccionarlo en dos plazos domiciliados (junio y noviembre) pidiéndolo "
      "antes del 1 de abril."), ("rate", 5, "Muy clara la respuesta.")]),
    (20, "complaint", "movilidad", "resident@ventanilla.example", "John Smith", "en",
     "Bus 7 skipped my stop three mornings in a row",
     "The 8:05 bus on line 7 did not stop at Avenida de Europa on Monday, Tuesday and "
     "Wednesday.",
     [("assign", "movilidad"), ("note", "movilidad", "Checked the GPS log: confirmed."),
      ("reply", "movilidad", "We have confirmed it with the operator; the driver's route "
       "sheet was wrong and has been corrected.")]),
    (6, "question", "servicios-sociales", "resident@ventanilla.example", "John Smith", "en",
     "Home help for my elderly father",
     "My father (84) lives alone. What help can the council provide at home?",
     [("assign", "sociales"), ("ask", "sociales",
      "Could you tell us in which neighbourhood he lives and whether he has a disability "
      "assessment?")]),
    (3, "question", None, "veina@ventanilla.example", "Jordi Puig", "es",
     "Permiso para una fiesta de calle",
     "Queremos organizar una fiesta en nuestra calle en junio. ¿A quién hay que pedirlo?", []),
    (25, "complaint", "urbanismo", "lucia.romero@example.org", "Lucía Romero", "es",
     "Obras sin licencia en el edificio de enfrente",
     "Están haciendo obras en la fachada de Calle Nueva 14 sin cartel de licencia.",
     [("assign", "sociales")]),
    (30, "complaint", "medio-ambiente", "pablo.ruiz@example.org", "Pablo Ruiz", "es",
     "Ruido nocturno de un bar en la calle Ancha",
     "Cada fin de semana hay música alta hasta las 4 de la mañana.",
     [("assign", "medioambiente"), ("reply", "medioambiente",
      "Hemos programado mediciones de ruido para los dos próximos fines de semana."),
      ("resolve", "medioambiente",
       "Las mediciones superaron el límite; se ha abierto expediente sancionador y el local "
       "ha instalado un limitador de sonido."), ("rate", 4, "")]),
    (9, "question", "hacienda", "pablo.ruiz@example.org", "Pablo Ruiz", "es",
     "Bonificación del impuesto de vehículos para coche eléctrico",
     "¿Qué bonificación tiene un coche eléctrico en el impuesto de circulación?",
     [("transfer", "hacienda", "movilidad", "Lo tramita el servicio de vehículos."),
      ("assign", "movilidad")]),
    (15, "complaint", "servicios-sociales", "ana.lopez@example.org", "Ana López", "es",
     "Nadie me ha llamado para la cita de valoración",
     "Pedí cita para la valoración de dependencia de mi madre hace un mes.",
     [("assign", "sociales"), ("reply", "sociales",
      "Disculpe la espera. Tiene cita el jueves 10 a las 10:00 en el centro de la calle "
      "Mayor."), ("resolve", "sociales", "Cita asignada y confirmada por teléfono."),
      ("rate", 3, "Bien, pero tardaron mucho."), ("close", "sociales")]),
    (1, "question", "urbanismo", "carlos.diaz@example.org", "Carlos Díaz", "es",
     "¿Necesito licencia para cambiar las ventanas?",
     "Quiero cambiar las ventanas de mi piso por otras del mismo color.", []),
    (12, "question", "medio-ambiente", "emma.brown@example.org", "Emma Brown", "en",
     "Where can I take an old mattress?",
     "I need to get rid of a mattress and a sofa. Is there a collection service?",
     [("assign", "medioambiente"), ("resolve", "medioambiente",
      "Call 010 to book a free bulky-waste collection, or take them to the recycling point "
      "on Camino del Río, open every day from 9:00 to 20:00."), ("rate", 5, "Thanks!")]),
]

PHONE_CASES = [
    (4, Channel.PHONE, "movilidad", "Rosa Martín", "Semáforo averiado en la avenida del Parque",
     "Llama para avisar de que el semáforo peatonal del cruce con calle Olmo no funciona."),
    (2, Channel.COUNTER, "servicios-sociales", "Manuel Gómez",
     "Información sobre ayudas al alquiler para jóvenes",
     "Pregunta en la oficina qué requisitos hay y cuándo se abre la convocatoria."),
]

# No greeting in a saved reply: the reply email already opens with "Hello <name>,".
CANNED = [
    (None, "es", "Acuse de recibo",
     "Hemos recibido su mensaje (referencia {reference}) y lo estamos "
     "estudiando. Le responderemos antes del {due_date}.\n\nUn saludo."),
    (None, "en", "Acknowledgement",
     "We have received your message (reference {reference}) and are looking "
     "into it. We will answer you by {due_date}.\n\nKind regards."),
    ("hacienda", "es", "Fraccionamiento de pago",
     "Puede fraccionar el pago en dos plazos domiciliados solicitándolo "
     "antes del 1 de abril en la sede electrónica o en la oficina de atención.\n\nUn saludo."),
    ("movilidad", "es", "Tarjeta de residente",
     "Para la tarjeta de residente necesita el empadronamiento en la zona, "
     "el permiso de circulación a su nombre y estar al corriente del impuesto de vehículos."
     "\n\nUn saludo."),
]


def _user(slug: str):
    return find_user_by_email(f"{slug}@ventanilla.example")


def _department(slug: str | None):
    if slug is None:
        return None
    return db.session.scalar(select(Department).where(Department.slug == slug))


def load_demo_cases() -> int:
    """Create the demo cases once; return how many were created."""
    from portal.staff import service as staff

    if db.session.scalar(select(exists().where(Case.submission_token.like("demo-%")))):
        return 0
    created = 0
    now = clock.now()
    for number, (days_ago, kind, department, email, name, language, subject, body,
                 steps) in enumerate(CASES):
        moment = now - timedelta(days=days_ago)
        with clock.frozen_at(moment):
            department_row = _department(department)
            case, _new = cases.submit_case(cases.Submission(
                kind=CaseKind(kind), subject=subject, body=body, contact_name=name,
                contact_email=email, language=language,
                department_id=department_row.id if department_row else None,
                publish_consent=number % 2 == 0,
                desired_outcome="Que se solucione cuanto antes." if kind == "complaint" else "",
                submission_token=f"demo-{number}"), citizen=find_user_by_email(email))
        for step_number, step in enumerate(steps, start=1):
            with clock.frozen_at(min(now, moment + timedelta(hours=20 * step_number))):
                _apply(staff, case, step)
        created += 1
    for number, (days_ago, channel, department, name, subject, body) in enumerate(PHONE_CASES):
        with clock.frozen_at(now - timedelta(days=days_ago)):
            staff.record_case(_user(department.split("-")[0] if department != "servicios-sociales"
                                    else "sociales"), cases.Submission(
                kind=CaseKind.QUESTION, subject=subject, body=body, contact_name=name,
                contact_email="", contact_phone="600 000 00" + str(number), language="es",
                department_id=_department(department).id, channel=channel,
                submission_token=f"demo-phone-{number}"))
        created += 1
    for department, locale, title, text in CANNED:
        db.session.add(CannedResponse(department=_department(department), locale=locale,
                                      title=title, body=text))
    db.session.commit()
    return created


def _apply(staff, case: Case, step: tuple) -> None:
    action = step[0]
    if action == "assign":
        agent = _user(step[1])
        staff.assign(agent, case, agent)
    elif action in {"reply", "ask"}:
        staff.reply_to_citizen(_user(step[1]), case, step[2], [], ask_citizen=action == "ask")
    elif action == "note":
        staff.add_note(_user(step[1]), case, step[2])
    elif action == "resolve":
        from portal.models import CaseStatus

        staff.set_status(_user(step[1]), case, CaseStatus.RESOLVED, step[2])
    elif action == "close":
        from portal.models import CaseStatus

        staff.set_status(_user(step[1]), case, CaseStatus.CLOSED)
    elif action == "rate":
        cases.rate_case(case, step[1], step[2])
    elif action == "transfer":
        staff.transfer(_user(step[1]), case, _department(step[2]), step[3])
    db.session.flush()
