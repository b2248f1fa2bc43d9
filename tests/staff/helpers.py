"""What staff tests share: a quiet Monday, a signed-in client, a guest's case, a queue cell."""

import re
from datetime import UTC, datetime

from tests.cases.helpers import complaint_form
from tests.cases.test_intake import submit

# A Monday with no holiday in the two weeks after it (Madrid time: 11:00).
MONDAY_MORNING = datetime(2026, 11, 16, 10, 0, tzinfo=UTC)


def deadline_cell(page: str, reference: str) -> list[str]:
    """The texts in the queue's "Next deadline" cell of the row of ``reference``."""
    row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*{reference}(?:(?!</tr>).)*</tr>", page, re.S)
    cell = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0), re.S)[-1]
    return [text for text in (re.sub(r"\s+", " ", part).strip()
                              for part in re.split(r"<[^>]+>", cell)) if text]


def sign_in(app, user):
    from portal.accounts import service as accounts
    from portal.extensions import db

    client = app.test_client()
    token = accounts.start_session(user)
    db.session.commit()
    with client.session_transaction() as session:
        session["_user_id"] = token
    return client


def guest_case(app, department, **form):
    citizen = app.test_client()
    response = submit(citizen, complaint_form(topic=f"department-{department.id}", **form))
    reference = re.search(r"/cases/([^/]+)/submitted", response.headers["Location"]).group(1)
    return citizen, reference
