"""Audit tables: entries, their subject pseudonyms, the Merkle tree, checkpoints, witnesses, and
(erasable, outside the log) what the on-behalf-of pseudonyms stand for."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

# SQLite gives an auto-incrementing rowid only to an INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

#: Tables no one may UPDATE, DELETE or TRUNCATE (enforced by triggers in the migrations).
APPEND_ONLY_TABLES = (
    "audit_entries",
    "audit_entry_subjects",
    "audit_entry_resources",
    "audit_leaves",
    "audit_tree_nodes",
    "audit_checkpoints",
    "audit_cosignatures",
)


class AuditEntry(Base):
    """One audit entry, exactly as written: the leaf bytes and their queryable columns.

    `seq` orders entries as they were written; the position in the verifiable log (the leaf
    index) is assigned later by the integrator in its own table, so that writers never wait for
    one another and nothing here is ever updated.
    """

    __tablename__ = "audit_entries"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The entry's id in its leaf: a random UUID the hub makes, never looked up, so not indexed
    # (a unique index on random keys was the costliest index on the write).
    uuid: Mapped[str] = mapped_column(sa.String(36))
    time_ms: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    actor: Mapped[str] = mapped_column(sa.String(80), index=True)
    actor_org: Mapped[str | None] = mapped_column(sa.String(80), index=True)
    on_behalf_of: Mapped[str | None] = mapped_column(sa.String(200))
    action: Mapped[str] = mapped_column(sa.String(80), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None] = mapped_column(sa.String(80))
    resource_type: Mapped[str | None] = mapped_column(sa.String(40))
    resource_ids: Mapped[str | None] = mapped_column(sa.Text)  # JSON array, as in the leaf
    # The organisation that owns the resource (its DPO sees who touched its data).
    resource_org: Mapped[str | None] = mapped_column(sa.String(80), index=True)
    agreement_id: Mapped[str | None] = mapped_column(sa.String(80))
    agreement_version: Mapped[int | None] = mapped_column(sa.Integer)
    agreement_hash: Mapped[str | None] = mapped_column(sa.String(64))
    purpose: Mapped[str | None] = mapped_column(sa.String(80))
    fields: Mapped[str | None] = mapped_column(sa.Text)  # JSON array of field names
    request_id: Mapped[str | None] = mapped_column(sa.String(64))  # never looked up
    details: Mapped[str | None] = mapped_column(sa.Text)  # JSON object, as in the leaf
    leaf: Mapped[bytes] = mapped_column(sa.LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))

    # Every index slows every write: each one here serves a reader of the log (the review
    # pages, `audit.queries`, the agreement register), and holds no more rows than its readers
    # ask for. Refusals (rare, reviewed often) get a partial one; so do entries made under an
    # agreement. What each costs and which query uses it: bench/audit_index_bench.py.
    __table_args__ = (
        sa.Index(
            "ix_audit_entries_refusals",
            "time_ms",
            postgresql_where=sa.text("outcome <> 'granted'"),
            sqlite_where=sa.text("outcome <> 'granted'"),
        ),
        sa.Index(
            "ix_audit_entries_agreement_id",
            "agreement_id",
            postgresql_where=sa.text("agreement_id IS NOT NULL"),
            sqlite_where=sa.text("agreement_id IS NOT NULL"),
        ),
    )


class AuditEntrySubject(Base):
    """A subject pseudonym carried by an entry, so a DPO can find every entry about one subject."""

    __tablename__ = "audit_entry_subjects"

    entry_seq: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("audit_entries.seq"), primary_key=True
    )
    pseudonym: Mapped[str] = mapped_column(sa.String(64), primary_key=True, index=True)


class AuditEntryResource(Base):
    """A record an entry names (one of its `resource_ids`), written with the entry, so that
    "who received this record" and "what was refused about it" are indexed reads
    (`audit.queries`), never text matching over the entries' JSON."""

    __tablename__ = "audit_entry_resources"

    entry_seq: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("audit_entries.seq"), primary_key=True
    )
    resource_id: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    resource_type: Mapped[str | None] = mapped_column(sa.String(40))

    __table_args__ = (
        sa.Index("ix_audit_entry_resources_resource", "resource_type", "resource_id"),
    )


class OnBehalfOfLabel(Base):
    """What a partner system named as the member of staff a call was made for (its own
    identifier for them), behind the pseudonym the log's entries carry instead.

    Not part of the log, and not append-only: a caller may put anything in that header (a name,
    a date of birth), and while the log's leaves can never be erased, these rows can. The
    partner's DPO reads them back on the review pages."""

    __tablename__ = "audit_on_behalf_labels"

    pseudonym: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    organisation_id: Mapped[str | None] = mapped_column(sa.String(80), index=True)
    label: Mapped[str] = mapped_column(sa.String(200))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditPending(Base):
    """An entry written but not yet given its place in the tree (a queue, emptied by the
    integrator; the entry itself stays in `audit_entries`)."""

    __tablename__ = "audit_pending"

    entry_seq: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("audit_entries.seq"), primary_key=True
    )


class AuditIntegratorLock(Base):
    """One row whose lock admits one integrator at a time (row lock on PostgreSQL, the write
    lock on SQLite). Not part of the record: it holds only when the lock was last taken."""

    __tablename__ = "audit_integrator_lock"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    taken_at: Mapped[int | None] = mapped_column(sa.BigInteger)


class AuditLeaf(Base):
    """The entry at each position of the verifiable log: indexes contiguous from 0."""

    __tablename__ = "audit_leaves"

    idx: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    entry_seq: Mapped[int] = mapped_column(BigId, sa.ForeignKey("audit_entries.seq"), unique=True)


class AuditTreeNode(Base):
    """A complete subtree hash; node (level, idx) covers leaves [idx*2^level, (idx+1)*2^level)."""

    __tablename__ = "audit_tree_nodes"

    level: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(sa.LargeBinary(32))


class AuditCheckpoint(Base):
    """A signed checkpoint (C2SP tlog-checkpoint in a signed note), kept for ever."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    root: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    note: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditWitness(Base):
    """A witness key registered by a partner organisation to cosign the hub's checkpoints."""

    __tablename__ = "audit_witnesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(sa.String(200), unique=True)
    verifier_key: Mapped[str] = mapped_column(sa.String(300), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    # Where the witness takes C2SP tlog-witness add-checkpoint requests (the spec's submission
    # prefix); None: the hub does not submit to it (it fetches, or a peer hub's URL is used).
    submission_prefix: Mapped[str | None] = mapped_column(sa.String(2000))


class AuditCosignature(Base):
    """A witness's cosignature on one checkpoint (append-only)."""

    __tablename__ = "audit_cosignatures"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    checkpoint_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("audit_checkpoints.id"), index=True
    )
    witness_id: Mapped[int] = mapped_column(sa.ForeignKey("audit_witnesses.id"), index=True)
    timestamp: Mapped[int] = mapped_column(sa.BigInteger)
    signature_line: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("checkpoint_id", "witness_id"),)


class AuditVerification(Base):
    """The outcome of one run of `audit verify` (shown on the DPO page)."""

    __tablename__ = "audit_verifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    ok: Mapped[bool]
    tree_size: Mapped[int] = mapped_column(sa.BigInteger)
    checkpoints: Mapped[int]
    first_bad_index: Mapped[int | None] = mapped_column(sa.BigInteger)
    summary: Mapped[str] = mapped_column(sa.Text)
    triggered_by: Mapped[str] = mapped_column(sa.String(80))


class AuditSavedFilter(Base):
    """A reviewer's named filter of the log (the query string of the entries page), so that a
    daily look is one click. Not part of the log: a reviewer changes or deletes their own."""

    __tablename__ = "audit_saved_filters"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    person_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("people.id"))
    name: Mapped[str] = mapped_column(sa.String(100))
    query: Mapped[str] = mapped_column(sa.String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("person_id", "name"),)


class AuditFlagReview(Base):
    """A reviewer's note that they looked into one unusual-access flag (`audit.activity.Flag`,
    by its key). The note is free text, so it lives here, outside the log: the log records
    only that the review happened and this row's id (action `audit.flag.review`)."""

    __tablename__ = "audit_flag_reviews"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    flag_key: Mapped[str] = mapped_column(sa.String(200), index=True)
    rule: Mapped[str] = mapped_column(sa.String(40))
    # The reviewer's organisation: its reviewers (and the hub's) see the review.
    organisation_id: Mapped[str | None] = mapped_column(sa.String(80), index=True)
    reviewed_by_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("people.id"))
    reviewed_at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str] = mapped_column(sa.Text)
