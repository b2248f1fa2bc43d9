"""Twenty people support one idea at the same moment, over real HTTP (issue 12).

The portal runs under gunicorn with two worker processes and four threads each, so the
supports really overlap: a count kept by read-modify-write, or an UPDATE that collides
with the idea row's version column, would lose supports or fail someone's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from portal.accounts import service as accounts
from portal.extensions import db
from portal.ideas import service as ideas
from portal.models import Idea, IdeaVote, Role
from tests.conftest import TEST_PASSWORD
from tests.served import Browser, served_portal

pytestmark = pytest.mark.served
PEOPLE = 20


def test_twenty_concurrent_supports_count_exactly(make_app, database_url, tmp_path):
    app = make_app()
    with app.app_context():
        author = accounts.create_user("autora@example.org", TEST_PASSWORD, "Autora",
                                      Role.CITIZEN, "es")
        for number in range(PEOPLE):
            accounts.create_user(f"vecino{number}@example.org", TEST_PASSWORD,
                                 f"Vecino {number}", Role.CITIZEN, "es")
        db.session.commit()
        idea = ideas.propose(author, ideas.Proposal(title="Más bancos", body="En la plaza.",
                                                    language="es"))
        db.session.commit()
        idea_id = idea.id
    with served_portal(tmp_path, database_url, workers=2) as portal:
        browsers = []
        for number in range(PEOPLE):
            browser = Browser(portal.url)
            response = browser.post("/login", {"email": f"vecino{number}@example.org",
                                               "password": TEST_PASSWORD}, form_page="/login")
            assert response.status_code == 302, response.text[:500]
            # Each one's form, loaded beforehand, so that only the supports overlap.
            browser.token = browser.csrf_token(f"/ideas/{idea_id}")
            browsers.append(browser)

        def support(browser):
            return browser.request("POST", f"/ideas/{idea_id}/support",
                                   urlencode({"csrf_token": browser.token}).encode(),
                                   {"Content-Type": "application/x-www-form-urlencoded"})

        with ThreadPoolExecutor(PEOPLE) as pool:
            answers = list(pool.map(support, browsers))
        # One of them sends the same form again: it still counts once.
        answers.append(support(browsers[0]))
    assert [answer.status_code for answer in answers] == [302] * (PEOPLE + 1)
    with app.app_context():
        assert db.session.get(Idea, idea_id).vote_count == PEOPLE
        assert db.session.scalar(select(func.count(IdeaVote.id))) == PEOPLE
