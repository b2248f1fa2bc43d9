"""The deployment's name, contact details and public texts, edited by an administrator
(/manage/admin/deployment): shown at once on every page and in the mail."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from portal import create_app, mail
from portal.models import AuditEvent, DeploymentSettings, Role
from tests.conftest import BASE_CONFIG
from tests.test_i18n import _catalog

PAGE = "/manage/admin/deployment"
TEXTS = [f"{page}_{code}" for page in ("privacy", "accessibility")
         for code in ("es", "en", "ca", "eu", "gl")]
DETAILS = {"site_name": "Seu electrònica", "organisation_name": "Ajuntament de Vilaexemple",
           "contact_email": "atencio@vilaexemple.cat", "contact_phone": "+34 972 000 000",
           "contact_address": "Plaça Major 1, 17000 Vilaexemple",
           "dpo_email": "dpd@vilaexemple.cat"}
PRIVACY_CA = ("## Qui tracta les seves dades\n\nL'**Ajuntament de Vilaexemple**, amb seu a "
              "la Plaça Major 1.\n\n<script>alert(1)</script>\n")


def form(**fields) -> dict[str, str]:
    """The whole form as a browser sends it: every field, empty unless given."""
    return {**dict.fromkeys([*DETAILS, *TEXTS], ""), **fields}


def translated(language: str, text: str) -> str:
    return _catalog(language).get(text).string


def last_audit(db) -> AuditEvent:
    return db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "admin.deployment_changed").order_by(AuditEvent.id.desc())).first()


@pytest.mark.parametrize("role", [Role.AGENT, Role.MANAGER])
def test_only_administrators_come_in(client, login_as, role):
    assert client.get(PAGE).status_code == 302  # to sign in
    login_as(role)
    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, data=form(site_name="Otra")).status_code == 403
    assert client.get("/manage/admin/").status_code == 403  # as for the other pages


def test_the_page_shows_the_environment_values_and_is_linked(client, login_as):
    login_as(Role.ADMIN)
    assert f'href="{PAGE}"' in client.get("/manage/admin/?lang=en").text
    html = client.get(f"{PAGE}?lang=en").text
    assert 'placeholder="Ayuntamiento de Ejemplo"' in html
    assert "Left empty, the portal shows “atencion@ventanilla.example”" in html
    for code in ("es", "en", "ca", "eu", "gl"):
        assert f'<textarea aria-describedby="privacy_{code}-hint" id="privacy_{code}" ' \
            f'lang="{code}"' in html


def test_an_admin_saves_the_name_contact_and_a_catalan_privacy_notice(
        app, client, login_as, db, make_user, outbox):
    visitor = app.test_client()
    # Kept by the page cache before the change: the change must replace it at once.
    assert "Qui tracta les seves dades" not in visitor.get("/privacy?lang=ca").text
    assert "Ayuntamiento de Ejemplo" in visitor.get("/contact?lang=ca").text

    admin = login_as(Role.ADMIN)
    response = client.post(f"{PAGE}?lang=en", data=form(**DETAILS, privacy_ca=PRIVACY_CA))
    assert response.status_code == 302
    assert "The portal shows these details and texts now." in client.get(
        response.headers["Location"]).text

    page = visitor.get("/privacy?lang=ca").text
    assert f"<h1>{translated('ca', 'Privacy notice')}</h1>" in page
    assert "<h2>Qui tracta les seves dades</h2>" in page
    assert "<strong>Ajuntament de Vilaexemple</strong>" in page
    assert "<script>alert" not in page  # the project's sanitising Markdown
    assert f"<title>{translated('ca', 'Privacy notice')} · Seu electrònica</title>" in page
    # The header and the footer, on this page and the others.
    assert "Ajuntament de Vilaexemple · Plaça Major 1, 17000 Vilaexemple" in page
    contact = visitor.get("/contact?lang=ca").text
    assert 'href="tel:+34972000000"' in contact and "atencio@vilaexemple.cat" in contact
    assert "Ayuntamiento de Ejemplo" not in contact

    # Other languages keep the built-in page, with the new details in it.
    spanish = visitor.get("/privacy?lang=es").text
    assert "Qui tracta" not in spanish and "Responsable" in spanish
    assert "mailto:dpd@vilaexemple.cat" in spanish
    assert "Qui tracta" not in visitor.get("/accessibility?lang=ca").text

    # Mail sent from a request, and from outside one (a command, a job).
    visitor.post("/password/forgot?lang=ca", data={"email": "ningu@example.org"})
    sent = outbox()[-1]
    assert "Seu electrònica" in sent and "atencio@vilaexemple.cat" in sent
    assert "Ajuntament de Vilaexemple · Seu electrònica" in sent  # the footer
    citizen = make_user(locale="en")
    mail.queue_mail(citizen.email, "welcome", "en", user=citizen)
    db.session.commit()
    assert "Subject: Welcome to Seu electrònica" in outbox()[-1]

    event = last_audit(db)
    assert (event.action, event.actor_id, event.target_type) == (
        "admin.deployment_changed", admin.id, "deployment")
    assert event.data == {"fields": sorted([*DETAILS, "privacy_texts.ca"])}
    recorded = json.dumps(event.data, ensure_ascii=False)
    for value in [*DETAILS.values(), "Qui tracta"]:
        assert value not in recorded
    saved = db.session.get(DeploymentSettings, DeploymentSettings.ONE)
    assert saved.updated_by_id == admin.id
    assert saved.privacy_texts == {"ca": PRIVACY_CA.strip()}


def test_an_emptied_value_gives_back_the_environment_setting(app, client, login_as, db):
    login_as(Role.ADMIN)
    visitor = app.test_client()
    client.post(PAGE, data=form(site_name="Sede", privacy_ca=PRIVACY_CA))
    assert " · Sede</title>" in visitor.get("/?lang=ca").text
    # The same text sent back by a browser (CRLF line ends) is no change.
    response = client.post(PAGE, data=form(privacy_ca=PRIVACY_CA.replace("\n", "\r\n")))
    assert response.status_code == 302
    assert last_audit(db).data == {"fields": ["site_name"]}
    assert " · Ventanilla</title>" in visitor.get("/?lang=ca").text
    assert "Qui tracta" in visitor.get("/privacy?lang=ca").text

    client.post(PAGE, data=form())
    assert last_audit(db).data == {"fields": ["privacy_texts.ca"]}
    assert "Qui tracta" not in visitor.get("/privacy?lang=ca").text
    # Saved again unchanged: nothing to record.
    before = last_audit(db).id
    client.post(PAGE, data=form())
    assert last_audit(db).id == before


def test_wrong_input_is_explained_next_to_the_field_and_kept(app, client, login_as, db):
    login_as(Role.ADMIN)
    response = client.post(f"{PAGE}?lang=en", data=form(
        site_name="Sede nueva", contact_email="atencio@", dpo_email="dpd",
        contact_phone="call us", organisation_name="Ajuntament\x00",
        accessibility_eu="x" * 50_001))
    html = response.text
    assert response.status_code == 400
    assert '<p class="error-message" id="contact_email-error">' in html
    assert html.count("Enter an email address in the right format, like name@example.com.") \
        == 4  # the summary and next to each of the two fields
    assert 'value="atencio@"' in html and 'value="Sede nueva"' in html
    assert "Enter a phone number with digits and spaces" in html
    assert "Remove the special characters from this text." in html
    assert "This must be 50000 characters or fewer." in html
    assert db.session.scalar(select(DeploymentSettings)) is None  # nothing half-saved
    assert "Sede nueva" not in app.test_client().get("/").text

    response = client.post(f"{PAGE}?lang=es", data=form(contact_email="atencio@"))
    assert translated("es", "Enter an email address in the right format, like "
                      "name@example.com.") in response.text


def test_the_503_page_still_names_the_phone_when_the_database_is_down(tmp_path):
    app = create_app({**BASE_CONFIG, "INSTANCE_PATH": str(tmp_path),
                      "DATABASE_URL": "sqlite:////nonexistent-folder/portal.db"})
    response = app.test_client().get("/?lang=en")
    assert response.status_code == 503
    assert "phone us on 010" in response.text and "Ayuntamiento de Ejemplo" in response.text
