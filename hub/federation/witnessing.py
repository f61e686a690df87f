"""Mutual witnessing: this hub cosigns each peer hub's audit checkpoints (audit/witness.py),
keeping what it last cosigned in the peer's row, and posts the cosignature back to the peer.

A peer whose checkpoint does not verify with its pinned key, whose tree shrank, or whose new
tree is not consistent with the one cosigned before, is refused: the refusal is an audit entry
and shows on the DPO's integrity page; the stored state is left as it was.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass

from flask import Flask, current_app

from audit import notes
from audit import services as audit
from audit import witness as witnesses
from audit.actions import FEDERATION_WITNESS
from core.db import db, utcnow
from core.keys import instance_secret
from core.security import Actor
from hub.federation import services as peers
from hub.federation.models import PeerHub

log = logging.getLogger(__name__)

WITNESS_KEY_FILE = "peer-witness.signer"
WITNESS_KEY_ENV = "HUB_PEER_WITNESS_KEY"
TIMEOUT_SECONDS = 10.0


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


def witness_peer(actor: Actor, peer: PeerHub, signer_key: str) -> WitnessReport:
    """Witness one peer: fetch, check, cosign, post back; record the outcome (flushed)."""
    state = None
    if peer.witnessed_size is not None and peer.witnessed_root is not None:
        state = witnesses.WitnessState(
            peer.log_verifier_key,
            peer.witnessed_size,
            peer.witnessed_root,
            peer.witnessed_checkpoint or "",
        )
    now = utcnow()
    refs = {
        "resource_type": "peer_hub",
        "resource_ids": [str(peer.id)],
        "resource_org": str(peer.organisation_id),
    }
    try:
        new_state = witnesses.witness_round(
            peer.base_url,
            state,
            signer_key,
            log_key=peer.log_verifier_key,
            timeout=TIMEOUT_SECONDS,
        )
    except witnesses.WitnessRefusal as exc:
        detail = str(exc)[:500]
        rejected = detail.startswith("the hub refused the cosignature")
        reason = "cosignature_rejected" if rejected else "inconsistent_checkpoint"
        peer.last_witness_at, peer.last_witness_outcome = now, "refused"
        peer.last_witness_detail = detail
        db.session.flush()
        audit.record(
            actor,
            FEDERATION_WITNESS,
            "denied",
            reason=reason,
            **refs,
            cosigned_size=peer.witnessed_size,
        )
        log.warning("refused to cosign peer %s: %s", peer.organisation.slug, detail)
        return WitnessReport(peer.organisation.slug, "refused", peer.witnessed_size, detail)
    except (OSError, ValueError, KeyError) as exc:
        detail = f"{type(exc).__name__}: {exc}"[:500]
        peer.last_witness_at, peer.last_witness_outcome = now, "unreachable"
        peer.last_witness_detail = detail
        db.session.flush()
        audit.record(actor, FEDERATION_WITNESS, "failed", reason="peer_unreachable", **refs)
        return WitnessReport(peer.organisation.slug, "unreachable", peer.witnessed_size, detail)
    peer.witnessed_size, peer.witnessed_root = new_state.size, new_state.root
    peer.witnessed_checkpoint, peer.witnessed_at = new_state.checkpoint, now
    peer.last_witness_at, peer.last_witness_outcome, peer.last_witness_detail = (
        now,
        "cosigned",
        None,
    )
    db.session.flush()
    audit.record(actor, FEDERATION_WITNESS, "granted", **refs, tree_size=new_state.size)
    return WitnessReport(peer.organisation.slug, "cosigned", new_state.size, "")


def witness_peers(actor: Actor) -> list[WitnessReport]:
    """Witness every active peer, one after another (each outcome flushed and audited)."""
    peers.require_operator(actor, "federation.witness")
    signer_key = witness_signer_key()
    return [witness_peer(actor, peer, signer_key) for peer in peers.list_peers() if peer.is_active]


# --- the optional background schedule -----------------------------------------------------------


class _Schedule:
    """One thread per process that witnesses the peers every `interval` seconds."""

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
                    for report in witness_peers(Actor.system("peer-witness")):
                        log.info("peer witnessing: %s", report.line())
                    db.session.commit()
                except Exception:  # the next round tries again
                    db.session.rollback()
                    log.exception("peer witnessing round failed")
                finally:
                    db.session.remove()


def init_app(app: Flask) -> None:
    """Start the witnessing schedule with the first request when
    HUB_PEER_WITNESS_INTERVAL_SECONDS > 0 (off by default: run `federation witness-peers`)."""
    interval = int(app.config["HUB_SETTINGS"].peer_witness_interval_seconds)
    if interval <= 0:
        return
    schedule = app.extensions["hub_peer_witness_schedule"] = _Schedule(app, interval)
    app.before_request(schedule.ensure_started)
