"""Who runs this deployment, as its administrators describe it (one row)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.extensions import db
from portal.models.types import UTCDateTime


class DeploymentSettings(db.Model):
    """The portal's name, contact details and public texts, edited by an administrator.

    An empty value means "use the environment setting" (``PORTAL_SITE_NAME`` ...), so a
    deployment that never saves this page keeps working as configured. The texts are
    Markdown per language; a language without one shows the built-in page.
    ``portal.deployment`` merges the two; read the values from there.
    """

    __tablename__ = "deployment_settings"
    # There is one deployment: the row is always number ONE.
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)
    ONE = 1

    id: Mapped[int] = mapped_column(primary_key=True)
    site_name: Mapped[str] = mapped_column(String(120), default="")
    organisation_name: Mapped[str] = mapped_column(String(200), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    contact_phone: Mapped[str] = mapped_column(String(40), default="")
    contact_address: Mapped[str] = mapped_column(String(300), default="")
    dpo_email: Mapped[str] = mapped_column(String(254), default="")
    # {language: Markdown}, e.g. {"ca": "## Qui tracta les seves dades ..."}.
    privacy_texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    accessibility_texts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
