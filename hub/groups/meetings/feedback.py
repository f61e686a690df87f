"""Feedback to member organisations after a meeting: each hears the decisions that concern
it and the actions its people own, in the hub, with an email that says only where to read them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

import sqlalchemy as sa

from audit.actions import MEETING_DIGEST_SEND
from core.db import db, utcnow
from core.errors import Conflict
from core.security import Actor
from hub.groups import calendar, permissions
from hub.groups.meetings.services import has_started, record, require_open
from hub.groups.models import GroupAction, GroupDecision, Meeting, WorkingGroup
from hub.groups.services import attendees, require_manager
from partners import notifications
from partners.models import Organisation, Person, PersonRole, Role, Status


@dataclass
class Digest:
    """What a meeting decided and asked of one member organisation."""

    organisation: Organisation
    meeting: Meeting
    decisions: list[GroupDecision] = field(default_factory=list)
    actions: list[GroupAction] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.decisions and not self.actions


def digest_for(meeting: Meeting, organisation: Organisation) -> Digest:
    """The decisions that concern `organisation` (its own, and those for every member) and the
    actions its people own."""
    decisions = [
        d
        for d in meeting.decisions
        if d.concerns_org_id is None or d.concerns_org_id == organisation.id
    ]
    actions = list(
        db.session.scalars(
            sa.select(GroupAction)
            .where(
                GroupAction.meeting_id == meeting.id,
                GroupAction.owner_org_id == organisation.id,
            )
            .order_by(GroupAction.due_on, GroupAction.created_at)
        )
    )
    return Digest(organisation, meeting, decisions, actions)


def my_digest(actor: Actor, meeting: Meeting) -> Digest:
    """The digest of the actor's own organisation (call after `get_meeting`)."""
    organisation = db.session.get(Organisation, uuid.UUID(actor.org_id))
    return digest_for(meeting, organisation)


def digest_recipients(group: WorkingGroup, organisation: Organisation) -> list[Person]:
    """Who hears about a meeting for an organisation: its Prevent leads and its named
    attendees; failing those, its administrators."""
    people = list(
        db.session.scalars(
            sa.select(Person)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(
                Person.organisation_id == organisation.id,
                Person.status == Status.ACTIVE,
                PersonRole.role == Role.PREVENT_LEAD,
            )
        ).unique()
    )
    named = [p for p in attendees(group) if p.organisation_id == organisation.id]
    found = {p.id: p for p in (*people, *named) if p.status == Status.ACTIVE}
    if not found:
        admins = db.session.scalars(
            sa.select(Person)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(
                Person.organisation_id == organisation.id,
                Person.status == Status.ACTIVE,
                PersonRole.role == Role.ORG_ADMIN,
            )
        ).unique()
        found = {p.id: p for p in admins}
    return sorted(found.values(), key=lambda p: p.name)


def _digest_body(digest: Digest) -> str:
    """The in-app message: the decisions and actions themselves (each written for the members
    they concern), nothing of any case record."""
    if digest.empty:
        return f"No decisions or actions of this meeting concern {digest.organisation.name}."
    parts = []
    if digest.decisions:
        parts.append(
            "Decisions: "
            + " ".join(f"({n}) {d.text}" for n, d in enumerate(digest.decisions, start=1))
        )
    if digest.actions:
        parts.append(
            f"Actions for {digest.organisation.name}: "
            + " ".join(
                f"({n}) {a.title} ({a.owner_person.name}, due {calendar.long_day(a.due_on)})."
                for n, a in enumerate(digest.actions, start=1)
            )
        )
    return " ".join(parts)


def send_digest(actor: Actor, meeting: Meeting) -> int:
    """After a meeting, tell each member organisation what concerns it: an in-app message to
    its Prevent leads and named attendees, and an email that says only how many decisions and
    actions there are and where to read them. Sent once; returns how many people were told."""
    group = meeting.group
    require_manager(actor, group, "meeting.digest.send")
    require_open(meeting, "sending feedback")
    if not has_started(meeting):
        raise Conflict("Feedback is sent after the meeting has been held.")
    if meeting.digest_sent_at is not None:
        raise Conflict("Feedback from this meeting has already been sent.")
    link = f"/groups/{group.id}/meetings/{meeting.id}/feedback"
    day = calendar.long_day(meeting.starts_at)
    told = 0
    organisations = 0
    for organisation in sorted(
        (
            m.organisation
            for m in group.memberships
            if permissions.is_member_org(group, m.organisation_id)
        ),
        key=lambda o: o.name,
    ):
        digest = digest_for(meeting, organisation)
        title = f"Feedback from the {group.name} meeting on {day}"
        body = _digest_body(digest)
        recipients = digest_recipients(group, organisation)
        organisations += 1
        if not recipients:
            notifications.notify(organisation.id, "meeting.digest", title, body, link=link)
            continue
        for person in recipients:
            # The email says only how many decisions and actions there are, and where to
            # read them: the inbox message (read signed in) holds what they say.
            notifications.notify(
                organisation.id,
                "meeting.digest",
                title,
                body,
                link=link,
                person_id=person.id,
                email_text=[
                    f"{len(digest.decisions)} decision(s) and {len(digest.actions)} action(s) "
                    f"of the {group.name} meeting on {day} concern {organisation.name}.",
                    "Read them in the hub.",
                ],
            )
            told += 1
    meeting.digest_sent_at = utcnow()
    db.session.flush()
    record(actor, MEETING_DIGEST_SEND, meeting, organisations=organisations, recipients=told)
    return told
