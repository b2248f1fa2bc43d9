"""The ideas board: propose, support, follow, comment, answer, merge (issue 12)."""

import re
from datetime import timedelta

import feedparser
import pytest

from portal import clock
from portal.extensions import db as _db
from portal.ideas import service as ideas
from portal.models import CaseKind, Comment, Idea, IdeaFollow, IdeaStatus, IdeaVote, Role
from tests.conftest import TEST_PASSWORD


def sign_in(client, user):
    client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})


def test_a_citizen_proposes_an_idea_and_it_is_on_the_board(client, db, author, parques):
    sign_in(client, author)
    response = client.post("/ideas/new", data={
        "title": "Fuentes de agua en el parque", "body": "En verano no hay dónde beber.",
        "department": str(parques.id), "location_text": "Parque del Oeste"})
    assert response.status_code == 302
    idea = db.session.scalar(db.select(Idea))
    assert response.headers["Location"].endswith(f"/ideas/{idea.id}")
    assert idea.public and idea.author_id == author.id and idea.answer_due_at is not None
    page = client.get(f"/ideas/{idea.id}?lang=en").text
    assert "Fuentes de agua en el parque" in page and "Answer due by" in page
    board = client.get("/ideas?lang=en").text
    assert "Fuentes de agua en el parque" in board and "0 supports" in board
    assert client.get("/cases/new?kind=idea").headers["Location"].endswith("/ideas/new")


def test_bad_input_is_shown_next_to_the_field_and_kept(client, author):
    sign_in(client, author)
    response = client.post("/ideas/new?lang=en", data={"title": "", "body": "Un texto"})
    assert response.status_code == 200
    assert "Give your idea a title." in response.text and "Un texto" in response.text


def test_a_guest_is_asked_to_sign_in_and_finds_the_text_kept(client, db, author):
    response = client.post("/ideas/new", data={"title": "Carril bici en la avenida",
                                               "body": "Uniría los dos barrios."})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db.session.scalar(db.select(db.func.count(Idea.id))) == 0
    sign_in(client, author)
    page = client.get("/ideas/new?lang=en").text
    assert "Carril bici en la avenida" in page and "Uniría los dos barrios." in page
    assert "We kept what you wrote" in page


def test_supports_count_once_per_account(client, app, db, make_idea, make_user):
    idea = make_idea()
    first, second = make_user(), make_user()
    sign_in(client, first)
    client.post(f"/ideas/{idea.id}/support")
    client.post(f"/ideas/{idea.id}/support")  # the same form sent twice
    other = app.test_client()
    sign_in(other, second)
    other.post(f"/ideas/{idea.id}/support")
    db.session.expire_all()
    assert db.session.get(Idea, idea.id).vote_count == 2
    assert db.session.scalar(db.select(db.func.count(IdeaVote.id))) == 2
    # Supporting follows; withdrawing the support does not unfollow.
    assert db.session.scalar(db.select(db.func.count(IdeaFollow.id)).where(
        IdeaFollow.user_id == first.id)) == 1
    client.post(f"/ideas/{idea.id}/unsupport")
    db.session.expire_all()
    assert db.session.get(Idea, idea.id).vote_count == 1
    assert "Support this idea" in client.get(f"/ideas/{idea.id}?lang=en").text


def test_the_author_cannot_support_their_own_idea(client, db, make_idea, author):
    idea = make_idea()
    sign_in(client, author)
    assert "You proposed this idea." in client.get(f"/ideas/{idea.id}?lang=en").text
    client.post(f"/ideas/{idea.id}/support")
    db.session.expire_all()
    assert db.session.get(Idea, idea.id).vote_count == 0


def test_declining_needs_a_response_and_tells_author_and_followers_once(
        client, db, make_idea, manager, make_user, outbox):
    idea = make_idea()
    follower = make_user(locale="eu", email="jarraitzailea@example.org")
    ideas.follow(idea, follower)
    ideas.support(idea, make_user(locale="ca", email="suport@example.org"))
    db.session.commit()
    before = len(outbox())
    with pytest.raises(ideas.IdeaError) as refused:
        ideas.change_status(manager, idea, IdeaStatus.DECLINED, "  ")
    assert refused.value.code == "response_required"
    db.session.rollback()
    ideas.change_status(manager, idea, IdeaStatus.DECLINED,
                        "El parque es zona protegida: no se pueden poner bancos fijos.")
    db.session.commit()
    sent = outbox()[before:]
    to = [re.search(r"^To: (.+)$", message, re.M).group(1) for message in sent]
    assert sorted(to) == ["autora@example.org", "jarraitzailea@example.org",
                          "suport@example.org"]
    by_address = dict(zip(to, sent, strict=True))
    assert "Kaixo" in by_address["jarraitzailea@example.org"]  # Basque
    assert "Hola, Ana Autora:" in by_address["autora@example.org"]
    assert "zona protegida" in by_address["autora@example.org"]
    page = client.get(f"/ideas/{idea.id}?lang=en").text
    assert "The council's answer" in page and "zona protegida" in page
    assert "Declined" in page


def test_a_merge_moves_supports_once_and_the_old_address_redirects(
        client, app, db, make_idea, manager, make_user, outbox):
    target = make_idea(title="Más sombra en el parque")
    duplicate = make_idea(title="Árboles para dar sombra")
    both, only_old = make_user(email="ambas@example.org"), make_user(email="vieja@example.org")
    for user in (both, only_old):
        ideas.support(duplicate, user)
    ideas.support(target, both)
    db.session.commit()
    before = len(outbox())
    ideas.merge_ideas(manager, duplicate, target, "Es la misma propuesta.")
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Idea, target.id).vote_count == 2  # both counts once
    assert db.session.get(Idea, duplicate.id).vote_count == 0
    old = client.get(f"/ideas/{duplicate.id}")
    assert old.status_code == 302 and old.headers["Location"].endswith(f"/ideas/{target.id}")
    assert "merged into this one" in client.get(f"/ideas/{target.id}?lang=en").text
    assert "merged into idea" in client.get(f"/ideas/{duplicate.id}/history?lang=en").text
    moved = [message for message in outbox()[before:] if "To: vieja@example.org" in message]
    assert len(moved) == 1 and "moved-support" in moved[0]  # one email, with the link
    link = re.search(r"http://localhost(/ideas/moved-support/\S+)", moved[0]).group(1)
    stranger = app.test_client()  # the link works without signing in
    assert stranger.get(link).status_code == 200
    assert stranger.post(link).status_code == 302
    db.session.expire_all()
    assert db.session.get(Idea, target.id).vote_count == 1
    assert db.session.scalar(db.select(IdeaVote.user_id).where(
        IdeaVote.idea_id == target.id)) == both.id


def test_an_idea_past_its_answer_date_shows_overdue_until_answered(
        client, app, db, make_idea, manager):
    """Overdue until a status comes with a public response (a status alone is no
    answer)."""
    start = clock.now().replace(year=2026, month=3, day=2, hour=10)
    with clock.frozen_at(start):
        idea = make_idea()
    with clock.frozen_at(start + timedelta(days=60)):
        assert "Answer overdue since" in client.get(f"/ideas/{idea.id}?lang=en").text
        staff = app.test_client()
        sign_in(staff, manager)
        assert "Overdue since" in staff.get("/staff/ideas/?lang=en").text
        assert ideas.overdue_answers() == 1
        ideas.change_status(manager, idea, IdeaStatus.UNDER_REVIEW)  # no answer yet
        db.session.commit()
        assert "Answer overdue since" in client.get(f"/ideas/{idea.id}?lang=en").text
        ideas.change_status(manager, idea, IdeaStatus.DECLINED, "No es viable.")
        db.session.commit()
        assert "overdue" not in client.get(f"/ideas/{idea.id}?lang=en").text
        assert ideas.overdue_answers() == 0


def test_a_hidden_comment_leaves_the_public_page_and_stays_on_record(
        client, app, db, make_idea, manager, make_user):
    idea = make_idea()
    writer = make_user(email="comenta@example.org")
    comment = ideas.add_comment(idea, writer, "Mi vecino del 3º es un ladrón.")
    db.session.commit()
    ideas.moderate(manager, "hide", "Datos de terceros", idea, comment)
    db.session.commit()
    public = client.get(f"/ideas/{idea.id}?lang=en").text
    assert "ladrón" not in public and "Hidden by moderation." in public
    kept = db.session.get(Comment, comment.id)
    assert kept.body == "Mi vecino del 3º es un ladrón." and kept.hidden
    assert kept.hidden_by_id == manager.id and kept.hidden_at is not None
    assert kept.hidden_reason == "Datos de terceros"
    own = app.test_client()
    sign_in(own, writer)
    page = own.get(f"/ideas/{idea.id}?lang=en").text
    assert "Datos de terceros" in page and "ladrón" in page


def test_enough_flags_hide_an_idea_pending_review(db, make_idea, make_user, manager):
    idea = make_idea()
    for _number in range(3):
        ideas.flag(make_user(), "Publicidad", idea=idea)
    db.session.commit()
    assert idea.hidden and not idea.public and idea.hidden_by_id is None
    assert [(item.idea.id, len(item.flags)) for item in ideas.moderation_queue()] == [
        (idea.id, 3)]
    ideas.moderate(manager, "dismiss", "", idea)
    db.session.commit()
    assert idea.public and not idea.hidden and ideas.moderation_queue() == []


def test_the_atom_feed_parses(client, db, make_idea, manager):
    idea = make_idea()
    ideas.change_status(manager, idea, IdeaStatus.PLANNED, "Lo haremos en primavera.")
    db.session.commit()
    response = client.get("/ideas/feed.atom")
    assert response.mimetype == "application/atom+xml"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.bozo_exception
    titles = [entry.title for entry in feed.entries]
    assert titles[0].endswith("Prevista") and titles[1].startswith("Idea nueva")
    assert all(entry.link.endswith(f"/ideas/{idea.id}") for entry in feed.entries)


def test_typing_an_idea_suggests_matching_articles_and_ideas(
        client, db, make_idea, make_user, author, monkeypatch):
    from portal.knowledge import service as knowledge

    monkeypatch.setattr(knowledge, "SUGGESTION_MIN_SCORE", 0.0)  # a two-document index
    monkeypatch.setattr(knowledge, "SUGGESTION_NEAR_BEST", 0.0)
    editor = make_user(Role.MANAGER)
    article = knowledge.create_article(editor, knowledge.ArticleInput(
        title="Horario de las fuentes de agua", body="Las fuentes funcionan de mayo a "
        "octubre.", summary="", locale="es", department_id=None, tags=[]))
    knowledge.publish(editor, article)
    _db.session.commit()
    make_idea(title="Más fuentes de agua en los parques", body="Fuentes para beber.")
    fragment = client.get("/kb/suggest?q=fuentes+de+agua&for=idea&lang=en").text
    assert "Horario de las fuentes de agua" in fragment
    assert "Idea: Más fuentes de agua en los parques" in fragment
    sign_in(client, author)
    page = client.post("/ideas/new?lang=en", data={
        "title": "Fuentes de agua", "body": "Quiero más fuentes", "check": "1"}).text
    assert "Horario de las fuentes de agua" in page
    assert "Más fuentes de agua en los parques" in page
    assert db.session.scalar(db.select(db.func.count(Idea.id))) == 1  # nothing sent


def test_a_plan_with_a_public_response_is_an_answer(db, make_idea, manager):
    idea = make_idea()
    ideas.change_status(manager, idea, IdeaStatus.PLANNED, "Lo haremos en marzo.")
    db.session.commit()
    assert ideas.answer_state(idea) is None and idea.official_response_at is not None
    entry = idea.history[-1]
    assert (entry.from_status, entry.to_status, entry.response) == (
        IdeaStatus.SUBMITTED, IdeaStatus.PLANNED, "Lo haremos en marzo.")


def test_implementing_without_a_response_is_refused_and_duplicate_needs_a_merge(
        db, make_idea, manager, make_user):
    idea = make_idea()
    for target, code in [(IdeaStatus.IMPLEMENTED, "response_required"),
                         (IdeaStatus.DUPLICATE, "merge_instead")]:
        with pytest.raises(ideas.IdeaError) as refused:
            ideas.change_status(manager, idea, target, "")
        assert refused.value.code == code
    with pytest.raises(ideas.PermissionDenied):
        ideas.change_status(make_user(), idea, IdeaStatus.PLANNED, "Sí")


def test_the_author_edits_until_the_first_support_and_withdraws_with_a_reason(
        client, db, make_idea, author, make_user):
    from portal.models import WithdrawalReason

    idea = make_idea()
    sign_in(client, author)
    client.post(f"/ideas/{idea.id}/edit", data={"title": "Bancos a la sombra",
                                                "body": "Con respaldo."})
    db.session.expire_all()
    idea = db.session.get(Idea, idea.id)
    assert idea.title == "Bancos a la sombra" and idea.edited_at is not None
    assert [revision.title for revision in idea.revisions] == [
        "Más bancos en el parque del Oeste"]
    ideas.support(idea, make_user())
    db.session.commit()
    assert client.get(f"/ideas/{idea.id}/edit").status_code == 404
    client.post(f"/ideas/{idea.id}/withdraw", data={"reason": "solved",
                                                    "note": "Ya los han puesto."})
    db.session.expire_all()
    idea = db.session.get(Idea, idea.id)
    assert idea.status is IdeaStatus.WITHDRAWN
    assert idea.withdrawal_reason is WithdrawalReason.SOLVED
    page = client.get(f"/ideas/{idea.id}?lang=en").text
    assert "Ya los han puesto." in page and "Support this idea" not in page


def test_pre_moderated_ideas_wait_for_a_moderator(app, client, db, author, manager, parques):
    app.config["PORTAL"]["IDEAS_PREMODERATION"] = True
    idea = ideas.propose(author, ideas.Proposal(title="Un huerto urbano", body="En el solar.",
                                                language="es"))
    db.session.commit()
    assert not idea.public and idea.awaiting_approval
    assert client.get(f"/ideas/{idea.id}").status_code == 404
    assert "Un huerto urbano" not in client.get("/ideas").text
    assert [item.idea.id for item in ideas.moderation_queue()] == [idea.id]
    ideas.moderate(manager, "approve", "", idea)
    db.session.commit()
    assert client.get(f"/ideas/{idea.id}").status_code == 200
    assert "Un huerto urbano" in client.get("/ideas").text


def test_the_board_sorts_and_filters(client, db, make_idea, make_user, manager):
    quiet = make_idea(title="Idea tranquila")
    popular = make_idea(title="Idea popular")
    for _number in range(3):
        ideas.support(popular, make_user())
    ideas.change_status(manager, quiet, IdeaStatus.PLANNED, "La haremos.")
    db.session.commit()

    def titles(query):
        page = client.get(f"/ideas?{query}").text
        return re.findall(r'<h3><a href="/ideas/\d+"[^>]*>([^<]+)</a>', page)

    assert titles("sort=supported") == ["Idea popular", "Idea tranquila"]
    assert titles("sort=newest") == ["Idea popular", "Idea tranquila"]
    assert titles("sort=trending")[0] == "Idea popular"
    assert titles("sort=answered") == ["Idea tranquila"]
    assert titles("status=planned") == ["Idea tranquila"]
    assert titles("sort=nonsense&status=nonsense&department=x&page=-3") == [
        "Idea popular", "Idea tranquila"]


def test_a_picture_is_checked_kept_on_error_and_shown(client, db, author):
    import io

    from tests.cases.helpers import PDF, png

    sign_in(client, author)
    response = client.post("/ideas/new?lang=en", data={
        "title": "", "body": "Un parque infantil nuevo.",
        "attachments": (io.BytesIO(png()), "parque.png")}, content_type="multipart/form-data")
    assert response.status_code == 200 and "Give your idea a title." in response.text
    kept = re.search(r'name="kept" value="([^"]+)"', response.text).group(1)
    assert "Kept: parque.png" in response.text
    response = client.post("/ideas/new", data={"title": "Parque infantil",
                                               "body": "Un parque infantil nuevo.",
                                               "kept": kept})
    assert response.status_code == 302
    idea = db.session.scalar(db.select(Idea))
    assert idea.image_type == "image/png" and idea.image_name == "parque.png"
    image = client.get(f"/ideas/{idea.id}/image")
    assert image.status_code == 200 and image.mimetype == "image/png"
    image.close()
    refused = client.post("/ideas/new?lang=en", data={
        "title": "Otra", "body": "Con un PDF.", "attachments": (io.BytesIO(PDF), "plano.pdf")},
        content_type="multipart/form-data")
    assert refused.status_code == 200
    assert "plano.pdf is not a picture" in refused.text
    assert db.session.scalar(db.select(db.func.count(Idea.id))) == 1


def test_the_authors_and_reporters_pages_render(client, db, make_idea, author, make_user):
    idea = make_idea()
    comment = ideas.add_comment(idea, make_user(), "Buena idea.")
    db.session.commit()
    reporter = make_user()
    sign_in(client, reporter)
    assert client.get(f"/ideas/{idea.id}/flag").status_code == 200
    assert client.get(f"/ideas/{idea.id}/comments/{comment.id}/flag").status_code == 200
    assert client.post(f"/ideas/{idea.id}/flag", data={"reason": ""}).status_code == 400
    client.post(f"/ideas/{idea.id}/comments/{comment.id}/flag", data={"reason": "Spam"})
    queue = ideas.moderation_queue()
    assert [item.comment.id for item in queue if item.comment] == [comment.id]
    assert [item.idea.id for item in queue if item.unreviewed] == [idea.id]  # new: a look
    assert client.get(f"/ideas/{idea.id}/edit").status_code == 404  # not the author's
    client.post("/logout")
    sign_in(client, author)
    assert client.get(f"/ideas/{idea.id}/withdraw").status_code == 200


def test_staff_link_an_idea_and_a_case_and_the_public_sees_only_a_count(
        app, client, db, make_idea, make_case, make_user, parques):
    idea = make_idea()
    case = make_case(kind=CaseKind.COMPLAINT,
                     subject="Bancos rotos en el parque", department_id=parques.id)
    agent = make_user(Role.AGENT, departments=[parques])
    staff = app.test_client()
    sign_in(staff, agent)
    response = staff.post("/staff/ideas/links", data={"idea": str(idea.id),
                                                      "reference": case.reference,
                                                      "back": "case"})
    assert response.headers["Location"].endswith(f"/staff/cases/{case.reference}")
    assert f"Idea {idea.id}: " in staff.get(f"/staff/cases/{case.reference}?lang=en").text
    assert case.reference in staff.get(f"/staff/ideas/{idea.id}?lang=en").text
    public = client.get(f"/ideas/{idea.id}?lang=en").text
    assert "1 case sent to the council" in public and case.reference not in public
    outsider = make_user(Role.AGENT)  # no department: cannot open the case
    other = app.test_client()
    sign_in(other, outsider)
    other.post("/staff/ideas/links", data={"idea": str(idea.id), "reference": case.reference})
    assert len(ideas.linked_cases(idea)) == 1


def test_a_support_keeps_the_page_cache_and_an_answer_renews_it(app, db, make_idea, manager,
                                                                make_user):
    cache = app.extensions["portal_page_cache"]
    idea = make_idea()
    before = cache.generation()
    ideas.support(idea, make_user())
    ideas.add_comment(idea, make_user(), "De acuerdo.")
    db.session.commit()
    assert cache.generation() == before  # no kept page shows the counts
    ideas.change_status(manager, idea, IdeaStatus.PLANNED, "En primavera.")
    db.session.commit()
    assert cache.generation() != before  # search results show the idea's answer


def test_supports_age_out_of_trending(db, make_idea, make_user):
    start = clock.now().replace(year=2026, month=5, day=4, hour=10)
    with clock.frozen_at(start):
        old, new = make_idea(title="Antigua"), make_idea(title="Reciente")
        early, late = make_user(), make_user()
        ideas.support(old, early)
        db.session.commit()
    with clock.frozen_at(start + timedelta(days=31)):
        ideas.support(new, late)
        ideas.support(old, late)
        db.session.commit()
        assert (old.recent_votes, new.recent_votes) == (2, 1)
        assert ideas.refresh_trending() >= 1
        db.session.commit()
        db.session.expire_all()
        assert (old.recent_votes, old.vote_count) == (1, 2)
        ideas.withdraw_support(old, early)  # an old support: only the total changes
        db.session.commit()
        assert (old.recent_votes, old.vote_count) == (1, 1)
        page = ideas.board(ideas.BoardQuery(sort="trending"))
        assert [idea.title for idea in page.ideas] == ["Reciente", "Antigua"]
        assert page.trending == {new.id: 1, old.id: 1}
