"""The annual return: events decided in a year, by outcome and by rejection reason.

Counted from the current decision of each event (a decision superseded by an appeal is not
counted; the decision that replaced it is), dated by that decision's date. Providers report by
academic year (1 August to 31 July); a calendar year is offered too. Coordinators see only the
sum over the institutions of their region, and nothing at all for a region with fewer than
`MIN_INSTITUTIONS` institutions, where a regional figure would come close to one institution's.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from audit import services as audit
from audit.actions import RETURNS_READ
from core.db import db
from core.errors import PermissionDenied, ValidationFailed
from core.security import Actor
from hub.records import permissions
from hub.records.models import Decision, Event, Outcome, ReasonCategory
from partners.models import Organisation

ACADEMIC = "academic"
CALENDAR = "calendar"
BASES = (ACADEMIC, CALENDAR)
#: A region's counts are withheld from its coordinator below this many institutions.
MIN_INSTITUTIONS = 3
#: Roles that read their own institution's return.
INSTITUTION_ROLES = permissions.READERS
REASONS = tuple(ReasonCategory)
#: The named basis on which a coordinator sees the region's decisions: counts summed over at
#: least MIN_INSTITUTIONS institutions, never one institution's records.
REGIONAL_AGGREGATE = "regional_aggregate"


@dataclass(frozen=True)
class Period:
    """A reporting year: [start, end) and how it reads."""

    basis: str
    year: int
    start: date
    end: date

    @property
    def label(self) -> str:
        """ "2025/26" for an academic year, "2025" for a calendar year."""
        if self.basis == ACADEMIC:
            return f"{self.year}/{(self.year + 1) % 100:02d}"
        return str(self.year)

    @property
    def description(self) -> str:
        """The dates the period covers, in words."""
        last = date.fromordinal(self.end.toordinal() - 1)
        return f"{self.start.day} {self.start:%B %Y} to {last.day} {last:%B %Y}"


def period(basis: str, year: int) -> Period:
    """The academic year starting 1 August `year`, or the calendar year `year`."""
    if basis == ACADEMIC:
        return Period(basis, year, date(year, 8, 1), date(year + 1, 8, 1))
    return Period(basis, year, date(year, 1, 1), date(year + 1, 1, 1))


def current_year(basis: str, today: date) -> int:
    """The year of the period `today` falls in."""
    if basis == ACADEMIC and today.month < 8:
        return today.year - 1
    return today.year


@dataclass
class AnnualReturn:
    """The counts for one institution, or for one region (with its institutions summed)."""

    scope: str  # "institution" | "region"
    name: str
    period: Period
    institutions: int = 1
    suppressed: bool = False
    approved: int = 0
    approved_with_conditions: int = 0
    postponed: int = 0
    rejected: dict[str, int] = field(default_factory=lambda: {r.value: 0 for r in REASONS})
    #: Rejections without a reason category (only possible for records made outside the
    #: decisions service); shown so the total adds up, never silently put under "other".
    rejected_unrecorded: int = 0

    @property
    def rejected_total(self) -> int:
        """Every rejection, whatever its reason."""
        return sum(self.rejected.values()) + self.rejected_unrecorded

    @property
    def decided_total(self) -> int:
        """Approved, approved with conditions and rejected (postponed shown apart)."""
        return self.approved + self.approved_with_conditions + self.rejected_total


def read_args(basis: str | None, year: str | int | None, today: date) -> tuple[str, int]:
    """The basis and year asked for (defaults: the current academic year), validated."""
    errors: dict[str, list[str]] = {}
    basis = basis or ACADEMIC
    if basis not in BASES:
        errors["basis"] = ["Choose academic year or calendar year."]
        basis = ACADEMIC
    if year in (None, ""):
        number = current_year(basis, today)
    else:
        try:
            number = int(str(year))
        except ValueError:
            number = 0
        if not 2000 <= number <= today.year + 1:
            errors["year"] = [f"Enter a year between 2000 and {today.year + 1}, like 2025."]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    return basis, number


def can_view(actor: Actor) -> bool:
    """Institution staff with a records role, and regional coordinators."""
    institution = actor.org_kind in permissions.HOST_KINDS and actor.has_role(*INSTITUTION_ROLES)
    return institution or permissions.is_coordinator(actor)


def require_view(actor: Actor) -> None:
    """Refuse (and audit) anyone who may not see a return, before reading what they asked."""
    if not can_view(actor):
        raise PermissionDenied(
            "Only staff of a university or students' union, and regional coordinators, can see "
            "annual returns.",
            reason="role_required",
            audit={"action": RETURNS_READ, "resource_type": "annual_return"},
        )


def annual_return(actor: Actor, basis: str, year: int) -> AnnualReturn:
    """The actor's institution's return, or a coordinator's regional return."""
    require_view(actor)
    which = period(basis, year)
    if permissions.is_coordinator(actor):
        return _regional(actor, which)
    organisation = db.session.get(Organisation, uuid.UUID(actor.org_id))
    result = AnnualReturn("institution", organisation.name, which)
    _count(result, [organisation.id])
    return result


def _regional(actor: Actor, which: Period) -> AnnualReturn:
    coordinator = db.session.get(Organisation, uuid.UUID(actor.org_id))
    institutions = list(
        db.session.scalars(
            sa.select(Organisation.id).where(
                Organisation.region == coordinator.region,
                Organisation.kind.in_(permissions.HOST_KINDS),
            )
        )
    )
    result = AnnualReturn("region", coordinator.region, which, institutions=len(institutions))
    if len(institutions) < MIN_INSTITUTIONS:
        result.suppressed = True
    else:
        _count(result, institutions)
    # Counts of other organisations' decisions reach the coordinator as an aggregate, not as
    # records: its basis is named and the read audited (docs/architecture.md, named bases).
    audit.record(
        actor,
        RETURNS_READ,
        "granted",
        resource_type="annual_return",
        basis=REGIONAL_AGGREGATE,
        period=which.label,
        institutions=len(institutions),
        suppressed=int(result.suppressed),
    )
    return result


def _count(result: AnnualReturn, org_ids: list[uuid.UUID]) -> None:
    """Add up the current decisions of the organisations' events dated in the period."""
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
        .where(
            Event.owner_org_id.in_(org_ids),
            Decision.superseded_by_appeal == sa.false(),
        )
        .subquery()
    )
    rows = db.session.execute(
        sa.select(ranked.c.outcome, ranked.c.reason_category, sa.func.count())
        .where(
            ranked.c.rank == 1,
            ranked.c.decided_on >= result.period.start,
            ranked.c.decided_on < result.period.end,
        )
        .group_by(ranked.c.outcome, ranked.c.reason_category)
    )
    for outcome, reason, count in rows:
        outcome = Outcome(outcome)
        if outcome == Outcome.APPROVED:
            result.approved += count
        elif outcome == Outcome.APPROVED_WITH_CONDITIONS:
            result.approved_with_conditions += count
        elif outcome == Outcome.POSTPONED:
            result.postponed += count
        elif reason is None:
            result.rejected_unrecorded += count
        else:
            result.rejected[ReasonCategory(reason).value] += count


CSV_COLUMNS = (
    "scope",
    "name",
    "basis",
    "period",
    "period_start",
    "period_end",
    "approved",
    "approved_with_conditions",
    *(f"rejected_{reason.value}" for reason in REASONS),
    "rejected_no_reason_recorded",
    "rejected_total",
    "postponed",
)


def to_csv(result: AnnualReturn) -> str:
    """The return as CSV: a header and one row (a suppressed region's counts left empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    last = date.fromordinal(result.period.end.toordinal() - 1)
    head = [
        result.scope,
        _safe_cell(result.name),
        result.period.basis,
        result.period.label,
        result.period.start.isoformat(),
        last.isoformat(),
    ]
    if result.suppressed:
        counts: list[object] = [""] * (len(CSV_COLUMNS) - len(head))
    else:
        counts = [
            result.approved,
            result.approved_with_conditions,
            *(result.rejected[reason.value] for reason in REASONS),
            result.rejected_unrecorded,
            result.rejected_total,
            result.postponed,
        ]
    writer.writerow([*head, *counts])
    return buffer.getvalue()


def _safe_cell(text: str) -> str:
    # A spreadsheet would run a cell starting with one of these as a formula.
    return "'" + text if text[:1] in {"=", "+", "-", "@"} else text
