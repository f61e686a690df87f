"""`flask --app wsgi federation add-peer`: given the peer's JWKS it registers the peer's client
here and prints its client id (the peer's operator needs it as their `--client-id` for us), in
the one unit of work with the peer itself."""

from __future__ import annotations

import json
import re
import uuid

import pytest
import sqlalchemy as sa

from audit import notes
from audit.models import AuditEntry
from core.db import db
from hub.federation.models import PeerHub
from partners.models import OAuthClient, Organisation
from tests.oauth_helpers import jwks_of, new_key

PRINTED_CLIENT_ID = re.compile(r"the client id we registered for it here .*: (\S+)$", re.M)


def _add_peer(cli, tmp_path, *extra: str):
    slug = f"peer-{uuid.uuid4().hex[:8]}"
    log_key = notes.verifier_key_from_signer(notes.make_signer_key(f"{slug}.hub.test/audit"))
    args = [
        "federation",
        "add-peer",
        "--name",
        "Westvale hub",
        "--slug",
        slug,
        "--url",
        f"https://{slug}.hub.example",
        "--log-key",
        log_key,
        "--region",
        "Westvale",
        "--dp-contact-name",
        "Westvale DPO",
        "--dp-contact-email",
        f"dpo@{slug}.example",
        *extra,
    ]
    return slug, cli.invoke(args=args)


def _organisation(slug: str) -> Organisation | None:
    return db.session.scalar(sa.select(Organisation).where(Organisation.slug == slug))


def test_add_peer_prints_the_client_id_it_registered_for_the_peer(cli, tmp_path):
    jwks = tmp_path / "peer.jwks.json"
    jwks.write_text(json.dumps(jwks_of(new_key())))
    slug, result = _add_peer(cli, tmp_path, "--peer-jwks", str(jwks))
    assert result.exit_code == 0, result.output
    organisation = _organisation(slug)
    assert organisation is not None
    [client_id] = db.session.scalars(
        sa.select(OAuthClient.client_id).where(OAuthClient.organisation_id == organisation.id)
    ).all()
    assert PRINTED_CLIENT_ID.findall(result.output) == [client_id]
    # The same id the audit entry for the peer's client names.
    peer = db.session.scalar(sa.select(PeerHub).where(PeerHub.organisation_id == organisation.id))
    [entry] = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "federation.peer.client",
            AuditEntry.resource_org == str(organisation.id),
        )
    ).all()
    assert json.loads(entry.details)["client_id"] == client_id
    assert peer is not None and str(peer.id) in entry.resource_ids


def test_without_the_peers_jwks_no_client_is_registered_or_printed(cli, tmp_path):
    slug, result = _add_peer(cli, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Registered peer hub Westvale hub" in result.output
    assert not PRINTED_CLIENT_ID.search(result.output)
    organisation = _organisation(slug)
    assert organisation is not None
    assert not db.session.scalar(
        sa.select(sa.func.count())
        .select_from(OAuthClient)
        .where(OAuthClient.organisation_id == organisation.id)
    )


@pytest.mark.parametrize("document", [{"keys": []}, {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}])
def test_a_bad_jwks_registers_neither_the_peer_nor_its_client(cli, tmp_path, document):
    jwks = tmp_path / "peer.jwks.json"
    jwks.write_text(json.dumps(document))
    slug, result = _add_peer(cli, tmp_path, "--peer-jwks", str(jwks))
    assert result.exit_code == 2, result.output
    assert _organisation(slug) is None
