"""Mutual witnessing: this hub cosigns each peer hub's audit checkpoints, keeping what it last
cosigned in the peer's row, and asks its peers (and any other witness) to cosign its own.

Both directions speak C2SP tlog-witness (audit.tlog_witness). As a witness, the hub serves
`POST /api/v1/witness/add-checkpoint` (hub.federation.witness_api): a peer submits its
checkpoint with a consistency proof from the size this hub last cosigned. As a log, the hub
submits its own checkpoint the same way (audit.witness_submission); a peer's witness takes
submissions under the peer's base URL, so nothing more is configured for it.

The older way, where this hub fetches a peer's checkpoint and proof and posts the cosignature
back (`federation witness-peers`), is kept for peers that do not submit yet; it makes the same
decision, through `cosign_for_peer`, under the same lock.

A checkpoint that does not verify with the peer's pinned key, a tree that shrank, or a tree
not consistent with the one cosigned before, is refused: the refusal is an audit entry (with a
reason code), the stored state is left as it was, and, where the log itself is at fault, the
peer shows as refused on the DPO's integrity page.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app

from audit import notes, tlog_witness
from audit import services as audit
from audit import witness_submission as submission
from audit.actions import FEDERATION_WITNESS
from audit.models import AuditWitness
from audit.refusals import keep
from core.db import db, utcnow
from core.keys import instance_secret
from core.security import Actor
from hub.federation import services as peers
from hub.federation.models import PeerHub
from partners.models import Organisation

log = logging.getLogger(__name__)

WITNESS_KEY_FILE = "peer-witness.signer"
WITNESS_KEY_ENV = "HUB_PEER_WITNESS_KEY"
TIMEOUT_SECONDS = 10.0
#: This hub's witness submission prefix, under its base URL (c2sp.org/tlog-witness).
WITNESS_PREFIX = "/api/v1/witness"


def witness_signer_key(app: Flask | None = None) -> str:
    """This hub's witness (cosigner) key: `HUB_PEER_WITNESS_KEY`, else generated into
    instance/peer-witness.signer on first use, named `<log origin>/witness`."""
    settings = (app or current_app).config["HUB_SETTINGS"]
    return instance_secret(
        settings.instance_path,
        WITNESS_KEY_FILE,
        WITNESS_KEY_ENV,
        lambda: notes.make_cosigner_key(f"{settings.origin}/witness"),
        notes.parse_signer_key,
    )


def witness_verifier_key() -> str:
    """The verifier key peers register for this hub's cosignatures."""
    return notes.verifier_key_from_signer(witness_signer_key())


def submission_prefix(peer: PeerHub) -> str:
    """Where the peer's witness takes add-checkpoint requests."""
    return peer.base_url.rstrip("/") + WITNESS_PREFIX


def _refs(peer: PeerHub) -> dict[str, Any]:
    return {
        "resource_type": "peer_hub",
        "resource_ids": [str(peer.id)],
        "resource_org": str(peer.organisation_id),
    }


# --- the witness's one decision -----------------------------------------------------------------


class PeerRefusal(tlog_witness.Refusal):
    """A refusal about a registered peer's log (its row, to audit and show it against)."""

    def __init__(self, refusal: tlog_witness.Refusal, peer: PeerHub | None) -> None:
        super().__init__(refusal.reason, refusal.detail, known_size=refusal.known_size)
        self.peer_id = peer.id if peer is not None else None
        self.refs = _refs(peer) if peer is not None else {"resource_type": "peer_hub"}
        self.cosigned_size = peer.witnessed_size if peer is not None else None


def _locked_peer(origin: str) -> PeerHub | None:
    """The peer whose log has this origin, its row locked until the transaction ends, so that
    of two submissions racing for one log only one finds the size it expects (PostgreSQL: FOR
    UPDATE; SQLite's transactions already hold the write lock from BEGIN IMMEDIATE)."""
    return db.session.scalar(
        sa.select(PeerHub)
        .where(PeerHub.log_origin == origin)
        .with_for_update(of=PeerHub)
        .execution_options(populate_existing=True)
    )


def cosign_for_peer(
    actor: Actor, request: tlog_witness.AddCheckpoint, signer_key: str
) -> tuple[PeerHub, str]:
    """Witness a peer's checkpoint however it arrived: under a lock on the peer's row, check
    it against what this hub last cosigned (audit.tlog_witness.check), cosign, store the new
    state and audit it (flushed). Returns the peer and the cosignature line; raises
    PeerRefusal, having changed nothing."""
    peer = _locked_peer(request.checkpoint.origin)
    # A suspended peer's log is one this hub does not witness now.
    key = peer.log_verifier_key if peer is not None and peer.is_active else None
    recorded = tlog_witness.Recorded()
    if peer is not None and peer.witnessed_size is not None and peer.witnessed_root is not None:
        recorded = tlog_witness.Recorded(peer.witnessed_size, peer.witnessed_root)
    try:
        kept = tlog_witness.check(request, key, recorded)
    except tlog_witness.Refusal as exc:
        raise PeerRefusal(exc, peer) from exc
    assert peer is not None
    line = tlog_witness.cosign(request.text, signer_key)
    now = utcnow()
    peer.witnessed_size, peer.witnessed_root = request.checkpoint.size, request.checkpoint.root
    # The note as the monitoring API serves it: the log's verified signatures and ours.
    peer.witnessed_checkpoint, peer.witnessed_at = kept + line, now
    peer.last_witness_at, peer.last_witness_outcome, peer.last_witness_detail = (
        now,
        "cosigned",
        None,
    )
    db.session.flush()
    audit.record(actor, FEDERATION_WITNESS, "granted", **_refs(peer), tree_size=peer.witnessed_size)
    return peer, line


def _mark_refused(peer_id: Any, detail: str) -> None:
    peer = db.session.get(PeerHub, peer_id)
    if peer is not None:
        peer.last_witness_at, peer.last_witness_outcome = utcnow(), "refused"
        peer.last_witness_detail = detail[:500]
        db.session.flush()


# --- serving add-checkpoint ---------------------------------------------------------------------


def add_checkpoint(actor: Actor, body: bytes) -> str:
    """Serve one add-checkpoint request: the cosignature line(s) to answer with (the new state
    is stored in the request's transaction, committed before the answer is sent). Raises
    tlog_witness.Refusal once it has been kept (`keep_refusal`)."""
    try:
        request = tlog_witness.parse_request(body)
        _peer, line = cosign_for_peer(actor, request, witness_signer_key())
    except tlog_witness.Refusal as exc:
        keep_refusal(actor, exc)
        raise
    return line


def keep_refusal(actor: Actor, refusal: tlog_witness.Refusal) -> None:
    """Undo the request's changes and audit the refusal in a transaction of its own (with its
    reason code, never the request's text, as audit.refusals.keep does); a refusal that shows
    the peer's log at fault is also shown on its row (the DPO's integrity page)."""
    peer_id = getattr(refusal, "peer_id", None)
    refs = getattr(refusal, "refs", {"resource_type": "peer_hub"})
    keep(actor, FEDERATION_WITNESS, refusal.reason, status=refusal.status, **refs)
    if peer_id is None or not refusal.shows_misbehaviour:
        return
    try:
        _mark_refused(peer_id, refusal.detail)
        # Not the request's change: an error after this still says nothing was changed.
        db.session.info["hub_refusal"] = True
        db.session.commit()
    except Exception:  # the refusal stands and is audited; only the page's note is lost
        db.session.rollback()
        log.exception("could not note the refusal on the peer's row")
    finally:
        db.session.info.pop("hub_refusal", None)


def monitored_checkpoint(origin_hash: str) -> str | None:
    """The latest checkpoint this hub cosigned of the log whose origin hashes (SHA-256, lower
    hex) to `origin_hash`, with the log's signature and ours (the spec's monitoring API)."""
    for peer in db.session.scalars(
        sa.select(PeerHub).where(PeerHub.witnessed_checkpoint.is_not(None))
    ):
        if hashlib.sha256(peer.log_origin.encode()).hexdigest() == origin_hash:
            return peer.witnessed_checkpoint
    return None


# --- fetching a peer's checkpoint (for peers that do not submit) --------------------------------


@dataclass
class WitnessReport:
    """One peer's witnessing round: `cosigned`, `refused` or `unreachable`."""

    peer: str
    outcome: str
    size: int | None
    detail: str

    def line(self) -> str:
        size = f" at size {self.size}" if self.size is not None else ""
        return f"{self.peer}: {self.outcome}{size}" + (f" ({self.detail})" if self.detail else "")


def _fetch_request(peer: PeerHub) -> tlog_witness.AddCheckpoint:
    """What the peer would submit: its published checkpoint, with the consistency proof from
    the size this hub last cosigned (fetched from it) when its tree grew since."""
    base = peer.base_url.rstrip("/") + "/api/v1/audit"
    note = submission.get(base + "/checkpoint", TIMEOUT_SECONDS)
    try:
        text, _signatures = notes.split_note(note)
        checkpoint = notes.parse_checkpoint(text)
    except notes.NoteError as exc:
        raise tlog_witness.Refusal(
            tlog_witness.MALFORMED, f"the hub's checkpoint is not a signed checkpoint: {exc}"
        ) from exc
    if checkpoint.origin != peer.log_origin:
        raise tlog_witness.Refusal(
            tlog_witness.BAD_SIGNATURE,
            f"the hub's checkpoint is for the log {checkpoint.origin!r}, not its own",
        )
    old = peer.witnessed_size or 0
    proof: tuple[bytes, ...] = ()
    if 0 < old < checkpoint.size:
        query = urllib.parse.urlencode({"old": old, "new": checkpoint.size})
        answer = json.loads(submission.get(f"{base}/proof/consistency?{query}", TIMEOUT_SECONDS))
        proof = tuple(
            tlog_witness.proof_hash(n, line) for n, line in enumerate(answer["hashes"], start=1)
        )
    return tlog_witness.AddCheckpoint(old, proof, note, text, checkpoint)


def witness_peer(actor: Actor, peer: PeerHub, signer_key: str) -> WitnessReport:
    """Witness one peer: fetch, check, cosign, post back; record the outcome (flushed)."""
    name = peer.organisation.slug
    for attempt in (1, 2):
        try:
            request = _fetch_request(peer)
            peer, line = cosign_for_peer(actor, request, signer_key)
            break
        except tlog_witness.Refusal as exc:
            if exc.reason == tlog_witness.OLD_SIZE_MISMATCH and attempt == 1:
                continue  # the peer submitted meanwhile: fetch again from the new size
            if exc.reason == tlog_witness.OLD_SIZE_MISMATCH:
                return WitnessReport(name, "skipped", peer.witnessed_size, "the peer is submitting")
            reason, detail = exc.reason, exc.detail
            if reason == tlog_witness.OLD_SIZE_TOO_LARGE:
                reason = tlog_witness.INCONSISTENT
                detail = (
                    f"the hub's tree shrank from {request.old_size} to {request.checkpoint.size}"
                )
            return _refused(actor, peer, reason, detail)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            detail = f"{type(exc).__name__}: {exc}"[:500]
            peer.last_witness_at, peer.last_witness_outcome = utcnow(), "unreachable"
            peer.last_witness_detail = detail
            db.session.flush()
            audit.record(
                actor, FEDERATION_WITNESS, "failed", reason="peer_unreachable", **_refs(peer)
            )
            return WitnessReport(name, "unreachable", peer.witnessed_size, detail)
    base = peer.base_url.rstrip("/") + "/api/v1/audit"
    try:
        status, _media, body = submission.post(
            base + "/cosignatures", request.note + line, TIMEOUT_SECONDS
        )
    except (OSError, ValueError) as exc:
        status, body = 0, f"{type(exc).__name__}: {exc}"
    if not 200 <= status < 300:
        detail = f"the hub refused the cosignature ({status}): {body[:300]}"
        return _refused(actor, peer, "cosignature_rejected", detail)
    return WitnessReport(name, "cosigned", peer.witnessed_size, "")


def _refused(actor: Actor, peer: PeerHub, reason: str, detail: str) -> WitnessReport:
    detail = detail[:500]
    peer.last_witness_at, peer.last_witness_outcome = utcnow(), "refused"
    peer.last_witness_detail = detail
    db.session.flush()
    audit.record(
        actor,
        FEDERATION_WITNESS,
        "denied",
        reason=reason,
        **_refs(peer),
        cosigned_size=peer.witnessed_size,
    )
    log.warning("refused to cosign peer %s: %s", peer.organisation.slug, detail)
    return WitnessReport(peer.organisation.slug, "refused", peer.witnessed_size, detail)


def witness_peers(actor: Actor) -> list[WitnessReport]:
    """Witness every active peer, one after another (each outcome flushed and audited)."""
    peers.require_operator(actor, "federation.witness")
    signer_key = witness_signer_key()
    return [witness_peer(actor, peer, signer_key) for peer in peers.list_peers() if peer.is_active]


# --- this hub's checkpoints, submitted to its peers' witnesses ----------------------------------


def peer_submission_prefixes() -> dict[int, str]:
    """For audit.witness_submission: each active peer's registered witness takes this hub's
    checkpoints under the peer's base URL (its row's URL, so a moved peer is followed)."""
    rows = db.session.execute(
        sa.select(AuditWitness.id, PeerHub)
        .join(PeerHub, PeerHub.organisation_id == AuditWitness.organisation_id)
        .join(Organisation, Organisation.id == PeerHub.organisation_id)
    ).all()
    return {witness_id: submission_prefix(peer) for witness_id, peer in rows if peer.is_active}


def submit_to_peers_and_witness(actor: Actor) -> list[str]:
    """One scheduled round: submit this hub's checkpoint to every witness (peers included),
    then witness the peers that do not submit (each outcome flushed and audited)."""
    lines = [s.line() for s in submission.submit_to_witnesses(db.session(), actor)]
    return lines + [r.line() for r in witness_peers(actor)]


# --- the optional background schedule -----------------------------------------------------------


class _Schedule:
    """One thread per process that submits and witnesses every `interval` seconds."""

    def __init__(self, app: Flask, interval: int) -> None:
        self.app = app
        self.interval = interval
        self.pid: int | None = None
        self.guard = threading.Lock()
        self.stopped = threading.Event()

    def ensure_started(self) -> None:
        with self.guard:
            if self.pid == os.getpid():
                return
            self.pid = os.getpid()  # after a fork (gunicorn workers) each starts its own
            threading.Thread(target=self._run, name="peer-witness", daemon=True).start()

    def stop(self) -> None:
        self.stopped.set()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval):
            with self.app.app_context():
                try:
                    for line in submit_to_peers_and_witness(Actor.system("peer-witness")):
                        log.info("witnessing: %s", line)
                    db.session.commit()
                except Exception:  # the next round tries again
                    db.session.rollback()
                    log.exception("witnessing round failed")
                finally:
                    db.session.remove()


def init_app(app: Flask) -> None:
    """Tell the log where peers' witnesses take submissions; start the witnessing schedule
    with the first request when HUB_PEER_WITNESS_INTERVAL_SECONDS > 0 (off by default: run
    `audit submit-to-witnesses` and `federation witness-peers`)."""
    submission.add_prefix_source(app, peer_submission_prefixes)
    interval = int(app.config["HUB_SETTINGS"].peer_witness_interval_seconds)
    if interval <= 0:
        return
    schedule = app.extensions["hub_peer_witness_schedule"] = _Schedule(app, interval)
    app.before_request(schedule.ensure_started)
