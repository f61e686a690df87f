"""The outbox: an email is a row written in the same transaction as the change that causes it,
so a change rolled back sends nothing and a change committed never loses its email. The
sender (`partners.mail.sender`) delivers the rows after the commit."""

from __future__ import annotations

import sqlalchemy as sa

from core import background
from core.db import db, utcnow
from partners.mail import sender
from partners.mail.messages import Email
from partners.models import EmailStatus, OutboxEmail


def queue(to_address: str, email: Email, *, kind: str, dedupe_key: str) -> OutboxEmail | None:
    """Queue `email` to one address, once per `dedupe_key` (None if queued before, or there
    is no address)."""
    to_address = (to_address or "").strip()
    if not to_address:
        return None
    exists = db.session.scalar(
        sa.select(OutboxEmail.id).where(OutboxEmail.dedupe_key == dedupe_key)
    )
    if exists is not None:
        return None
    row = OutboxEmail(
        to_address=to_address,
        subject=email.subject,
        body=email.text,
        html_body=email.html,
        kind=kind,
        dedupe_key=dedupe_key[:200],
        status=EmailStatus.PENDING,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    try:
        # Two transactions queueing the same reminder at once: the loser's insert fails in
        # its savepoint, and it was queued (by the winner) all the same.
        with db.session.begin_nested():
            db.session.add(row)
    except sa.exc.IntegrityError:
        return None
    background.wake_after_commit(db.session(), sender.SENDER)
    return row


def counts() -> dict[EmailStatus, int]:
    """How many emails are pending, sent and failed (for operators)."""
    rows = db.session.execute(
        sa.select(OutboxEmail.status, sa.func.count()).group_by(OutboxEmail.status)
    ).all()
    found = {status: 0 for status in EmailStatus}
    found.update({status: number for status, number in rows})
    return found


def failed(limit: int = 50) -> list[OutboxEmail]:
    """Emails given up on, newest first (what operators look at after an outage)."""
    return list(
        db.session.scalars(
            sa.select(OutboxEmail)
            .where(OutboxEmail.status == EmailStatus.FAILED)
            .order_by(OutboxEmail.failed_at.desc(), OutboxEmail.id.desc())
            .limit(limit)
        )
    )


def retry_failed() -> int:
    """Put every failed email back in the queue, due now (after an outage was mended)."""
    result = db.session.execute(
        sa.update(OutboxEmail)
        .where(OutboxEmail.status == EmailStatus.FAILED)
        .values(
            status=EmailStatus.PENDING,
            next_attempt_at=utcnow(),
            failed_at=None,
            claimed_by=None,
            claimed_until=None,
        )
    )
    if result.rowcount:
        background.wake_after_commit(db.session(), sender.SENDER)
    return result.rowcount
