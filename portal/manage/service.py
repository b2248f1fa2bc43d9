"""Managers' settings: the shared saved replies (canned responses)."""

from __future__ import annotations

from sqlalchemy import select

from portal.audit import audit
from portal.extensions import db
from portal.models import CannedResponse, Department, Role, User
from portal.permissions import PermissionDenied


def can_edit_canned(user: User) -> bool:
    return user.is_authenticated and user.has_role(Role.MANAGER)


def canned_responses() -> list[CannedResponse]:
    return list(db.session.scalars(select(CannedResponse).order_by(
        CannedResponse.department_id.is_not(None), CannedResponse.department_id,
        CannedResponse.locale, CannedResponse.title)))


def save_canned(actor: User, item: CannedResponse | None, title: str, body: str, locale: str,
                department: Department | None) -> CannedResponse:
    """Create (``item`` None) or update a saved reply."""
    if not can_edit_canned(actor):
        raise PermissionDenied
    if item is None:
        item = CannedResponse()
        db.session.add(item)
    item.title, item.body, item.locale = title, body, locale
    item.department = department
    item.updated_by_id = actor.id
    db.session.flush()
    audit("canned.saved", actor=actor, target_type="canned_response", target_id=item.id)
    return item


def delete_canned(actor: User, item: CannedResponse) -> None:
    if not can_edit_canned(actor):
        raise PermissionDenied
    audit("canned.deleted", actor=actor, target_type="canned_response", target_id=item.id)
    db.session.delete(item)
