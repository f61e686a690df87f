"""Delivering the outbox: claim the rows that are due, send each, and mark it sent, or back off
and try again (1 minute, doubling to 1 hour), giving up after 3 days (the row is marked
failed, for operators to see and retry).

A claim is one conditional UPDATE, so two senders (gunicorn workers, hosts, a dedicated
`mail deliver --follow`) never take the same row; a claim lapses after `CLAIM` so that a
sender that died mid-round does not strand its rows (such a row may then be sent twice, never
not at all). The sender runs from `flask --app wsgi mail deliver [--follow]` and from a
background thread in each web process, woken after a commit that queued email and on a timer,
as the audit log's integrator is (`audit.log`).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from core import background
from core.db import db, is_unavailable, utcnow
from partners.mail import backends
from partners.mail.backends import Backend, DeliveryFailed, Outgoing
from partners.models import EmailStatus, OutboxEmail

log = logging.getLogger(__name__)

#: The first retry waits this long; each further one twice as long, up to `LONGEST_WAIT`.
FIRST_WAIT = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=1)
#: A message still undelivered this long after it was queued is given up (marked failed).
GIVE_UP_AFTER = timedelta(days=3)
#: How long a sender's claim on a row lasts (longer than a round of sends takes).
CLAIM = timedelta(minutes=5)
#: Rows claimed per round.
BATCH = 50


@dataclass
class Round:
    """What one round of delivery did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def attempted(self) -> int:
        return self.sent + self.retrying + self.failed


def wait_after(attempts: int) -> timedelta:
    """How long to wait before the next try, after `attempts` failed ones (1 min doubling)."""
    return min(FIRST_WAIT * 2 ** max(attempts - 1, 0), LONGEST_WAIT)


def claim(session: Session, *, now: datetime, limit: int = BATCH) -> tuple[str, list[Outgoing]]:
    """Claim up to `limit` due rows for this sender (the round commits the claim before it
    sends anything); returns the claim's token and the rows. One UPDATE whose WHERE repeats
    the conditions: a row another sender claimed meanwhile no longer matches when this one
    reaches it (PostgreSQL re-checks the row after waiting for its lock; SQLite has one writer
    at a time)."""
    token = uuid.uuid4().hex
    claimable = sa.and_(
        OutboxEmail.status == EmailStatus.PENDING,
        OutboxEmail.next_attempt_at <= now,
        sa.or_(OutboxEmail.claimed_until.is_(None), OutboxEmail.claimed_until < now),
    )
    due = (
        sa.select(OutboxEmail.id)
        .where(claimable)
        .order_by(OutboxEmail.next_attempt_at, OutboxEmail.id)
        .limit(limit)
        .scalar_subquery()
    )
    session.execute(
        sa.update(OutboxEmail)
        .where(OutboxEmail.id.in_(due), claimable)
        .values(claimed_by=token, claimed_until=now + CLAIM)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(
        sa.select(
            OutboxEmail.id,
            OutboxEmail.to_address,
            OutboxEmail.subject,
            OutboxEmail.body,
            OutboxEmail.html_body,
            OutboxEmail.kind,
        )
        .where(OutboxEmail.claimed_by == token)
        .order_by(OutboxEmail.id)
    ).all()
    return token, [
        Outgoing(r.id, r.to_address, r.subject, r.body, r.html_body, r.kind) for r in rows
    ]


def _mark_sent(session: Session, token: str, row_id: int, now: datetime) -> None:
    # Once sent, the body goes: it may carry a one-time enrolment link, and the outbox is no
    # archive of what people were told (the subject, address, kind and times stay).
    session.execute(
        sa.update(OutboxEmail)
        .where(OutboxEmail.id == row_id, OutboxEmail.claimed_by == token)
        .values(
            status=EmailStatus.SENT,
            sent_at=now,
            body="",
            html_body="",
            attempts=OutboxEmail.attempts + 1,
            last_error=None,
            claimed_by=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )


def _mark_failed_attempt(
    session: Session, token: str, row_id: int, failure: DeliveryFailed, now: datetime
) -> EmailStatus:
    row = session.execute(
        sa.select(OutboxEmail.attempts, OutboxEmail.created_at).where(
            OutboxEmail.id == row_id, OutboxEmail.claimed_by == token
        )
    ).one_or_none()
    if row is None:  # the claim lapsed and another sender has it now
        return EmailStatus.PENDING
    attempts = row.attempts + 1
    give_up = failure.permanent or now + wait_after(attempts) - row.created_at > GIVE_UP_AFTER
    values: dict = {
        "attempts": attempts,
        "last_error": failure.reason,
        "claimed_by": None,
        "claimed_until": None,
    }
    if give_up:
        values.update(status=EmailStatus.FAILED, failed_at=now)
    else:
        values.update(next_attempt_at=now + wait_after(attempts))
    session.execute(
        sa.update(OutboxEmail)
        .where(OutboxEmail.id == row_id, OutboxEmail.claimed_by == token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return EmailStatus.FAILED if give_up else EmailStatus.PENDING


def deliver(
    session: Session, backend: Backend, *, now: datetime | None = None, limit: int = BATCH
) -> Round:
    """One round: claim what is due, send it, record each outcome in its own commit. The round
    is the sender's edge: it commits the claim before any slow send, and each outcome as soon
    as it is known, so a crash mid-round loses at most the outcome of the message in hand."""
    now = now or utcnow()
    done = Round()
    token, claimed = claim(session, now=now, limit=limit)
    session.commit()
    for message in claimed:
        try:
            backend.send(message)
        except DeliveryFailed as exc:
            failure = exc
        except Exception as exc:  # a fault in a backend loses no mail: it is retried
            failure = DeliveryFailed(type(exc).__name__)
        else:
            _mark_sent(session, token, message.id, now)
            session.commit()
            done.sent += 1
            continue
        outcome = _mark_failed_attempt(session, token, message.id, failure, now)
        session.commit()
        if outcome == EmailStatus.FAILED:
            done.failed += 1
            log.error("email %s (%s) given up: %s", message.id, message.kind, failure.reason)
        else:
            done.retrying += 1
            log.warning(
                "email %s (%s) not sent, will retry: %s", message.id, message.kind, failure.reason
            )
    return done


def deliver_now() -> Round:
    """One round in the current app's session, through the configured backend."""
    settings = current_app.config["HUB_SETTINGS"]
    return deliver(db.session(), backends.for_settings(settings))


# --- the dedicated sender ------------------------------------------------------------------

#: The longest pause between rounds while the database is away.
MAX_BACKOFF = 60.0


def follow(interval: float, *, stop: threading.Event | None = None) -> None:
    """`mail deliver --follow`: a round every `interval` seconds (sooner while there is more
    to send) until `stop` is set. A database fault is logged and retried with backoff; it
    never ends the loop."""
    stop = stop or threading.Event()
    pause = interval
    while not stop.is_set():
        try:
            done = deliver_now()
            pause = 0.0 if done.attempted >= BATCH else interval
        except Exception as exc:
            _discard_session()
            pause = min(MAX_BACKOFF, max(pause * 2, 0.5))
            what = "database unavailable" if is_unavailable(exc) else "mail delivery failed"
            log.warning("%s (%s); retrying in %.1f s", what, type(exc).__name__, pause)
        stop.wait(pause)


def _discard_session() -> None:
    try:
        db.session.rollback()
    except Exception:  # the connection is gone: a new session gets a new one
        db.session.remove()


# --- sending after commit, in each web process ---------------------------------------------


def deliver_opportunistically(app: Flask) -> Round | None:
    """A round with a session of its own; any fault (the database away, the relay down) is
    logged by its class and leaves the rows for a later round."""
    try:
        with app.app_context():
            backend = backends.for_settings(app.config["HUB_SETTINGS"])
            with Session(bind=app.extensions["hub_db_engine"], expire_on_commit=False) as session:
                return deliver(session, backend)
    except Exception as exc:  # never the thread's end: the next round tries again
        if is_unavailable(exc):
            log.info("mail delivery deferred: the database is unavailable (%s)", type(exc).__name__)
        else:
            log.error("mail delivery round failed (%s)", type(exc).__name__)
        return None


def _send_round(app: Flask) -> bool:
    done = deliver_opportunistically(app)
    return done is not None and done.attempted >= BATCH  # more is due: go on at once


#: Sending the outbox, in each web process (`core.background`): woken after a commit that
#: queued email, and every HUB_MAIL_SEND_INTERVAL_SECONDS for retries and for rows another
#: process queued.
SENDER = background.Kind(
    name="mail-sender",
    round=_send_round,
    after_commit=lambda app: app.config["HUB_SETTINGS"].mail_send_after_commit,
    interval=lambda app: app.config["HUB_SETTINGS"].mail_send_interval_seconds,
)


def start_sending(app: Flask) -> None:
    """Send what is due now, then after commits and on the timer, in this process and in
    every process forked from it (gunicorn workers)."""
    background.start(app, SENDER)


def stop_sending(app: Flask) -> None:
    """Stop this process's background sender for `app` (before its engine is disposed)."""
    background.stop(app, SENDER)
