"""The register of subject access requests a DPO's organisation received: when each arrived,
when its answer is due, which speaker record it concerns, and whether it has been answered.

The due date is the ICO's: one calendar month from the day the request arrived (the last day of
the next month when it has no such date), moved to the next working day when that falls on a
weekend or a bank holiday. The DPO's case reference is their own words, so it is kept in the
register and never in the audit log, which records only what happened to which request.
"""

from __future__ import annotations

import calendar
import uuid
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from audit import services as audit
from audit.actions import (
    SUBJECT_ACCESS_REQUEST_CLOSE,
    SUBJECT_ACCESS_REQUEST_LINK,
    SUBJECT_ACCESS_REQUEST_RECORD,
)
from core.db import db, utcnow
from core.errors import Conflict, NotFound
from core.security import Actor
from core.validation import Checker
from hub.records.events.services import local_today
from hub.records.models import SubjectAccessRequest, SubjectAccessStatus
from hub.records.speakers import services as speakers
from hub.records.subject_access.services import require_dpo
from hub.records.working_days import is_working_day

REFERENCE_MAX = 64
RESOURCE_TYPE = "subject_access_request"
#: How a request can be closed, in the words the close form offers.
CLOSINGS = {
    SubjectAccessStatus.ANSWERED: "Answered: the pack was sent",
    SubjectAccessStatus.WITHDRAWN: "Withdrawn by the person who asked",
}


def due_date(received_on: date) -> date:
    """When the answer to a request received on `received_on` is due (see the module note)."""
    year, month = (
        (received_on.year + 1, 1)
        if received_on.month == 12
        else (received_on.year, received_on.month + 1)
    )
    day = min(received_on.day, calendar.monthrange(year, month)[1])
    due = date(year, month, day)
    while not is_working_day(due):
        due += timedelta(days=1)
    return due


def is_overdue(request: SubjectAccessRequest, today: date | None = None) -> bool:
    """An open request past its due date."""
    return request.status == SubjectAccessStatus.OPEN and (today or local_today()) > request.due_on


def _audit(actor: Actor, action: str, request: SubjectAccessRequest, **details: Any) -> None:
    audit.record(
        actor,
        action,
        "granted",
        resource_type=RESOURCE_TYPE,
        resource_ids=[str(request.id)],
        resource_org=str(request.organisation_id),
        subjects=[("speaker", str(request.speaker_id))] if request.speaker_id else [],
        **details,
    )


def record_request(actor: Actor, data: dict[str, Any]) -> SubjectAccessRequest:
    """Register a request the organisation received; its due date follows from the day."""
    require_dpo(actor, SUBJECT_ACCESS_REQUEST_RECORD)
    check = Checker(data)
    received = check.date("received_on", "the date the request arrived")
    reference = check.text("reference", "your reference for the request", max_length=REFERENCE_MAX)
    if received is not None and received > local_today():
        check.add("received_on", "The date the request arrived must be today or in the past.")
    check.raise_if_any()
    assert received is not None
    assert actor.org_id is not None
    request = SubjectAccessRequest(
        organisation_id=uuid.UUID(actor.org_id),
        reference=reference,
        received_on=received,
        due_on=due_date(received),
        recorded_by_id=actor.person_id,
    )
    db.session.add(request)
    db.session.flush()
    _audit(actor, SUBJECT_ACCESS_REQUEST_RECORD, request)
    return request


def get_request(actor: Actor, request_id: str, action: str) -> SubjectAccessRequest:
    """One of the actor's organisation's requests; another's answers exactly like a missing one."""
    require_dpo(actor, action)
    try:
        key = uuid.UUID(str(request_id))
    except ValueError as exc:
        raise NotFound("There is no such subject access request.") from exc
    request = db.session.get(SubjectAccessRequest, key)
    if request is None or str(request.organisation_id) != actor.org_id:
        raise NotFound(
            "There is no such subject access request.",
            reason="not_owner" if request is not None else None,
            audit={"action": action, "resource_type": RESOURCE_TYPE},
        )
    return request


def list_requests(actor: Actor, *, open_only: bool = False) -> list[SubjectAccessRequest]:
    """The organisation's requests: open ones first, soonest due first."""
    require_dpo(actor, "subject_access.request.list")
    query = sa.select(SubjectAccessRequest).where(
        SubjectAccessRequest.organisation_id == uuid.UUID(str(actor.org_id))
    )
    if open_only:
        query = query.where(SubjectAccessRequest.status == SubjectAccessStatus.OPEN)
    query = query.order_by(
        sa.case((SubjectAccessRequest.status == SubjectAccessStatus.OPEN, 0), else_=1),
        SubjectAccessRequest.due_on,
        SubjectAccessRequest.recorded_at,
    )
    return list(db.session.scalars(query))


def _require_open(request: SubjectAccessRequest, action: str) -> None:
    if request.status != SubjectAccessStatus.OPEN:
        raise Conflict(
            "This request has been closed.",
            reason="request_closed",
            audit={
                "action": action,
                "resource_type": RESOURCE_TYPE,
                "resource_ids": [str(request.id)],
            },
        )


def link_speaker(actor: Actor, request: SubjectAccessRequest, speaker_id: str) -> None:
    """Say which of the organisation's speaker records the request concerns."""
    require_dpo(actor, SUBJECT_ACCESS_REQUEST_LINK)
    _require_open(request, SUBJECT_ACCESS_REQUEST_LINK)
    speaker = speakers.get_speaker(actor, speaker_id)
    request.speaker_id = speaker.id
    db.session.flush()
    _audit(actor, SUBJECT_ACCESS_REQUEST_LINK, request)


def close_request(actor: Actor, request: SubjectAccessRequest, data: dict[str, Any]) -> None:
    """Close a request as answered or withdrawn."""
    require_dpo(actor, SUBJECT_ACCESS_REQUEST_CLOSE)
    _require_open(request, SUBJECT_ACCESS_REQUEST_CLOSE)
    check = Checker(data)
    outcome = check.one_of(
        "outcome", {status.value: status for status in CLOSINGS}, "how the request ended"
    )
    check.raise_if_any()
    assert outcome is not None
    request.status = outcome
    request.closed_by_id = actor.person_id
    request.closed_at = utcnow()
    db.session.flush()
    _audit(actor, SUBJECT_ACCESS_REQUEST_CLOSE, request, closed_as=outcome.value)
