"""The regional coordinator's dashboard: live agreements and their review dates, designated
events coming up in the region, speakers touring several institutions, advisory requests by
age, and the region's annual-return counts by month, with charts.

Every figure is computed only over what the coordinator may see: institutions' events and
speakers only as `disclose()` gives them for the stated purpose (never counted when no
agreement gives them), advisory requests only those the coordinator is a party to, and the
annual return only as the regional sum `hub.records.advisory.returns` allows coordinators
(withheld for a region of fewer than three institutions).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from agreements import lifecycle
from agreements import services as agreements
from agreements.models import Agreement, EffectiveState
from agreements.policy import MASK, Disclosed
from audit import services as audit
from audit.actions import REGION_DASHBOARD_READ
from core.db import db, utcnow
from core.errors import PermissionDenied, ValidationFailed
from core.security import Actor
from core.validation import LOCAL_ZONE
from hub.groups import permissions
from hub.groups.charts import Chart, stacked_bars
from hub.records import permissions as records_permissions
from hub.records import shareable
from hub.records.advisory import returns
from hub.records.advisory import services as advisory
from hub.records.models import (
    Decision,
    Event,
    EventSpeaker,
    EventStatus,
    Outcome,
    ReasonCategory,
    RecordStatus,
    Speaker,
)
from hub.records.speakers.names import comparable
from partners.models import Organisation

#: The purposes the dashboard may state for institutions' records (the coordinator chooses).
PURPOSES = ("working_group_case_review", "event_risk_assessment")
#: Designated events this far ahead are listed.
EVENTS_AHEAD = timedelta(days=180)
#: Appearances in this window count towards touring.
TOURING_BEFORE = timedelta(days=90)
TOURING_AFTER = timedelta(days=180)
#: At most this many records of each kind are looked at (and disclosed) per view.
LIMIT = 200
#: Agreements whose review date falls within this window are flagged.
REVIEW_SOON = timedelta(days=30)
#: Advisory request ages, in days since submission: (label, lowest age, highest age or None).
AGE_BANDS = (
    ("Under 1 week", 0, 6),
    ("1 to 2 weeks", 7, 13),
    ("2 to 4 weeks", 14, 27),
    ("4 weeks or more", 28, None),
)


def require_dashboard(actor: Actor) -> None:
    """Refuse (audited) anyone but a regional coordinator."""
    if not permissions.can_see_regional_dashboard(actor):
        raise PermissionDenied(
            "Only regional coordinators see the regional dashboard.",
            reason="role_required",
            audit={"action": REGION_DASHBOARD_READ, "resource_type": "region"},
        )


def read_purpose(value: str | None) -> str | None:
    """The purpose the coordinator states, or None when none is chosen yet: nothing of the
    institutions' records is disclosed until the coordinator chooses one."""
    purpose = (value or "").strip()
    if not purpose:
        return None
    if purpose not in PURPOSES:
        raise ValidationFailed(
            "Choose the purpose of looking at institutions' records.",
            errors={"purpose": ["Choose working group case review or event risk assessment."]},
        )
    return purpose


def region_of(actor: Actor) -> str:
    """The coordinator organisation's region."""
    organisation = db.session.get(Organisation, uuid.UUID(actor.org_id))
    return organisation.region if organisation else ""


def _host_orgs(region: str) -> dict[uuid.UUID, str]:
    return dict(
        db.session.execute(
            sa.select(Organisation.id, Organisation.name).where(
                Organisation.region == region,
                Organisation.kind.in_(records_permissions.HOST_KINDS),
            )
        ).all()
    )


# --- agreements -------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveAgreement:
    """An agreement in force that the coordinator's organisation is party to."""

    agreement: Agreement
    parties: list[str]
    review_soon: bool


def live_agreements(actor: Actor, now: datetime | None = None) -> list[LiveAgreement]:
    """The coordinator's organisation's agreements in force, soonest review first."""
    now = now or utcnow()
    soon = (now + REVIEW_SOON).date()
    live = [a for a in lifecycle.list_agreements(actor) if a.state_at(now) == EffectiveState.ACTIVE]
    names = {
        org_id: name
        for org_id, name in db.session.execute(
            sa.select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({p.organisation_id for a in live for p in a.parties})
            )
        )
    }
    found = [
        LiveAgreement(a, [names.get(p.organisation_id, "") for p in a.parties], a.review_on <= soon)
        for a in live
    ]
    return sorted(found, key=lambda item: (item.agreement.review_on, item.agreement.reference))


# --- designated events ------------------------------------------------------------------


@dataclass(frozen=True)
class RegionalEvent:
    """A designated event as an agreement discloses it to the coordinator."""

    record: Disclosed
    owner: str


def designated_events(
    actor: Actor, purpose: str, region: str, now: datetime | None = None
) -> list[RegionalEvent]:
    """Designated events of the region's institutions still to come, as far as agreements
    disclose them to the coordinator for `purpose` (each disclosure audited), with their
    status and outcome where the agreement shares them. Rejected events are left out: they
    are not coming up (withdrawn ones neither)."""
    now = now or utcnow()
    hosts = _host_orgs(region)
    if not hosts:
        return []
    events = db.session.scalars(
        sa.select(Event)
        .where(
            Event.owner_org_id.in_(list(hosts)),
            Event.designated.is_(True),
            Event.erased_at.is_(None),
            Event.status != EventStatus.WITHDRAWN,
            sa.or_(Event.outcome.is_(None), Event.outcome != Outcome.REJECTED),
            Event.starts_at >= now,
            Event.starts_at <= now + EVENTS_AHEAD,
        )
        .order_by(Event.starts_at)
        .limit(LIMIT)
    )
    shown = agreements.disclose(
        actor, [shareable.event(e) for e in events], purpose, now=now, audit_refusals=False
    )
    return [RegionalEvent(d, hosts.get(uuid.UUID(d.owner_org_id), "")) for d in shown]


# --- touring speakers -------------------------------------------------------------------


@dataclass
class TouringSpeaker:
    """A speaker the coordinator can see recorded by several institutions of the region."""

    name: str
    pseudonymised: bool
    institutions: list[str] = field(default_factory=list)


def name_key(name: str) -> str:
    """How names are compared across institutions: normalised, honorifics dropped, words in
    order ("Dr Kasimir Fenhollow" and "Fenhollow, Kasimir" match)."""
    return comparable(name)


def touring_speakers(
    actor: Actor, purpose: str, region: str, now: datetime | None = None
) -> list[TouringSpeaker]:
    """Speakers appearing at events of two or more of the region's institutions (from three
    months ago to six months ahead), counting only speaker records an agreement discloses to
    the coordinator with a name that can be compared: in full, or pseudonymised under the same
    agreement. Masked names and records not disclosed count for nothing."""
    now = now or utcnow()
    hosts = _host_orgs(region)
    if not hosts:
        return []
    speaker_ids = (
        sa.select(EventSpeaker.speaker_id)
        .join(Event, Event.id == EventSpeaker.event_id)
        .where(
            Event.owner_org_id.in_(list(hosts)),
            Event.erased_at.is_(None),
            Event.status != EventStatus.WITHDRAWN,
            Event.starts_at >= now - TOURING_BEFORE,
            Event.starts_at <= now + TOURING_AFTER,
        )
    )
    chosen = list(
        db.session.scalars(
            sa.select(Speaker.id)
            .where(
                Speaker.id.in_(speaker_ids),
                Speaker.status == RecordStatus.ACTIVE,
                Speaker.owner_org_id.in_(list(hosts)),
            )
            .order_by(Speaker.created_at)
            .limit(LIMIT)
        )
    )
    loaded = shareable.speakers(chosen)
    records = [loaded[str(key)] for key in chosen if str(key) in loaded]
    visible = agreements.would_disclose(actor, records, purpose, now=now)
    shown = agreements.disclose(
        actor, [r for r in records if r.id in visible], purpose, now=now, audit_refusals=False
    )
    seen: dict[str, TouringSpeaker] = {}
    owners: dict[str, set[str]] = defaultdict(set)
    for disclosed in shown:
        name = None if disclosed.existence_only else disclosed.data.get("display_name")
        if not isinstance(name, str) or not name or MASK in name:
            continue
        pseudonymised = name.startswith("psn:")
        key = name if pseudonymised else name_key(name)
        seen.setdefault(key, TouringSpeaker(name, pseudonymised))
        owners[key].add(hosts.get(uuid.UUID(disclosed.owner_org_id), ""))
    touring = []
    for key, speaker in seen.items():
        if len(owners[key]) >= 2:
            speaker.institutions = sorted(owners[key])
            touring.append(speaker)
    return sorted(touring, key=lambda s: (-len(s.institutions), s.name))


# --- advisory requests ------------------------------------------------------------------


@dataclass(frozen=True)
class AgedRequest:
    """An open advisory request the coordinator is party to, with its age (no speaker, question
    or event: those are shown, and audited, on the request's own page)."""

    id: str
    requesting_org: str
    status_label: str
    submitted_on: date
    age_days: int
    due_on: date
    overdue: bool


@dataclass
class AdvisoryAges:
    """Open advisory requests by how long they have waited."""

    bands: list[tuple[str, int]]
    requests: list[AgedRequest]

    @property
    def overdue(self) -> int:
        return sum(1 for r in self.requests if r.overdue)


def advisory_by_age(actor: Actor) -> AdvisoryAges:
    """The open requests the coordinator is a party to, oldest first, and counts by age."""
    today = advisory.local_today()
    requests = advisory.open_for(actor)
    names = dict(
        db.session.execute(
            sa.select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({r.requesting_org_id for r in requests})
            )
        ).all()
    )
    aged = []
    for request in requests:
        submitted = request.submitted_at.astimezone(LOCAL_ZONE).date()
        aged.append(
            AgedRequest(
                id=str(request.id),
                requesting_org=names.get(request.requesting_org_id, ""),
                status_label=advisory.STATUS_LABELS[request.status],
                submitted_on=submitted,
                age_days=(today - submitted).days,
                due_on=request.due_on,
                overdue=advisory.is_overdue(request, today),
            )
        )
    aged.sort(key=lambda r: -r.age_days)
    bands = [
        (
            label,
            sum(1 for r in aged if r.age_days >= low and (high is None or r.age_days <= high)),
        )
        for label, low, high in AGE_BANDS
    ]
    return AdvisoryAges(bands, aged)


# --- the annual return by month ---------------------------------------------------------

OUTCOME_SERIES = (
    ("approved", "Approved", "#00703c"),
    ("approved_with_conditions", "Approved with conditions", "#1d70b8"),
    ("rejected", "Rejected", "#d4351c"),
    ("postponed", "Postponed", "#4c2c92"),
)
REASON_SERIES = (
    ("health_and_safety", "Health and safety", "#f47738"),
    ("procedural", "Procedural", "#4c2c92"),
    ("prevent", "Prevent", "#d4351c"),
    ("other", "Other", "#505a5f"),
    ("unrecorded", "No reason recorded", "#b1b4b6"),
)


@dataclass
class MonthlyReturn:
    """The region's annual return split by the month of each event's current decision."""

    annual: returns.AnnualReturn
    months: list[date] = field(default_factory=list)
    outcomes: dict[str, list[int]] = field(default_factory=dict)
    reasons: dict[str, list[int]] = field(default_factory=dict)

    @property
    def suppressed(self) -> bool:
        return self.annual.suppressed


def _months(start: date, end: date) -> list[date]:
    months = []
    day = start.replace(day=1)
    while day < end:
        months.append(day)
        day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return months


def monthly_return(actor: Actor, basis: str, year: int) -> MonthlyReturn:
    """The coordinator's regional return (`hub.records.advisory.returns`), and the same counts by
    month: outcomes, and rejections by reason. Nothing by month where the year itself is
    withheld."""
    annual = returns.annual_return(actor, basis, year)
    result = MonthlyReturn(annual, _months(annual.period.start, annual.period.end))
    result.outcomes = {key: [0] * len(result.months) for key, _l, _c in OUTCOME_SERIES}
    result.reasons = {key: [0] * len(result.months) for key, _l, _c in REASON_SERIES}
    if annual.suppressed or annual.scope != "region":
        return result
    hosts = list(_host_orgs(region_of(actor)))
    # The same counting rule as the annual return: each event's current decision (one an appeal
    # replaced does not count), dated by that decision's date.
    ranked = (
        sa.select(
            Decision.outcome,
            Decision.reason_category,
            Decision.decided_on,
            sa.func.row_number()
            .over(
                partition_by=Decision.event_id,
                order_by=(Decision.decided_at.desc(), Decision.decided_on.desc()),
            )
            .label("rank"),
        )
        .join(Event, Event.id == Decision.event_id)
        .where(Event.owner_org_id.in_(hosts), Decision.superseded_by_appeal == sa.false())
        .subquery()
    )
    rows = db.session.execute(
        sa.select(ranked.c.outcome, ranked.c.reason_category, ranked.c.decided_on).where(
            ranked.c.rank == 1,
            ranked.c.decided_on >= annual.period.start,
            ranked.c.decided_on < annual.period.end,
        )
    )
    index = {(m.year, m.month): i for i, m in enumerate(result.months)}
    for outcome, reason, decided_on in rows:
        slot = index[(decided_on.year, decided_on.month)]
        outcome = Outcome(outcome)
        if outcome == Outcome.REJECTED:
            result.outcomes["rejected"][slot] += 1
            key = ReasonCategory(reason).value if reason else "unrecorded"
            result.reasons[key][slot] += 1
        else:
            result.outcomes[outcome.value][slot] += 1
    return result


def charts(result: MonthlyReturn) -> list[Chart]:
    """The outcomes chart and the rejection reasons chart of a monthly return."""
    if result.suppressed:
        return []
    reasons = tuple(
        s for s in REASON_SERIES if s[0] != "unrecorded" or any(result.reasons["unrecorded"])
    )
    return [
        stacked_bars(
            "outcomes",
            "Events decided each month, by outcome",
            result.months,
            OUTCOME_SERIES,
            result.outcomes,
        ),
        stacked_bars(
            "reasons",
            "Events rejected each month, by reason",
            result.months,
            reasons,
            result.reasons,
        ),
    ]


# --- the whole dashboard ----------------------------------------------------------------


@dataclass
class RegionalDashboard:
    """Everything the coordinator's dashboard shows."""

    region: str
    purpose: str | None  # None: no purpose chosen, so no institution's record is disclosed
    agreements: list[LiveAgreement]
    events: list[RegionalEvent]
    touring: list[TouringSpeaker]
    advisory: AdvisoryAges
    monthly: MonthlyReturn
    charts: list[Chart]


def regional_dashboard(
    actor: Actor, purpose: str | None, basis: str, year: int, now: datetime | None = None
) -> RegionalDashboard:
    """The coordinator's view of their region (audited: the view, and each disclosure).
    Without a purpose it shows only what needs no disclosure: agreements, the coordinator's
    own advisory requests and the regional aggregate."""
    require_dashboard(actor)
    now = now or utcnow()
    region = region_of(actor)
    monthly = monthly_return(actor, basis, year)
    board = RegionalDashboard(
        region=region,
        purpose=purpose,
        agreements=live_agreements(actor, now),
        events=designated_events(actor, purpose, region, now) if purpose else [],
        touring=touring_speakers(actor, purpose, region, now) if purpose else [],
        advisory=advisory_by_age(actor),
        monthly=monthly,
        charts=charts(monthly),
    )
    audit.record(
        actor,
        REGION_DASHBOARD_READ,
        "granted",
        resource_type="region",
        purpose=purpose,
        events=len(board.events),
        touring=len(board.touring),
    )
    return board


def as_dict(board: RegionalDashboard) -> dict[str, Any]:
    """The dashboard's figures as JSON (the API's shape)."""
    return {
        "region": board.region,
        "purpose": board.purpose,
        "agreements": [
            {
                "id": str(item.agreement.id),
                "reference": item.agreement.reference,
                "version": item.agreement.version,
                "title": item.agreement.title,
                "parties": item.parties,
                "review_on": item.agreement.review_on.isoformat(),
                "ends_at": item.agreement.ends_at.isoformat(),
                "review_soon": item.review_soon,
            }
            for item in board.agreements
        ],
        # Null until a purpose is chosen: nothing is disclosed without one.
        "designated_events": (
            [{**item.record.as_dict(), "owner": item.owner} for item in board.events]
            if board.purpose
            else None
        ),
        "touring_speakers": (
            [
                {
                    "name": s.name,
                    "pseudonymised": s.pseudonymised,
                    "institutions": s.institutions,
                }
                for s in board.touring
            ]
            if board.purpose
            else None
        ),
        "advisory": {
            "bands": [{"label": label, "count": count} for label, count in board.advisory.bands],
            "overdue": board.advisory.overdue,
            "requests": [
                {
                    "id": r.id,
                    "requesting_org": r.requesting_org,
                    "status": r.status_label,
                    "submitted_on": r.submitted_on.isoformat(),
                    "age_days": r.age_days,
                    "due_on": r.due_on.isoformat(),
                    "overdue": r.overdue,
                }
                for r in board.advisory.requests
            ],
        },
        "annual_return": {
            "basis": board.monthly.annual.period.basis,
            "period": board.monthly.annual.period.label,
            "institutions": board.monthly.annual.institutions,
            "suppressed": board.monthly.suppressed,
            "months": [m.strftime("%Y-%m") for m in board.monthly.months],
            "outcomes": {} if board.monthly.suppressed else board.monthly.outcomes,
            "rejections_by_reason": {} if board.monthly.suppressed else board.monthly.reasons,
        },
    }
