"""An outside client: the npm package `openid-client` (v6, on oauth4webapi) discovers the hub
from its RFC 8414 metadata, gets a token with `private_key_jwt` and calls the API over HTTP,
with Ed25519 and P-256 client keys, Bearer and DPoP-bound tokens."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from partners.models import OAuthClient
from tests.oauth_helpers import jwks_of, new_key
from tests.partners.live_hub import ROOT, SPEAKER_NAME, on_behalf

SCRIPT = Path(__file__).with_name("openid_client.mjs")
NODE = shutil.which("node") or "/usr/bin/node"
PACKAGE = ROOT / "node_modules" / "openid-client" / "package.json"


def _run_node(*args: str) -> dict:
    if not PACKAGE.exists():
        pytest.fail("openid-client is not installed: run `npm ci` (make test does)", pytrace=False)
    done = subprocess.run(
        [NODE, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def private_jwk(live_hub):
    """The private JWK of a partner client, as the node script takes it."""

    def of(name: str, kind: str = "Ed25519") -> tuple[str, str]:
        partner = live_hub.world.partners[name]
        key = partner.key
        if kind != "Ed25519":  # register a P-256 key beside the Ed25519 one
            key = new_key("P-256")

            def rotate() -> None:
                model = db.session.scalar(
                    sa.select(OAuthClient).where(OAuthClient.client_id == partner.client_id)
                )
                model.jwks = jwks_of(partner.key, key)

            live_hub.change(rotate)
        return partner.client_id, json.dumps({**key.as_dict(private=True), "kid": key.kid})

    return of


@pytest.mark.parametrize("kind", ["Ed25519", "P-256"])
def test_openid_client_gets_a_token_with_private_key_jwt_and_calls_the_api(
    live_hub,
    private_jwk,
    kind,
):
    client_id, jwk = private_jwk("reader", kind)
    staff = f"staff-node-{kind}"
    result = _run_node(live_hub.url, client_id, jwk, "bearer", staff)
    assert result["issuer"] == live_hub.url
    assert result["token_type"].lower() == "bearer"
    assert result["expires_in"] == 300 and result["scope"] == "speakers:read"
    assert result["refresh_token"] is None
    assert result["me"]["status"] == 200
    assert result["me"]["body"]["kind"] == "client" and result["me"]["body"]["id"] == client_id
    assert result["me"]["body"]["scopes"] == ["speakers:read"]
    search = result["search"]
    assert search["status"] == 200 and search["body"]["total"] == 1
    assert search["body"]["results"][0]["data"]["display_name"] == SPEAKER_NAME
    refused = result["no_purpose"]
    assert refused["status"] == 400 and refused["type"].startswith("application/problem+json")
    assert "Hub-Purpose" in refused["body"]["detail"]
    [entry] = [
        e
        for e in _client_entries(live_hub, client_id)
        if e.action == "disclosure" and e.on_behalf_of == on_behalf(live_hub, staff)
    ]
    assert entry.purpose == "speaker_due_diligence"


def test_openid_client_with_a_dpop_bound_token(live_hub, private_jwk):
    client_id, jwk = private_jwk("dpop")
    result = _run_node(live_hub.url, client_id, jwk, "dpop")
    assert result["token_type"].lower() == "dpop"
    assert result["me"]["status"] == 200 and result["me"]["body"]["id"] == client_id
    assert result["search"]["status"] == 200 and result["search"]["body"]["total"] == 1


def _client_entries(live_hub, client_id: str) -> list[AuditEntry]:
    with live_hub.app.app_context():
        return list(
            db.session.scalars(
                sa.select(AuditEntry).where(AuditEntry.actor == f"client:{client_id}")
            )
        )
