"""Advisory requests: an institution asks its regional coordinator about one of its speakers,
the coordinator routes the question to a police Prevent team, and police answer with a rating.

A request is the one record of this issue seen outside its owner: the coordinator it is sent to
and the police team it is routed to see the speaker's name and aliases, the question and the
event's title and date, and nothing else of the institution's records. Those cross-organisation
reads are disclosures, so each is audited with the field names shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from audit import services as audit
from audit.actions import (
    ADVISORY_ANSWER,
    ADVISORY_DECLINE,
    ADVISORY_ROUTE,
    ADVISORY_SUBMIT,
    ADVISORY_WITHDRAW,
)
from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.security import Actor
from core.validation import LOCAL_ZONE, Checker
from hub.records import permissions
from hub.records.advisory import notices
from hub.records.events import services as events
from hub.records.models import (
    AdvisoryRequest,
    AdvisoryStatus,
    Distribution,
    Event,
    RecordStatus,
    Speaker,
)
from hub.records.speakers import ratings
from hub.records.speakers import services as speakers
from hub.records.working_days import add_working_days
from partners import webhooks
from partners.models import Organisation, OrganisationKind, Status

#: A request is due this many working days after it is submitted (England and Wales).
DUE_WORKING_DAYS = 10
#: States in which a request still waits for someone.
OPEN_STATES = (AdvisoryStatus.SUBMITTED, AdvisoryStatus.ROUTED)
QUESTION_MAX = 2000
NOTE_MAX = 2000

#: What the coordinator and police see of the institution's records (named so in the audit).
DISCLOSED_FIELDS = ("question", "speaker.aliases", "speaker.display_name")
DISCLOSED_EVENT_FIELDS = ("event.starts_at", "event.title")

#: Roles that see a request on each side (the institution side uses `permissions.READERS`).
COORDINATOR_SIDE_ROLES = ("coordinator", "dpo")
POLICE_SIDE_ROLES = ("prevent_lead", "dpo")

STATUS_LABELS = {
    AdvisoryStatus.SUBMITTED: "With the coordinator",
    AdvisoryStatus.ROUTED: "With police",
    AdvisoryStatus.ANSWERED: "Answered",
    AdvisoryStatus.DECLINED: "Declined",
    AdvisoryStatus.WITHDRAWN: "Withdrawn",
}


def local_today() -> date:
    """Today's date in England and Wales (due dates are UK calendar days)."""
    return utcnow().astimezone(LOCAL_ZONE).date()


# --- who sees what ------------------------------------------------------------------------


def side_of(actor: Actor, request: AdvisoryRequest) -> str | None:
    """Which party the actor is to this request: requester, coordinator, police, or none."""
    if actor.org_id is None:
        return None
    if actor.org_id == str(request.requesting_org_id) and permissions.is_reader(actor):
        return "requester"
    if actor.org_id == str(request.coordinator_org_id) and actor.has_role(*COORDINATOR_SIDE_ROLES):
        return "coordinator"
    if (
        request.police_org_id is not None
        and actor.org_id == str(request.police_org_id)
        and permissions.holds(actor, POLICE_SIDE_ROLES)
    ):
        return "police"
    return None


def can_submit(actor: Actor) -> bool:
    """Events officers and Prevent leads of a university or students' union ask."""
    return permissions.can_host_events(actor)


def _may_withdraw(actor: Actor, request: AdvisoryRequest) -> bool:
    return permissions.can_write(actor, request.requesting_org_id)


def _may_route(actor: Actor, request: AdvisoryRequest) -> bool:
    return permissions.is_coordinator(actor) and actor.org_id == str(request.coordinator_org_id)


def _may_answer(actor: Actor, request: AdvisoryRequest) -> bool:
    return (
        request.police_org_id is not None
        and permissions.is_police_prevent(actor)
        and actor.org_id == str(request.police_org_id)
    )


#: For each step: who may take it (whatever the state), and the states it can be taken from.
STEPS = {
    "withdraw": (_may_withdraw, OPEN_STATES),
    "route": (_may_route, (AdvisoryStatus.SUBMITTED,)),
    "decline": (_may_route, (AdvisoryStatus.SUBMITTED,)),
    "answer": (_may_answer, (AdvisoryStatus.ROUTED,)),
}


def can_withdraw(actor: Actor, request: AdvisoryRequest) -> bool:
    """The requesting institution's writers, while the request is still open."""
    return _may_withdraw(actor, request) and request.status in OPEN_STATES


def can_route(actor: Actor, request: AdvisoryRequest) -> bool:
    """The coordinator the request was sent to, before it is routed (routing or declining)."""
    return _may_route(actor, request) and request.status == AdvisoryStatus.SUBMITTED


def can_answer(actor: Actor, request: AdvisoryRequest) -> bool:
    """The Prevent lead of the police team the request was routed to, until it is answered."""
    return _may_answer(actor, request) and request.status == AdvisoryStatus.ROUTED


def is_overdue(request: AdvisoryRequest, today: date | None = None) -> bool:
    """Past its due date and still waiting for the coordinator or police."""
    return request.status in OPEN_STATES and (today or local_today()) > request.due_on


def _visible_clauses(actor: Actor) -> list[Any]:
    """SQL conditions, one per side the actor can be on, for the requests they see."""
    if actor.org_id is None:
        return []
    org = uuid.UUID(actor.org_id)
    clauses = []
    if permissions.is_reader(actor) and actor.org_kind in permissions.HOST_KINDS:
        clauses.append(AdvisoryRequest.requesting_org_id == org)
    if actor.org_kind == OrganisationKind.REGIONAL_COORDINATOR and actor.has_role(
        *COORDINATOR_SIDE_ROLES
    ):
        clauses.append(AdvisoryRequest.coordinator_org_id == org)
    if actor.org_kind == OrganisationKind.POLICE_PREVENT and permissions.holds(
        actor, POLICE_SIDE_ROLES
    ):
        clauses.append(AdvisoryRequest.police_org_id == org)
    return clauses


def can_list(actor: Actor) -> bool:
    """Anyone who could be a party to some request (institution staff, coordinators, police)."""
    return bool(_visible_clauses(actor))


def _audit_disclosure(actor: Actor, action: str, requests: list[AdvisoryRequest]) -> None:
    """Record what a coordinator or police officer was shown of institutions' records."""
    foreign = [r for r in requests if side_of(actor, r) in {"coordinator", "police"}]
    if not foreign:
        return
    by_owner: dict[str, list[AdvisoryRequest]] = {}
    for request in foreign:
        by_owner.setdefault(str(request.requesting_org_id), []).append(request)
    for owner, items in sorted(by_owner.items()):
        fields = list(DISCLOSED_FIELDS)
        if any(r.event_id for r in items):
            fields += DISCLOSED_EVENT_FIELDS
        audit.record(
            actor,
            action,
            "granted",
            resource_type="advisory_request",
            resource_ids=[str(r.id) for r in items],
            resource_org=owner,
            fields=fields,
            subjects=[("speaker", str(r.speaker_id)) for r in items],
        )


def _refuse_unseen(request: AdvisoryRequest, action: str) -> NotFound:
    return NotFound(
        "There is no such advisory request.",
        reason="not_party",
        audit={
            "action": action,
            "resource_type": "advisory_request",
            "resource_ids": [str(request.id)],
            "resource_org": str(request.requesting_org_id),
        },
    )


def _deny(action: str, detail: str, request: AdvisoryRequest | None = None) -> PermissionDenied:
    return PermissionDenied(
        detail,
        reason="not_permitted",
        audit={
            "action": action,
            "resource_type": "advisory_request",
            "resource_ids": [str(request.id)] if request else [],
            "resource_org": str(request.requesting_org_id) if request else None,
        },
    )


def get_request(
    actor: Actor, request_id: uuid.UUID | str, *, audit_read: bool = True
) -> AdvisoryRequest:
    """A request the actor is a party to; any other is not found (and the refusal audited)."""
    try:
        key = request_id if isinstance(request_id, uuid.UUID) else uuid.UUID(str(request_id))
    except ValueError as exc:
        raise NotFound("There is no such advisory request.") from exc
    request = db.session.get(AdvisoryRequest, key)
    if request is None:
        raise NotFound("There is no such advisory request.")
    if side_of(actor, request) is None:
        raise _refuse_unseen(request, "advisory.read")
    if audit_read:
        record_read(actor, request)
    return request


def record_read(actor: Actor, request: AdvisoryRequest) -> None:
    """Audit that a coordinator or police officer was shown the request (a disclosure)."""
    _audit_disclosure(actor, "advisory.read", [request])


def list_requests(actor: Actor, *, limit: int = 200) -> list[AdvisoryRequest]:
    """Every request the actor is a party to, most urgent first (audited when cross-org)."""
    if not can_list(actor):
        raise _deny("advisory.list", "Your roles do not include advisory requests.")
    requests = list(
        db.session.scalars(
            sa.select(AdvisoryRequest)
            .where(sa.or_(*_visible_clauses(actor)))
            .order_by(
                sa.case((AdvisoryRequest.status.in_(OPEN_STATES), 0), else_=1),
                AdvisoryRequest.due_on,
                AdvisoryRequest.submitted_at.desc(),
            )
            .limit(limit)
        )
    )
    _audit_disclosure(actor, "advisory.list", requests)
    return requests


def open_for(actor: Actor) -> list[AdvisoryRequest]:
    """Requests waiting on someone that the actor is a party to, soonest due first.

    For dashboards: show the request's reference, requesting organisation, status and due date,
    not the speaker's name (that is a disclosure, shown and audited on the request's page).
    """
    clauses = _visible_clauses(actor)
    if not clauses:
        return []
    return list(
        db.session.scalars(
            sa.select(AdvisoryRequest)
            .where(sa.or_(*clauses), AdvisoryRequest.status.in_(OPEN_STATES))
            .order_by(AdvisoryRequest.due_on, AdvisoryRequest.submitted_at)
        )
    )


def overdue_for(actor: Actor) -> list[AdvisoryRequest]:
    """Open requests past their due date that the actor is a party to (see `open_for`)."""
    today = local_today()
    return [request for request in open_for(actor) if is_overdue(request, today)]


@dataclass(frozen=True)
class DashboardItem:
    """An open request as a dashboard lists it: no speaker, question or event (no disclosure)."""

    id: str
    requesting_org: str
    status_label: str
    due_on: date
    overdue: bool
    #: The next step is the actor's (routing it, or answering it).
    yours: bool = False


def dashboard_items(actor: Actor) -> list[DashboardItem]:
    """The actor's open requests for the dashboard, overdue ones first, then by due date."""
    requests = open_for(actor)
    names = dict(
        db.session.execute(
            sa.select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({r.requesting_org_id for r in requests})
            )
        ).all()
    )
    today = local_today()
    items = [
        DashboardItem(
            id=str(r.id),
            requesting_org=names.get(r.requesting_org_id, ""),
            status_label=STATUS_LABELS[r.status],
            due_on=r.due_on,
            overdue=is_overdue(r, today),
            yours=can_route(actor, r) or can_answer(actor, r),
        )
        for r in requests
    ]
    return sorted(items, key=lambda item: (not item.overdue, item.due_on))


# --- lookups ------------------------------------------------------------------------------


def coordinator_for(region: str) -> Organisation:
    """The active regional coordinator of `region` (a clear error if the hub has none)."""
    coordinator = db.session.scalar(
        sa.select(Organisation)
        .where(
            Organisation.kind == OrganisationKind.REGIONAL_COORDINATOR,
            Organisation.region == region,
            Organisation.status == Status.ACTIVE,
        )
        .order_by(Organisation.created_at, Organisation.name)
        .limit(1)
    )
    if coordinator is None:
        message = (
            f"There is no regional Prevent coordinator for the {region} region in the hub, so "
            "the request cannot be sent. Ask the hub operator to add your region's coordinator."
        )
        raise ValidationFailed(message, errors={"_form": [message]})
    return coordinator


def police_options(request: AdvisoryRequest) -> list[Organisation]:
    """Active police Prevent teams, those of the coordinator's region first, then by name."""
    coordinator = db.session.get(Organisation, request.coordinator_org_id)
    region = coordinator.region if coordinator else ""
    teams = db.session.scalars(
        sa.select(Organisation).where(
            Organisation.kind == OrganisationKind.POLICE_PREVENT,
            Organisation.status == Status.ACTIVE,
        )
    )
    return sorted(teams, key=lambda org: (org.region != region, org.name.lower()))


def speaker_choices(actor: Actor) -> list[Speaker]:
    """The actor's organisation's speakers a request can be about."""
    if actor.org_id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(Speaker)
            .where(
                Speaker.owner_org_id == uuid.UUID(actor.org_id),
                Speaker.status == RecordStatus.ACTIVE,
            )
            .order_by(Speaker.display_name)
            .limit(2000)
        )
    )


def event_choices(actor: Actor) -> list[Event]:
    """The actor's organisation's events a request can mention (not erased), newest first."""
    if actor.org_id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(Event)
            .where(Event.owner_org_id == uuid.UUID(actor.org_id), Event.erased_at.is_(None))
            .order_by(Event.starts_at.desc())
            .limit(500)
        )
    )


# --- the steps ----------------------------------------------------------------------------


def submit_request(actor: Actor, data: dict[str, Any]) -> AdvisoryRequest:
    """Ask the region's coordinator about one of the institution's own speakers."""
    if not can_submit(actor):
        raise _deny(
            "advisory.submit",
            "Only events officers and Prevent leads of a university or students' union can ask "
            "for advice.",
        )
    check = Checker(data)
    speaker_ref = check.picked("speaker_id", "the speaker the question is about")
    event_ref = check.text("event_id", "the event", required=False, max_length=64)
    question = check.text("question", "your question", max_length=QUESTION_MAX)
    check.raise_if_any()
    # Another organisation's speaker or event answers exactly as a missing one (audited).
    speaker = speakers.get_speaker(actor, speaker_ref)
    event = events.get_event(actor, event_ref) if event_ref else None
    if speaker.status != RecordStatus.ACTIVE:
        check.add(
            "speaker_id",
            "This speaker record was merged into another; ask about the record it was merged into.",
        )
    pending = db.session.scalar(
        sa.select(AdvisoryRequest).where(
            AdvisoryRequest.speaker_id == speaker.id,
            AdvisoryRequest.requesting_org_id == uuid.UUID(actor.org_id),
            AdvisoryRequest.status.in_(OPEN_STATES),
        )
    )
    if pending is not None:
        check.add(
            "speaker_id",
            "Your organisation already has an open advisory request about this speaker, due "
            f"{pending.due_on.day} {pending.due_on:%B %Y}. Wait for its answer or withdraw it "
            "first.",
        )
    check.raise_if_any()
    organisation = db.session.get(Organisation, uuid.UUID(actor.org_id))
    coordinator = coordinator_for(organisation.region)
    now = utcnow()
    request = AdvisoryRequest(
        requesting_org_id=organisation.id,
        coordinator_org_id=coordinator.id,
        speaker_id=speaker.id,
        event_id=event.id if event else None,
        question=question,
        status=AdvisoryStatus.SUBMITTED,
        submitted_by_id=actor.person_id,
        submitted_at=now,
        due_on=add_working_days(now.astimezone(LOCAL_ZONE).date(), DUE_WORKING_DAYS),
    )
    db.session.add(request)
    db.session.flush()
    audit.record(
        actor,
        ADVISORY_SUBMIT,
        "granted",
        resource_type="advisory_request",
        resource_ids=[str(request.id)],
        resource_org=str(request.requesting_org_id),
        fields=["question", "speaker_id", *(["event_id"] if event else [])],
        subjects=[("speaker", str(speaker.id))],
        coordinator_org=str(coordinator.id),
    )
    notices.waiting_for_coordinator(request)
    return request


def route_request(actor: Actor, request: AdvisoryRequest, data: dict[str, Any]) -> AdvisoryRequest:
    """The coordinator sends the request on to a police Prevent team, with a routing note."""
    require_step(actor, request, "route")
    check = Checker(data)
    team = check.one_of(
        "police_org_id",
        {str(org.id): org for org in police_options(request)},
        "the police Prevent team",
        refusal="Choose one of the police Prevent teams listed.",
    )
    note = check.text("routing_note", "a note for the police team", max_length=NOTE_MAX)
    check.raise_if_any()
    assert team is not None
    request.status = AdvisoryStatus.ROUTED
    request.police_org_id = team.id
    request.routing_note = note
    request.routed_by_id = actor.person_id
    request.routed_at = utcnow()
    db.session.flush()
    audit.record(
        actor,
        ADVISORY_ROUTE,
        "granted",
        resource_type="advisory_request",
        resource_ids=[str(request.id)],
        resource_org=str(request.requesting_org_id),
        fields=["police_org_id", "routing_note", "status"],
        subjects=[("speaker", str(request.speaker_id))],
        police_org=str(team.id),
    )
    notices.waiting_for_police(request)
    return request


def decline_request(
    actor: Actor, request: AdvisoryRequest, data: dict[str, Any]
) -> AdvisoryRequest:
    """The coordinator declines to route the request, saying why."""
    require_step(actor, request, "decline")
    check = Checker(data)
    reason = check.text("decline_reason", "why the request is declined", max_length=NOTE_MAX)
    check.raise_if_any()
    request.status = AdvisoryStatus.DECLINED
    request.decline_reason = reason
    request.routed_by_id = actor.person_id
    request.routed_at = utcnow()
    db.session.flush()
    audit.record(
        actor,
        ADVISORY_DECLINE,
        "granted",
        resource_type="advisory_request",
        resource_ids=[str(request.id)],
        resource_org=str(request.requesting_org_id),
        fields=["decline_reason", "status"],
        subjects=[("speaker", str(request.speaker_id))],
    )
    return request


def answer_request(actor: Actor, request: AdvisoryRequest, data: dict[str, Any]) -> AdvisoryRequest:
    """Police answer with a red, amber or green rating, a short rationale and an expiry date."""
    require_step(actor, request, "answer")
    # Answering a routed request is the police's choice to share the answer: the rating is
    # shareable, and what of it reaches the coordinator is the agreement's schedule (the
    # institution that asked gets the rating, never the rationale: `ratings.answer_view`).
    answer = {key: value for key, value in data.items() if key != "distribution"}
    rating_row = ratings.issue_rating(
        actor, request.speaker, {**answer, "distribution": Distribution.SHAREABLE.value}
    )
    request.status = AdvisoryStatus.ANSWERED
    request.rating_id = rating_row.id
    request.answered_by_id = actor.person_id
    request.answered_at = utcnow()
    db.session.flush()
    audit.record(
        actor,
        ADVISORY_ANSWER,
        "granted",
        resource_type="advisory_request",
        resource_ids=[str(request.id), str(rating_row.id)],
        resource_org=str(request.requesting_org_id),
        fields=["rating_id", "status"],
        subjects=[("speaker", str(request.speaker_id))],
    )
    webhooks.advisory_answered(request)
    return request


def withdraw_request(actor: Actor, request: AdvisoryRequest) -> AdvisoryRequest:
    """The requesting institution withdraws a request that has not been answered."""
    require_step(actor, request, "withdraw")
    request.status = AdvisoryStatus.WITHDRAWN
    db.session.flush()
    audit.record(
        actor,
        ADVISORY_WITHDRAW,
        "granted",
        resource_type="advisory_request",
        resource_ids=[str(request.id)],
        resource_org=str(request.requesting_org_id),
        fields=["status"],
        subjects=[("speaker", str(request.speaker_id))],
    )
    return request


def require_step(actor: Actor, request: AdvisoryRequest, step: str) -> None:
    """Refuse a step: hidden request -> 404; right party, wrong state -> 409; else 403."""
    may, states = STEPS[step]
    if may(actor, request) and request.status in states:
        return
    action = f"advisory.{step}"
    if side_of(actor, request) is None:
        raise _refuse_unseen(request, action)
    if may(actor, request):
        raise Conflict(
            f"This request is {STATUS_LABELS[request.status].lower()}, so it cannot be "
            f"{PAST[step]} now.",
            reason="wrong_state",
            audit={
                "action": action,
                "resource_type": "advisory_request",
                "resource_ids": [str(request.id)],
                "resource_org": str(request.requesting_org_id),
            },
        )
    raise _deny(action, REFUSALS[step], request)


PAST = {"withdraw": "withdrawn", "route": "routed", "decline": "declined", "answer": "answered"}
REFUSALS = {
    "withdraw": "Only events officers and Prevent leads of the requesting organisation can "
    "withdraw a request.",
    "route": "Only the regional coordinator the request was sent to can route it.",
    "decline": "Only the regional coordinator the request was sent to can decline it.",
    "answer": "Only the Prevent lead of the police team the request was routed to can answer it.",
}


# --- what each party is shown -------------------------------------------------------------


@dataclass
class RequestView:
    """One request as a party sees it: the institution everything, the others the minimum."""

    id: str
    side: str
    status: str
    status_label: str
    overdue: bool
    due_on: date
    submitted_at: Any
    requesting_org: str
    coordinator_org: str
    police_org: str | None
    speaker_name: str
    speaker_aliases: list[str]
    question: str
    event_title: str | None
    event_starts_at: Any
    routing_note: str | None
    routed_at: Any
    decline_reason: str | None
    answered_at: Any
    rating: ratings.RatingView | None
    #: Answered, but no agreement in force gives this reader the police's rating.
    rating_withheld: bool
    speaker_id: str | None
    event_id: str | None
    can_withdraw: bool
    can_route: bool
    can_answer: bool


def describe(actor: Actor, request: AdvisoryRequest) -> RequestView:
    """The fields of `request` the actor's side may see (call after `get_request`)."""
    side = side_of(actor, request)
    if side is None:
        raise _refuse_unseen(request, "advisory.read")
    orgs = {
        org.id: org.name
        for org in db.session.scalars(
            sa.select(Organisation).where(
                Organisation.id.in_(
                    [
                        request.requesting_org_id,
                        request.coordinator_org_id,
                        *([request.police_org_id] if request.police_org_id else []),
                    ]
                )
            )
        )
    }
    rating = (
        ratings.answer_view(actor, side, request.rating, request)
        if request.rating is not None
        else None
    )
    event = request.event
    return RequestView(
        id=str(request.id),
        side=side,
        status=request.status.value,
        status_label=STATUS_LABELS[request.status],
        overdue=is_overdue(request),
        due_on=request.due_on,
        submitted_at=request.submitted_at,
        requesting_org=orgs.get(request.requesting_org_id, ""),
        coordinator_org=orgs.get(request.coordinator_org_id, ""),
        police_org=orgs.get(request.police_org_id) if request.police_org_id else None,
        speaker_name=request.speaker.display_name,
        speaker_aliases=[alias.name for alias in request.speaker.aliases],
        question=request.question,
        event_title=event.title if event else None,
        event_starts_at=event.starts_at if event else None,
        # The routing note is between the coordinator and police.
        routing_note=request.routing_note if side != "requester" else None,
        routed_at=request.routed_at,
        decline_reason=request.decline_reason or None,
        answered_at=request.answered_at,
        rating=rating,
        rating_withheld=request.rating is not None and rating is None,
        speaker_id=str(request.speaker_id) if side == "requester" else None,
        event_id=str(request.event_id) if side == "requester" and request.event_id else None,
        can_withdraw=can_withdraw(actor, request),
        can_route=can_route(actor, request),
        can_answer=can_answer(actor, request),
    )
