"""Demo ideas: a living board, with ideas in every status and several languages, their
supports, comments (one flagged, one hidden), official answers and one merged duplicate.

Everything goes through the ideas services, at moments in the past, as it would have
happened; like the other demo data it is created once.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import exists, select

from portal import clock
from portal.accounts import service as accounts
from portal.extensions import db
from portal.ideas import service as ideas
from portal.models import Department, Idea, IdeaStatus, Role, WithdrawalReason

# Neighbours who support and comment (their passwords are not kept: they only give the
# board some life).
SUPPORTERS = [(f"vecino{number}@ventanilla.example", name, locale) for number, (name, locale)
              in enumerate([("Pilar Romero", "es"), ("Iker Agirre", "eu"),
                            ("Montse Vila", "ca"), ("Uxía Lema", "gl"),
                            ("Luis Navarro", "es"), ("Sarah Jones", "en"),
                            ("Rosa Díaz", "es"), ("Andrés Molina", "es")], start=1)]

# (key, days ago, author, language, department, title, body, supporters (how many),
#  steps) · steps: ("status", status, response) · ("comment", who, text)
#  · ("merge", into key, response) · ("withdraw", reason, note) · ("flag", who, reason)
#  · ("hide", reason) (the last comment)
IDEAS = [
    ("sombra", 75, "vecina@ventanilla.example", "es", "medio-ambiente",
     "Más árboles de sombra en los parques infantiles",
     "En verano los columpios del parque del Oeste queman al mediodía. Plantar árboles o "
     "poner toldos haría que los niños pudieran jugar.", 7,
     [("comment", "vecino1@ventanilla.example", "Muy de acuerdo: en julio no se puede ir."),
      ("status", IdeaStatus.UNDER_REVIEW, ""),
      ("status", IdeaStatus.PLANNED, "Plantaremos 40 árboles en los cinco parques infantiles "
       "con menos sombra durante la campaña de otoño. Mientras crecen, instalaremos toldos.")]),
    ("toldos", 60, "vecino5@ventanilla.example", "es", "medio-ambiente",
     "Toldos en los columpios del parque del Oeste",
     "Pido toldos para dar sombra a la zona de columpios.", 3,
     [("merge", "sombra", "Esta idea propone lo mismo que «Más árboles de sombra en los "
       "parques infantiles», que ya está planificada: unimos los apoyos allí.")]),
    ("bici", 50, "veina@ventanilla.example", "ca", "movilidad",
     "Carril bici entre l'estació i la universitat",
     "Cada dia hi anem centenars d'estudiants en bicicleta pel mig del trànsit. Un carril "
     "segregat seria més segur.", 8,
     [("status", IdeaStatus.UNDER_REVIEW, ""),
      ("comment", "movilidad@ventanilla.example", "Estem estudiant el traçat amb la "
       "universitat. Us informarem aquí."),
      ("status", IdeaStatus.IN_PROGRESS, "Les obres del primer tram comencen el mes vinent.")]),
    ("bancos", 40, "vecino7@ventanilla.example", "es", "urbanismo",
     "Bancos en la calle Mayor para las personas mayores",
     "Entre la plaza y el centro de salud no hay dónde sentarse.", 5,
     [("status", IdeaStatus.IMPLEMENTED, "Hemos instalado seis bancos en la calle Mayor, "
       "cada 150 metros, entre la plaza y el centro de salud.")]),
    ("musica", 35, "resident@ventanilla.example", "en", "servicios-sociales",
     "Free concerts in the park on summer evenings",
     "Local bands could play on Friday evenings in July and August.", 2,
     [("status", IdeaStatus.DECLINED, "This year's culture budget is already committed. "
       "We will consider it for next year's programme and keep the idea on file.")]),
    ("euskara", 20, "vecino2@ventanilla.example", "eu", "servicios-sociales",
     "Euskara ikastaroak liburutegian arratsaldez",
     "Lanetik irten ondoren euskara ikasteko aukera egon dadila nahi genuke.", 4,
     [("comment", "vecino3@ventanilla.example", "Bai, mesedez! Astearteetan ondo legoke.")]),
    ("fontes", 12, "vecino4@ventanilla.example", "gl", "medio-ambiente",
     "Fontes de auga potable no paseo do río",
     "No paseo non hai ningunha fonte e moita xente corre alí.", 6,
     [("comment", "vecino8@ventanilla.example", "Compra mi producto milagro en esta web."),
      ("flag", "vecino1@ventanilla.example", "Publicidad"),
      ("comment", "vecino6@ventanilla.example", "Mi vecino del 4º deja las bolsas en la "
       "calle, se llama..."),
      ("hide", "Datos personales de otra persona")]),
    ("wifi", 6, "vecina@ventanilla.example", "es", "hacienda",
     "Wifi gratuita en la biblioteca municipal", "La conexión actual se corta cada poco.", 1,
     []),
    ("mercado", 3, "vecino6@ventanilla.example", "en", None,
     "A weekly farmers' market in the old town",
     "Local producers could sell on Saturday mornings in the Plaza Mayor.", 0,
     []),
    ("papeleras", 30, "vecino1@ventanilla.example", "es", "medio-ambiente",
     "Más papeleras en el paseo", "Faltan papeleras en el paseo del río.", 0,
     [("withdraw", WithdrawalReason.SOLVED, "Ya han puesto papeleras nuevas. ¡Gracias!")]),
]


def load_demo_ideas() -> int:
    """Create the demo ideas once; return how many were created."""
    if db.session.scalar(select(exists().where(Idea.id.is_not(None)))):
        return 0
    for email, name, locale in SUPPORTERS:
        if accounts.find_user_by_email(email) is None:
            accounts.create_user(email, secrets.token_urlsafe(16), name, Role.CITIZEN, locale,
                                 [])
    db.session.commit()
    people = [accounts.find_user_by_email(email) for email, _name, _locale in SUPPORTERS]
    manager = accounts.find_user_by_email("gestora@ventanilla.example")
    now = clock.now()
    created: dict[str, Idea] = {}
    for (key, days_ago, author_email, language, department_slug, title, body, supports,
         steps) in IDEAS:
        moment = now - timedelta(days=days_ago)
        author = accounts.find_user_by_email(author_email)
        department = db.session.scalar(select(Department).where(
            Department.slug == department_slug)) if department_slug else None
        with clock.frozen_at(moment):
            idea = ideas.propose(author, ideas.Proposal(
                title=title, body=body, language=language,
                department_id=department.id if department else None))
        created[key] = idea
        for number, person in enumerate(p for p in people if p.id != author.id):
            if number >= supports:
                break
            with clock.frozen_at(moment + timedelta(hours=5 + 9 * number)):
                ideas.support(idea, person)
        last_comment = None
        for step_number, step in enumerate(steps, start=1):
            with clock.frozen_at(min(now, moment + timedelta(days=2 * step_number))):
                last_comment = _apply(step, idea, manager, created, last_comment) or \
                    last_comment
        db.session.commit()
    return len(created)


def _apply(step, idea, manager, created, last_comment):
    kind = step[0]
    if kind == "status":
        ideas.change_status(manager, idea, step[1], step[2])
    elif kind == "comment":
        return ideas.add_comment(idea, accounts.find_user_by_email(step[1]), step[2])
    elif kind == "merge":
        ideas.merge_ideas(manager, idea, created[step[1]], step[2])
    elif kind == "withdraw":
        ideas.withdraw_idea(idea, idea.author, step[1], step[2])
    elif kind == "flag":
        ideas.flag(accounts.find_user_by_email(step[1]), step[2], comment=last_comment)
    elif kind == "hide":
        ideas.moderate(manager, "hide", step[1], idea, last_comment)
    return None
