"""Telling people an advisory request waits for them: the coordinator when it is submitted, the
police Prevent team when it is routed, and, before the due date, whichever of them has it
(`queue_due_reminders`, run daily by `flask --app wsgi advisory remind`).

What is sent names no speaker, question or event (those are disclosures, shown and audited
on the request's page): only that a request waits, its due date, and the link.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from core.db import db, utcnow
from core.validation import LOCAL_ZONE
from hub.records.models import AdvisoryRequest, AdvisoryStatus
from hub.records.working_days import working_days_between
from partners import notifications

#: A reminder goes to whoever has the request when it is due within this many working days
#: (or overdue), once for each step it waits at.
REMIND_WORKING_DAYS = 2

#: Who is told at each step: the organisation the request waits for, and the roles there.
COORDINATOR_ROLES = ("coordinator",)
POLICE_ROLES = ("prevent_lead",)


def _link(request: AdvisoryRequest) -> str:
    return f"/advisory/{request.id}"


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


def waiting_for_coordinator(request: AdvisoryRequest) -> None:
    """A new request waits for the regional coordinator to route it."""
    notifications.notify(
        request.coordinator_org_id,
        "advisory.waiting_to_route",
        "An advisory request is waiting for you to route it",
        f"It is due by {_day(request.due_on)}.",
        link=_link(request),
        email_roles=COORDINATOR_ROLES,
        email_text=[
            "An institution in your region has asked for advice about a speaker. Route the "
            "request to a police Prevent team, or decline it, from its page in the hub.",
            f"An answer is due by {_day(request.due_on)}.",
        ],
    )


def waiting_for_police(request: AdvisoryRequest) -> None:
    """A routed request waits for the police Prevent team to answer."""
    assert request.police_org_id is not None
    notifications.notify(
        request.police_org_id,
        "advisory.waiting_for_answer",
        "An advisory request is waiting for your answer",
        f"It is due by {_day(request.due_on)}.",
        link=_link(request),
        email_roles=POLICE_ROLES,
        email_text=[
            "The regional coordinator has routed an advisory request about a speaker to your "
            "team. Read it and answer it from its page in the hub.",
            f"The answer is due by {_day(request.due_on)}.",
        ],
    )


def _waiting_with(request: AdvisoryRequest) -> tuple[object, tuple[str, ...]] | None:
    if request.status == AdvisoryStatus.SUBMITTED:
        return request.coordinator_org_id, COORDINATOR_ROLES
    if request.status == AdvisoryStatus.ROUTED and request.police_org_id is not None:
        return request.police_org_id, POLICE_ROLES
    return None


def queue_due_reminders(today: date | None = None) -> int:
    """Email a reminder about each open request due within `REMIND_WORKING_DAYS` working days
    (or overdue) to the people it waits for; each person once per request and step (the
    outbox's dedupe key). Returns how many emails were queued."""
    today = today or utcnow().astimezone(LOCAL_ZONE).date()
    queued = 0
    requests = db.session.scalars(
        sa.select(AdvisoryRequest)
        .where(AdvisoryRequest.status.in_((AdvisoryStatus.SUBMITTED, AdvisoryStatus.ROUTED)))
        .order_by(AdvisoryRequest.due_on, AdvisoryRequest.id)
    )
    for request in requests:
        if working_days_between(today, request.due_on) > REMIND_WORKING_DAYS:
            continue
        waiting = _waiting_with(request)
        if waiting is None:
            continue
        organisation_id, roles = waiting
        overdue = today > request.due_on
        subject = (
            f"An advisory request was due on {_day(request.due_on)}"
            if overdue
            else f"An advisory request is due on {_day(request.due_on)}"
        )
        what = "route or decline it" if request.status == AdvisoryStatus.SUBMITTED else "answer it"
        text = [
            f"An advisory request waiting for your organisation "
            f"{'was' if overdue else 'is'} due on {_day(request.due_on)}. Please {what} "
            "from its page in the hub.",
        ]
        for person in notifications.people_with_roles(organisation_id, roles):
            email = notifications.queue_email(
                person.email,
                subject,
                text,
                kind="advisory.due",
                dedupe_key=f"advisory-due:{request.id}:{request.status.value}:{person.id}",
                link=_link(request),
            )
            queued += email is not None
    return queued
