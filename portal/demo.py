"""Demo data for a newcomer: departments, categories, staff and a few citizens.

Idempotent: running it again adds nothing and changes nothing. Passwords are random,
generated on the first run and kept in ``instance/demo_accounts.txt`` (mode 0600), so no
password is ever written in the code.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from portal.accounts import service as accounts
from portal.extensions import db
from portal.models import Category, Department, Role

DEPARTMENTS = [
    {
        "slug": "movilidad",
        "names": {"es": "Movilidad", "en": "Transport and Mobility", "ca": "Mobilitat",
                  "eu": "Mugikortasuna", "gl": "Mobilidade"},
        "first_response_days": 2, "resolution_days": 10,
        "categories": [
            ("aparcamiento", {"es": "Aparcamiento y multas", "en": "Parking and fines",
                              "ca": "Aparcament i multes", "eu": "Aparkalekuak eta isunak",
                              "gl": "Aparcadoiro e multas"}),
            ("transporte-publico", {"es": "Transporte público", "en": "Public transport",
                                    "ca": "Transport públic", "eu": "Garraio publikoa",
                                    "gl": "Transporte público"}),
            ("bicicleta", {"es": "Bicicleta y carriles bici", "en": "Cycling and cycle lanes",
                           "ca": "Bicicleta i carrils bici", "eu": "Bizikleta eta bidegorriak",
                           "gl": "Bicicleta e carrís bici"}),
        ],
    },
    {
        "slug": "medio-ambiente",
        "names": {"es": "Medio Ambiente", "en": "Environment", "ca": "Medi Ambient",
                  "eu": "Ingurumena", "gl": "Medio Ambiente"},
        "first_response_days": 2, "resolution_days": 15,
        "categories": [
            ("residuos", {"es": "Residuos y reciclaje", "en": "Waste and recycling",
                          "ca": "Residus i reciclatge", "eu": "Hondakinak eta birziklatzea",
                          "gl": "Residuos e reciclaxe"}),
            ("parques", {"es": "Parques y arbolado", "en": "Parks and trees",
                         "ca": "Parcs i arbrat", "eu": "Parkeak eta zuhaitzak",
                         "gl": "Parques e arborado"}),
            ("ruido", {"es": "Ruido", "en": "Noise", "ca": "Soroll", "eu": "Zarata",
                       "gl": "Ruído"}),
        ],
    },
    {
        "slug": "hacienda",
        "names": {"es": "Hacienda", "en": "Finance and Taxes", "ca": "Hisenda",
                  "eu": "Ogasuna", "gl": "Facenda"},
        "first_response_days": 3, "resolution_days": 20,
        "categories": [
            ("impuestos", {"es": "Impuestos municipales", "en": "Local taxes",
                           "ca": "Impostos municipals", "eu": "Udal zergak",
                           "gl": "Impostos municipais"}),
            ("pagos", {"es": "Pagos y domiciliaciones", "en": "Payments and direct debits",
                       "ca": "Pagaments i domiciliacions", "eu": "Ordainketak eta helbideratzeak",
                       "gl": "Pagamentos e domiciliacións"}),
        ],
    },
    {
        "slug": "servicios-sociales",
        "names": {"es": "Servicios Sociales", "en": "Social Services",
                  "ca": "Serveis Socials", "eu": "Gizarte Zerbitzuak",
                  "gl": "Servizos Sociais"},
        "first_response_days": 1, "resolution_days": 10,
        "categories": [
            ("ayudas", {"es": "Ayudas y prestaciones", "en": "Grants and benefits",
                        "ca": "Ajuts i prestacions", "eu": "Laguntzak eta prestazioak",
                        "gl": "Axudas e prestacións"}),
            ("mayores", {"es": "Personas mayores", "en": "Older people",
                         "ca": "Gent gran", "eu": "Adinekoak", "gl": "Persoas maiores"}),
        ],
    },
    {
        "slug": "urbanismo",
        "names": {"es": "Urbanismo", "en": "Planning and Building", "ca": "Urbanisme",
                  "eu": "Hirigintza", "gl": "Urbanismo"},
        "first_response_days": 3, "resolution_days": 30, "calendar_days": False,
        "categories": [
            ("licencias", {"es": "Licencias de obra", "en": "Building permits",
                           "ca": "Llicències d'obra", "eu": "Obra-lizentziak",
                           "gl": "Licenzas de obra"}),
            ("via-publica", {"es": "Vía pública y aceras", "en": "Streets and pavements",
                             "ca": "Via pública i voreres", "eu": "Bide publikoa eta espaloiak",
                             "gl": "Vía pública e beirarrúas"}),
        ],
    },
]


@dataclass(frozen=True)
class DemoAccount:
    email: str
    name: str
    role: Role
    locale: str
    departments: tuple[str, ...] = ()


ACCOUNTS = [
    DemoAccount("admin@ventanilla.example", "Ana Administradora", Role.ADMIN, "es"),
    DemoAccount("gestora@ventanilla.example", "Marta Gestora", Role.MANAGER, "es",
                tuple(department["slug"] for department in DEPARTMENTS)),
    DemoAccount("movilidad@ventanilla.example", "Jorge Movilidad", Role.AGENT, "es",
                ("movilidad",)),
    DemoAccount("medioambiente@ventanilla.example", "Lucía Medio Ambiente", Role.AGENT, "es",
                ("medio-ambiente",)),
    DemoAccount("hacienda@ventanilla.example", "Iñaki Hacienda", Role.AGENT, "eu",
                ("hacienda",)),
    DemoAccount("sociales@ventanilla.example", "Carmen Sociales", Role.AGENT, "es",
                ("servicios-sociales", "urbanismo")),
    DemoAccount("vecina@ventanilla.example", "María García", Role.CITIZEN, "es"),
    DemoAccount("resident@ventanilla.example", "John Smith", Role.CITIZEN, "en"),
    DemoAccount("veina@ventanilla.example", "Jordi Puig", Role.CITIZEN, "ca"),
]


def _passwords_file() -> Path:
    return Path(current_app.instance_path) / "demo_accounts.txt"


def _load_passwords() -> dict[str, str]:
    path = _passwords_file()
    if not path.exists():
        return {}
    pairs = (line.split("\t", 1) for line in path.read_text().splitlines() if "\t" in line)
    return dict(pairs)


def _save_passwords(passwords: dict[str, str]) -> None:
    path = _passwords_file()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.writelines(f"{email}\t{password}\n" for email, password in passwords.items())


def load_demo() -> list[tuple[DemoAccount, str | None]]:
    """Create what is missing; return each demo account with its password if known."""
    by_slug = {}
    for data in DEPARTMENTS:
        department = db.session.scalar(select(Department).where(Department.slug == data["slug"]))
        if department is None:
            department = Department(
                slug=data["slug"], names=data["names"],
                contact_email=f"{data['slug']}@ventanilla.example",
                first_response_days=data["first_response_days"],
                resolution_days=data["resolution_days"],
                calendar_days=data.get("calendar_days", False),
            )
            db.session.add(department)
            db.session.flush()
            for slug, names in data["categories"]:
                db.session.add(Category(department_id=department.id, slug=slug, names=names))
        by_slug[department.slug] = department

    passwords = _load_passwords()
    for account in ACCOUNTS:
        if accounts.find_user_by_email(account.email) is not None:
            continue
        password = secrets.token_urlsafe(12)
        accounts.create_user(account.email, password, account.name, account.role,
                             account.locale, [by_slug[slug] for slug in account.departments])
        passwords[account.email] = password
    db.session.commit()
    _save_passwords(passwords)

    from portal.demo_cases import load_demo_cases

    load_demo_cases()
    load_demo_knowledge_base()
    from portal.demo_ideas import load_demo_ideas

    load_demo_ideas()
    from portal.demo_history import load_history, load_reports

    load_history()
    load_reports()
    return [(account, passwords.get(account.email)) for account in ACCOUNTS]


DEMO_KB = Path(__file__).resolve().parent / "demo_kb"


def load_demo_knowledge_base() -> None:
    """Import the demo FAQ (once: articles already there are skipped) and index it."""
    from portal.knowledge import service as knowledge

    admin = accounts.find_user_by_email(ACCOUNTS[0].email)
    imported, _skipped, _problems = knowledge.import_faq(admin, DEMO_KB)
    db.session.commit()
    if imported or knowledge.index_is_missing():
        knowledge.reindex()
