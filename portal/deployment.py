"""What this deployment is called and how to reach whoever runs it.

The one place that answers it: an administrator's saved values
(``DeploymentSettings``, /manage/admin/deployment) over the environment settings
(``PORTAL_SITE_NAME``, ``PORTAL_ORGANISATION_NAME``, ``PORTAL_CONTACT_EMAIL``,
``PORTAL_CONTACT_PHONE``, ``PORTAL_CONTACT_ADDRESS``, ``PORTAL_DPO_EMAIL``); a value
left empty keeps the environment's. Templates read ``deployment.site_name`` and so on
(the context processor below), Python code ``current().site_name``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace

from flask import Flask, current_app, g
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.local import LocalProxy

from portal import page_cache
from portal.extensions import db
from portal.models import DeploymentSettings

log = logging.getLogger(__name__)

_KEY = "_portal_deployment"
_CHANGED_HERE = "_portal_deployment_changed"


@dataclass(frozen=True)
class Deployment:
    """The effective name and contact details (each field is a ``PORTAL_*`` setting in
    upper case)."""

    site_name: str
    organisation_name: str
    contact_email: str
    contact_phone: str
    contact_address: str
    dpo_email: str


FIELDS = tuple(field.name for field in fields(Deployment))


def defaults() -> Deployment:
    """The environment settings alone (what an empty saved value falls back to)."""
    settings = current_app.config["PORTAL"]
    return Deployment(**{name: settings[name.upper()] for name in FIELDS})


def current() -> Deployment:
    """The effective values, read once per request (or app context: a CLI command, a job)
    and kept between requests like a public page (portal/page_cache.py): until they
    change, here or on another server."""
    found = g.get(_KEY)
    if found is None:
        try:
            # Changed in this transaction: the kept values are the old ones until it
            # commits, and what it has not committed must not be kept for others.
            found = _load() if g.get(_CHANGED_HERE) else \
                page_cache.remember(("deployment",), _load)
        except SQLAlchemyError as error:
            # The database is down (the 503 page says so, and gives the phone number)
            # or not migrated yet: the environment's values still name the deployment.
            log.warning("deployment settings not read: %s", type(error).__name__)
            found = defaults()
        setattr(g, _KEY, found)
    return found


def forget() -> None:
    """Read the values again at the next use (after they were changed in this context)."""
    g.pop(_KEY, None)
    setattr(g, _CHANGED_HERE, True)


def _load() -> Deployment:
    base = defaults()
    # Only the six short values: the texts can be long and only two pages need them.
    columns = [getattr(DeploymentSettings, name) for name in FIELDS]
    # no_autoflush: a mail rendered in the middle of a change must not flush it here.
    with db.session.no_autoflush:
        row = db.session.execute(select(*columns).where(
            DeploymentSettings.id == DeploymentSettings.ONE)).first()
    if row is None:
        return base
    return replace(base, **{name: value for name, value in row._mapping.items() if value})


def page_text(page: str, language: str) -> str:
    """The saved Markdown of ``page`` (privacy | accessibility) in ``language``, or ""
    for the built-in page."""
    column = {"privacy": DeploymentSettings.privacy_texts,
              "accessibility": DeploymentSettings.accessibility_texts}[page]
    texts = db.session.scalar(select(column).where(
        DeploymentSettings.id == DeploymentSettings.ONE))
    return (texts or {}).get(language, "").strip()


def register(app: Flask) -> None:
    # A proxy: the row is read when a template first uses it, not for every render.
    app.context_processor(lambda: {"deployment": LocalProxy(current)})
