"""Writing audit entries: canonical JSON leaves, subject pseudonyms, same-transaction inserts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from audit import log, merkle, permissions
from audit.actions import AUDIT_READ
from audit.models import AuditEntry, AuditLeaf, OnBehalfOfLabel
from core.db import db, driver_rows, utcnow
from core.errors import PermissionDenied
from core.security import Actor, ActorKind

LEAF_PREFIX = b"hub-audit/v1\n"
#: How much of a record's id the side table `audit_entry_resources` indexes (ids are UUIDs or
#: route templates; the leaf keeps every id whole).
RESOURCE_ID_LENGTH = 200
#: What an entry says for a purpose the caller stated but the hub does not know.
UNKNOWN_PURPOSE = "unknown"
OUTCOMES = frozenset({"granted", "denied", "failed"})

# The top-level keys a v1 entry may carry, each mirrored by a column of `audit_entries`.
SCALAR_KEYS = (
    "id",
    "time_ms",
    "actor",
    "actor_org",
    "on_behalf_of",
    "action",
    "outcome",
    "reason",
    "resource_type",
    "resource_org",
    "agreement_id",
    "agreement_version",
    "agreement_hash",
    "purpose",
    "request_id",
)
LIST_KEYS = ("resource_ids", "fields", "subjects")


class AuditValueError(ValueError):
    """A value that an audit entry cannot carry (only integers, strings and lists of strings)."""


@dataclass(frozen=True, slots=True)
class WrittenEntry:
    """What `record` wrote: enough to find the entry again or check its leaf."""

    seq: int
    uuid: str
    action: str
    outcome: str
    leaf: bytes
    leaf_hash: bytes


@dataclass(frozen=True)
class AgreementRef:
    """The agreement an entry was made under: id, version and content hash."""

    id: str
    version: int
    content_hash: str


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """Sorted keys, no whitespace, UTF-8; integers, strings, lists and objects only."""
    _check_canonical(value, "entry")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check_canonical(value: Any, path: str) -> None:
    if isinstance(value, bool | float) or value is None:
        raise AuditValueError(f"{path}: {type(value).__name__} is not allowed in an audit entry")
    if isinstance(value, int | str):
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_canonical(item, f"{path}[{i}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditValueError(f"{path}: keys must be strings")
            _check_canonical(item, f"{path}.{key}")
        return
    raise AuditValueError(f"{path}: {type(value).__name__} is not allowed in an audit entry")


def subject_pseudonym(kind: str, identifier: str) -> str:
    """HMAC-SHA256 of a subject (a speaker, an account) under the hub's pseudonym key, hex."""
    key: bytes = current_app.config["HUB_AUDIT_PSEUDONYM_KEY"]
    message = f"{kind}:{identifier}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def on_behalf_of_pseudonym(org_id: str | None, value: str) -> str:
    """How an entry names the member of staff a partner's call was made for: a keyed pseudonym
    of what the partner sent (stable for one organisation's value, unlinkable across
    organisations); the value itself is kept, erasably, in `audit_on_behalf_labels`."""
    return "psn:" + subject_pseudonym("on-behalf-of", f"{org_id or ''}:{value}")[:32]


def _loggable_purpose(purpose: str | None) -> str | None:
    """A purpose the hub knows, as itself; anything else a caller typed, as a code only."""
    if purpose is None or purpose in current_app.config.get("HUB_PURPOSES", ()):
        return purpose
    return UNKNOWN_PURPOSE


def actor_reference(actor: Actor) -> str:
    """How the log names an actor: by kind and id, never by name or email."""
    if actor.kind in {ActorKind.PERSON, ActorKind.CLIENT} and actor.id:
        return f"{actor.kind}:{actor.id}"
    return actor.kind if actor.kind != ActorKind.SYSTEM else f"system:{actor.label or 'hub'}"


def record(actor: Actor, action: str, outcome: str, **fields: Any) -> WrittenEntry:
    """Append one entry to the audit log in the caller's transaction (flushed, not committed):
    `fields` as `entry` takes them."""
    return record_many(actor, [{"action": action, "outcome": outcome, **fields}])[0]


def record_many(actor: Actor, entries: Iterable[Mapping[str, Any]]) -> list[WrittenEntry]:
    """Append several entries by one actor (each given as `record`'s keyword arguments, with
    its `action` and `outcome`) to the audit log in the caller's transaction, in their order,
    in one statement on PostgreSQL (a request's disclosures are written together)."""
    written = [entry(actor, **dict(fields)) for fields in entries]
    if not written:
        return []
    session = db.session()
    label = _on_behalf_label(written[0].values["on_behalf_of"], actor)
    if session.get_bind().dialect.name == "postgresql":
        seqs = _insert_postgresql(session, written, label)
    else:
        seqs = [_insert_sqlite(session, one) for one in written]
        if label:
            session.execute(
                sqlite_insert(OnBehalfOfLabel)
                .values(**label)
                .on_conflict_do_nothing(index_elements=["pseudonym"])
            )
    log.mark_written(session)
    return [
        WrittenEntry(
            seq,
            e.values["uuid"],
            e.values["action"],
            e.values["outcome"],
            e.values["leaf"],
            e.values["leaf_hash"],
        )
        for seq, e in zip(seqs, written, strict=True)
    ]


@dataclass(frozen=True)
class _Entry:
    """One entry's columns, its subjects' pseudonyms and its records' ids, ready to insert."""

    values: dict[str, Any]
    pseudonyms: list[str]
    resources: list[str]


def entry(
    actor: Actor,
    action: str,
    outcome: str,
    *,
    reason: str | None = None,
    resource_type: str | None = None,
    resource_ids: Iterable[str] = (),
    resource_org: str | None = None,
    agreement: AgreementRef | None = None,
    purpose: str | None = None,
    fields: Iterable[str] = (),
    subjects: Iterable[tuple[str, str]] = (),
    **details: Any,
) -> _Entry:
    """One entry, checked and ready to write (`record`, `record_many`).

    `subjects` are (kind, identifier) pairs, stored only as pseudonyms; `details` hold further
    non-personal facts (codes, counts, field names), never personal values.
    """
    if outcome not in OUTCOMES:
        raise AuditValueError(f"outcome must be one of {sorted(OUTCOMES)}, not {outcome!r}")
    if outcome != "granted" and not reason:
        raise AuditValueError("a denied or failed entry needs a reason code")
    pseudonyms = sorted({subject_pseudonym(kind, ident) for kind, ident in subjects})
    on_behalf_of = (
        on_behalf_of_pseudonym(actor.org_id, actor.on_behalf_of) if actor.on_behalf_of else None
    )
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "time_ms": int(utcnow().timestamp() * 1000),
        "actor": actor_reference(actor),
        "actor_org": actor.org_id,
        "on_behalf_of": on_behalf_of,
        "action": action,
        "outcome": outcome,
        "reason": reason,
        "resource_type": resource_type,
        "resource_org": resource_org,
        "agreement_id": agreement.id if agreement else None,
        "agreement_version": agreement.version if agreement else None,
        "agreement_hash": agreement.content_hash if agreement else None,
        "purpose": _loggable_purpose(purpose if purpose is not None else actor.purpose),
        "request_id": actor.request_id,
        "resource_ids": sorted(str(r) for r in resource_ids),
        "fields": sorted(set(fields)),
        "subjects": pseudonyms,
    }
    detail_body = {k: v for k, v in details.items() if v is not None}
    if detail_body:
        body["details"] = detail_body
    # Absent values are left out rather than written as null: the leaf holds only ints/strings.
    leaf_body = {k: v for k, v in body.items() if v is not None and v != []}
    leaf = LEAF_PREFIX + canonical_json(leaf_body)
    values = {
        "uuid": body["id"],
        "time_ms": body["time_ms"],
        "actor": body["actor"],
        "actor_org": body["actor_org"],
        "on_behalf_of": body["on_behalf_of"],
        "action": action,
        "outcome": outcome,
        "reason": reason,
        "resource_type": resource_type,
        "resource_org": resource_org,
        "resource_ids": _json_or_none(body["resource_ids"]),
        "agreement_id": body["agreement_id"],
        "agreement_version": body["agreement_version"],
        "agreement_hash": body["agreement_hash"],
        "purpose": body["purpose"],
        "fields": _json_or_none(body["fields"]),
        "request_id": body["request_id"],
        "details": _json_or_none(detail_body),
        "leaf": leaf,
        "leaf_hash": merkle.leaf_hash(leaf),
    }
    resources = sorted({r[:RESOURCE_ID_LENGTH] for r in body["resource_ids"]})
    return _Entry(values, pseudonyms, resources)


def _insert_postgresql(
    session: Any, entries: list[_Entry], label: Mapping[str, Any] | None
) -> list[int]:
    """The entries, their places in the queue, their subjects and records, and the label of
    the member of staff they were made for: one round trip, the rows sent as one JSON document
    (far cheaper to send than an array per column). Sequence numbers follow the entries'
    order."""
    rows = [
        {
            **{name: e.values[name] for name in _COLUMN_NAMES if name not in _BYTES},
            **{name: base64.b64encode(e.values[name]).decode() for name in _BYTES},
            "n": n,
            "subjects": e.pseudonyms,
            "resources": e.resources,
        }
        for n, e in enumerate(entries)
    ]
    labels = {f"label_{name}": (label or {}).get(name) for name in _LABEL_COLUMNS}
    found = dict(driver_rows(session, _PG_INSERT, {"rows": json.dumps(rows), **labels}))
    return [found[e.values["uuid"]] for e in entries]


def _insert_sqlite(session: Any, prepared: _Entry) -> int:
    seq: int = session.execute(_INSERT_ENTRY, prepared.values).scalar_one()
    session.execute(_INSERT_PENDING, {"seq": seq})
    if prepared.pseudonyms:
        session.execute(_INSERT_SUBJECT, [{"seq": seq, "p": p} for p in prepared.pseudonyms])
    if prepared.resources:
        session.execute(
            _INSERT_RESOURCE,
            [
                {"seq": seq, "r": r, "t": prepared.values["resource_type"]}
                for r in prepared.resources
            ],
        )
    return seq


#: The entries table's columns (besides its sequence number) and their PostgreSQL types.
_COLUMN_TYPES = {
    "uuid": "varchar",
    "time_ms": "bigint",
    "actor": "varchar",
    "actor_org": "varchar",
    "on_behalf_of": "varchar",
    "action": "varchar",
    "outcome": "varchar",
    "reason": "varchar",
    "resource_type": "varchar",
    "resource_org": "varchar",
    "resource_ids": "text",
    "agreement_id": "varchar",
    "agreement_version": "integer",
    "agreement_hash": "varchar",
    "purpose": "varchar",
    "fields": "text",
    "request_id": "varchar",
    "details": "text",
    "leaf": "bytea",
    "leaf_hash": "bytea",
}
_COLUMN_NAMES = tuple(_COLUMN_TYPES)
_COLUMNS = ", ".join(_COLUMN_NAMES)
_VALUES = ", ".join(":" + name for name in _COLUMN_NAMES)
# The statements are built from the constant column list above, never from input.
_INSERT_ENTRY = sa.text(f"INSERT INTO audit_entries ({_COLUMNS}) VALUES ({_VALUES}) RETURNING seq")  # noqa: S608
_INSERT_PENDING = sa.text("INSERT INTO audit_pending (entry_seq) VALUES (:seq)")
_INSERT_SUBJECT = sa.text(
    "INSERT INTO audit_entry_subjects (entry_seq, pseudonym) VALUES (:seq, :p)"
)
_INSERT_RESOURCE = sa.text(
    "INSERT INTO audit_entry_resources (entry_seq, resource_id, resource_type) "
    "VALUES (:seq, :r, :t)"
)
_LABEL_COLUMNS = ("pseudonym", "organisation_id", "label", "first_seen_at")
#: The columns held as bytes (sent base64-encoded in the JSON document).
_BYTES = ("leaf", "leaf_hash")
_RECORD_TYPE = ", ".join(
    f"{name} {'text' if name in _BYTES else kind}" for name, kind in _COLUMN_TYPES.items()
)
_SELECTED = ", ".join(
    f"decode({name}, 'base64')" if name in _BYTES else name for name in _COLUMN_NAMES
)
_PG_INSERT = (  # run by the driver (`core.db.driver_rows`): psycopg's placeholders
    # The rows in order (n), inserted in that order, so that their sequence numbers follow
    # it; subjects and records are joined to their entry by its uuid.
    "WITH v AS (SELECT * FROM json_to_recordset(CAST(%(rows)s AS json)) "  # noqa: S608
    f"AS v({_RECORD_TYPE}, n integer, subjects varchar[], resources varchar[])), "
    f"e AS (INSERT INTO audit_entries ({_COLUMNS}) SELECT {_SELECTED} FROM v ORDER BY n "
    "RETURNING uuid, seq), "
    "p AS (INSERT INTO audit_pending (entry_seq) SELECT seq FROM e), "
    "s AS (INSERT INTO audit_entry_subjects (entry_seq, pseudonym) "
    "SELECT e.seq, unnest(v.subjects) FROM e JOIN v USING (uuid)), "
    "r AS (INSERT INTO audit_entry_resources (entry_seq, resource_id, resource_type) "
    "SELECT e.seq, unnest(v.resources), v.resource_type FROM e JOIN v USING (uuid)), "
    "l AS (INSERT INTO audit_on_behalf_labels (pseudonym, organisation_id, label, first_seen_at) "
    "SELECT CAST(%(label_pseudonym)s AS varchar), CAST(%(label_organisation_id)s AS varchar), "
    "CAST(%(label_label)s AS varchar), CAST(%(label_first_seen_at)s AS timestamptz) "
    "WHERE CAST(%(label_pseudonym)s AS varchar) IS NOT NULL "
    "ON CONFLICT (pseudonym) DO NOTHING) "
    "SELECT uuid, seq FROM e"
)


def _on_behalf_label(pseudonym: str | None, actor: Actor) -> dict[str, Any] | None:
    """What `pseudonym` stands for, kept once outside the log (see `OnBehalfOfLabel`)."""
    if not pseudonym or not actor.on_behalf_of:
        return None
    return {
        "pseudonym": pseudonym,
        "organisation_id": actor.org_id,
        "label": str(actor.on_behalf_of)[:200],
        "first_seen_at": utcnow(),
    }


def on_behalf_labels(actor: Actor, pseudonyms: Iterable[str]) -> dict[str, str]:
    """What each pseudonym stands for, where `actor` may know it: the partner's own DPO (the
    organisation that sent it), and the operator's reviewers."""
    wanted = {p for p in pseudonyms if p}
    if not wanted or not permissions.can_read_log(actor):
        return {}
    query = sa.select(OnBehalfOfLabel).where(OnBehalfOfLabel.pseudonym.in_(wanted))
    if not permissions.sees_whole_log(actor):
        query = query.where(OnBehalfOfLabel.organisation_id == actor.org_id)
    return {row.pseudonym: row.label for row in db.session.scalars(query)}


def _json_or_none(value: Any) -> str | None:
    if not value:
        return None
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_leaf(leaf: bytes) -> dict[str, Any]:
    """The entry a leaf carries; raises ValueError if it is not a v1 audit leaf."""
    if not leaf.startswith(LEAF_PREFIX):
        raise ValueError("leaf does not start with the hub-audit/v1 prefix")
    value = json.loads(leaf[len(LEAF_PREFIX) :].decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("leaf body is not a JSON object")
    return value


# --- reading --------------------------------------------------------------------------------


def read_entries(actor: Actor, start: int, end: int) -> list[tuple[int, AuditEntry]]:
    """Integrated entries with indexes in [start, end) that `actor` may see; the read is
    itself audited."""
    if not permissions.can_read_log(actor):
        raise PermissionDenied(
            "Only data protection officers and auditors can read the audit log.",
            reason="role_required",
            audit={"action": AUDIT_READ, "resource_type": "audit_log"},
        )
    rows = db.session.execute(
        sa.select(AuditLeaf.idx, AuditEntry)
        .join(AuditEntry, AuditEntry.seq == AuditLeaf.entry_seq)
        .where(AuditLeaf.idx >= start, AuditLeaf.idx < end, permissions.visible_entries(actor))
        .order_by(AuditLeaf.idx)
    ).all()
    record(
        actor,
        AUDIT_READ,
        "granted",
        resource_type="audit_log",
        range_start=start,
        range_end=end,
        returned=len(rows),
    )
    return [(idx, entry) for idx, entry in rows]
