"""A hub served over HTTP on loopback with its own committed database, seeded with two
universities under an agreement and the partner systems that call it (the live-hub tests: the
partner API over HTTP, openid-client, schemathesis). The `live_hub` fixture is in
tests/partners/conftest.py."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from agreements import services as agreements
from audit import services as audit_services
from audit.models import AuditEntry
from core.db import db
from core.security import Actor
from hub.records.speakers import services as speakers
from partners import services
from partners.oauth import clients
from tests.agreement_factories import agreement_data, rule
from tests.conftest import actor_of, app_config, close_app, dispose_database, fresh_database_url
from tests.oauth_helpers import jwks_of, new_key
from tests.records.worlds import DECISION_LEVELS, EVENT_LEVELS, decided_partner_event

#: The repository (the worked example and node_modules live there).
ROOT = Path(__file__).resolve().parents[2]
PURPOSE = "speaker_due_diligence"
SPEAKER_NAME = "Dr Ember Quillfeather"


# --- the world: two universities under an agreement, and partner clients ------------------------


@dataclass
class Partner:
    """A registered client: its id, its private key, the organisation it acts for."""

    client_id: str
    key: Any
    org_slug: str
    admin_id: str


@dataclass
class SeededWorld:
    """What `seed_world` made."""

    speaker_id: str = ""
    event_id: str = ""
    decision_id: str = ""
    agreement_id: str = ""
    owner_org_id: str = ""
    recipient_org_id: str = ""
    partners: dict[str, Partner] = field(default_factory=dict)


def new_organisation(name: str, slug: str) -> Any:
    """A university in Testshire, made by the hub's operator."""
    return services.create_organisation(
        Actor.system("test"),
        {
            "name": name,
            "slug": slug,
            "kind": "university",
            "region": "Testshire",
            "dp_contact_name": "Data Protection Desk",
            "dp_contact_email": f"dpo@{slug}.example",
        },
    )


def new_person(org: Any, roles: list[str]) -> Any:
    """A person of `org` with `roles`, made by the hub's operator."""
    n = uuid.uuid4().hex[:8]
    return services.create_person(
        Actor.system("test"),
        org,
        {"name": f"Person {n}", "email": f"p{n}@{org.slug}.example", "roles": roles},
    ).person


def register_partner(org: Any, admin: Any, *, scopes: str, dpop_bound: bool = False) -> Partner:
    """A partner system of `org`, registered by its admin with a new key."""
    key = new_key()
    client, _ = clients.register_client(
        actor_of(admin),
        org,
        {
            "name": f"System {uuid.uuid4().hex[:6]}",
            "jwks": jwks_of(key),
            "scopes": scopes.split(),
            "dpop_bound": dpop_bound,
        },
    )
    return Partner(client.client_id, key, org.slug, str(admin.id))


def seed_world() -> SeededWorld:
    """Fellwater shares its speakers, events and decisions with Brackenmoor for due diligence
    (one speaker, on one decided event); Brackenmoor's systems are the partner clients (plus a
    third organisation's, to be suspended). Call in an app context; commits."""
    world = SeededWorld()
    owner = new_organisation("Fellwater University", "fellwater")
    recipient = new_organisation("Brackenmoor University", "brackenmoor")
    other = new_organisation("Thistledown College", "thistledown")
    officer = new_person(owner, ["events_officer"])
    speaker = speakers.create_speaker(
        actor_of(officer),
        {
            "display_name": SPEAKER_NAME,
            "aliases": [{"name": "Embre Quilfeather", "kind": "alias"}],
            "distribution": "shareable",
        },
    )
    event, decision = decided_partner_event(
        actor_of(officer), actor_of(new_person(owner, ["prevent_lead"])), speaker
    )
    signatories = [new_person(org, ["signatory", "dpo"]) for org in (owner, recipient)]
    parties = [
        {
            "organisation_id": str(org.id),
            "role": "controller",
            "designated_person": "Designated Person",
            "signatory_id": str(person.id),
        }
        for org, person in zip((owner, recipient), signatories, strict=True)
    ]
    schedule = [
        rule(owner, recipient, "speaker", {"display_name": "full", "aliases": "masked"}),
        rule(owner, recipient, "event", EVENT_LEVELS),
        rule(owner, recipient, "decision", DECISION_LEVELS),
    ]
    data = agreement_data(parties, schedule, kind="one_way", purposes=[PURPOSE])
    agreement = agreements.create_draft(actor_of(signatories[0]), data)
    agreements.propose(actor_of(signatories[0]), agreement)
    for signatory in signatories:
        agreements.approve(
            actor_of(signatory),
            agreement,
            content_hash=agreement.content_hash,
            reauthenticated_at=datetime.now(UTC),
        )
    admin = new_person(recipient, ["org_admin"])
    other_admin = new_person(other, ["org_admin"])
    world.speaker_id, world.agreement_id = str(speaker.id), str(agreement.id)
    world.event_id, world.decision_id = str(event.id), str(decision.id)
    world.owner_org_id, world.recipient_org_id = str(owner.id), str(recipient.id)
    world.partners = {
        "reader": register_partner(
            recipient, admin, scopes="speakers:read audit:read audit:verify"
        ),
        "dpop": register_partner(
            recipient, admin, scopes="speakers:read audit:read audit:verify", dpop_bound=True
        ),
        "doomed": register_partner(recipient, admin, scopes="speakers:read"),
        "elsewhere": register_partner(other, other_admin, scopes="speakers:read"),
    }
    db.session.commit()
    return world


@dataclass
class LiveHub:
    """A hub served over HTTP on loopback, its app (for looking into its database) and world."""

    app: Flask
    url: str
    world: SeededWorld

    def entries(self, request_id: str) -> list[AuditEntry]:
        """The audit entries written for one request (by the `X-Request-Id` it was sent with)."""
        with self.app.app_context():
            rows = list(
                db.session.scalars(
                    sa.select(AuditEntry)
                    .where(AuditEntry.request_id == request_id)
                    .order_by(AuditEntry.seq)
                )
            )
            return rows  # the session closes with the context; loaded rows stay readable

    def change(self, action: Any) -> None:
        """Change the hub's data directly (suspensions), committed."""
        with self.app.app_context():
            action()
            db.session.commit()


@contextmanager
def serving_a_seeded_hub(database_server, tmp_path_factory) -> Iterator[LiveHub]:
    """A hub with its own database, seeded (see `seed_world`), served by werkzeug in a thread;
    its base URL (the OAuth issuer, and what DPoP proofs name) is the address it is served at."""
    from core import migrations
    from hub.app import create_app

    base = tmp_path_factory.mktemp("live")
    url = fresh_database_url(database_server, base, "partner_http")
    app = create_app(app_config(url, base / "instance"))
    with app.app_context():
        migrations.upgrade(url)
        world = seed_world()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    address = f"http://127.0.0.1:{server.server_port}"
    app.config["HUB_SETTINGS"].base_url = address
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveHub(app, address, world)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
        close_app(app)
        dispose_database(database_server, url)


def on_behalf(live_hub: LiveHub, value: str) -> str:
    """How the live hub's log names the member of staff the reader's calls are made for."""
    with live_hub.app.app_context():
        return audit_services.on_behalf_of_pseudonym(live_hub.world.recipient_org_id, value)
