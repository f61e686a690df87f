"""The activity page: volume per organisation per day, and the rules that flag unusual access
(a spike in an organisation's volume, entries out of hours, bulk exports).

Every query is limited by `permissions.visible_entries(actor)`, as on the other review pages.
The rules are pure functions over aggregated rows, so they can be tested on constructed data.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa

from audit import permissions
from audit.models import AuditEntry
from audit.review import DAY_MS, EPOCH, require_reviewer
from core.db import db, utcnow
from core.security import Actor

HOUR_MS = 3_600_000
ACTIVITY_DAYS = 30
BASELINE_DAYS = 28
SPIKE_MINIMUM = 20
SPIKE_DEVIATIONS = 3
#: A rule that compares a day with the organisation's own history needs that history first: at
#: least this many days with entries among the BASELINE_DAYS before the day ...
BASELINE_ACTIVE_DAYS = 7
#: ... and its threshold is never below this many entries a day (so a quiet history's
#: "threshold 0.3" does not make every ordinary day unusual).
THRESHOLD_FLOOR = 10.0
OUT_OF_HOURS_MINIMUM = 10
OUT_OF_HOURS_START = 20  # 20:00 UTC ...
OUT_OF_HOURS_END = 7  # ... to 07:00 UTC
EXPORT_ACTION_PREFIXES = ("export", "audit.export")
BULK_EXPORT_RECORDS = 1000
EXPORTS_PER_DAY = 5
#: Keys under which an export's entry states how many records it held.
EXPORT_COUNT_KEYS = ("count", "records", "rows", "returned")

#: Each unusual-access rule in plain words, as the activity page states it.
RULES = {
    "spike": (
        f"An organisation made more entries on one day than its daily average over the "
        f"previous {BASELINE_DAYS} days plus {SPIKE_DEVIATIONS} standard deviations (and never "
        f"fewer than {THRESHOLD_FLOOR:.0f}), and at least {SPIKE_MINIMUM} entries that day. "
        f"It needs a baseline: an organisation with entries on fewer than "
        f"{BASELINE_ACTIVE_DAYS} of those {BASELINE_DAYS} days is not compared yet."
    ),
    "out_of_hours": (
        f"One person or system made {OUT_OF_HOURS_MINIMUM} or more entries within one clock "
        f"hour between {OUT_OF_HOURS_START}:00 and {OUT_OF_HOURS_END:02d}:00 UTC."
    ),
    "bulk_export": (
        f"One export of more than {BULK_EXPORT_RECORDS:,} records, or more than "
        f"{EXPORTS_PER_DAY} exports by one person or system on one day (an export is an action "
        f"whose name starts with " + " or ".join(f"'{p}'" for p in EXPORT_ACTION_PREFIXES) + ")."
    ),
}


#: Each rule's title, as a heading or a list names it.
RULE_TITLES = {
    "spike": "An organisation far above its usual volume",
    "out_of_hours": "Bursts out of hours",
    "bulk_export": "Bulk exports",
}


# --- activity and unusual access --------------------------------------------------------


@dataclass(frozen=True)
class DailyCount:
    """How many entries one organisation's people and clients made on one UTC day."""

    organisation: str | None
    day: int  # days since 1970-01-01
    count: int


@dataclass(frozen=True)
class HourlyCount:
    """How many entries one actor made in one UTC clock hour."""

    actor: str
    organisation: str | None
    hour: int  # hours since 1970-01-01 00:00 UTC
    count: int


@dataclass(frozen=True)
class ExportEvent:
    """One export, with the number of records it said it held (if it said)."""

    seq: int
    actor: str
    organisation: str | None
    time_ms: int
    records: int | None


@dataclass(frozen=True)
class Flag:
    """One occurrence of an unusual-access rule."""

    rule: str
    organisation: str | None
    day: int
    count: int
    actor: str | None = None
    hour: int | None = None
    detail: str = ""
    #: What tells two flags of one rule, day and actor apart (a single export's entry seq).
    ref: str = ""

    @property
    def key(self) -> str:
        """The flag's identity, stable while its count grows during the day: what a review
        of it is kept under."""
        parts = (self.rule, self.day, self.organisation, self.actor, self.hour, self.ref)
        return ":".join("-" if part is None or part == "" else str(part) for part in parts)


def day_of(day_number: int) -> date:
    """The UTC date of a day number (days since 1970-01-01)."""
    return EPOCH + timedelta(days=day_number)


def baseline_threshold(history: Sequence[int]) -> float | None:
    """The count above which a day is unusual against `history` (the days before it, oldest
    first, days without entries as 0): the mean plus SPIKE_DEVIATIONS population standard
    deviations, never below THRESHOLD_FLOOR; None while the history has fewer than
    BASELINE_ACTIVE_DAYS days with entries (no baseline yet, so nothing is unusual).

    The one place the baseline rule is written; `spike_flags` applies it."""
    if sum(1 for count in history if count > 0) < BASELINE_ACTIVE_DAYS:
        return None
    mean = statistics.fmean(history)
    return max(THRESHOLD_FLOOR, mean + SPIKE_DEVIATIONS * statistics.pstdev(history))


def spike_flags(counts: Iterable[DailyCount], days: Sequence[int]) -> list[Flag]:
    """Days in `days` on which an organisation's count is far above its own baseline
    (`baseline_threshold` of the BASELINE_DAYS before it), and at least SPIKE_MINIMUM."""
    by_org: dict[str | None, dict[int, int]] = defaultdict(dict)
    for row in counts:
        by_org[row.organisation][row.day] = by_org[row.organisation].get(row.day, 0) + row.count
    flags = []
    for organisation, per_day in by_org.items():
        for day in days:
            count = per_day.get(day, 0)
            if count < SPIKE_MINIMUM:
                continue
            history = [per_day.get(d, 0) for d in range(day - BASELINE_DAYS, day)]
            threshold = baseline_threshold(history)
            if threshold is not None and count > threshold:
                mean = statistics.fmean(history)
                flags.append(
                    Flag(
                        "spike",
                        organisation,
                        day,
                        count,
                        detail=f"baseline {mean:.1f} a day, threshold {threshold:.1f}",
                    )
                )
    return sorted(flags, key=lambda f: (f.day, f.organisation or ""))


def is_out_of_hours(hour: int) -> bool:
    """True for an hour (since the epoch) that starts between 20:00 and 06:00 UTC."""
    of_day = hour % 24
    return of_day >= OUT_OF_HOURS_START or of_day < OUT_OF_HOURS_END


def out_of_hours_flags(hours: Iterable[HourlyCount]) -> list[Flag]:
    """Clock hours out of hours in which one actor made OUT_OF_HOURS_MINIMUM or more entries."""
    flags = [
        Flag(
            "out_of_hours",
            row.organisation,
            row.hour // 24,
            row.count,
            actor=row.actor,
            hour=row.hour % 24,
            detail=f"{row.hour % 24:02d}:00 to {(row.hour + 1) % 24:02d}:00 UTC",
        )
        for row in hours
        if row.count >= OUT_OF_HOURS_MINIMUM and is_out_of_hours(row.hour)
    ]
    return sorted(flags, key=lambda f: (f.day, f.hour or 0, f.actor or ""))


def bulk_export_flags(exports: Iterable[ExportEvent]) -> list[Flag]:
    """Exports of more than BULK_EXPORT_RECORDS records, and actors making more than
    EXPORTS_PER_DAY exports on one UTC day."""
    flags = []
    per_day: Counter[tuple[str, str | None, int]] = Counter()
    for event in exports:
        day = event.time_ms // DAY_MS
        per_day[(event.actor, event.organisation, day)] += 1
        if event.records is not None and event.records > BULK_EXPORT_RECORDS:
            flags.append(
                Flag(
                    "bulk_export",
                    event.organisation,
                    day,
                    event.records,
                    actor=event.actor,
                    detail=f"one export of {event.records:,} records (entry {event.seq})",
                    ref=str(event.seq),
                )
            )
    for (actor, organisation, day), n in per_day.items():
        if n > EXPORTS_PER_DAY:
            flags.append(
                Flag(
                    "bulk_export",
                    organisation,
                    day,
                    n,
                    actor=actor,
                    detail=f"{n} exports in one day",
                )
            )
    return sorted(flags, key=lambda f: (f.day, f.actor or "", f.detail))


def _bucket(ms: int) -> sa.ColumnElement[int]:
    """The number of whole `ms` periods since the epoch of an entry's time, in SQL."""
    # Integer division on both engines (time_ms is a BIGINT; SQLite divides integers exactly
    # as PostgreSQL does). The divisor is inlined, not bound, so that the same expression in
    # SELECT and GROUP BY is textually identical, as PostgreSQL requires.
    return AuditEntry.time_ms // sa.literal_column(str(ms), sa.BigInteger)


def daily_counts(actor: Actor, first_day: int, last_day: int) -> list[DailyCount]:
    """Entries per acting organisation per UTC day in [first_day, last_day], as visible."""
    day = _bucket(DAY_MS).label("day")
    rows = db.session.execute(
        sa.select(AuditEntry.actor_org, day, sa.func.count())
        .where(
            permissions.visible_entries(actor),
            AuditEntry.time_ms >= first_day * DAY_MS,
            AuditEntry.time_ms < (last_day + 1) * DAY_MS,
        )
        .group_by(AuditEntry.actor_org, day)
    ).all()
    return [DailyCount(org, int(d), int(n)) for org, d, n in rows]


def hourly_counts(actor: Actor, first_day: int, last_day: int) -> list[HourlyCount]:
    """Actors' entries per UTC clock hour, only the hours with OUT_OF_HOURS_MINIMUM or more."""
    hour = _bucket(HOUR_MS).label("hour")
    count = sa.func.count()
    rows = db.session.execute(
        sa.select(AuditEntry.actor, AuditEntry.actor_org, hour, count)
        .where(
            permissions.visible_entries(actor),
            AuditEntry.time_ms >= first_day * DAY_MS,
            AuditEntry.time_ms < (last_day + 1) * DAY_MS,
        )
        .group_by(AuditEntry.actor, AuditEntry.actor_org, hour)
        .having(count >= OUT_OF_HOURS_MINIMUM)
    ).all()
    return [HourlyCount(a, org, int(h), int(n)) for a, org, h, n in rows]


def export_records(details: str | None) -> int | None:
    """The number of records an export's details say it held, if they say."""
    if not details:
        return None
    try:
        parsed = json.loads(details)
    except ValueError:
        return None
    for key in EXPORT_COUNT_KEYS:
        value = parsed.get(key) if isinstance(parsed, dict) else None
        if isinstance(value, int):
            return value
    return None


def export_events(actor: Actor, first_day: int, last_day: int) -> list[ExportEvent]:
    """Every visible export in [first_day, last_day]."""
    rows = db.session.execute(
        sa.select(
            AuditEntry.seq,
            AuditEntry.actor,
            AuditEntry.actor_org,
            AuditEntry.time_ms,
            AuditEntry.details,
        ).where(
            permissions.visible_entries(actor),
            AuditEntry.time_ms >= first_day * DAY_MS,
            AuditEntry.time_ms < (last_day + 1) * DAY_MS,
            sa.or_(
                *(AuditEntry.action.startswith(p, autoescape=True) for p in EXPORT_ACTION_PREFIXES)
            ),
        )
    ).all()
    return [
        ExportEvent(seq, a, org, time_ms, export_records(details))
        for seq, a, org, time_ms, details in rows
    ]


@dataclass
class Activity:
    """Volume per organisation per day over the last ACTIVITY_DAYS days, and the flags."""

    days: list[int]
    organisations: list[str | None]  # by volume, largest first
    counts: dict[tuple[str | None, int], int]
    flags: dict[str, list[Flag]] = field(default_factory=dict)

    def total(self, organisation: str | None) -> int:
        """The organisation's entries over the whole period."""
        return sum(self.counts.get((organisation, day), 0) for day in self.days)


def activity(actor: Actor, today: int | None = None) -> Activity:
    """The activity page's numbers: one SQL aggregate per rule, the rules applied in Python."""
    require_reviewer(actor)
    today = int(utcnow().timestamp() * 1000) // DAY_MS if today is None else today
    first = today - ACTIVITY_DAYS + 1
    days = list(range(first, today + 1))
    daily = daily_counts(actor, first - BASELINE_DAYS, today)
    counts = {(row.organisation, row.day): row.count for row in daily if row.day >= first}
    result = Activity(days=days, organisations=[], counts=counts)
    organisations = {org for org, _ in counts}
    result.organisations = sorted(organisations, key=lambda o: (-result.total(o), o or ""))
    result.flags = {
        "spike": spike_flags(daily, days),
        "out_of_hours": out_of_hours_flags(hourly_counts(actor, first, today)),
        "bulk_export": bulk_export_flags(export_events(actor, first, today)),
    }
    return result


# --- integrity --------------------------------------------------------------------------
