"""Command-line tools: ``flask --app wsgi portal ...``. They call the same services."""

from __future__ import annotations

import os

import click
from flask import Flask
from flask.cli import AppGroup
from sqlalchemy import select

from portal import demo, mail
from portal.accounts import service as accounts
from portal.extensions import db
from portal.models import Department, Role
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


outbox_cli = AppGroup("outbox", help="The mail outbox.")
portal_cli.add_command(outbox_cli)


@outbox_cli.command("deliver")
def deliver_command() -> None:
    """Deliver every pending message (retries those that failed before)."""
    click.echo(f"Delivered {mail.deliver_pending()} message(s).")


def register(app: Flask) -> None:
    app.cli.add_command(portal_cli)
