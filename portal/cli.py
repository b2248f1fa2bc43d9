"""Command-line tools: ``flask --app wsgi portal ...``. They call the same services."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from portal import demo, mail
from portal.accounts import service as accounts
from portal.extensions import db
from portal.knowledge import service as knowledge
from portal.models import Article, ArticleStatus, Department, Holiday, Role, User
from portal.security import MIN_PASSWORD_LENGTH

portal_cli = AppGroup("portal", help="Ventanilla administration.")


@portal_cli.command("demo")
def demo_command() -> None:
    """Load the demo data (idempotent) and print the demo accounts."""
    rows = demo.load_demo()
    click.echo("Demo accounts (email / password / role):")
    for account, password in rows:
        click.echo(f"  {account.email:<36} {password or '(password set elsewhere)':<20} "
                   f"{account.role.value}")


@portal_cli.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice([role.value for role in Role]), default="citizen")
@click.option("--department", "departments", multiple=True,
              help="Department slug (repeat for several).")
@click.option("--name", default="", help="Display name (defaults to the email's user part).")
@click.option("--locale", default="es", type=click.Choice(["es", "en", "ca", "eu", "gl"]))
def create_user_command(email: str, role: str, departments: tuple[str, ...], name: str,
                        locale: str) -> None:
    """Create an account. The password comes from PORTAL_NEW_PASSWORD or a prompt."""
    password = os.environ.get("PORTAL_NEW_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(
            f"The password must be at least {MIN_PASSWORD_LENGTH} characters.")
    found = []
    for slug in departments:
        department = db.session.scalar(select(Department).where(Department.slug == slug))
        if department is None:
            raise click.ClickException(f"No department with slug {slug!r}.")
        found.append(department)
    try:
        user = accounts.create_user(email, password, name or email.split("@")[0], Role(role),
                                    locale, found)
    except accounts.AccountError as error:
        raise click.ClickException(f"Could not create the account: {error}.") from None
    db.session.commit()
    click.echo(f"Created {user.email} ({user.role.value}).")


@portal_cli.command("worker")
@click.option("--burst", is_flag=True,
              help="Do the jobs queued now and one round of periodic work, then stop.")
def worker_command(burst: bool) -> None:
    """Run the background jobs from Redis (PORTAL_REDIS_URL): mail delivery, search index
    updates, virus scans, and the periodic work (pending mail, /stats, retention)."""
    from portal import jobs

    try:
        jobs.work(burst=burst)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from None


outbox_cli = AppGroup("outbox", help="The mail outbox.")
portal_cli.add_command(outbox_cli)


@outbox_cli.command("deliver")
def deliver_command() -> None:
    """Deliver every pending message (retries those that failed before)."""
    click.echo(f"Delivered {mail.deliver_pending()} message(s).")


stats_cli = AppGroup("stats", help="The public statistics (/stats).")
portal_cli.add_command(stats_cli)


@stats_cli.command("refresh")
def stats_refresh_command() -> None:
    """Recompute the figures /stats shows (it also does so itself when they are old)."""
    from portal.stats import public

    snapshot = public.refresh()
    click.echo(f"Figures computed at {snapshot.computed_at.isoformat(timespec='seconds')}.")


@stats_cli.command("rebuild")
def stats_rebuild_command() -> None:
    """Count every day's cases afresh into the daily rollup the figures read.

    Not needed in normal use (each change marks its day, and the figures recount the
    marked days before they read): after an upgrade of a large deployment, or after
    cases were loaded in bulk without the application.
    """
    from portal.stats import rollup

    started = time.perf_counter()
    days = rollup.rebuild()
    click.echo(f"{days} days counted in {time.perf_counter() - started:.1f} s.")


audit_cli = AppGroup("audit", help="The audit log (append-only).")
portal_cli.add_command(audit_cli)


@audit_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Only say how many entries would go.")
def audit_purge_command(dry_run: bool) -> None:
    """Delete the audit entries older than PORTAL_AUDIT_RETENTION_DAYS (run daily)."""
    from portal import audit

    days = current_app.config["PORTAL"]["AUDIT_RETENTION_DAYS"]
    count = audit.purge(days, dry_run=dry_run)
    verb = "would be deleted" if dry_run else "deleted"
    click.echo(f"{count} audit entries older than {days} days {verb}.")


@portal_cli.command("retention")
@click.option("--dry-run", is_flag=True, help="Only list what would change.")
def retention_command(dry_run: bool) -> None:
    """Anonymise the cases closed longer ago than their kind's retention period, delete
    their files and purge old sent mail (run daily; see README, Retention)."""
    from portal.privacy import service as privacy

    plan = privacy.retention_plan()
    for kind, cutoff in plan.cutoffs.items():
        click.echo(f"{kind.value}: closed before {cutoff:%Y-%m-%d}")
    if dry_run:
        for case in plan.cases:
            closed = case.closed_at or case.resolved_at
            click.echo(f"  would anonymise {case.reference} ({case.kind.value}, "
                       f"closed {closed:%Y-%m-%d})")
        click.echo(f"{len(plan.cases)} cases would be anonymised and {plan.outbox} sent "
                   "messages purged (dry run: nothing changed).")
        return
    with click.progressbar(length=len(plan.cases), label="Anonymising cases",
                           file=sys.stderr) as bar:
        summary = privacy.apply_retention(plan, progress=bar.update)
    click.echo(f"{summary['cases']} cases anonymised ({summary['files']} files deleted), "
               f"{summary['outbox']} sent messages purged; written to the audit log.")


@portal_cli.command("scan")
def scan_command() -> None:
    """Scan the attachments waiting for the virus scanner (PORTAL_CLAMD_SOCKET)."""
    from portal import scanning

    if not scanning.enabled():
        click.echo("No virus scanner is configured (PORTAL_CLAMD_SOCKET): nothing to do.")
        return
    totals = {"clean": 0, "infected": 0, "waiting": 0}
    while True:
        done = scanning.scan_pending()
        for key in ("clean", "infected"):
            totals[key] += done[key]
        totals["waiting"] = done["waiting"]
        if done["waiting"] or not (done["clean"] or done["infected"]):
            break
    click.echo(f"{totals['clean']} clean, {totals['infected']} withheld in quarantine, "
               f"{totals['waiting']} still waiting (scanner unavailable).")
    if totals["waiting"]:
        sys.exit(1)


holidays_cli = AppGroup("holidays", help="Regional and local holidays (días festivos).")
portal_cli.add_command(holidays_cli)


@holidays_cli.command("add")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("name")
def holidays_add_command(day, name: str) -> None:
    """Add a holiday (YYYY-MM-DD NAME), moving the open cases' due dates it falls within.

    Spain's national holidays are built in. The administration page does the same and
    shows first which due dates would move.
    """
    from portal.admin import service as admin

    try:
        moved = admin.add_holiday(None, day.date(), name)
    except admin.AdminError as error:
        raise click.ClickException(f"{day.date()} is already a holiday.") from error
    db.session.commit()
    click.echo(f"Added {day.date()} {name}; {len(moved)} due dates moved.")


@holidays_cli.command("list")
@click.option("--year", type=int, default=None)
def holidays_list_command(year: int | None) -> None:
    """The deployment's holidays and, for a year, the national ones too."""
    from portal import sla

    rows = db.session.scalars(select(Holiday).order_by(Holiday.day)).all()
    days = {row.day: row.name for row in rows if year is None or row.day.year == year}
    if year is not None:
        for day in sla.spanish_national_holidays(year):
            days.setdefault(day, "(national)")
    for day in sorted(days):
        click.echo(f"{day.isoformat()}  {days[day]}")


kb_cli = AppGroup("kb", help="The knowledge base.")
portal_cli.add_command(kb_cli)


@kb_cli.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--as", "author_email", default="", help="Email of the staff author to record.")
def kb_import_command(path: Path, author_email: str) -> None:
    """Import and publish a FAQ: a folder of Markdown files with front matter, or a CSV
    with title, body, department, tags and locale columns."""
    author = (accounts.find_user_by_email(author_email) if author_email else
              db.session.scalar(select(User).where(User.role == Role.ADMIN).order_by(User.id)))
    if author is None:
        raise click.ClickException("No author: create an administrator or pass --as EMAIL.")
    try:
        imported, skipped, problems = knowledge.import_faq(author, path)
    except knowledge.KnowledgeError:
        raise click.ClickException("Give a folder of .md files or a .csv file.") from None
    db.session.commit()
    click.echo(f"Imported {imported} article(s); {skipped} already there.")
    for source in problems:
        click.echo(f"  skipped {source}: title, body or locale missing or invalid", err=True)


search_cli = AppGroup("search", help="The public search index.")


@search_cli.command("reindex")
@click.option("--if-missing", is_flag=True, help="Only when there is no usable index.")
def reindex_command(if_missing: bool) -> None:
    """Rebuild the search index from the database."""
    if if_missing and not knowledge.index_is_missing():
        click.echo("The search index is in place.")
        return
    total = db.session.scalar(select(func.count(Article.id)).where(
        Article.status == ArticleStatus.PUBLISHED)) or 0
    with click.progressbar(length=total, label="Indexing", show_pos=True) as bar:
        count = knowledge.reindex(progress=bar.update)
    click.echo(f"Indexed {count} document(s).")


def register(app: Flask) -> None:
    app.cli.add_command(portal_cli)
    app.cli.add_command(search_cli)
