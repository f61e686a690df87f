"""Reading the audit log for review: filters, lists, refusals, exports, verifying (the activity
page and its unusual-access flags are `audit.activity`).

Every query here is limited by `permissions.visible_entries(actor)`, so that nothing a reviewer
may not see is shown, counted, charted or exported. The rules that flag unusual access are pure
functions over aggregated rows, so they can be tested on constructed data.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from audit import links, log, merkle, names, notes, permissions
from audit import services as audit
from audit import verify as verification
from audit import witness as witnesses
from audit.actions import AUDIT_REVIEW, AUDIT_VERIFY, in_words
from audit.models import (
    AuditCheckpoint,
    AuditEntry,
    AuditEntrySubject,
    AuditLeaf,
    AuditVerification,
)
from core.db import db, utcnow
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.security import Actor, ActorKind

PAGE_SIZE = 50
EXPORT_CAP = 10_000
RECEIPT_BATCH = 200  # indexes per query for receipts (keeps SQLite under its parameter limit)
DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)
OUTCOMES = ("granted", "denied", "failed")

#: Kinds of subject a reviewer can look up, as `audit.services.record(subjects=...)` names them.
#: Speakers are not in the hub yet: for now the DPO types the speaker's identifier as the
#: speaker records will carry it; a later issue lets them choose a speaker by name instead.
SUBJECT_KINDS = {
    "speaker": "Speaker (their identifier in the hub)",
    "person": "Person with a hub account (their account id)",
    "account": "Sign-in email address (including failed sign-ins)",
}
PSEUDONYM_PATTERN = re.compile(r"^[0-9a-f]{64}$")
DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# --- who may review ---------------------------------------------------------------------


def require_reviewer(actor: Actor, action: str = AUDIT_REVIEW) -> None:
    """Refuse (and have the edge audit the refusal as `action`) anyone who is not a DPO or
    auditor."""
    if actor.kind != ActorKind.PERSON or not permissions.can_read_log(actor):
        raise PermissionDenied(
            "Only data protection officers and auditors can review the audit log.",
            reason="role_required",
            audit={"action": action, "resource_type": "audit_log"},
        )


def record_review(actor: Actor, action: str = AUDIT_REVIEW, **details: Any) -> None:
    """Audit a look at the log: which page and which filters, never the values searched for."""
    audit.record(actor, action, "granted", resource_type="audit_log", **details)


# --- filters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryFilter:
    """What a reviewer narrowed the log to; every field is optional."""

    person_id: str | None = None
    organisation_id: str | None = None
    agreement_id: str | None = None
    purpose: str | None = None
    action: str | None = None
    outcome: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    pseudonym: str | None = None
    refusals_only: bool = False

    def names(self) -> list[str]:
        """The filters in use, by name, sorted (what the audit entry of a review records)."""
        used = [
            name
            for name in (
                "person_id",
                "organisation_id",
                "agreement_id",
                "purpose",
                "action",
                "outcome",
                "date_from",
                "date_to",
                "pseudonym",
            )
            if getattr(self, name) is not None
        ]
        return sorted(used + (["refusals"] if self.refusals_only else []))

    def query_args(self) -> dict[str, str]:
        """The filter as query parameters for links (the subject only ever as its pseudonym)."""
        args = {
            "person": self.person_id,
            "organisation": self.organisation_id,
            "agreement": self.agreement_id,
            "purpose": self.purpose,
            "action": self.action,
            "outcome": self.outcome,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
            "pseudonym": self.pseudonym,
            "view": "refusals" if self.refusals_only else None,
        }
        return {key: value for key, value in args.items() if value}


@dataclass(frozen=True)
class FilterOptions:
    """The choices the filter form offers this reviewer."""

    people: list[tuple[str, str]]
    organisations: list[tuple[str, str]]
    actions: list[str]
    #: Agreements named by visible entries, as (id, "NSH-DSA-... vN: title").
    agreements: list[tuple[str, str]] = ()  # type: ignore[assignment]
    #: Purposes the hub knows (and any other recorded in visible entries), as (code, words).
    purposes: list[tuple[str, str]] = ()  # type: ignore[assignment]


def filter_options(actor: Actor) -> FilterOptions:
    """People the reviewer may name, every organisation, and the actions they can see."""
    require_reviewer(actor)
    session = db.session()
    people_query = (
        sa.select(
            names.PEOPLE.c.id, names.PEOPLE.c.name, names.ORGANISATIONS.c.name.label("org_name")
        )
        .join(names.ORGANISATIONS, names.ORGANISATIONS.c.id == names.PEOPLE.c.organisation_id)
        .where(names.nameable_people(actor))
        .order_by(names.PEOPLE.c.name, names.PEOPLE.c.id)
    )
    whole = permissions.sees_whole_log(actor)
    people = [
        (str(row.id), f"{row.name} ({row.org_name})" if whole else row.name)
        for row in session.execute(people_query)
    ]
    organisations = [
        (str(row.id), row.name)
        for row in session.execute(
            sa.select(names.ORGANISATIONS.c.id, names.ORGANISATIONS.c.name).order_by(
                names.ORGANISATIONS.c.name
            )
        )
    ]
    # The actions, agreements and purposes named by visible entries, in one pass over them
    # (the log is the largest table: each column read on its own was a pass of its own).
    seen = session.execute(
        sa.select(AuditEntry.action, AuditEntry.agreement_id, AuditEntry.purpose)
        .where(permissions.visible_entries(actor))
        .distinct()
    ).all()
    actions = {action for action, _, _ in seen}
    agreement_ids = sorted({agreement for _, agreement, _ in seen if agreement is not None})
    labels = links.agreement_labels(agreement_ids)
    agreements = sorted(
        ((i, names.agreement_text(labels.get(i))) for i in agreement_ids),
        key=lambda choice: choice[1],
    )
    recorded = {purpose for _, _, purpose in seen if purpose is not None}
    known = names.purposes_in_words()
    purposes = [(code, words) for code, words in known.items()] + sorted(
        (code, code) for code in set(recorded) - set(known)
    )
    return FilterOptions(
        people=people,
        organisations=organisations,
        actions=sorted(actions, key=in_words),
        agreements=agreements,
        purposes=purposes,
    )


def _parse_day(raw: str) -> date:
    """A date typed as YYYY-MM-DD (what `<input type=date>` sends); ValueError otherwise."""
    if not DATE_PATTERN.match(raw):
        raise ValueError(raw)
    return date.fromisoformat(raw)


def parse_filter(
    args: Mapping[str, str], options: FilterOptions, *, refusals_only: bool = False
) -> tuple[EntryFilter, dict[str, list[str]]]:
    """Read a filter from query parameters; returns it and GOV.UK field errors (if any)."""
    errors: dict[str, list[str]] = {}

    def text(name: str) -> str | None:
        """A parameter's value, stripped; None when empty."""
        value = (args.get(name) or "").strip()
        return value or None

    person = text("person")
    if person is not None and person not in {value for value, _ in options.people}:
        errors["person"] = ["Choose a person from the list."]
    organisation = text("organisation")
    if organisation is not None and organisation not in {v for v, _ in options.organisations}:
        errors["organisation"] = ["Choose an organisation from the list."]
    action = text("action")
    if action is not None and action not in options.actions:
        errors["action"] = ["Choose an action from the list."]
    outcome = None if refusals_only else text("outcome")
    if outcome is not None and outcome not in OUTCOMES:
        errors["outcome"] = ["Choose granted, denied or failed."]
    agreement, purpose = text("agreement"), text("purpose")
    if agreement is not None and agreement not in {value for value, _ in options.agreements}:
        errors["agreement"] = ["Choose an agreement from the list."]
    if purpose is not None and purpose not in {value for value, _ in options.purposes}:
        errors["purpose"] = ["Choose a purpose from the list."]
    days: dict[str, date | None] = {}
    for name, label in (("date_from", "start"), ("date_to", "end")):
        raw = text(name)
        days[name] = None
        if raw is not None:
            try:
                days[name] = _parse_day(raw)
            except ValueError:
                errors[name] = [f"Enter the {label} date as a real date, for example 2026-11-22."]
    if days["date_from"] and days["date_to"] and days["date_to"] < days["date_from"]:
        errors["date_to"] = ["The end date must be the same as or after the start date."]
    pseudonym = text("pseudonym")
    if pseudonym is not None and not PSEUDONYM_PATTERN.match(pseudonym):
        errors["subject"] = ["The subject pseudonym must be 64 lower-case hexadecimal characters."]
    entry_filter = EntryFilter(
        person_id=person,
        organisation_id=organisation,
        agreement_id=agreement,
        purpose=purpose,
        action=action,
        outcome=outcome,
        date_from=days["date_from"],
        date_to=days["date_to"],
        pseudonym=pseudonym,
        refusals_only=refusals_only,
    )
    return entry_filter, errors


def normalise_subject(kind: str, identifier: str) -> str:
    """The identifier as the writers pseudonymise it; raises ValueError if it cannot be one."""
    value = identifier.strip()
    if not value:
        raise ValueError("empty")
    if kind == "account":
        # Sign-in pseudonymises the address lower-cased (after validating it when it can).
        return value.lower()
    if kind == "person":
        return str(uuid.UUID(value))
    return value


def look_up_subject(actor: Actor, kind: str, identifier: str, page: str) -> str:
    """The pseudonym of a subject, for matching entries; the lookup itself is audited and
    carries the subject's pseudonym, so it shows in that subject's own history."""
    require_reviewer(actor)
    if kind not in SUBJECT_KINDS:
        raise ValidationFailed(
            "Choose the kind of subject.", errors={"subject_kind": ["Choose the kind of subject."]}
        )
    try:
        value = normalise_subject(kind, identifier)
    except ValueError as exc:
        message = (
            "Enter the person's hub account id, like 3f2b1c4e-0000-4000-8000-000000000000."
            if kind == "person"
            else "Enter the subject's identifier."
        )
        raise ValidationFailed(message, errors={"subject": [message]}) from exc
    record_review(actor, page=page, lookup=kind, subjects=[(kind, value)])
    return audit.subject_pseudonym(kind, value)


def _day_start_ms(day: date) -> int:
    """Milliseconds since the epoch at 00:00 UTC on `day`."""
    return (day - EPOCH).days * DAY_MS


def _refusal() -> sa.ColumnElement[bool]:
    """Entries a DPO reviews as refusals: denials, and failed sign-ins."""
    # Denied is a refusal by definition; a failed sign-in is the other kind a DPO watches.
    # The first term is implied by the others; it is spelt out so that both engines use the
    # partial index on entries that were not granted (`ix_audit_entries_refusals`).
    return sa.and_(
        AuditEntry.outcome != "granted",
        sa.or_(
            AuditEntry.outcome == "denied",
            sa.and_(
                AuditEntry.outcome == "failed",
                AuditEntry.action.startswith("sign_in", autoescape=True),
            ),
        ),
    )


def conditions(actor: Actor, entry_filter: EntryFilter) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses for a filter, always starting with what `actor` may see."""
    f = entry_filter
    where: list[sa.ColumnElement[bool]] = [permissions.visible_entries(actor)]
    if f.person_id:
        where.append(AuditEntry.actor == f"person:{f.person_id}")
    if f.organisation_id:
        where.append(AuditEntry.actor_org == f.organisation_id)
    if f.agreement_id:
        where.append(AuditEntry.agreement_id == f.agreement_id)
    if f.purpose:
        where.append(AuditEntry.purpose == f.purpose)
    if f.action:
        where.append(AuditEntry.action == f.action)
    if f.outcome:
        where.append(AuditEntry.outcome == f.outcome)
    if f.date_from:
        where.append(AuditEntry.time_ms >= _day_start_ms(f.date_from))
    if f.date_to:
        # Computed in milliseconds rather than as date_to + 1 day, which overflows at 9999-12-31.
        where.append(AuditEntry.time_ms < _day_start_ms(f.date_to) + DAY_MS)
    if f.pseudonym:
        where.append(
            sa.exists().where(
                AuditEntrySubject.entry_seq == AuditEntry.seq,
                AuditEntrySubject.pseudonym == f.pseudonym,
            )
        )
    if f.refusals_only:
        where.append(_refusal())
    return where


# --- listing entries --------------------------------------------------------------------


@dataclass(frozen=True)
class EntryRow:
    """One entry as the review pages show it, with names where the reviewer may see them."""

    seq: int
    index: int | None
    time: datetime
    actor: str
    actor_name: str | None
    organisation: str | None
    organisation_name: str | None
    action: str
    outcome: str
    reason: str | None
    resource_type: str | None
    resource_ids: list[str]
    resource_org: str | None
    resource_org_name: str | None
    purpose: str | None
    agreement_id: str | None
    agreement_version: int | None
    # What the pages show instead of codes and ids (see `_rows`).
    action_words: str = ""
    who: str = ""
    resource_words: str = ""
    resource_links: tuple[str | None, ...] = ()
    agreement: links.AgreementLabel | None = None
    purpose_words: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """How the list and the entry's own page name the entry (the same words, one number)."""
        return f"Entry {self.seq}: {self.action_words}"


@dataclass(frozen=True)
class EntryPage:
    """One page of a filtered list, with the total it was cut from."""

    rows: list[EntryRow]
    total: int
    page: int
    pages: int


def count_entries(actor: Actor, entry_filter: EntryFilter) -> int:
    """How many entries the reviewer may see match the filter."""
    require_reviewer(actor)
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(*conditions(actor, entry_filter))
    )


def list_entries(
    actor: Actor, entry_filter: EntryFilter, page: int = 1, *, oldest_first: bool = False
) -> EntryPage:
    """A page of matching entries, newest first (or oldest first, for a subject's history)."""
    require_reviewer(actor)
    total = count_entries(actor, entry_filter)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    order = AuditEntry.seq.asc() if oldest_first else AuditEntry.seq.desc()
    results = db.session.execute(
        sa.select(AuditEntry, AuditLeaf.idx)
        .outerjoin(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
        .where(*conditions(actor, entry_filter))
        .order_by(order)
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    return EntryPage(rows=entry_rows(actor, results), total=total, page=page, pages=pages)


def refusal_reasons(actor: Actor, entry_filter: EntryFilter) -> list[tuple[str, int]]:
    """Refusals under the filter counted by reason, most frequent first."""
    require_reviewer(actor)
    refusals = replace(entry_filter, refusals_only=True)
    rows = db.session.execute(
        sa.select(AuditEntry.reason, sa.func.count())
        .where(*conditions(actor, refusals))
        .group_by(AuditEntry.reason)
    ).all()
    return sorted(((reason or "none", n) for reason, n in rows), key=lambda r: (-r[1], r[0]))


def _json_list(value: str | None) -> list[str]:
    """A JSON array column as a list of strings (empty when absent)."""
    return [str(item) for item in json.loads(value)] if value else []


def entry_rows(actor: Actor, results: Sequence[Any]) -> list[EntryRow]:
    """(entry, index) results as rows, with names in place of ids: people and organisations
    (every actor of an entry the reviewer may see is named), agreements by reference, purposes
    and actions in words, records as links."""
    entries = [(entry, idx) for entry, idx in results]
    actor_names = names.names_of_people([entry.actor for entry, _ in entries])
    org_names = names.organisation_names(
        [o for entry, _ in entries for o in (entry.actor_org, entry.resource_org)]
    )
    agreements = links.agreement_labels(entry.agreement_id for entry, _ in entries)
    return [
        EntryRow(
            seq=entry.seq,
            index=idx,
            time=datetime.fromtimestamp(entry.time_ms / 1000, UTC),
            actor=entry.actor,
            actor_name=actor_names.get(entry.actor),
            organisation=entry.actor_org,
            organisation_name=org_names.get(entry.actor_org or ""),
            action=entry.action,
            outcome=entry.outcome,
            reason=entry.reason,
            resource_type=entry.resource_type,
            resource_ids=_json_list(entry.resource_ids),
            resource_org=entry.resource_org,
            resource_org_name=org_names.get(entry.resource_org or ""),
            purpose=entry.purpose,
            agreement_id=entry.agreement_id,
            agreement_version=entry.agreement_version,
            action_words=in_words(entry.action),
            who=names.who_acted(
                entry.actor, actor_names.get(entry.actor), org_names.get(entry.actor_org or "")
            ),
            resource_words=links.record_words(entry.resource_type),
            resource_links=tuple(
                links.record_url(entry.resource_type, rid, entry.resource_org)
                for rid in _json_list(entry.resource_ids)
            ),
            agreement=agreements.get(entry.agreement_id or ""),
            purpose_words=names.purpose_words(entry.purpose),
            fields=tuple(_json_list(entry.fields)),
        )
        for entry, idx in entries
    ]


# --- one entry --------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryDetail:
    """One entry in full: its row, every field of its leaf, and its leaf hash."""

    row: EntryRow
    leaf_fields: list[tuple[str, str]]
    leaf_hash: str
    # The member of staff a partner's call was made for, as the partner named them, where the
    # reviewer may know it (the entry holds only a pseudonym: `audit.services.on_behalf_labels`).
    on_behalf_of: str | None = None
    on_behalf_label: str | None = None


def format_leaf_value(value: Any) -> str:
    """A leaf value as text: lists joined by spaces, objects as compact JSON."""
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def get_entry(actor: Actor, seq: int) -> EntryDetail:
    """The entry written `seq`-th, if the reviewer may see it (else NotFound, as if absent)."""
    require_reviewer(actor)
    if not 0 < seq < 2**63:  # beyond a BIGINT, PostgreSQL would fail rather than find nothing
        raise NotFound(f"There is no audit entry {seq} that you may see.")
    result = db.session.execute(
        sa.select(AuditEntry, AuditLeaf.idx)
        .outerjoin(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
        .where(AuditEntry.seq == seq, permissions.visible_entries(actor))
    ).first()
    if result is None:
        raise NotFound(f"There is no audit entry {seq} that you may see.")
    entry = result[0]
    parsed = audit.parse_leaf(entry.leaf)
    on_behalf_of = parsed.get("on_behalf_of")
    return EntryDetail(
        row=entry_rows(actor, [result])[0],
        leaf_fields=[(key, format_leaf_value(parsed[key])) for key in sorted(parsed)],
        leaf_hash=entry.leaf_hash.hex(),
        on_behalf_of=on_behalf_of,
        on_behalf_label=audit.on_behalf_labels(actor, [on_behalf_of]).get(on_behalf_of)
        if on_behalf_of
        else None,
    )


# --- exports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportedEntry:
    """One exported entry: its place in the log, its exact leaf, and the leaf parsed."""

    seq: int
    index: int | None
    leaf: bytes
    entry: dict[str, Any]


@dataclass(frozen=True)
class Export:
    """The entries of an export, in log order, and whether the cap cut it short."""

    entries: list[ExportedEntry]
    total: int

    @property
    def truncated(self) -> bool:
        """True if more entries matched than the export holds."""
        return self.total > len(self.entries)


def export_entries(actor: Actor, entry_filter: EntryFilter) -> Export:
    """Up to EXPORT_CAP matching entries, oldest first (a capped export can be continued by
    starting the date range after its last entry)."""
    require_reviewer(actor, "audit.export")
    total = count_entries(actor, entry_filter)
    results = db.session.execute(
        sa.select(AuditEntry.seq, AuditEntry.leaf, AuditLeaf.idx)
        .outerjoin(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
        .where(*conditions(actor, entry_filter))
        .order_by(AuditEntry.seq)
        .limit(EXPORT_CAP)
    ).all()
    entries = [
        ExportedEntry(seq=seq, index=idx, leaf=leaf, entry=audit.parse_leaf(leaf))
        for seq, leaf, idx in results
    ]
    return Export(entries=entries, total=total)


@dataclass(frozen=True)
class ReceiptCheckpoint:
    """The checkpoint receipts prove against: its signed note (with any cosignatures), its
    size, and its kind, `witnessed` or `signed`."""

    note: str
    size: int
    kind: str


def receipt_checkpoints() -> list[ReceiptCheckpoint]:
    """The checkpoints a receipt may prove against, in the order they are preferred: the
    latest witnessed one (its cosignatures make a receipt hold even against a log that shows
    its reader a history no one else sees), then the newest signed one."""
    session = db.session()
    found = []
    witnessed = witnesses.latest_witnessed(
        session, log.verifier_key(), witnesses.WitnessPolicy.current()
    )
    if witnessed is not None:
        found.append(ReceiptCheckpoint(witnessed.note, witnessed.checkpoint.size, "witnessed"))
    signed = log.latest_checkpoint(session)
    if signed is not None:
        found.append(ReceiptCheckpoint(signed.note, signed.size, "signed"))
    return found


def receipt(index: int) -> tuple[str, str]:
    """The receipt of the entry at `index` (a C2SP tlog-proof) and the kind of checkpoint it
    proves against: the first of `receipt_checkpoints` that holds the entry."""
    proof = receipts([index]).get(index)
    if proof is None:
        raise NotFound(f"Entry {index} is not yet in a signed checkpoint.")
    return proof


def receipts(indexes: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Receipts for `indexes` (as `receipt`), fetching tree nodes in batches; an index no
    checkpoint holds yet has none."""
    session = db.session()
    wanted = sorted({i for i in indexes if i >= 0})
    checkpoints = receipt_checkpoints()
    by_checkpoint: dict[ReceiptCheckpoint, list[int]] = {}
    for index in wanted:
        chosen = next((c for c in checkpoints if index < c.size), None)
        if chosen is not None:
            by_checkpoint.setdefault(chosen, []).append(index)
    found: dict[int, tuple[str, str]] = {}
    for checkpoint, held in by_checkpoint.items():
        for start in range(0, len(held), RECEIPT_BATCH):
            batch = held[start : start + RECEIPT_BATCH]
            plans = {i: merkle.inclusion_proof_nodes(i, checkpoint.size) for i in batch}
            nodes = log.fetch_nodes(
                session, (node for plan in plans.values() for group in plan for node in group)
            )

            def get(level: int, idx: int, nodes: dict[tuple[int, int], bytes] = nodes) -> bytes:
                """A stored subtree hash of this batch (bound now, not when the loop moves on)."""
                return nodes[(level, idx)]

            for index, plan in plans.items():
                hashes = [merkle.hash_nodes(group, get) for group in plan]
                proof = notes.format_tlog_proof(index, hashes, checkpoint.note)
                found[index] = (proof, checkpoint.kind)
    return found


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (OWASP: prefix with a single quote)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


CSV_COLUMNS = (
    "index",
    "seq",
    "id",
    "time_utc",
    "time_ms",
    "actor",
    "actor_org",
    "on_behalf_of",
    "action",
    "outcome",
    "reason",
    "resource_type",
    "resource_ids",
    "resource_org",
    "agreement_id",
    "agreement_version",
    "agreement_hash",
    "purpose",
    "fields",
    "subjects",
    "request_id",
    "details",
)


def csv_row(item: ExportedEntry) -> list[Any]:
    """One CSV row: the leaf's fields, lists joined by spaces, every cell formula-safe."""
    entry = item.entry
    values: dict[str, Any] = {key: entry.get(key, "") for key in CSV_COLUMNS}
    values["index"] = "" if item.index is None else item.index
    values["seq"] = item.seq
    values["time_utc"] = datetime.fromtimestamp(entry["time_ms"] / 1000, UTC).isoformat()
    for key in ("resource_ids", "fields", "subjects", "details"):
        values[key] = format_leaf_value(entry[key]) if key in entry else ""
    return [csv_safe(values[key]) for key in CSV_COLUMNS]


@dataclass(frozen=True)
class Integrity:
    """What the integrity page shows: the last verification, checkpoint, key and witnesses."""

    last_verification: AuditVerification | None
    checkpoint: AuditCheckpoint | None
    verifier_key: str
    cosigners: list[dict[str, Any]]


def integrity(actor: Actor) -> Integrity:
    """The state of the log's verification, for the integrity page."""
    require_reviewer(actor)
    session = db.session()
    cosigners = witnesses.latest_cosignatures(session)
    org_names = names.organisation_names(c["organisation_id"] for c in cosigners)
    for cosigner in cosigners:
        cosigner["organisation_name"] = org_names.get(cosigner["organisation_id"], "")
    return Integrity(
        last_verification=session.scalar(
            sa.select(AuditVerification).order_by(AuditVerification.id.desc()).limit(1)
        ),
        checkpoint=log.latest_checkpoint(session),
        verifier_key=log.verifier_key(),
        cosigners=cosigners,
    )


def verify_now(actor: Actor) -> AuditVerification:
    """Verify the whole log against the hub's key, keep the result, and audit the run.

    This reads every entry and tree node, so on a large log it takes seconds; that is
    acceptable while reviewers trigger it by hand (a background job can take it over later).
    """
    require_reviewer(actor, "audit.verify")
    session = db.session()
    started = utcnow()
    report = verification.verify(session, log.verifier_key())
    row = verification.record_verification(
        session, report, started, triggered_by=audit.actor_reference(actor)
    )
    audit.record(
        actor,
        AUDIT_VERIFY,
        "granted",
        resource_type="audit_log",
        result="ok" if report.ok else "failed",
        tree_size=report.tree_size,
        first_bad_index=report.first_bad_index,
    )
    return row
