"""Two departments most staff tests work in."""

import pytest


@pytest.fixture
def movilidad(make_department):
    return make_department(slug="movilidad", names={"es": "Movilidad", "en": "Transport"},
                           first_response_days=2, resolution_days=10)


@pytest.fixture
def hacienda(make_department):
    return make_department(slug="hacienda", names={"es": "Hacienda", "en": "Finance"})
