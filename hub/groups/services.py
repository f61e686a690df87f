"""Working groups: convening, the convenor, reading what a person may see, and the
multi-party agreement that must cover every member before the group holds case items.

Membership and attendees are in `membership.py`; meetings, their agenda and feedback in the
`meetings` package; actions in `actions.py`; the coordinator's regional dashboard in
`dashboard.py`. Every change is audited with ids and codes only; every refusal too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from agreements.models import (
    Agreement,
    AgreementParty,
    AgreementPurpose,
    AgreementStatus,
    EffectiveState,
)
from audit import services as audit
from audit.actions import GROUP_CONVENOR_CHANGE, GROUP_CREATE, GROUP_READ, GROUP_UPDATE
from core.db import db, utcnow
from core.errors import NotFound, PermissionDenied
from core.security import Actor
from core.validation import Checker
from hub.groups import permissions
from hub.groups.models import (
    AttendanceStatus,
    Cadence,
    GroupAttendee,
    GroupMembership,
    Meeting,
    MeetingAttendance,
    MembershipStatus,
    WorkingGroup,
)
from partners import notifications
from partners.models import Organisation, OrganisationKind, Person, PersonRole, Role, Status

#: The purpose every read of a group's case items states.
PURPOSE = "working_group_case_review"

CADENCE_LABELS = {
    Cadence.MONTHLY: "Monthly",
    Cadence.EVERY_TWO_MONTHS: "Every two months",
    Cadence.QUARTERLY: "Quarterly",
    Cadence.TERMLY: "Once a term",
    Cadence.AS_NEEDED: "When needed",
}
MEMBERSHIP_LABELS = {
    MembershipStatus.INVITED: "Invited",
    MembershipStatus.ACCEPTED: "Member",
    MembershipStatus.DECLINED: "Declined",
    MembershipStatus.LEFT: "Left",
    MembershipStatus.REMOVED: "Removed",
}
NAME_MAX = 200
TERMS_MAX = 10_000


# --- shared helpers ---------------------------------------------------------------------


def deny(action: str, detail: str, resource_type: str, resource_id: Any = None) -> PermissionDenied:
    """A refusal the edge audits (ids only)."""
    return PermissionDenied(
        detail,
        reason="not_permitted",
        audit={
            "action": action,
            "resource_type": resource_type,
            "resource_ids": [str(resource_id)] if resource_id else [],
        },
    )


def hidden(action: str, resource_type: str, resource_id: Any, what: str) -> NotFound:
    """A group's contents asked for by someone outside it: answered as if missing, audited."""
    return NotFound(
        f"There is no such {what}.",
        reason="not_member",
        audit={
            "action": action,
            "resource_type": resource_type,
            "resource_ids": [str(resource_id)],
        },
    )


def parse_id(value: Any) -> uuid.UUID | None:
    """A UUID from untrusted input, or None."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        return None


def record(actor: Actor, action: str, group: WorkingGroup, **details: Any) -> None:
    audit.record(
        actor,
        action,
        "granted",
        resource_type="working_group",
        resource_ids=[str(group.id)],
        resource_org=str(group.convening_org_id),
        **details,
    )


# --- reading ----------------------------------------------------------------------------


def _load(group_id: Any) -> WorkingGroup | None:
    key = parse_id(group_id)
    return db.session.get(WorkingGroup, key) if key else None


def get_group(actor: Actor, group_id: Any, *, action: str = GROUP_READ) -> WorkingGroup:
    """A group the actor may see; any other answers as missing (and the refusal is audited)."""
    group = _load(group_id)
    if group is None:
        raise NotFound("There is no such working group.")
    if not permissions.can_view(actor, group):
        raise hidden(action, "working_group", group.id, "working group")
    return group


def get_invitation(actor: Actor, group_id: Any) -> WorkingGroup:
    """A group whose invitation the actor's organisation holds (or already a member's)."""
    group = _load(group_id)
    if group is None:
        raise NotFound("There is no such working group.")
    if not (permissions.can_see_invitation(actor, group) or permissions.can_view(actor, group)):
        raise hidden("group.invitation.read", "working_group", group.id, "working group")
    return group


def list_groups(actor: Actor) -> list[WorkingGroup]:
    """The groups the actor sees, by name."""
    if not permissions.is_person(actor):
        return []
    groups = db.session.scalars(
        sa.select(WorkingGroup)
        .join(GroupMembership, GroupMembership.group_id == WorkingGroup.id)
        .where(
            GroupMembership.organisation_id == uuid.UUID(actor.org_id),
            GroupMembership.status == MembershipStatus.ACCEPTED,
        )
        .order_by(WorkingGroup.name)
    )
    return [g for g in groups if permissions.can_view(actor, g)]


def invitations_for(actor: Actor) -> list[WorkingGroup]:
    """Groups that invited the actor's organisation and await its answer."""
    if not permissions.is_person(actor):
        return []
    groups = db.session.scalars(
        sa.select(WorkingGroup)
        .join(GroupMembership, GroupMembership.group_id == WorkingGroup.id)
        .where(
            GroupMembership.organisation_id == uuid.UUID(actor.org_id),
            GroupMembership.status == MembershipStatus.INVITED,
        )
        .order_by(WorkingGroup.name)
    )
    return [g for g in groups if permissions.can_see_invitation(actor, g)]


def can_list(actor: Actor) -> bool:
    """Whether the navigation offers working groups: coordinators, and anyone who sees a group
    or an invitation."""
    return permissions.can_create_group(actor) or bool(list_groups(actor) or invitations_for(actor))


def memberships(group: WorkingGroup, *statuses: MembershipStatus) -> list[GroupMembership]:
    """The group's memberships in the given states (all if none given), by organisation name."""
    found = [m for m in group.memberships if not statuses or m.status in statuses]
    return sorted(found, key=lambda m: m.organisation.name)


def members(group: WorkingGroup) -> list[Organisation]:
    """The accepted member organisations, by name."""
    return [m.organisation for m in memberships(group, MembershipStatus.ACCEPTED)]


def attendees(group: WorkingGroup) -> list[Person]:
    """The named attendees of member organisations, by organisation then name."""
    current = permissions.member_org_ids(group)
    people = [a.person for a in group.attendees if str(a.person.organisation_id) in current]
    return sorted(people, key=lambda p: (p.organisation.name, p.name))


# --- the agreement ----------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """Whether the group may hold case items now, and why not if it may not."""

    agreement: Agreement | None
    state: EffectiveState | None
    missing: list[Organisation] = field(default_factory=list)
    lacks_purpose: bool = False

    @property
    def covered(self) -> bool:
        """An agreement in force names the purpose and every member organisation."""
        return (
            self.agreement is not None
            and self.state == EffectiveState.ACTIVE
            and not self.missing
            and not self.lacks_purpose
        )

    @property
    def reason(self) -> str:
        """Why the group cannot hold case items, in words (empty when it can)."""
        if self.agreement is None:
            return "The group has no data-sharing agreement."
        if self.state != EffectiveState.ACTIVE:
            state = (self.state.value if self.state else "unknown").replace("_", " ")
            return f"The group's agreement {self.agreement.reference} is not in force ({state})."
        if self.lacks_purpose:
            return (
                f"The group's agreement {self.agreement.reference} does not allow working group "
                "case reviews."
            )
        if self.missing:
            names = ", ".join(o.name for o in self.missing)
            return (
                f"Not every member is a party to the group's agreement "
                f"{self.agreement.reference}: {names}."
            )
        return ""


def governing_agreement(group: WorkingGroup, now: datetime | None = None) -> Agreement | None:
    """The version of the group's agreement that governs now: the one in force in its lineage
    (an approved amendment replaces the version chosen), else the version chosen."""
    chosen = group.agreement
    if chosen is None:
        return None
    now = now or utcnow()
    in_force = db.session.scalars(
        sa.select(Agreement)
        .where(
            Agreement.lineage_id == chosen.lineage_id,
            Agreement.status == AgreementStatus.APPROVED,
            Agreement.starts_at <= now,
            Agreement.ends_at > now,
        )
        .order_by(Agreement.version.desc())
    ).first()
    if in_force is not None:
        return in_force
    newest_signed = db.session.scalars(
        sa.select(Agreement)
        .where(
            Agreement.lineage_id == chosen.lineage_id,
            Agreement.status.in_(
                [AgreementStatus.APPROVED, AgreementStatus.SUSPENDED, AgreementStatus.TERMINATED]
            ),
        )
        .order_by(Agreement.version.desc())
    ).first()
    return newest_signed or chosen


def coverage(group: WorkingGroup, now: datetime | None = None) -> Coverage:
    """Whether an agreement in force covers every member organisation for case reviews."""
    now = now or utcnow()
    agreement = governing_agreement(group, now)
    if agreement is None:
        return Coverage(None, None)
    parties = {str(p.organisation_id) for p in agreement.parties}
    missing = [o for o in members(group) if str(o.id) not in parties]
    return Coverage(
        agreement,
        agreement.state_at(now),
        missing,
        lacks_purpose=PURPOSE not in agreement.purpose_codes,
    )


def agreement_choices(actor: Actor) -> list[Agreement]:
    """Agreements the actor's organisation is party to that allow working group case reviews
    and are not over (drafts and proposals may be chosen; they govern once in force)."""
    if actor.org_id is None:
        return []
    now = utcnow()
    found = db.session.scalars(
        sa.select(Agreement)
        .join(AgreementParty, AgreementParty.agreement_id == Agreement.id)
        .join(AgreementPurpose, AgreementPurpose.agreement_id == Agreement.id)
        .where(
            AgreementParty.organisation_id == uuid.UUID(actor.org_id),
            AgreementPurpose.code == PURPOSE,
            Agreement.status.in_(
                [AgreementStatus.DRAFT, AgreementStatus.PROPOSED, AgreementStatus.APPROVED]
            ),
        )
        .order_by(Agreement.reference, Agreement.version.desc())
    ).unique()
    return [a for a in found if a.state_at(now) != EffectiveState.EXPIRED]


def _read_agreement(check: Checker, actor: Actor, value: Any) -> Agreement | None:
    if value in (None, ""):
        return None
    key = parse_id(value)
    chosen = next((a for a in agreement_choices(actor) if a.id == key), None)
    if chosen is None:
        check.add(
            "agreement_id",
            "Choose an agreement your organisation is party to that allows working group "
            "case reviews.",
        )
    return chosen


# --- convening and changing a group -----------------------------------------------------


def _validate(actor: Actor, data: dict[str, Any], group: WorkingGroup | None) -> dict[str, Any]:
    check = Checker(data)
    clean: dict[str, Any] = {
        "name": check.text("name", "the group's name", max_length=NAME_MAX),
        "region": check.text("region", "the region", max_length=100),
        "terms_of_reference": check.text(
            "terms_of_reference", "the terms of reference", max_length=TERMS_MAX
        ),
        "cadence": check.choice("cadence", Cadence, "how often the group meets"),
    }
    clean["agreement"] = _read_agreement(check, actor, data.get("agreement_id"))
    if clean["name"] and clean["region"] and check.ok("name", "region"):
        clash = db.session.scalar(
            sa.select(WorkingGroup.id).where(
                sa.func.lower(WorkingGroup.name) == clean["name"].lower(),
                WorkingGroup.region == clean["region"],
            )
        )
        if clash is not None and (group is None or clash != group.id):
            check.add("name", "The region already has a working group with this name.")
    check.raise_if_any()
    return clean


def create_group(actor: Actor, data: dict[str, Any]) -> WorkingGroup:
    """A regional coordinator convenes a group; their organisation is its first member and
    they its convenor and first named attendee."""
    permissions.require(actor, GROUP_CREATE)
    clean = _validate(actor, data, None)
    me = actor.person_id
    group = WorkingGroup(
        name=clean["name"],
        region=clean["region"],
        terms_of_reference=clean["terms_of_reference"],
        cadence=clean["cadence"],
        agreement=clean["agreement"],
        convening_org_id=uuid.UUID(actor.org_id),
        convenor_id=me,
        created_by_id=me,
    )
    group.memberships.append(
        GroupMembership(
            organisation_id=uuid.UUID(actor.org_id),
            status=MembershipStatus.ACCEPTED,
            invited_by_id=me,
            responded_by_id=me,
            responded_at=utcnow(),
        )
    )
    group.attendees.append(GroupAttendee(person_id=me, added_by_id=me))
    db.session.add(group)
    db.session.flush()
    record(
        actor,
        GROUP_CREATE,
        group,
        cadence=group.cadence.value,
        governing_agreement=str(group.agreement_id) if group.agreement_id else "",
    )
    return group


def update_group(actor: Actor, group: WorkingGroup, data: dict[str, Any]) -> WorkingGroup:
    """Change the group's name, region, terms of reference, cadence or agreement."""
    if not permissions.is_manager(actor, group):
        raise deny(
            "group.update", "Only the group's convenor and coordinators can change it.",
            "working_group", group.id,
        )  # fmt: skip
    clean = _validate(actor, data, group)
    changed = []
    for key in ("name", "region", "terms_of_reference", "cadence"):
        if getattr(group, key) != clean[key]:
            setattr(group, key, clean[key])
            changed.append(key)
    if group.agreement_id != (clean["agreement"].id if clean["agreement"] else None):
        group.agreement = clean["agreement"]
        changed.append("agreement")
    db.session.flush()
    if changed:
        record(actor, GROUP_UPDATE, group, fields=sorted(changed))
    return group


def convenor_choices(group: WorkingGroup) -> list[Person]:
    """Active coordinators of member coordinator organisations, who may convene the group."""
    member_ids = [uuid.UUID(i) for i in permissions.member_org_ids(group)]
    if not member_ids:
        return []
    return list(
        db.session.scalars(
            sa.select(Person)
            .join(Organisation, Organisation.id == Person.organisation_id)
            .join(PersonRole, PersonRole.person_id == Person.id)
            .where(
                Person.organisation_id.in_(member_ids),
                Person.status == Status.ACTIVE,
                Organisation.kind == OrganisationKind.REGIONAL_COORDINATOR,
                Organisation.status == Status.ACTIVE,
                PersonRole.role == Role.COORDINATOR,
            )
            .order_by(Person.name)
        ).unique()
    )


def change_convenor(actor: Actor, group: WorkingGroup, data: dict[str, Any]) -> WorkingGroup:
    """Hand the group to another coordinator: a convenor is only ever replaced, never removed,
    so the new one must be named."""
    if not permissions.is_manager(actor, group):
        raise deny(
            "group.convenor.change", "Only the group's convenor and coordinators can do this.",
            "working_group", group.id,
        )  # fmt: skip
    check = Checker(data)
    chosen = parse_id(data.get("convenor_id"))
    new: Person | None = None
    if data.get("convenor_id") in (None, ""):
        check.add(
            "convenor_id",
            "Name the new convenor: a working group cannot be left without one.",
        )
    else:
        new = next((p for p in convenor_choices(group) if p.id == chosen), None)
        if new is None:
            check.add(
                "convenor_id",
                "Choose a regional coordinator from one of the group's member organisations.",
            )
    check.raise_if_any()
    assert new is not None
    if new.id == group.convenor_id:
        return group
    previous = group.convenor_id
    group.convenor_id = new.id
    group.convening_org_id = new.organisation_id
    if not any(a.person_id == new.id for a in group.attendees):
        group.attendees.append(GroupAttendee(person_id=new.id, added_by_id=actor.person_id))
        invite_to_future_meetings(group, new.id, actor)
    db.session.flush()
    record(
        actor,
        GROUP_CONVENOR_CHANGE,
        group,
        subjects=[("person", str(previous)), ("person", str(new.id))],
    )
    notifications.notify(
        new.organisation_id,
        "group.convenor",
        f"You now convene the working group {group.name}",
        link=f"/groups/{group.id}",
        person_id=new.id,
    )
    return group


def invite_to_future_meetings(group: WorkingGroup, who: uuid.UUID, actor: Actor) -> None:
    """Put a newly named attendee on the list of every meeting still to come."""
    now = utcnow()
    for meeting in group.meetings:
        if (
            meeting.starts_at > now
            and meeting.cancelled_at is None
            and not any(r.person_id == who for r in meeting.attendance)
        ):
            meeting.attendance.append(
                MeetingAttendance(
                    person_id=who, status=AttendanceStatus.INVITED, recorded_by_id=actor.person_id
                )
            )


def meetings_of(group: WorkingGroup) -> tuple[list[Meeting], list[Meeting]]:
    """The group's meetings to come (soonest first) and past ones (latest first)."""
    now = utcnow()
    upcoming = [m for m in group.meetings if m.ends_at > now]
    past = [m for m in group.meetings if m.ends_at <= now]
    return upcoming, list(reversed(past))


def require_manager(actor: Actor, group: WorkingGroup, action: str) -> None:
    """Refuse (audited) anyone but the group's convenor and coordinators."""
    if not permissions.is_manager(actor, group):
        raise deny(
            action, "Only the group's convenor and coordinators can do this.",
            "working_group", group.id,
        )  # fmt: skip
