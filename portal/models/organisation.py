"""Departments and the categories of cases they accept."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal import clock
from portal.config import DEFAULT_LANGUAGE
from portal.extensions import db
from portal.models.types import UTCDateTime


def _localised(names: dict[str, str], locale: str) -> str:
    return names.get(locale) or names.get(DEFAULT_LANGUAGE) or next(iter(names.values()), "")


class Department(db.Model):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    # Names per locale, e.g. {"es": "Movilidad", "en": "Transport"}.
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    # Service-level targets. Working days (días hábiles) unless calendar_days is set.
    first_response_days: Mapped[int] = mapped_column(default=2)
    resolution_days: Mapped[int] = mapped_column(default=10)
    calendar_days: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)

    categories: Mapped[list[Category]] = relationship(
        back_populates="department", order_by="Category.slug"
    )

    def name(self, locale: str) -> str:
        return _localised(self.names, locale)

    def __repr__(self) -> str:
        return f"<Department {self.slug}>"


class Category(db.Model):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("department_id", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    accepts_questions: Mapped[bool] = mapped_column(default=True)
    accepts_complaints: Mapped[bool] = mapped_column(default=True)
    active: Mapped[bool] = mapped_column(default=True)

    department: Mapped[Department] = relationship(back_populates="categories")

    def name(self, locale: str) -> str:
        return _localised(self.names, locale)


class Holiday(db.Model):
    """A regional or local holiday of this deployment; Spain's national ones are built in."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
