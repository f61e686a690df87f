"""`flask --app wsgi advisory ...`: reminders before advisory requests' due dates."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from core.cli import unit_of_work
from hub.records.advisory import notices

advisory_group = AppGroup("advisory", help="Advisory requests to the police.")


@advisory_group.command("remind")
@unit_of_work
def remind() -> None:
    """Email reminders about open requests due within 2 working days (or overdue), once each
    (run it daily, like `agreements remind`)."""
    queued = notices.queue_due_reminders()
    click.echo(f"Queued {queued} advisory reminder{'' if queued == 1 else 's'}.")
