"""Working groups, their member organisations and attendees, meetings (agenda, attendance,
minutes and amendments, decisions) and actions with their updates."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, enum_column, utcnow

if TYPE_CHECKING:
    from agreements.models import Agreement
    from partners.models import Organisation, Person


def _person() -> Mapped[uuid.UUID | None]:
    return mapped_column(sa.ForeignKey("people.id"))


class Cadence(enum.StrEnum):
    """How often a group means to meet."""

    MONTHLY = "monthly"
    EVERY_TWO_MONTHS = "every_two_months"
    QUARTERLY = "quarterly"
    TERMLY = "termly"
    AS_NEEDED = "as_needed"


class MembershipStatus(enum.StrEnum):
    """An organisation's place in a group: invited, then accepted (a member) or declined;
    a member that leaves or is removed loses access at once."""

    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    LEFT = "left"
    REMOVED = "removed"


class WorkingGroup(Base):
    """A regional working group convened by a regional coordinator.

    `agreement_id` names the multi-party agreement that governs what members see in the group;
    an amendment of it (a newer version in the same lineage) governs once approved.
    """

    __tablename__ = "working_groups"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    region: Mapped[str] = mapped_column(sa.String(100), index=True)
    convening_org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    convenor_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("people.id"))
    terms_of_reference: Mapped[str] = mapped_column(sa.Text)
    cadence: Mapped[Cadence] = mapped_column(enum_column(Cadence, "group_cadence"))
    agreement_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("agreements.id"))
    created_by_id: Mapped[uuid.UUID | None] = _person()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    memberships: Mapped[list[GroupMembership]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="GroupMembership.id"
    )
    attendees: Mapped[list[GroupAttendee]] = relationship(
        back_populates="group", cascade="all, delete-orphan"
    )
    meetings: Mapped[list[Meeting]] = relationship(
        back_populates="group", cascade="all, delete-orphan", order_by="Meeting.starts_at"
    )
    convenor: Mapped[Person] = relationship(foreign_keys=[convenor_id])
    convening_org: Mapped[Organisation] = relationship(foreign_keys=[convening_org_id])
    agreement: Mapped[Agreement | None] = relationship()

    __table_args__ = (sa.UniqueConstraint("region", "name"),)


class GroupMembership(Base):
    """An organisation invited to a group, and what became of the invitation."""

    __tablename__ = "working_group_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    group_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("working_groups.id"))
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    status: Mapped[MembershipStatus] = mapped_column(
        enum_column(MembershipStatus, "membership_status")
    )
    invited_by_id: Mapped[uuid.UUID | None] = _person()
    invited_at: Mapped[datetime] = mapped_column(default=utcnow)
    responded_by_id: Mapped[uuid.UUID | None] = _person()
    responded_at: Mapped[datetime | None]
    ended_by_id: Mapped[uuid.UUID | None] = _person()
    ended_at: Mapped[datetime | None]

    group: Mapped[WorkingGroup] = relationship(back_populates="memberships")
    organisation: Mapped[Organisation] = relationship()

    __table_args__ = (sa.UniqueConstraint("group_id", "organisation_id"),)


class GroupAttendee(Base):
    """A named person who attends the group's meetings for their organisation."""

    __tablename__ = "working_group_attendees"

    group_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("working_groups.id"), primary_key=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("people.id"), primary_key=True, index=True
    )
    added_by_id: Mapped[uuid.UUID | None] = _person()
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    group: Mapped[WorkingGroup] = relationship(back_populates="attendees")
    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class MinutesStatus(enum.StrEnum):
    """Minutes are drafted, circulated to attendees, then approved (and frozen)."""

    NOT_STARTED = "not_started"
    DRAFTED = "drafted"
    CIRCULATED = "circulated"
    APPROVED = "approved"


class Meeting(Base):
    """One meeting of a group: when, where, its agenda, attendance, minutes and decisions."""

    __tablename__ = "working_group_meetings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    group_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("working_groups.id"), index=True)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    location: Mapped[str] = mapped_column(sa.String(300), default="")
    online_link: Mapped[str] = mapped_column(sa.String(2000), default="")
    # Calendar files carry this so that a changed or cancelled meeting replaces the old entry.
    sequence: Mapped[int] = mapped_column(default=0)
    cancelled_at: Mapped[datetime | None]
    minutes: Mapped[str] = mapped_column(sa.Text, default="")
    minutes_status: Mapped[MinutesStatus] = mapped_column(
        enum_column(MinutesStatus, "minutes_status"), default=MinutesStatus.NOT_STARTED
    )
    minutes_drafted_by_id: Mapped[uuid.UUID | None] = _person()
    minutes_drafted_at: Mapped[datetime | None]
    minutes_circulated_at: Mapped[datetime | None]
    minutes_approved_by_id: Mapped[uuid.UUID | None] = _person()
    minutes_approved_at: Mapped[datetime | None]
    digest_sent_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = _person()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    group: Mapped[WorkingGroup] = relationship(back_populates="meetings")
    agenda_items: Mapped[list[AgendaItem]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="AgendaItem.position"
    )
    attendance: Mapped[list[MeetingAttendance]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan"
    )
    amendments: Mapped[list[MinutesAmendment]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="MinutesAmendment.id"
    )
    decisions: Mapped[list[GroupDecision]] = relationship(
        back_populates="meeting", cascade="all, delete-orphan", order_by="GroupDecision.id"
    )

    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),)


class AttendanceStatus(enum.StrEnum):
    """A named attendee's part in one meeting."""

    INVITED = "invited"
    ATTENDED = "attended"
    APOLOGIES = "apologies"
    ABSENT = "absent"


class MeetingAttendance(Base):
    """Whether one person attended one meeting or sent apologies."""

    __tablename__ = "working_group_meeting_attendance"

    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("working_group_meetings.id"), primary_key=True
    )
    person_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("people.id"), primary_key=True, index=True
    )
    status: Mapped[AttendanceStatus] = mapped_column(
        enum_column(AttendanceStatus, "attendance_status")
    )
    recorded_by_id: Mapped[uuid.UUID | None] = _person()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="attendance")
    person: Mapped[Person] = relationship(foreign_keys=[person_id])


class AgendaItem(Base):
    """An item on a meeting's agenda, which may reference a case (a speaker or an event).

    The case record is never copied here: each attendee sees it through `disclose()` at their
    own organisation's level when they look at the meeting.
    """

    __tablename__ = "working_group_agenda_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("working_group_meetings.id"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(sa.String(300))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    speaker_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("speakers.id"), index=True)
    event_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("events.id"), index=True)
    case_org_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("organisations.id"))
    added_by_id: Mapped[uuid.UUID | None] = _person()
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="agenda_items")

    __table_args__ = (
        sa.CheckConstraint("speaker_id IS NULL OR event_id IS NULL", name="one_case"),
    )

    @property
    def case_type(self) -> str | None:
        """ "speaker", "event", or None for an item without a case."""
        if self.speaker_id is not None:
            return "speaker"
        if self.event_id is not None:
            return "event"
        return None


class MinutesAmendment(Base):
    """A recorded change to approved minutes (the approved text itself never changes)."""

    __tablename__ = "working_group_minutes_amendments"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("working_group_meetings.id"), index=True
    )
    text: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text)
    amended_by_id: Mapped[uuid.UUID | None] = _person()
    amended_at: Mapped[datetime] = mapped_column(default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="amendments")
    amended_by: Mapped[Person | None] = relationship(foreign_keys=[amended_by_id])


class GroupDecision(Base):
    """A decision a meeting took, concerning one member organisation or all of them."""

    __tablename__ = "working_group_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("working_group_meetings.id"), index=True
    )
    agenda_item_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("working_group_agenda_items.id")
    )
    text: Mapped[str] = mapped_column(sa.Text)
    concerns_org_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("organisations.id"))
    recorded_by_id: Mapped[uuid.UUID | None] = _person()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="decisions")
    concerns_org: Mapped[Organisation | None] = relationship()


class ActionStatus(enum.StrEnum):
    """Where an action stands."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class GroupAction(Base):
    """Something a member organisation's person agreed to do, by a date."""

    __tablename__ = "working_group_actions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    group_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("working_groups.id"), index=True)
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("working_group_meetings.id"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(300))
    detail: Mapped[str] = mapped_column(sa.Text, default="")
    owner_person_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("people.id"), index=True)
    owner_org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    due_on: Mapped[date]
    status: Mapped[ActionStatus] = mapped_column(
        enum_column(ActionStatus, "action_status"), default=ActionStatus.OPEN, index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = _person()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None]

    group: Mapped[WorkingGroup] = relationship()
    meeting: Mapped[Meeting | None] = relationship()
    owner_person: Mapped[Person] = relationship(foreign_keys=[owner_person_id])
    owner_org: Mapped[Organisation] = relationship(foreign_keys=[owner_org_id])
    updates: Mapped[list[ActionUpdate]] = relationship(
        back_populates="action", cascade="all, delete-orphan", order_by="ActionUpdate.id"
    )

    @property
    def is_open(self) -> bool:
        return self.status in (ActionStatus.OPEN, ActionStatus.IN_PROGRESS)


class ActionUpdate(Base):
    """A note on an action's progress, with any change of status."""

    __tablename__ = "working_group_action_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("working_group_actions.id"), index=True
    )
    note: Mapped[str] = mapped_column(sa.Text, default="")
    from_status: Mapped[ActionStatus] = mapped_column(
        enum_column(ActionStatus, "from_action_status")
    )
    to_status: Mapped[ActionStatus] = mapped_column(enum_column(ActionStatus, "to_action_status"))
    by_id: Mapped[uuid.UUID | None] = _person()
    at: Mapped[datetime] = mapped_column(default=utcnow)

    action: Mapped[GroupAction] = relationship(back_populates="updates")
    by: Mapped[Person | None] = relationship(foreign_keys=[by_id])
