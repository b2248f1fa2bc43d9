"""The route guard: every route of the URL map says who may open it, every part of its
URL is typed, and every method that changes something needs the form's CSRF token.

A new route without a decision fails here with a message that says what to add."""

from __future__ import annotations

import pytest

from portal import security
from portal.models import Role
from portal.request_limits import URL_CONVERTERS

# The routes anyone may open, each reviewed: adding @public to a view means adding it
# here too, with why it is public. (The view itself checks what it must: a guest's
# grant for a case, a token's signature, the author of an idea.)
PUBLIC = {
    # Information and the public record.
    "main.index", "main.accessibility", "main.privacy", "main.contact", "main.healthz",
    "knowledge.index", "knowledge.article", "knowledge.suggest", "knowledge.feedback",
    "ideas.board", "ideas.idea", "ideas.history", "ideas.image", "ideas.feed",
    "reports.index", "reports.report", "reports.feed", "stats.index",
    # Signing in and out, registering, passwords: before any account is known.
    "accounts.login", "accounts.logout", "accounts.register", "accounts.resend_confirmation",
    "accounts.forgot_password",
    # Writing to the administration without an account, and following it up.
    "cases.new", "cases.track", "privacy.guest_request",
    # Actions on ideas that send a visitor to sign in first, back to the idea.
    "ideas.support", "ideas.unsupport", "ideas.follow", "ideas.unfollow", "ideas.comment",
}
# Anyone may reach them, and they show a person's data once the view has checked the
# grant (a guest's browser), the emailed token or the author: never cached.
PERSONAL = {
    "accounts.reset_password", "accounts.confirm_email", "accounts.accept_invitation",
    # The second factor's code, after the right password (the session says whose).
    "accounts.second_factor_code",
    "cases.view_case", "cases.submitted", "cases.download", "cases.reply", "cases.rate",
    "cases.reopen", "cases.withdraw_consent",
    "ideas.new", "ideas.edit", "ideas.withdraw", "ideas.flag_idea", "ideas.flag_comment",
    "ideas.moved_support",
    "privacy.guest_data", "privacy.guest_download", "privacy.guest_erase",
}
HOW_TO_DECIDE = (
    "put its blueprint behind guard_blueprint(bp, Role.…), or decorate the view, directly "
    "under its @bp.route line, with @role_required(Role.…), @signed_in, @public or "
    "@public(personal=True) from portal.security (a public one is listed in PUBLIC or "
    "PERSONAL in tests/security/test_route_guard.py, with why)")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
SAMPLE = {"int": "1", "reference": "Q-0000-0000", "token": "x" * 20, "slug": "x",
          "path": "x"}


def _rules(app):
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


def _url(rule) -> str:
    """The rule's path with a value of the right type for each part."""
    names = {converter: name for name, converter in URL_CONVERTERS.items()}
    values = {argument: SAMPLE[names.get(type(converter), "path")]
              for argument, converter in rule._converters.items()}
    return rule.build(values)[1]


def test_every_route_says_who_may_open_it(app):
    undecided = sorted(f"{rule.rule} ({rule.endpoint})" for rule in _rules(app)
                       if security.access_of(app, rule.endpoint) is None)
    assert undecided == [], (
        "These routes do not say who may open them: " + HOW_TO_DECIDE + ".\n  "
        + "\n  ".join(undecided))


def test_the_public_routes_are_the_reviewed_ones(app):
    found = {rule.endpoint: security.access_of(app, rule.endpoint) for rule in _rules(app)}
    public = {endpoint for endpoint, access in found.items() if access == "public"}
    personal = {endpoint for endpoint, access in found.items() if access == "personal"}
    assert public - PUBLIC == set(), f"public, not reviewed: add to PUBLIC with why: " \
                                     f"{sorted(public - PUBLIC)}"
    assert personal - PERSONAL == set(), f"personal, not reviewed: add to PERSONAL with " \
                                         f"why: {sorted(personal - PERSONAL)}"
    assert (PUBLIC - public) | (PERSONAL - personal) == set(), "listed here, public no more"


def test_staff_areas_need_their_roles(app):
    needs = {rule.rule: security.access_of(app, rule.endpoint) for rule in _rules(app)}
    for prefix, role in (("/staff/", Role.AGENT), ("/manage/", Role.AGENT),
                         ("/manage/admin/", Role.ADMIN)):
        weaker = sorted(path for path, access in needs.items() if path.startswith(prefix)
                        and not (isinstance(access, Role) and access.at_least(role)))
        assert weaker == [], f"under {prefix}, open to less than {role}: {weaker}"


def test_every_part_of_every_url_is_typed(app):
    typed = set(URL_CONVERTERS.values())
    untyped = sorted(f"{rule.rule}: <{argument}>" for rule in _rules(app)
                     for argument, converter in rule._converters.items()
                     if type(converter) not in typed)
    assert untyped == [], (
        "Give these URL parts a type: <int:…>, <reference:…>, <token:…> or <slug:…>, "
        "or a converter of their own in portal/request_limits.py (URL_CONVERTERS):\n  "
        + "\n  ".join(untyped))


@pytest.fixture
def csrf_app(make_app):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        yield app


@pytest.mark.parametrize("role", [None, Role.ADMIN])
def test_every_state_changing_method_needs_the_csrf_token(csrf_app, make_user, role):
    from portal.accounts import service as accounts
    from portal.extensions import db

    client = csrf_app.test_client()
    if role is not None:
        user = make_user(role, locale="en")
        token = accounts.start_session(user)
        db.session.commit()
        with client.session_transaction() as session:
            session["_user_id"] = token
    expired = "The form expired or was sent twice."
    unprotected = []
    for rule in _rules(csrf_app):
        for method in sorted(rule.methods & STATE_CHANGING):
            response = client.open(_url(rule), method=method, data={"anything": "1"},
                                   headers={"Accept-Language": "en"})
            if response.status_code != 400 or expired not in response.get_data(as_text=True):
                unprotected.append(f"{method} {rule.rule}: {response.status_code}")
    assert unprotected == [], "Accepted without the CSRF token:\n  " + "\n  ".join(unprotected)
