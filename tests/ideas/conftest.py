"""Fixtures for the ideas board: an empty index, ideas and their people."""

import pytest

from portal import search
from portal.extensions import db as _db
from portal.ideas import service as ideas
from portal.knowledge import service as knowledge
from portal.models import Role


@pytest.fixture(autouse=True)
def empty_index(app, db):
    knowledge.reindex()
    yield
    search.backend().close()


@pytest.fixture
def parques(make_department):
    return make_department(slug="parques", names={"es": "Parques", "en": "Parks",
                                                  "ca": "Parcs", "eu": "Parkeak",
                                                  "gl": "Parques"})


@pytest.fixture
def author(make_user):
    return make_user(Role.CITIZEN, email="autora@example.org", name="Ana Autora", locale="es")


@pytest.fixture
def manager(make_user):
    return make_user(Role.MANAGER, email="gestora@example.org", name="Marta Gestora")


@pytest.fixture
def make_idea(author, parques):
    def make(title="Más bancos en el parque del Oeste",
             body="Faltan bancos a la sombra para las personas mayores.", who=None, **fields):
        idea = ideas.propose(who or author, ideas.Proposal(
            title=title, body=body, language=fields.pop("language", "es"),
            department_id=fields.pop("department_id", parques.id), **fields))
        _db.session.commit()
        return idea
    return make
