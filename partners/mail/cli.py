"""`flask --app wsgi mail ...`: deliver the outbox (once, or as a dedicated sender), see what
is waiting or failed, and queue failed email again after an outage."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from core.cli import unit_of_work
from partners.mail import backends, outbox, sender
from partners.models import EmailStatus

mail_group = AppGroup("mail", help="Email: the outbox and its delivery.")


@mail_group.command("deliver")
@click.option("--follow", is_flag=True, help="Keep delivering (a dedicated sender process).")
@click.option(
    "--interval",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between rounds with --follow.",
)
def deliver(follow: bool, interval: float) -> None:
    """Send the email that is due (retries included) through HUB_MAIL_BACKEND.

    Each round commits its own claims and outcomes (a long-running worker, not one unit of
    work). With --follow, set HUB_MAIL_SEND_AFTER_COMMIT=false on the web processes.
    """
    settings = current_app.config["HUB_SETTINGS"]
    backend = backends.for_settings(settings)
    click.echo(f"Delivering through {backend.describe()}.")
    if follow:
        sender.follow(interval)
        return
    done = sender.deliver_now()
    click.echo(f"Sent {done.sent}; {done.retrying} to retry; {done.failed} given up.")


@mail_group.command("status")
def status() -> None:
    """How many emails are pending, sent and failed, and the latest failures' errors."""
    counts = outbox.counts()
    click.echo(", ".join(f"{state.value}: {counts[state]}" for state in EmailStatus))
    for row in outbox.failed(limit=20):
        when = row.failed_at.isoformat(timespec="seconds") if row.failed_at else "?"
        tries = f"{row.attempts} attempt{'' if row.attempts == 1 else 's'}"
        click.echo(f"  failed {row.id} ({row.kind}) at {when} after {tries}: {row.last_error}")


@mail_group.command("retry-failed")
@unit_of_work
def retry_failed() -> None:
    """Queue every failed email again, due now (after the relay or Notify is mended)."""
    queued = outbox.retry_failed()
    click.echo(f"Queued {queued} failed email{'' if queued == 1 else 's'} again.")
