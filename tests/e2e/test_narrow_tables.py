"""At 375 px the citizen's table of cases reflows and references stay whole (item 10)."""

from pathlib import Path

from portal.extensions import db
from portal.models import Case, CaseKind, CaseStatus, User
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import assert_accessible

SUBJECTS = ["Farola apagada delante del número 12 de la calle Mayor desde hace semanas",
            "Contenedor de vidrio desbordado", "Bache"]


def test_my_cases_at_375_px(live_server, browser):
    live_server.make_user("ana@example.org")
    with live_server.app.app_context():
        user = db.session.scalar(db.select(User).where(User.email == "ana@example.org"))
        for number, subject in enumerate(SUBJECTS):
            db.session.add(Case(reference=f"Q-5RPA-D8D{number}", kind=CaseKind.QUESTION,
                                subject=subject, body="…", contact_name="Ana Soler",
                                contact_email=user.email, citizen_id=user.id,
                                status=list(CaseStatus)[number], language="es"))
        db.session.commit()
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login?lang=es")
        page.fill("#email", "ana@example.org")
        page.fill("#password", TEST_PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.goto(f"{live_server.url}/account/cases?lang=es")
        folder = Path("test-artifacts")
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / "my_cases_375.png"), full_page=True)
        # Nothing is cut off or needs sideways scrolling.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        table = page.locator("table.table-stack")
        assert table.evaluate("t => t.scrollWidth <= t.clientWidth")
        # Every cell is visible and says which column it is.
        for cell in page.locator("table.table-stack td").all():
            assert cell.is_visible()
            assert cell.get_attribute("data-label")
        # A reference is one line: one box per link, never broken mid-code.
        for link in page.locator("table.table-stack a.reference").all():
            assert link.evaluate("a => a.getClientRects().length") == 1
        assert_accessible(page)
    finally:
        context.close()


def test_staff_queue_at_375_px(live_server, browser):
    from portal.models import Role

    live_server.make_user("agente@example.org", role=Role.MANAGER)
    with live_server.app.app_context():
        for number, subject in enumerate(SUBJECTS):
            db.session.add(Case(reference=f"C-7K3M-9XQ{number}", kind=CaseKind.COMPLAINT,
                                subject=subject, body="…", contact_name="Ana Soler",
                                contact_email="ana@example.org", language="es"))
        db.session.commit()
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/login?lang=es")
        page.fill("#email", "agente@example.org")
        page.fill("#password", TEST_PASSWORD)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        page.goto(f"{live_server.url}/staff/?queue=triage&lang=es")
        folder = Path("test-artifacts")
        folder.mkdir(exist_ok=True)
        page.screenshot(path=str(folder / "staff_queue_375.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        cells = page.locator("table.table-stack td").all()
        assert len(cells) == 3 * 5
        for cell in cells:
            assert cell.is_visible()
        for reference in page.locator("table.table-stack .reference").all():
            assert reference.evaluate("r => r.getClientRects().length") == 1
        assert_accessible(page)
    finally:
        context.close()
