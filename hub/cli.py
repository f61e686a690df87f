"""`flask --app wsgi hub ...` and `... db ...`: demo data and migrations."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from audit import log as audit_log
from core import migrations
from core.cli import CliInputError, translate_errors
from core.db import db, transaction
from hub import demo
from hub.records import cli as records_cli
from partners import signin
from partners.models import Person

hub_group = AppGroup("hub", help="Demo data and housekeeping.")
for _command in records_cli.COMMANDS:
    hub_group.add_command(_command)
db_group = AppGroup("db", help="Database schema (Alembic migrations).")


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION."""
    migrations.upgrade(revision=revision)
    click.echo(f"Database at {migrations.current_revision()}")


@db_group.command("current")
def db_current() -> None:
    """Print the database's migration and the newest one available."""
    click.echo(f"current: {migrations.current_revision()}  head: {migrations.head_revision()}")


@hub_group.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Do nothing if the hub already has data.")
@translate_errors
def seed_demo(if_empty: bool) -> None:
    """Create the fictional Northshire region and print its sign-in details."""
    settings = current_app.config["HUB_SETTINGS"]
    if settings.env == "production":
        raise CliInputError("refusing to seed demo data into a production hub")
    with transaction():
        if demo.is_seeded():
            if if_empty:
                click.echo("The hub already has data; demo not seeded.")
                return
            raise CliInputError("the hub already has organisations; seed only an empty hub")
        password, accounts = demo.seed_demo()
    text = demo.credentials_text(settings.base_url, password, accounts)
    path = demo.write_credentials(settings.instance_path, text)
    click.echo(text)
    click.echo(f"(kept in {path})")


@hub_group.command("demo-credentials")
def demo_credentials() -> None:
    """Print the demo's sign-in details for the address the hub is served on (HUB_BASE_URL),
    keeping that address in instance/demo-credentials.txt, and the audit log's origin."""
    settings = current_app.config["HUB_SETTINGS"]
    text = demo.readdress_credentials(settings.instance_path, settings.base_url)
    if text is None:
        click.echo("No demo sign-in details here: seed the demo with `make seed`.")
        return
    click.echo(text)
    origin = audit_log.origin()
    click.echo(f"Audit log origin: {origin}")
    if origin != settings.origin:
        click.echo("  (the log keeps the origin it was created with; a log's origin never changes)")


@hub_group.command("demo-code")
@click.argument("email")
def demo_code(email: str) -> None:
    """Print the current TOTP code of a demo account (development only)."""
    settings = current_app.config["HUB_SETTINGS"]
    if not settings.is_development:
        raise CliInputError("demo-code works only in development")
    person = db.session.scalar(sa.select(Person).where(Person.email == email.strip().lower()))
    if person is None or not person.email.endswith(".example"):
        raise CliInputError(f"no demo account {email!r}")
    code = signin.current_totp_code(person)
    if code is None:
        raise CliInputError(f"{email} has no authenticator set up yet")
    click.echo(code)
