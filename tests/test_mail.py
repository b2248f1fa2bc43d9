"""The outbox: mail is saved with the change and delivered only after it commits."""

from portal import mail
from portal.models import OutboxMessage, OutboxStatus


def test_message_is_written_after_commit_in_the_recipients_language(app, db, make_user, outbox):
    user = make_user(locale="en", name="Ana")
    mail.queue_mail("ana@example.org", "welcome", "en", user=user)
    assert outbox() == []  # nothing leaves before the commit
    db.session.commit()
    (message,) = outbox()
    assert "Subject: Welcome to Ventanilla" in message
    assert "Hello Ana," in message
    saved = db.session.scalar(db.select(OutboxMessage))
    assert saved.status is OutboxStatus.SENT and saved.sent_at is not None


def test_spanish_message(app, db, make_user, outbox):
    user = make_user(locale="es", name="Ana")
    mail.queue_mail("ana@example.org", "welcome", "es", user=user)
    db.session.commit()
    assert "Hola, Ana:" in outbox()[0] or "Hola Ana" in outbox()[0]


def test_rolled_back_change_sends_nothing(app, db, make_user, outbox):
    user = make_user(locale="en")
    mail.queue_mail("ana@example.org", "welcome", "en", user=user)
    db.session.rollback()
    db.session.commit()
    assert outbox() == []
    assert db.session.scalar(db.select(db.func.count(OutboxMessage.id))) == 0


def test_a_savepoint_inside_the_transaction_neither_sends_nor_drops_its_mail(
        app, db, make_user, outbox):
    """A support inserted once (``begin_nested``) inside a request that also sends mail:
    the savepoint's release is not the commit, nor is its rollback the transaction's."""
    from portal.ideas import service as ideas

    user, author = make_user(locale="en", name="Ana"), make_user()
    idea = ideas.propose(author, ideas.Proposal(title="Más bancos", body="En la plaza.",
                                                language="es"))
    db.session.commit()
    mail.queue_mail("ana@example.org", "welcome", "en", user=user)
    assert ideas.support(idea, user)  # a savepoint released
    assert outbox() == []
    assert not ideas.support(idea, user)  # a savepoint rolled back (already supported)
    db.session.commit()
    assert len(outbox()) == 1


def test_unreachable_mail_server_keeps_the_message_for_a_retry(make_app, make_user, db, runner):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=9, MAIL_USE_TLS=False)
    with app.app_context():
        user = make_user(locale="es")
        mail.queue_mail(user.email, "welcome", "es", user=user)
        db.session.commit()  # delivery fails after the commit; the commit stands
        saved = db.session.scalar(db.select(OutboxMessage))
        assert saved.status is OutboxStatus.PENDING
        assert saved.attempts == 1
        assert saved.last_error
        result = app.test_cli_runner().invoke(args=["portal", "outbox", "deliver"])
        assert result.exit_code == 0
        db.session.refresh(saved)
        assert saved.attempts == 2
