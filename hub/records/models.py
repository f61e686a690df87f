"""Speakers, assertions, advisory ratings, events, risk assessments, decisions, appeals and
advisory requests: the records an institution keeps, each owned by one organisation."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, enum_column, utcnow


def _owner() -> Mapped[uuid.UUID]:
    return mapped_column(sa.ForeignKey("organisations.id"), index=True)


class Distribution(enum.StrEnum):
    """How far a record may travel: kept inside its owner, or shareable under agreements."""

    INTERNAL = "internal"
    SHAREABLE = "shareable"


#: Data protection by default (UK GDPR Art. 25): a record is kept inside its owner unless
#: someone chooses to make it shareable. Every way a record is made (pages, API, CSV import)
#: starts from this.
DEFAULT_DISTRIBUTION = Distribution.INTERNAL


class RecordStatus(enum.StrEnum):
    """A speaker record's life: in use, merged into another, or erased at retention."""

    ACTIVE = "active"
    MERGED = "merged"
    ERASED = "erased"


# --- speakers ---------------------------------------------------------------------------


class Speaker(Base):
    """An external speaker, as one organisation knows them from public sources."""

    __tablename__ = "speakers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_org_id: Mapped[uuid.UUID] = _owner()
    distribution: Mapped[Distribution] = mapped_column(enum_column(Distribution, "distribution"))
    display_name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[RecordStatus] = mapped_column(
        enum_column(RecordStatus, "record_status"), default=RecordStatus.ACTIVE
    )
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("speakers.id"))
    retention_until: Mapped[date]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    aliases: Mapped[list[SpeakerAlias]] = relationship(
        back_populates="speaker", cascade="all, delete-orphan", order_by="SpeakerAlias.name"
    )
    affiliations: Mapped[list[SpeakerAffiliation]] = relationship(
        back_populates="speaker",
        cascade="all, delete-orphan",
        order_by="SpeakerAffiliation.organisation_name",
    )
    sources: Mapped[list[SpeakerSource]] = relationship(
        back_populates="speaker",
        cascade="all, delete-orphan",
        order_by="SpeakerSource.retrieved_on.desc()",
    )
    topics: Mapped[list[SpeakerTopic]] = relationship(
        back_populates="speaker", cascade="all, delete-orphan", order_by="SpeakerTopic.topic"
    )
    assertions: Mapped[list[Assertion]] = relationship(
        back_populates="speaker", order_by="Assertion.created_at"
    )
    ratings: Mapped[list[AdvisoryRating]] = relationship(
        back_populates="speaker", order_by="AdvisoryRating.issued_on.desc()"
    )
    appearances: Mapped[list[EventSpeaker]] = relationship(back_populates="speaker")

    __table_args__ = (sa.Index("ix_speakers_owner_status", "owner_org_id", "status"),)


class AliasKind(enum.StrEnum):
    """Why a speaker has another name."""

    ALIAS = "alias"
    TRANSLITERATION = "transliteration"
    FORMER_NAME = "former_name"


class SpeakerAlias(Base):
    """Another name a speaker is known by (including transliterations)."""

    __tablename__ = "speaker_aliases"

    id: Mapped[int] = mapped_column(primary_key=True)
    speaker_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[AliasKind] = mapped_column(enum_column(AliasKind, "alias_kind"))

    speaker: Mapped[Speaker] = relationship(back_populates="aliases")


class SpeakerAffiliation(Base):
    """A public affiliation or role (an organisation the speaker represents or works for)."""

    __tablename__ = "speaker_affiliations"

    id: Mapped[int] = mapped_column(primary_key=True)
    speaker_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), index=True)
    organisation_name: Mapped[str] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(200), default="")

    speaker: Mapped[Speaker] = relationship(back_populates="affiliations")


class SpeakerSource(Base):
    """A public source about the speaker, with the date it was read."""

    __tablename__ = "speaker_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    speaker_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), index=True)
    url: Mapped[str] = mapped_column(sa.String(2000))
    title: Mapped[str] = mapped_column(sa.String(300), default="")
    retrieved_on: Mapped[date]

    speaker: Mapped[Speaker] = relationship(back_populates="sources")


class SpeakerTopic(Base):
    """A topic the speaker speaks on."""

    __tablename__ = "speaker_topics"

    speaker_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), primary_key=True)
    topic: Mapped[str] = mapped_column(sa.String(100), primary_key=True)

    speaker: Mapped[Speaker] = relationship(back_populates="topics")


class SpeakerName(Base):
    """Search index: every name of every speaker, normalised (display name and aliases).

    Maintained by the speakers service (`search.name_rows`): each name's Latin form, its words
    sorted, and its search keys. PostgreSQL indexes the keys (GIN) and the sorted words
    (pg_trgm); SQLite mirrors both into FTS5 tables (see the migrations).
    """

    __tablename__ = "speaker_names"

    id: Mapped[int] = mapped_column(primary_key=True)
    speaker_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), index=True)
    owner_org_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(sa.String(200))
    normalised: Mapped[str] = mapped_column(sa.String(200))
    # Normalised words in sorted order, so that "Smith John" finds "John Smith".
    sorted_tokens: Mapped[str] = mapped_column(sa.String(200))
    # The name's search keys, space-separated (`names.name_keys`): indexed by GIN on
    # PostgreSQL and by an FTS5 table on SQLite (see the migrations).
    keys: Mapped[str] = mapped_column(sa.Text, default="")

    __table_args__ = (sa.Index("ix_speaker_names_owner_org_id", "owner_org_id"),)


class SpeakerMerge(Base):
    """The record of two speaker records merged into one (history is kept, not rewritten)."""

    __tablename__ = "speaker_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    kept_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), index=True)
    merged_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), unique=True)
    merged_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    merged_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(sa.Text, default="")


# --- assertions and ratings -------------------------------------------------------------


class AssertionKind(enum.StrEnum):
    """Whether a statement is a verifiable fact or someone's opinion."""

    FACT = "fact"
    OPINION = "opinion"


class Confidence(enum.StrEnum):
    """How sure the recorder is."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AssertionStatus(enum.StrEnum):
    """A statement's standing; changes are kept as revisions."""

    ACTIVE = "active"
    DISPUTED = "disputed"
    CORRECTED = "corrected"
    WITHDRAWN = "withdrawn"


class Assertion(Base):
    """A statement about a speaker, with who recorded it, from which source, and when."""

    __tablename__ = "assertions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    speaker_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), index=True)
    owner_org_id: Mapped[uuid.UUID] = _owner()
    distribution: Mapped[Distribution] = mapped_column(enum_column(Distribution, "distribution"))
    kind: Mapped[AssertionKind] = mapped_column(enum_column(AssertionKind, "assertion_kind"))
    text: Mapped[str] = mapped_column(sa.Text)
    source: Mapped[str] = mapped_column(sa.Text)
    source_url: Mapped[str | None] = mapped_column(sa.String(2000))
    stated_on: Mapped[date]
    confidence: Mapped[Confidence] = mapped_column(enum_column(Confidence, "confidence"))
    special_category: Mapped[bool] = mapped_column(default=False)
    criminal_offence: Mapped[bool] = mapped_column(default=False)
    review_by: Mapped[date]
    status: Mapped[AssertionStatus] = mapped_column(
        enum_column(AssertionStatus, "assertion_status")
    )
    version: Mapped[int] = mapped_column(default=1)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    speaker: Mapped[Speaker] = relationship(back_populates="assertions")
    revisions: Mapped[list[AssertionRevision]] = relationship(
        back_populates="assertion",
        order_by="AssertionRevision.version",
        cascade="all, delete-orphan",
    )


class AssertionRevision(Base):
    """One version of an assertion: what it said and its status, who changed it and why."""

    __tablename__ = "assertion_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    assertion_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("assertions.id"), index=True)
    version: Mapped[int]
    status: Mapped[AssertionStatus] = mapped_column(
        enum_column(AssertionStatus, "assertion_status")
    )
    text: Mapped[str] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    assertion: Mapped[Assertion] = relationship(back_populates="revisions")

    __table_args__ = (sa.UniqueConstraint("assertion_id", "version"),)


class Rating(enum.StrEnum):
    """An advisory rating: red (do not proceed without strong mitigation) to green."""

    RED = "red"
    AMBER = "amber"
    GREEN = "green"


class AdvisoryRating(Base):
    """An advisory rating on a speaker, issued by a police Prevent team (or coordinator)."""

    __tablename__ = "advisory_ratings"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    speaker_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), index=True)
    owner_org_id: Mapped[uuid.UUID] = _owner()  # the issuer
    distribution: Mapped[Distribution] = mapped_column(enum_column(Distribution, "distribution"))
    rating: Mapped[Rating] = mapped_column(enum_column(Rating, "rating"))
    rationale: Mapped[str] = mapped_column(sa.Text)
    issued_on: Mapped[date]
    expires_on: Mapped[date]
    issued_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    speaker: Mapped[Speaker] = relationship(back_populates="ratings")


# --- events -----------------------------------------------------------------------------


class OrganiserType(enum.StrEnum):
    """Who organises the event."""

    STAFF = "staff"
    SOCIETY = "society"
    STUDENTS_UNION = "students_union"
    EXTERNAL_HIRER = "external_hirer"


class VenueKind(enum.StrEnum):
    """Where it happens."""

    ON_CAMPUS = "on_campus"
    OFF_CAMPUS = "off_campus"
    ONLINE = "online"
    HYBRID = "hybrid"


class Audience(enum.StrEnum):
    """Who may attend."""

    INTERNAL = "internal"
    PUBLIC = "public"
    TICKETED = "ticketed"


class EventStatus(enum.StrEnum):
    """draft -> submitted -> under_review -> escalated -> decided, or withdrawn."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    ESCALATED = "escalated"
    DECIDED = "decided"
    WITHDRAWN = "withdrawn"


#: The words for each status wherever an event is shown: its own pages, a speaker's
#: appearances, a partner's copy, a subject access pack.
EVENT_STATUS_LABELS = {
    EventStatus.DRAFT: "Draft",
    EventStatus.SUBMITTED: "Submitted",
    EventStatus.UNDER_REVIEW: "Under review",
    EventStatus.ESCALATED: "Escalated",
    EventStatus.DECIDED: "Decided",
    EventStatus.WITHDRAWN: "Withdrawn",
}


class Outcome(enum.StrEnum):
    """The decision on an event."""

    APPROVED = "approved"
    APPROVED_WITH_CONDITIONS = "approved_with_conditions"
    POSTPONED = "postponed"
    REJECTED = "rejected"


#: The words for each outcome, wherever a decision is shown.
OUTCOME_LABELS = {
    Outcome.APPROVED: "Approved",
    Outcome.APPROVED_WITH_CONDITIONS: "Approved with conditions",
    Outcome.POSTPONED: "Postponed",
    Outcome.REJECTED: "Rejected",
}


class Event(Base):
    """An event with external speakers, hosted by one organisation."""

    __tablename__ = "events"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    owner_org_id: Mapped[uuid.UUID] = _owner()  # the host organisation
    distribution: Mapped[Distribution] = mapped_column(enum_column(Distribution, "distribution"))
    organiser_type: Mapped[OrganiserType] = mapped_column(
        enum_column(OrganiserType, "organiser_type")
    )
    organiser_name: Mapped[str] = mapped_column(sa.String(200), default="")
    title: Mapped[str] = mapped_column(sa.String(300))
    synopsis: Mapped[str] = mapped_column(sa.Text, default="")
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    venue_kind: Mapped[VenueKind] = mapped_column(enum_column(VenueKind, "venue_kind"))
    venue_place: Mapped[str] = mapped_column(sa.String(300), default="")
    branded_or_funded: Mapped[bool] = mapped_column(default=False)
    audience: Mapped[Audience] = mapped_column(enum_column(Audience, "audience"))
    expected_size: Mapped[int]
    chair_name: Mapped[str] = mapped_column(sa.String(200), default="")
    recorded: Mapped[bool] = mapped_column(default=False)
    streamed: Mapped[bool] = mapped_column(default=False)
    status: Mapped[EventStatus] = mapped_column(
        enum_column(EventStatus, "event_status"), default=EventStatus.DRAFT, index=True
    )
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome, "outcome"))
    designated: Mapped[bool] = mapped_column(default=False)
    senior_officer_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    submitted_at: Mapped[datetime | None]
    retention_until: Mapped[date]
    erased_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    speakers: Mapped[list[EventSpeaker]] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )
    status_changes: Mapped[list[EventStatusChange]] = relationship(
        back_populates="event",
        order_by="EventStatusChange.changed_at",
        cascade="all, delete-orphan",
    )
    assessment: Mapped[RiskAssessment | None] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )
    decisions: Mapped[list[Decision]] = relationship(
        back_populates="event", order_by="Decision.decided_at", cascade="all, delete-orphan"
    )
    report: Mapped[PostEventReport | None] = relationship(
        back_populates="event", cascade="all, delete-orphan"
    )

    __table_args__ = (
        sa.CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        sa.CheckConstraint("expected_size >= 0", name="size_not_negative"),
        sa.Index("ix_events_owner_starts", "owner_org_id", "starts_at"),
    )

    @property
    def lead_time_days(self) -> int | None:
        """Days between submission and the start (short lead times limit what can be done)."""
        if self.submitted_at is None:
            return None
        return (self.starts_at - self.submitted_at).days


class SpeakerRole(enum.StrEnum):
    """A speaker's part in an event."""

    SPEAKER = "speaker"
    PANELLIST = "panellist"
    CHAIR = "chair"


class EventSpeaker(Base):
    """A speaker appearing at an event (an appearance, seen from the speaker's side)."""

    __tablename__ = "event_speakers"

    event_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("events.id"), primary_key=True)
    speaker_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("speakers.id"), primary_key=True, index=True
    )
    role: Mapped[SpeakerRole] = mapped_column(
        enum_column(SpeakerRole, "speaker_role"), default=SpeakerRole.SPEAKER
    )

    event: Mapped[Event] = relationship(back_populates="speakers")
    speaker: Mapped[Speaker] = relationship(back_populates="appearances")


class EventStatusChange(Base):
    """One step of an event's status, with who took it and when."""

    __tablename__ = "event_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("events.id"), index=True)
    from_status: Mapped[EventStatus | None] = mapped_column(
        enum_column(EventStatus, "from_event_status")
    )
    to_status: Mapped[EventStatus] = mapped_column(enum_column(EventStatus, "to_event_status"))
    changed_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(sa.Text, default="")

    event: Mapped[Event] = relationship(back_populates="status_changes")


class ConditionsHeld(enum.StrEnum):
    """Whether the conditions of approval were kept."""

    YES = "yes"
    PARTLY = "partly"
    NO = "no"
    NOT_APPLICABLE = "not_applicable"


class PostEventReport(Base):
    """What happened: did the conditions hold, were there incidents."""

    __tablename__ = "post_event_reports"

    event_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("events.id"), primary_key=True)
    conditions_held: Mapped[ConditionsHeld] = mapped_column(
        enum_column(ConditionsHeld, "conditions_held")
    )
    incidents: Mapped[str] = mapped_column(sa.Text, default="")
    reported_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)

    event: Mapped[Event] = relationship(back_populates="report")


# --- risk assessment --------------------------------------------------------------------


class StageStatus(enum.StrEnum):
    """A task-list stage's state."""

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    NOT_NEEDED = "not_needed"


class RiskRating(enum.StrEnum):
    """Likelihood x impact, banded."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    VERY_HIGH = "very_high"


class RiskAssessment(Base):
    """The risk assessment of one event, in stages: self-assessment, local review, escalation."""

    __tablename__ = "risk_assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("events.id"), unique=True)
    self_assessment: Mapped[StageStatus] = mapped_column(
        enum_column(StageStatus, "self_assessment_status"), default=StageStatus.NOT_STARTED
    )
    self_assessed_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    self_assessed_at: Mapped[datetime | None]
    local_review: Mapped[StageStatus] = mapped_column(
        enum_column(StageStatus, "local_review_status"), default=StageStatus.NOT_STARTED
    )
    reviewed_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    reviewed_at: Mapped[datetime | None]
    review_notes: Mapped[str] = mapped_column(sa.Text, default="")
    escalation: Mapped[StageStatus] = mapped_column(
        enum_column(StageStatus, "escalation_status"), default=StageStatus.NOT_NEEDED
    )
    escalation_reason: Mapped[str] = mapped_column(sa.Text, default="")
    escalated_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    escalated_at: Mapped[datetime | None]
    likelihood: Mapped[int | None]
    impact: Mapped[int | None]
    rating: Mapped[RiskRating | None] = mapped_column(enum_column(RiskRating, "risk_rating"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship(back_populates="assessment")
    answers: Mapped[list[TriageAnswer]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan", order_by="TriageAnswer.question"
    )
    mitigations: Mapped[list[Mitigation]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan", order_by="Mitigation.id"
    )

    __table_args__ = (
        sa.CheckConstraint(
            "likelihood IS NULL OR likelihood BETWEEN 1 AND 5", name="likelihood_range"
        ),
        sa.CheckConstraint("impact IS NULL OR impact BETWEEN 1 AND 5", name="impact_range"),
    )


class TriageQuestion(enum.StrEnum):
    """The triage questions every event is asked (see DOMAIN.md)."""

    PROSCRIBED_LINKS = "proscribed_links"
    DRAWING_INTO_TERRORISM = "drawing_into_terrorism"
    UNLAWFUL_SPEECH = "unlawful_speech"
    SAFETY_PROTEST_CAPACITY = "safety_protest_capacity"
    CONTROVERSY_ELSEWHERE = "controversy_elsewhere"
    TOURING_SPEAKER = "touring_speaker"
    SEGREGATION_DEMANDS = "segregation_demands"


class TriageResponse(enum.StrEnum):
    """An answer to a triage question."""

    YES = "yes"
    NO = "no"
    UNSURE = "unsure"


class TriageAnswer(Base):
    """One triage question's answer, with the detail behind it."""

    __tablename__ = "triage_answers"

    assessment_id: Mapped[int] = mapped_column(
        sa.ForeignKey("risk_assessments.id"), primary_key=True
    )
    question: Mapped[TriageQuestion] = mapped_column(
        enum_column(TriageQuestion, "triage_question"), primary_key=True
    )
    answer: Mapped[TriageResponse] = mapped_column(enum_column(TriageResponse, "triage_response"))
    detail: Mapped[str] = mapped_column(sa.Text, default="")

    assessment: Mapped[RiskAssessment] = relationship(back_populates="answers")


class MitigationType(enum.StrEnum):
    """The kinds of mitigation an institution can put in place."""

    INDEPENDENT_CHAIR = "independent_chair"
    BALANCING_SPEAKER = "balancing_speaker"
    PROTECTED_QA = "protected_qa"
    RECORDING = "recording"
    TICKETING_ID_CHECKS = "ticketing_id_checks"
    STEWARDS_SECURITY = "stewards_security"
    CODE_OF_CONDUCT = "code_of_conduct"
    ADVANCE_MATERIALS = "advance_materials"
    MEMBERS_ONLY = "members_only"
    FREEDOM_OF_SPEECH_NOTICE = "freedom_of_speech_notice"


class MitigationStatus(enum.StrEnum):
    """Where a mitigation stands."""

    PROPOSED = "proposed"
    AGREED = "agreed"
    IN_PLACE = "in_place"
    NOT_POSSIBLE = "not_possible"


class Mitigation(Base):
    """A mitigation of a given type, with an owner and a status."""

    __tablename__ = "mitigations"

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("risk_assessments.id"), index=True)
    type: Mapped[MitigationType] = mapped_column(enum_column(MitigationType, "mitigation_type"))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    owner_name: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[MitigationStatus] = mapped_column(
        enum_column(MitigationStatus, "mitigation_status"), default=MitigationStatus.PROPOSED
    )

    assessment: Mapped[RiskAssessment] = relationship(back_populates="mitigations")


# --- decisions and appeals --------------------------------------------------------------


class ReasonCategory(enum.StrEnum):
    """Why an event was rejected, as providers report it each year."""

    HEALTH_AND_SAFETY = "health_and_safety"
    PROCEDURAL = "procedural"
    PREVENT = "prevent"
    OTHER = "other"


class Decision(Base):
    """The decision on an event, with its rationale, maker and date.

    A rejection records the finding on lawful speech, the mitigations considered and why each
    was insufficient, and a reason category (the freedom-of-speech guardrail).
    """

    __tablename__ = "decisions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    event_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("events.id"), index=True)
    owner_org_id: Mapped[uuid.UUID] = _owner()
    distribution: Mapped[Distribution] = mapped_column(enum_column(Distribution, "distribution"))
    outcome: Mapped[Outcome] = mapped_column(enum_column(Outcome, "outcome"))
    rationale: Mapped[str] = mapped_column(sa.Text)
    conditions: Mapped[str] = mapped_column(sa.Text, default="")
    reason_category: Mapped[ReasonCategory | None] = mapped_column(
        enum_column(ReasonCategory, "reason_category")
    )
    lawful_speech_finding: Mapped[str] = mapped_column(sa.Text, default="")
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    decided_on: Mapped[date]
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)
    superseded_by_appeal: Mapped[bool] = mapped_column(default=False)

    event: Mapped[Event] = relationship(back_populates="decisions")
    considered: Mapped[list[MitigationConsidered]] = relationship(
        back_populates="decision", cascade="all, delete-orphan"
    )
    appeals: Mapped[list[Appeal]] = relationship(
        back_populates="decision", cascade="all, delete-orphan", order_by="Appeal.lodged_at"
    )


class MitigationConsidered(Base):
    """For a rejection: a mitigation that was considered and why it was not enough."""

    __tablename__ = "mitigations_considered"

    decision_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("decisions.id"), primary_key=True)
    type: Mapped[MitigationType] = mapped_column(
        enum_column(MitigationType, "mitigation_type"), primary_key=True
    )
    why_insufficient: Mapped[str] = mapped_column(sa.Text)

    decision: Mapped[Decision] = relationship(back_populates="considered")


class AppealOutcome(enum.StrEnum):
    """Where an appeal stands."""

    PENDING = "pending"
    UPHELD = "upheld"  # the original decision stands
    OVERTURNED = "overturned"
    VARIED = "varied"


class Appeal(Base):
    """An appeal against a decision, with its own deadline and outcome."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("decisions.id"), index=True)
    grounds: Mapped[str] = mapped_column(sa.Text)
    lodged_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    lodged_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[date]
    outcome: Mapped[AppealOutcome] = mapped_column(
        enum_column(AppealOutcome, "appeal_outcome"), default=AppealOutcome.PENDING
    )
    rationale: Mapped[str] = mapped_column(sa.Text, default="")
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    decided_at: Mapped[datetime | None]

    decision: Mapped[Decision] = relationship(back_populates="appeals")


# --- advisory requests ------------------------------------------------------------------


class AdvisoryStatus(enum.StrEnum):
    """An advisory request's route: to the coordinator, on to police, answered."""

    SUBMITTED = "submitted"  # with the regional coordinator
    ROUTED = "routed"  # with a police Prevent team
    ANSWERED = "answered"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


class AdvisoryRequest(Base):
    """An institution's question about a speaker, routed by the coordinator to police."""

    __tablename__ = "advisory_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    requesting_org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    coordinator_org_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    police_org_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    speaker_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("speakers.id"), index=True)
    event_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("events.id"))
    question: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[AdvisoryStatus] = mapped_column(
        enum_column(AdvisoryStatus, "advisory_status"), default=AdvisoryStatus.SUBMITTED, index=True
    )
    submitted_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_on: Mapped[date]
    routed_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    routed_at: Mapped[datetime | None]
    routing_note: Mapped[str] = mapped_column(sa.Text, default="")
    answered_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    answered_at: Mapped[datetime | None]
    rating_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("advisory_ratings.id"))
    decline_reason: Mapped[str] = mapped_column(sa.Text, default="")

    speaker: Mapped[Speaker] = relationship()
    event: Mapped[Event | None] = relationship()
    rating: Mapped[AdvisoryRating | None] = relationship()


class SubjectAccessStatus(enum.StrEnum):
    """Where a subject access request stands."""

    OPEN = "open"
    ANSWERED = "answered"
    WITHDRAWN = "withdrawn"


SUBJECT_ACCESS_STATUS_LABELS = {
    SubjectAccessStatus.OPEN: "Open",
    SubjectAccessStatus.ANSWERED: "Answered",
    SubjectAccessStatus.WITHDRAWN: "Withdrawn",
}


class SubjectAccessRequest(Base):
    """A subject access request an organisation received (UK GDPR Article 15), with the date
    the answer is due, and the speaker record it turned out to concern."""

    __tablename__ = "subject_access_requests"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    organisation_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("organisations.id"), index=True
    )
    # The DPO's own case reference, in their words: kept here, never in the audit log.
    reference: Mapped[str] = mapped_column(sa.String(64))
    received_on: Mapped[date]
    due_on: Mapped[date]
    speaker_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("speakers.id"))
    status: Mapped[SubjectAccessStatus] = mapped_column(
        enum_column(SubjectAccessStatus, "subject_access_status"),
        default=SubjectAccessStatus.OPEN,
    )
    recorded_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("people.id"))
    closed_at: Mapped[datetime | None]

    speaker: Mapped[Speaker | None] = relationship()

    __table_args__ = (
        sa.Index("ix_subject_access_requests_open", "organisation_id", "status", "due_on"),
    )
