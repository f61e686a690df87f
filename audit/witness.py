"""Witnesses: partners' keys that cosign the hub's checkpoints, and the witness that does it.

The hub side registers witness keys and accepts C2SP tlog-cosignature/v1 cosignatures on
checkpoints it signed. The witness side (`flask --app wsgi audit witness`) runs at a partner:
it fetches the hub's checkpoint and a consistency proof from the size it last saw, checks
both, and only then cosigns; any inconsistency is refused loudly.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from audit import notes, permissions, tlog_witness
from audit import services as audit
from audit.actions import AUDIT_COSIGNATURE, AUDIT_WITNESS_REGISTER, AUDIT_WITNESS_REVOKE
from audit.models import AuditCheckpoint, AuditCosignature, AuditWitness
from core.db import utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.security import Actor

logger = logging.getLogger(__name__)


class WitnessRefusal(RuntimeError):
    """The witness will not cosign: the hub showed it something inconsistent."""


# --- the hub's side ---------------------------------------------------------------------


def register_witness(
    session: Session, actor: Actor, organisation_id: str, verifier_key: str
) -> AuditWitness:
    """Register a partner's witness key (its org admins, or hub administrators)."""
    if not permissions.can_manage_witness(actor, organisation_id):
        raise PermissionDenied(
            "Only the organisation's administrators can register its witness key.",
            audit={
                "action": AUDIT_WITNESS_REGISTER,
                "resource_type": "organisation",
                "resource_ids": [organisation_id],
            },
        )
    try:
        verifier = notes.parse_verifier_key(verifier_key.strip())
    except notes.NoteError as exc:
        raise ValidationFailed(
            f"That is not a witness verifier key: {exc}",
            errors={"verifier_key": [f"Enter a witness verifier key: {exc}"]},
        ) from exc
    if verifier.sig_type != notes.SIG_TYPE_COSIGNATURE_V1:
        raise ValidationFailed(
            "That key is not a cosignature (tlog-cosignature/v1) key.",
            errors={"verifier_key": ["Use a cosignature key (signature type 0x04)."]},
        )
    clash = session.scalar(
        sa.select(AuditWitness).where(
            sa.or_(AuditWitness.name == verifier.name, AuditWitness.verifier_key == verifier.vkey)
        )
    )
    if clash is not None:
        raise Conflict(
            f"A witness named '{verifier.name}' or with this key is already registered.",
            errors={"verifier_key": ["This witness is already registered."]},
        )
    witness = AuditWitness(
        organisation_id=uuid.UUID(organisation_id),
        name=verifier.name,
        verifier_key=verifier.vkey,
        created_at=utcnow(),
    )
    session.add(witness)
    session.flush()
    audit.record(
        actor,
        AUDIT_WITNESS_REGISTER,
        "granted",
        resource_type="audit_witness",
        resource_ids=[str(witness.id)],
        resource_org=organisation_id,
    )
    return witness


def revoke_witness(session: Session, actor: Actor, name: str) -> AuditWitness:
    """Revoke a witness key (its organisation's administrators, or hub administrators): its
    cosignatures, past and future, no longer count towards a witnessed checkpoint."""
    witness = session.scalar(sa.select(AuditWitness).where(AuditWitness.name == name))
    if witness is None:
        raise NotFound(f"No witness named '{name}' is registered.")
    organisation_id = str(witness.organisation_id)
    if not permissions.can_manage_witness(actor, organisation_id):
        raise PermissionDenied(
            "Only the organisation's administrators can revoke its witness key.",
            audit={
                "action": AUDIT_WITNESS_REVOKE,
                "resource_type": "audit_witness",
                "resource_ids": [str(witness.id)],
            },
        )
    if witness.revoked_at is not None:
        raise Conflict(f"The witness '{name}' was already revoked.")
    witness.revoked_at = utcnow()
    session.flush()
    audit.record(
        actor,
        AUDIT_WITNESS_REVOKE,
        "granted",
        resource_type="audit_witness",
        resource_ids=[str(witness.id)],
        resource_org=organisation_id,
    )
    return witness


def accept_cosignatures(session: Session, actor: Actor, note: str) -> list[AuditCosignature]:
    """Store the cosignatures in `note` (a checkpoint the hub signed, plus witness lines).

    Each line must verify with a registered, unrevoked witness key; repeats are ignored.
    """
    try:
        text, signatures = notes.split_note(note)
        parsed = notes.parse_checkpoint(text)
    except notes.NoteError as exc:
        raise ValidationFailed(f"The body is not a signed checkpoint: {exc}") from exc
    checkpoint = session.scalar(
        sa.select(AuditCheckpoint).where(
            AuditCheckpoint.size == parsed.size, AuditCheckpoint.root == parsed.root
        )
    )
    if checkpoint is None:
        raise NotFound("The hub never signed a checkpoint with this size and root.")
    witnesses = {
        w.name: w
        for w in session.scalars(sa.select(AuditWitness).where(AuditWitness.revoked_at.is_(None)))
    }
    stored: list[AuditCosignature] = []
    rejected: list[str] = []
    lines = note[len(text) + 1 :].splitlines()  # one per entry of `signatures`, in order
    for (name, _key_id, _sig), line in zip(signatures, lines, strict=True):
        witness = witnesses.get(name)
        if witness is None:
            continue
        try:
            timestamp = notes.verify_cosignature(text, line + "\n", witness.verifier_key)
        except notes.NoteError as exc:
            rejected.append(f"{name}: {exc}")
            continue
        exists = session.scalar(
            sa.select(AuditCosignature.id).where(
                AuditCosignature.checkpoint_id == checkpoint.id,
                AuditCosignature.witness_id == witness.id,
            )
        )
        if exists:
            continue
        cosignature = AuditCosignature(
            checkpoint_id=checkpoint.id,
            witness_id=witness.id,
            timestamp=timestamp,
            signature_line=line,
            received_at=utcnow(),
        )
        session.add(cosignature)
        session.flush()
        stored.append(cosignature)
        audit.record(
            actor,
            AUDIT_COSIGNATURE,
            "granted",
            resource_type="audit_checkpoint",
            resource_ids=[str(checkpoint.id)],
            resource_org=str(witness.organisation_id),
            witness=witness.name,
            tree_size=checkpoint.size,
        )
    if rejected:
        raise ValidationFailed("A cosignature does not verify: " + "; ".join(rejected))
    if not stored and not any(name in witnesses for name, _, _ in signatures):
        raise PermissionDenied(
            "No cosignature by a registered witness key was found.",
            audit={
                "action": AUDIT_COSIGNATURE,
                "resource_type": "audit_checkpoint",
                "resource_ids": [str(checkpoint.id)],
            },
        )
    return stored


def latest_cosignatures(session: Session) -> list[dict[str, Any]]:
    """For each witness, the largest tree size it has cosigned, and when."""
    rows = session.execute(
        sa.select(
            AuditWitness.name,
            AuditWitness.organisation_id,
            sa.func.max(AuditCheckpoint.size),
            sa.func.max(AuditCosignature.received_at),
        )
        .join(AuditCosignature, AuditCosignature.witness_id == AuditWitness.id)
        .join(AuditCheckpoint, AuditCheckpoint.id == AuditCosignature.checkpoint_id)
        .group_by(AuditWitness.name, AuditWitness.organisation_id)
        .order_by(AuditWitness.name)
    ).all()
    return [
        {"witness": name, "organisation_id": str(org), "size": size, "received_at": at}
        for name, org, size, at in rows
    ]


@dataclass(frozen=True)
class WitnessPolicy:
    """How many of which witnesses make a checkpoint "witnessed" (HUB_AUDIT_WITNESS_QUORUM,
    HUB_AUDIT_WITNESSES). Only registered, unrevoked witnesses ever count; `names`, when
    given, narrows them further."""

    quorum: int = 1
    names: tuple[str, ...] = ()

    @classmethod
    def current(cls) -> WitnessPolicy:
        """The current app's policy."""
        settings = current_app.config["HUB_SETTINGS"]
        return cls(settings.audit_witness_quorum, settings.audit_witness_names)


def counting_witnesses(session: Session, policy: WitnessPolicy) -> list[AuditWitness]:
    """The witnesses whose cosignatures count under `policy`, by name."""
    query = sa.select(AuditWitness).where(AuditWitness.revoked_at.is_(None))
    if policy.names:
        query = query.where(AuditWitness.name.in_(policy.names))
    return list(session.scalars(query.order_by(AuditWitness.name)))


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """A checkpoint that meets the witness policy, with the cosignatures that count."""

    checkpoint: AuditCheckpoint
    #: (witness, its cosignature), ordered by witness name: the order of the note's lines.
    cosignatures: tuple[tuple[AuditWitness, AuditCosignature], ...]
    #: The log's signed note followed by the counting witnesses' tlog-cosignature lines.
    note: str
    #: When the hub received the cosignature that met the quorum (the hub's own clock).
    witnessed_at: datetime
    quorum: int


#: How many of the newest checkpoints with enough cosignatures are tried before giving up: a
#: stored line that no longer verifies (a tampered row, a rotated log key) skips a candidate.
_CANDIDATES = 20


def latest_witnessed(
    session: Session, log_key: str, policy: WitnessPolicy
) -> WitnessedCheckpoint | None:
    """The newest checkpoint cosigned by at least `policy.quorum` counting witnesses, as a
    note that verifies with `log_key` and those witnesses' keys; None if there is none.

    Accepting a cosignature writes an audit entry, so the newest signed checkpoint is never a
    cosigned one: this is the one to publish and to prove receipts against."""
    witnesses = {w.id: w for w in counting_witnesses(session, policy)}
    if len(witnesses) < policy.quorum:
        return None
    candidates = session.scalars(
        sa.select(AuditCosignature.checkpoint_id)
        .where(AuditCosignature.witness_id.in_(witnesses))
        .group_by(AuditCosignature.checkpoint_id)
        .having(sa.func.count() >= policy.quorum)
        .order_by(AuditCosignature.checkpoint_id.desc())
        .limit(_CANDIDATES)
    ).all()
    for checkpoint_id in candidates:
        checkpoint = session.get(AuditCheckpoint, checkpoint_id)
        if checkpoint is None:  # pragma: no cover - the foreign key forbids it
            continue
        cosignatures = session.scalars(
            sa.select(AuditCosignature).where(
                AuditCosignature.checkpoint_id == checkpoint_id,
                AuditCosignature.witness_id.in_(witnesses),
            )
        ).all()
        found = _witnessed(checkpoint, cosignatures, witnesses, log_key, policy.quorum)
        if found is not None:
            return found
    return None


def _witnessed(
    checkpoint: AuditCheckpoint,
    cosignatures: Sequence[AuditCosignature],
    witnesses: dict[int, AuditWitness],
    log_key: str,
    quorum: int,
) -> WitnessedCheckpoint | None:
    """The checkpoint's note with the cosignatures that still verify, if they meet the quorum."""
    # Each line was verified when it was accepted; it is checked again because what is published
    # must verify for anyone, whatever happened to the stored rows since.
    text, _ = notes.split_note(checkpoint.note)
    counted: list[tuple[AuditWitness, AuditCosignature]] = []
    for cosignature in cosignatures:
        witness = witnesses[cosignature.witness_id]
        try:
            notes.verify_cosignature(text, cosignature.signature_line, witness.verifier_key)
        except notes.NoteError as exc:
            logger.warning(
                "cosignature %s by %s on checkpoint %s does not verify: %s",
                cosignature.id,
                witness.name,
                checkpoint.id,
                exc,
            )
            continue
        counted.append((witness, cosignature))
    if len(counted) < quorum:
        return None
    counted.sort(key=lambda pair: pair[0].name)
    note = checkpoint.note + "".join(c.signature_line + "\n" for _, c in counted)
    try:
        notes.open_checkpoint(
            note, log_key, witnesses=[w.verifier_key for w, _ in counted], quorum=quorum
        )
    except notes.NoteError as exc:
        logger.warning("cosigned checkpoint %s does not verify: %s", checkpoint.id, exc)
        return None
    received = sorted(c.received_at for _, c in counted)
    return WitnessedCheckpoint(checkpoint, tuple(counted), note, received[quorum - 1], quorum)


# --- the witness's side -----------------------------------------------------------------


@dataclass
class WitnessState:
    """What a witness remembers between runs: the log's key and the last tree it cosigned."""

    log_key: str
    size: int
    root: bytes
    checkpoint: str

    @classmethod
    def load(cls, path: Path) -> WitnessState | None:
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(
            data["log_key"], int(data["size"]), base64.b64decode(data["root"]), data["checkpoint"]
        )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(
            json.dumps(
                {
                    "log_key": self.log_key,
                    "size": self.size,
                    "root": base64.b64encode(self.root).decode(),
                    "checkpoint": self.checkpoint,
                },
                indent=2,
            )
            + "\n"
        )
        os.replace(tmp, path)


def _get(url: str, timeout: float) -> str:
    request = urllib.request.Request(url, headers={"Accept": "text/plain, application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.read().decode()


def _post(url: str, body: str, timeout: float) -> tuple[int, str]:
    # run_witness admits only https (or loopback) URLs, so no file: or custom schemes.
    request = urllib.request.Request(  # noqa: S310
        url,
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def run_witness(
    hub_url: str,
    state_path: Path,
    key_path: Path,
    *,
    log_key: str | None = None,
    timeout: float = 10.0,
) -> str:
    """One witnessing round. Returns a one-line report; raises WitnessRefusal on any
    inconsistency (the state file is then left as it was)."""
    state = witness_round(
        hub_url,
        WitnessState.load(state_path),
        key_path.read_text().strip(),
        log_key=log_key,
        timeout=timeout,
    )
    state.save(state_path)
    return f"cosigned {notes.parse_verifier_key(state.log_key).name} at size {state.size}"


def witness_round(
    hub_url: str,
    state: WitnessState | None,
    signer_key: str,
    *,
    log_key: str | None = None,
    timeout: float = 10.0,
) -> WitnessState:
    """Fetch the hub's checkpoint, check it against `state` (what was cosigned before) with a
    consistency proof, cosign it and post the cosignature; returns the new state. Raises
    WitnessRefusal on any inconsistency (peer hubs keep their state in the database)."""
    base = hub_url.rstrip("/") + "/api/v1/audit"
    if not hub_url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
        raise WitnessRefusal("the hub must be reached over https")
    signer = notes.parse_signer_key(signer_key)
    pinned = log_key or (state.log_key if state else None)
    if pinned is None:
        pinned = _get(base + "/verifier-key", timeout).strip()  # trust on first use
    note = _get(base + "/checkpoint", timeout)
    try:
        text, _ = notes.split_note(note)
        checkpoint = notes.parse_checkpoint(text)
    except notes.NoteError as exc:
        raise WitnessRefusal(f"the hub's checkpoint is not a signed checkpoint: {exc}") from exc
    recorded = tlog_witness.Recorded()
    if state is not None:
        recorded = tlog_witness.Recorded(state.size, state.root)
        if checkpoint.size < state.size:
            raise WitnessRefusal(f"the hub's tree shrank from {state.size} to {checkpoint.size}")
    proof: tuple[bytes, ...] = ()
    if 0 < recorded.size < checkpoint.size:
        query = urllib.parse.urlencode({"old": recorded.size, "new": checkpoint.size})
        answer = json.loads(_get(f"{base}/proof/consistency?{query}", timeout))
        try:
            proof = tuple(
                tlog_witness.proof_hash(n, h) for n, h in enumerate(answer["hashes"], start=1)
            )
        except (tlog_witness.Refusal, KeyError, TypeError) as exc:
            raise WitnessRefusal(f"the hub's consistency proof is malformed: {exc}") from exc
    # The one decision every witness here makes (tlog-witness's checks, in its order).
    request = tlog_witness.AddCheckpoint(recorded.size, proof, note, text, checkpoint)
    try:
        tlog_witness.check(request, pinned, recorded)
    except tlog_witness.Refusal as exc:
        raise WitnessRefusal(exc.detail) from exc
    if checkpoint.origin != notes.parse_verifier_key(pinned).name:
        raise WitnessRefusal(f"checkpoint origin {checkpoint.origin!r} is not the pinned log's")
    line = notes.cosign_checkpoint(text, signer, int(time.time()))
    status, body = _post(base + "/cosignatures", note + line, timeout)
    if status >= 300:
        raise WitnessRefusal(f"the hub refused the cosignature ({status}): {body[:300]}")
    return WitnessState(pinned, checkpoint.size, checkpoint.root, note)
