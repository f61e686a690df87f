"""`flask --app wsgi hub purge` and `hub import`: retention and bulk import."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa

from core.cli import CliInputError, translate_errors
from core.db import db, transaction
from core.errors import NotFound
from core.security import Actor
from hub.records import imports, retention
from partners import services as partners
from partners.models import Person


@click.command("purge")
@click.option(
    "--dry-run", is_flag=True, help="Report what would be erased or anonymised; change nothing."
)
@translate_errors
def purge(dry_run: bool) -> None:
    """Erase speakers and anonymise events whose retention date has passed.

    Speakers past their keep-until date are erased (name, aliases, affiliations, sources,
    topics, search rows, assertions, ratings and event links); events past theirs are
    anonymised (title, free text and speakers cleared) while their decision's outcome, reason
    category and date stay for the annual return. Each erasure is one audit entry.
    """
    actor = Actor.system("cli-purge")
    if dry_run:
        report = retention.purge(actor, dry_run=True)
        db.session.rollback()  # a dry run writes nothing, whatever happened on the way
    else:
        with transaction():
            report = retention.purge(actor)
    for line in report.lines():
        click.echo(line)


@click.group("import")
def import_group() -> None:
    """Bulk import of speakers and events from CSV files (all rows or none)."""


def _import_actor(org_slug: str, as_email: str | None) -> tuple[Actor, str]:
    try:
        org = partners.get_organisation(org_slug)
    except NotFound as exc:
        raise CliInputError(f"There is no organisation '{org_slug}'.") from exc
    person = None
    if as_email:
        person = db.session.scalar(
            sa.select(Person).where(
                Person.email == as_email.strip().lower(), Person.organisation_id == org.id
            )
        )
        if person is None:
            raise CliInputError(f"{as_email} is not a person of {org.slug}.")
    return imports.import_actor(org, person), org.name


def _run_import(layout: imports.Layout, path: Path, org_slug: str, as_email: str | None) -> None:
    actor, org_name = _import_actor(org_slug, as_email)
    run = imports.import_speakers if layout is imports.SPEAKERS else imports.import_events
    steps = 2 if layout is imports.SPEAKERS else 1  # speakers: checked, then saved in batches
    try:
        parsed = imports.parse(imports.read_file(path), layout, path.name)
        with (
            click.progressbar(
                length=len(parsed.rows) * steps, label=f"Importing {layout.kind}"
            ) as bar,
            transaction(),
        ):
            result = run(actor, parsed, bar.update)
    except imports.ImportRejected as exc:
        raise CliInputError(exc.report()) from exc
    click.echo(f"Imported {result.created:,} {layout.kind} into {org_name}.")
    for line in result.left_out():
        click.echo(line)


_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
_ORG = click.option("--org", "org_slug", required=True, help="Slug of the owning organisation.")
_AS = click.option(
    "--as",
    "as_email",
    default=None,
    help="Email of the organisation's events officer or Prevent lead the import is made as "
    "(recorded as the creator and in the audit log); default: the hub operator for the org.",
)


@import_group.command(
    "speakers",
    help="Import speakers from FILE (CSV, UTF-8, at most 20 MB) into an organisation's "
    "records. Every row is checked first; if any row has a problem nothing is saved, the "
    "report lists each problem's row and column, and the exit status is 2.\n\n"
    + imports.SPEAKERS.help,
)
@click.argument("file", type=_FILE)
@_ORG
@_AS
@translate_errors
def import_speakers(file: Path, org_slug: str, as_email: str | None) -> None:
    _run_import(imports.SPEAKERS, file, org_slug, as_email)


@import_group.command(
    "events",
    help="Import events from FILE (CSV, UTF-8, at most 20 MB) into an organisation's records, "
    "as drafts. Every row is checked first; if any row has a problem nothing is saved, the "
    "report lists each problem's row and column, and the exit status is 2.\n\n"
    + imports.EVENTS.help,
)
@click.argument("file", type=_FILE)
@_ORG
@_AS
@translate_errors
def import_events(file: Path, org_slug: str, as_email: str | None) -> None:
    _run_import(imports.EVENTS, file, org_slug, as_email)


COMMANDS: list[click.Command] = [purge, import_group]
