"""Registering and managing peer hubs: each side an OAuth client of the other, and a witness of
the other's audit log. Every change is audited; only hub administrators (the operator) act."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app
from joserfc.jwk import OKPKey

from agreements import services as agreements
from agreements.models import Agreement
from audit import notes
from audit import services as audit
from audit import witness as witnesses
from audit.actions import (
    FEDERATION_PEER_ADD,
    FEDERATION_PEER_CLIENT,
    FEDERATION_PEER_ROTATE,
    FEDERATION_PEER_UPDATE,
)
from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.security import Actor
from core.validation import Checker
from hub.federation.models import PeerHub, PeerStatus
from partners import services as partners
from partners.models import OAuthClient, Organisation, OrganisationKind
from partners.oauth import clients

#: What a peer hub's client may do here: search speakers (agreements decide what it sees) and
#: fetch audit proofs (witnessing needs only the public endpoints, but verifying receipts may).
PEER_SCOPES = ["speakers:read", "audit:verify"]


def _refs(peer: PeerHub) -> dict[str, Any]:
    return {
        "resource_type": "peer_hub",
        "resource_ids": [str(peer.id)],
        "resource_org": str(peer.organisation_id),
    }


def require_operator(actor: Actor, action: str) -> None:
    """Peers are the operator's business (hub administrators, the command line)."""
    if not actor.is_hub_admin:
        raise PermissionDenied(
            "Only the hub's administrators manage peer hubs.",
            reason="not_permitted",
            audit={"action": action, "resource_type": "peer_hub"},
        )


def check_base_url(check: Checker, key: str, value: Any) -> str:
    """A peer's base URL (its OAuth issuer): https, or plain http on loopback in development."""
    text = check.text(key, "the peer hub's base URL", max_length=2000)
    if not text:
        return ""
    parts = urlsplit(text.strip())
    loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    development = current_app.config["HUB_SETTINGS"].is_development
    if not parts.hostname or parts.query or parts.fragment or parts.username:
        check.add(key, "Give the peer hub's base URL, like https://hub.example.org.")
        return ""
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback and development):
        check.add(key, "The peer hub's base URL must start with https://.")
        return ""
    return text.strip().rstrip("/")


def _log_key(check: Checker, key: str) -> notes.Verifier | None:
    text = check.text(key, "the peer hub's audit log verifier key", max_length=500)
    if not text:
        return None
    try:
        verifier = notes.parse_verifier_key(text.strip())
    except notes.NoteError as exc:
        check.add(key, f"That is not a signed-note verifier key: {exc}.")
        return None
    if verifier.sig_type != notes.SIG_TYPE_ED25519:
        check.add(key, "Give the peer's checkpoint key (Ed25519), not a witness key.")
        return None
    return verifier


def _new_key(peer: PeerHub) -> None:
    """A fresh Ed25519 key pair for signing client assertions to this peer."""
    key = OKPKey.generate_key("Ed25519")
    key.ensure_kid()
    private = json.dumps({**key.as_dict(private=True), "kid": key.kid})
    peer.signing_key_encrypted = current_app.extensions["hub_field_cipher"].encrypt(
        private.encode(), f"peer-hub:{peer.id}"
    )
    peer.public_jwk = {**key.as_dict(private=False), "kid": key.kid}


def signing_key(peer: PeerHub) -> OKPKey:
    """This hub's private key for client assertions to `peer` (decrypted)."""
    raw = current_app.extensions["hub_field_cipher"].decrypt(
        peer.signing_key_encrypted, f"peer-hub:{peer.id}"
    )
    return OKPKey.import_key(json.loads(raw))


def public_jwks(peer: PeerHub) -> dict[str, Any]:
    """The JWKS the peer registers for this hub's client."""
    return {"keys": [peer.public_jwk]}


def add_peer(actor: Actor, data: dict[str, Any]) -> PeerHub:
    """Register another regional hub: a new organisation of kind hub (with no people), this
    hub's key pair for calling it, and its log key for witnessing. Optionally, in the same
    step, our client id at the peer, the peer's client keys and its witness key."""
    require_operator(actor, "federation.peer.add")
    check = Checker(data)
    base_url = check_base_url(check, "base_url", data.get("base_url"))
    verifier = _log_key(check, "log_key")
    client_id = check.text("client_id", "our client id at the peer", required=False, max_length=64)
    if base_url and db.session.scalar(sa.select(PeerHub.id).where(PeerHub.base_url == base_url)):
        check.add("base_url", "A peer hub with this base URL is already registered.")
    check.raise_if_any()
    assert verifier is not None
    organisation = partners.create_organisation(
        actor,
        {
            "name": data.get("name"),
            "slug": data.get("slug"),
            "kind": OrganisationKind.HUB.value,
            "region": data.get("region"),
            "dp_contact_name": data.get("dp_contact_name"),
            "dp_contact_email": data.get("dp_contact_email"),
        },
    )
    peer = PeerHub(
        id=uuid.uuid4(),
        organisation_id=organisation.id,
        base_url=base_url,
        client_id=client_id or None,
        log_origin=verifier.name,
        log_verifier_key=data["log_key"].strip(),
        status=PeerStatus.ACTIVE,
    )
    _new_key(peer)
    db.session.add(peer)
    db.session.flush()
    audit.record(
        actor,
        FEDERATION_PEER_ADD,
        "granted",
        **_refs(peer),
        origin=peer.log_origin,
        client=str(bool(peer.client_id)).lower(),
    )
    if data.get("peer_jwks"):
        register_peer_client(actor, peer, data["peer_jwks"])
    if data.get("witness_key"):
        register_peer_witness(actor, peer, data["witness_key"])
    return peer


def get_peer(actor: Actor, slug: str) -> PeerHub:
    """A peer hub by its organisation's slug."""
    require_operator(actor, "federation.peer.read")
    peer = db.session.scalar(sa.select(PeerHub).join(Organisation).where(Organisation.slug == slug))
    if peer is None:
        raise NotFound(f"There is no peer hub '{slug}'.")
    return peer


def list_peers(actor: Actor | None = None) -> list[PeerHub]:
    """Every registered peer hub, by name (no actor: the hub's own scheduled work)."""
    if actor is not None:
        require_operator(actor, "federation.peer.list")
    return list(
        db.session.scalars(sa.select(PeerHub).join(Organisation).order_by(Organisation.name))
    )


def register_peer_client(actor: Actor, peer: PeerHub, jwks: Any) -> OAuthClient:
    """Register the peer hub's system as an OAuth client here (private_key_jwt)."""
    require_operator(actor, "federation.peer.client")
    client, _ = clients.register_client(
        actor,
        peer.organisation,
        {"name": f"{peer.organisation.name} (peer hub)", "jwks": jwks, "scopes": PEER_SCOPES},
    )
    audit.record(
        actor, FEDERATION_PEER_CLIENT, "granted", **_refs(peer), client_id=client.client_id
    )
    return client


def register_peer_witness(actor: Actor, peer: PeerHub, verifier_key: str) -> None:
    """Register the peer hub's witness key, so its cosignatures of this log are accepted."""
    witnesses.register_witness(db.session(), actor, str(peer.organisation_id), verifier_key)


def update_peer(actor: Actor, peer: PeerHub, data: dict[str, Any]) -> PeerHub:
    """Change our client id at the peer, its base URL or log key, or suspend/reinstate it."""
    require_operator(actor, "federation.peer.update")
    check = Checker(data)
    changed: list[str] = []
    if data.get("base_url"):
        url = check_base_url(check, "base_url", data["base_url"])
        if url:
            peer.base_url = url
            changed.append("base_url")
    if data.get("log_key"):
        verifier = _log_key(check, "log_key")
        if verifier is not None:
            if verifier.name != peer.log_origin:
                check.add("log_key", f"The peer's log is {peer.log_origin}, not {verifier.name}.")
            else:
                peer.log_verifier_key = data["log_key"].strip()
                changed.append("log_key")
    if data.get("client_id"):
        peer.client_id = check.text("client_id", "our client id at the peer", max_length=64)
        changed.append("client_id")
    if data.get("status"):
        status = check.choice("status", PeerStatus, "the peer's status")
        if status is not None:
            peer.status = status
            changed.append("status")
    check.raise_if_any()
    if not changed:
        raise ValidationFailed("Nothing to change: give a new value for something.")
    db.session.flush()
    audit.record(actor, FEDERATION_PEER_UPDATE, "granted", **_refs(peer), changed=changed)
    return peer


def rotate_key(actor: Actor, peer: PeerHub) -> PeerHub:
    """A new key pair for calling the peer (register its JWKS at the peer afterwards)."""
    require_operator(actor, "federation.peer.rotate")
    _new_key(peer)
    db.session.flush()
    audit.record(actor, FEDERATION_PEER_ROTATE, "granted", **_refs(peer))
    return peer


def approve_agreement_for_peer(actor: Actor, peer: PeerHub, agreement_id: str) -> Agreement:
    """Record that the peer hub's signatory approved (at the peer) the proposed agreement the
    peer is party to here: the peer has no people on this hub to approve it themselves."""
    require_operator(actor, "agreement.approve")
    try:
        agreement = db.session.get(Agreement, uuid.UUID(str(agreement_id)))
    except ValueError:
        agreement = None
    if agreement is None:
        raise NotFound("There is no such agreement.")
    if agreement.content_hash is None:
        raise Conflict("Only a proposed agreement can be approved.")
    return agreements.approve(
        actor,
        agreement,
        content_hash=agreement.content_hash,
        reauthenticated_at=utcnow(),
        hub_party=str(peer.organisation_id),
    )
