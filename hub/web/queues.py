"""Each role's work, brought to them: the queues a dashboard opens with, and the counts the
navigation shows beside the section each queue belongs to.

A queue lists what is waiting for the signed-in person to act on, not everything they may see:
the senior officer's decisions, the Prevent lead's local reviews, the events officer's drafts,
the police's and the coordinator's advisory requests, the signatory's approvals, the DPO's
suspended agreements, the administrator's locked-out people. The domains answer what waits
(`hub.records.events.queues`, `advisory`, `agreements`, `partners.lockout`); this module only
puts their answers into words and links, once, for the dashboard and the navigation alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from flask import g, url_for

from agreements import lifecycle as agreements_lifecycle
from agreements import permissions as agreements_permissions
from agreements.models import Agreement
from audit import activity as access_activity
from audit import flag_reviews
from audit import permissions as audit_permissions
from core.documents import long_date
from core.security import Actor, ActorKind
from hub.records import permissions as records_permissions
from hub.records.advisory import services as advisory
from hub.records.events import queues as event_queues
from hub.records.events.services import local_date, local_today
from hub.records.models import EVENT_STATUS_LABELS, Event
from hub.records.subject_access import requests as sar_register
from hub.records.subject_access import services as subject_access
from partners import lockout, notifications
from partners import permissions as partner_permissions
from partners.models import Person

#: The navigation section each queue's count is shown beside (its link text in `_navigation`).
EVENTS, ADVISORY, AGREEMENTS, PEOPLE, SUBJECT_ACCESS, AUDIT_LOG, INBOX = (
    "Events",
    "Advisory requests",
    "Agreements",
    "People",
    "Subject access",
    "Audit log",
    "Inbox",
)


@dataclass(frozen=True)
class WorkItem:
    """One thing waiting: what it is, where to act on it, and by when."""

    title: str
    href: str
    status: str = ""
    due_on: date | None = None
    overdue: bool = False

    @property
    def due_text(self) -> str:
        return long_date(self.due_on) if self.due_on else ""


@dataclass(frozen=True)
class WorkQueue:
    """A heading, its items (soonest first), and where the whole list lives."""

    key: str
    heading: str
    section: str
    items: list[WorkItem]
    due_label: str = "Due by"
    more: tuple[str, str] | None = None  # (link text, href) for the full list
    actions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items)


def _event_items(events: list[Event], endpoint: str) -> list[WorkItem]:
    """Events as queue items linking to `endpoint`, each due by its start (the deadline of
    everything before it)."""
    today = local_today()
    items = []
    for event in events:
        starts = local_date(event.starts_at)
        items.append(
            WorkItem(
                title=event.title,
                href=url_for(endpoint, event_id=event.id),
                status=EVENT_STATUS_LABELS[event.status],
                due_on=starts,
                overdue=starts < today,
            )
        )
    return items


def _decisions(actor: Actor) -> WorkQueue | None:
    events = event_queues.decisions_waiting(actor)
    if not events:
        return None
    return WorkQueue(
        key="decisions",
        heading="Decisions waiting for you",
        section=EVENTS,
        due_label="Decide before",
        items=_event_items(events, "events.decision"),
    )


def _reviews(actor: Actor) -> WorkQueue | None:
    events = event_queues.reviews_waiting(actor)
    if not events:
        return None
    return WorkQueue(
        key="local-reviews",
        heading="Events waiting for local review",
        section=EVENTS,
        due_label="Event starts",
        items=_event_items(events, "events.assessment"),
        more=("All events", url_for("events.index")),
    )


def _drafts(actor: Actor) -> WorkQueue | None:
    if actor.kind != ActorKind.PERSON or not records_permissions.can_host_events(actor):
        return None
    return WorkQueue(
        key="drafts",
        heading="Draft events",
        section=EVENTS,
        due_label="Event starts",
        items=_event_items(event_queues.drafts(actor), "events.show"),
        actions=[("Record an event", url_for("events.new"))],
    )


def advisory_items(actor: Actor) -> list[advisory.DashboardItem]:
    """The actor's open advisory requests (read once per request: the navigation's count and
    the dashboard both show them)."""
    cached = g.get("_advisory_items")
    if cached is None:
        cached = g._advisory_items = advisory.dashboard_items(actor)
    return cached


def _advisory(actor: Actor) -> WorkQueue | None:
    items = [
        WorkItem(
            title=f"Request from {item.requesting_org}",
            href=url_for("advisory.detail", request_id=item.id),
            status=item.status_label,
            due_on=item.due_on,
            overdue=item.overdue,
        )
        for item in advisory_items(actor)
        if item.yours
    ]
    if not items:
        return None
    heading = (
        "Advisory requests to route"
        if actor.org_kind == "regional_coordinator"
        else "Advisory requests to answer"
    )
    return WorkQueue(
        key="advisory",
        heading=heading,
        section=ADVISORY,
        items=items,
        more=("All advisory requests", url_for("advisory.index")),
    )


def _agreements(actor: Actor) -> list[WorkQueue]:
    if actor.kind != ActorKind.PERSON:
        return []

    def item(agreement: Agreement, status: str) -> WorkItem:
        return WorkItem(
            title=f"{agreement.reference}: {agreement.title}",
            href=url_for("agreements.show", agreement_id=agreement.id),
            status=status,
        )

    approvals = [item(a, "Proposed") for a in agreements_lifecycle.awaiting_approval_by(actor)]
    suspensions = []
    if actor.has_role("dpo"):
        for agreement in agreements_lifecycle.suspended(actor):
            mine = agreements_permissions.can_resume(actor, agreement)
            suspensions.append(
                item(agreement, "Suspended by you" if mine else "Suspended by another party")
            )
    queues = []
    if approvals:
        queues.append(
            WorkQueue("approvals", "Agreements waiting for your approval", AGREEMENTS, approvals)
        )
    if suspensions:
        queues.append(
            WorkQueue(
                "suspensions", "Suspended agreements: nothing is shared", AGREEMENTS, suspensions
            )
        )
    return queues


def _subject_access(actor: Actor) -> WorkQueue | None:
    if not subject_access.can_answer(actor):
        return None
    today = local_today()
    return WorkQueue(
        key="subject-access",
        heading="Subject access requests to answer",
        section=SUBJECT_ACCESS,
        due_label="Answer by",
        items=[
            WorkItem(
                title=item.reference,
                href=url_for("subject_access.show", request_id=item.id),
                status="Speaker found" if item.speaker_id else "Speaker not found yet",
                due_on=item.due_on,
                overdue=sar_register.is_overdue(item, today),
            )
            for item in sar_register.list_requests(actor, open_only=True)
        ],
        actions=[("Record a request", url_for("subject_access.new"))],
        more=("All requests", url_for("subject_access.index")),
    )


def _flags(actor: Actor) -> WorkQueue | None:
    if actor.kind != ActorKind.PERSON or not audit_permissions.can_read_log(actor):
        return None
    flags = flag_reviews.unreviewed(actor)
    if not flags:
        return None
    return WorkQueue(
        key="flags",
        heading="Unusual access to look at",
        section=AUDIT_LOG,
        due_label="On",
        items=[
            WorkItem(
                title=access_activity.RULE_TITLES[flag.rule],
                href=url_for("audit.review_flag", flag=flag.key),
                status=f"{flag.count:,} entries",
                due_on=access_activity.day_of(flag.day),
            )
            for flag in flags
        ],
        more=("Unusual access", url_for("audit.activity")),
    )


def _locked_out(actor: Actor) -> WorkQueue | None:
    person: Person | None = g.get("person")
    if person is None or not partner_permissions.can_manage_people(actor, person.organisation):
        return None
    people = [p for p in person.organisation.people if p.id != person.id]
    locks = lockout.locked_out(people)
    if not locks:
        return None
    href = url_for("partners.organisation", slug=person.organisation.slug)
    return WorkQueue(
        key="locked-out",
        heading="People locked out of signing in",
        section=PEOPLE,
        due_label="Locked until",
        items=[
            WorkItem(title=p.name, href=href, status="Locked out", due_on=None)
            for p in people
            if p.id in locks
        ],
    )


Provider = Callable[[Actor], WorkQueue | list[WorkQueue] | None]

#: In the order a dashboard shows them.
_PROVIDERS: tuple[Provider, ...] = (
    _decisions,
    _reviews,
    _advisory,
    _subject_access,
    _flags,
    _agreements,
    _locked_out,
    _drafts,
)
#: Worked out over 30 days of the log, so asked on the dashboard only, not for the navigation's
#: counts on every page.
_DASHBOARD_ONLY: frozenset[Provider] = frozenset({_flags})


def queues_for(actor: Actor, *, dashboard: bool = False) -> list[WorkQueue]:
    """The actor's queues in the order a dashboard shows them; the dashboard's include those
    too costly to count on every page. Each provider is asked once per request, however many
    times the page (its navigation, its body) needs the queues."""
    answers: dict[Provider, list[WorkQueue]] = g.setdefault("_work_queues", {})
    found: list[WorkQueue] = []
    for provider in _PROVIDERS:
        if provider in _DASHBOARD_ONLY and not dashboard:
            continue
        if provider not in answers:
            answer = provider(actor)
            answers[provider] = (
                [] if answer is None else answer if isinstance(answer, list) else [answer]
            )
        found.extend(answers[provider])
    return found


def counts(actor: Actor) -> dict[str, int]:
    """Items waiting per navigation section, with the unread inbox messages."""
    totals: dict[str, int] = {}
    for queue in queues_for(actor):
        totals[queue.section] = totals.get(queue.section, 0) + queue.count
    if actor.org_id:
        unread = notifications.unread_count(actor)
        if unread:
            totals[INBOX] = unread
    return {section: n for section, n in totals.items() if n}


def waiting(queues: Iterable[WorkQueue]) -> int:
    """How many things wait in all the queues together."""
    return sum(queue.count for queue in queues)
