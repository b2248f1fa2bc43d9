"""Themes a manager named (or dismissed) among the dashboard's suggestions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from portal import clock
from portal.extensions import db
from portal.models.types import UTCDateTime


class Theme(db.Model):
    """A named theme gathers analysed terms (``portal.stats.themes.terms_of``) and is
    counted in every period; a dismissed one holds the terms no longer suggested."""

    __tablename__ = "themes"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    terms: Mapped[list[str]] = mapped_column(JSON, default=list)
    dismissed: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
