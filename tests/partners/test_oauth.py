"""The authorization server: private_key_jwt, JWT access tokens, DPoP, revocation, refusals."""

from __future__ import annotations

import time
import uuid

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from partners.models import Status
from partners.oauth import clients
from tests.conftest import actor_of
from tests.oauth_helpers import ISSUER, dpop_proof, jwks_of, new_key, token_form

TOKEN_URL = ISSUER + "/oauth/token"
ME_URL = ISSUER + "/api/v1/me"


@pytest.fixture
def partner(make_org, make_person):
    """An organisation with a registered private_key_jwt client and its key."""

    def factory(
        *, dpop_bound=False, scopes="speakers:read events:read audit:read", kind="Ed25519", org=None
    ):
        organisation = org or make_org()
        admin = make_person(organisation, ["org_admin"])
        key = new_key(kind)
        client, _ = clients.register_client(
            actor_of(admin),
            organisation,
            {
                "name": "Events system",
                "jwks": jwks_of(key),
                "scopes": scopes.split(),
                "dpop_bound": dpop_bound,
            },
        )
        db.session.flush()
        return client, key, admin

    return factory


def _token(client, form, headers=None):
    return client.post("/oauth/token", data=form, headers=headers or {})


def _last_denied(action):
    return db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.outcome == "denied")
        .order_by(AuditEntry.seq.desc())
    )


@pytest.mark.parametrize("kind", ["Ed25519", "P-256"])
def test_private_key_jwt_gets_a_short_lived_jwt_access_token(client, partner, kind):
    oauth_client, key, _ = partner(kind=kind)
    response = _token(client, token_form(oauth_client.client_id, key, "speakers:read"))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 300
    assert "refresh_token" not in body
    assert body["scope"] == "speakers:read"
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json["kind"] == "client" and me.json["scopes"] == ["speakers:read"]


def test_scopes_never_exceed_what_the_client_holds(client, partner):
    oauth_client, key, _ = partner(scopes="speakers:read")
    body = _token(
        client, token_form(oauth_client.client_id, key, "speakers:read speakers:write")
    ).json
    assert body["scope"] == "speakers:read"


def test_registration_refuses_scopes_the_organisation_kind_cannot_hold(partner, make_org):
    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as excinfo:
        partner(scopes="advisory:respond", org=make_org(kind="university"))
    assert "cannot hold advisory:respond" in excinfo.value.errors["scopes"][0]


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"aud": "https://elsewhere.example"}, "aud"),
        ({"lifetime": 600}, "five minutes"),
        ({"iat": time.time() - 1000, "lifetime": 120}, "expired"),
    ],
)
def test_bad_assertions_are_refused_and_audited(client, partner, options, reason):
    oauth_client, key, _ = partner()
    response = _token(client, token_form(oauth_client.client_id, key, **options))
    assert response.status_code in (400, 401)
    assert response.json["error"] == "invalid_client"
    assert _last_denied("oauth.token") is not None


@pytest.mark.parametrize(
    "aud",
    [
        [ISSUER, "https://evil.example"],
        ["https://evil.example", ISSUER],
        [ISSUER, ISSUER],
        [],
        ["https://evil.example"],
    ],
)
def test_an_assertion_for_more_than_the_issuer_is_refused_and_audited(client, partner, aud):
    oauth_client, key, _ = partner()
    response = _token(client, token_form(oauth_client.client_id, key, aud=aud))
    assert response.status_code in (400, 401), response.get_data(as_text=True)
    assert response.json["error"] == "invalid_client"
    assert "access_token" not in response.json
    assert _last_denied("oauth.token") is not None


@pytest.mark.parametrize("aud", [ISSUER, [ISSUER]])
def test_the_issuer_alone_is_a_good_audience_as_a_string_or_a_one_element_array(
    client, partner, aud
):
    oauth_client, key, _ = partner()
    response = _token(client, token_form(oauth_client.client_id, key, aud=aud))
    assert response.status_code == 200, response.get_data(as_text=True)


def test_a_replayed_assertion_is_refused(client, partner):
    oauth_client, key, _ = partner()
    form = token_form(oauth_client.client_id, key)
    assert _token(client, form).status_code == 200
    again = _token(client, form)
    assert again.status_code in (400, 401) and again.json["error"] == "invalid_client"


def test_an_unknown_key_is_refused(client, partner):
    oauth_client, _key, _ = partner()
    response = _token(client, token_form(oauth_client.client_id, new_key()))
    assert response.json["error"] == "invalid_client"


def test_client_secret_is_refused_unless_enabled(client, partner):
    partner()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic aHViY19hOmI="},
    )
    assert response.status_code in (400, 401)


def test_revoked_token_stops_working(client, partner):
    oauth_client, key, _ = partner()
    token = _token(client, token_form(oauth_client.client_id, key)).json["access_token"]
    revoke = client.post(
        "/oauth/revoke",
        data={
            "token": token,
            **{
                k: v
                for k, v in token_form(oauth_client.client_id, key).items()
                if k.startswith("client_assertion")
            },
        },
    )
    assert revoke.status_code == 200
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert me.mimetype == "application/problem+json"
    assert _last_denied("api.access").reason == "token_revoked"


def test_introspection_reports_live_and_revoked_tokens(client, partner):
    oauth_client, key, _ = partner()
    token = _token(client, token_form(oauth_client.client_id, key)).json["access_token"]

    def introspect():
        return client.post(
            "/oauth/introspect",
            data={
                "token": token,
                **{
                    k: v
                    for k, v in token_form(oauth_client.client_id, key).items()
                    if k.startswith("client_assertion")
                },
            },
        ).json

    live = introspect()
    assert live["active"] is True and live["client_id"] == oauth_client.client_id
    client.post(
        "/oauth/revoke",
        data={
            "token": token,
            **{
                k: v
                for k, v in token_form(oauth_client.client_id, key).items()
                if k.startswith("client_assertion")
            },
        },
    )
    assert introspect() == {"active": False}


@pytest.mark.parametrize("target", ["client", "organisation"])
def test_suspension_stops_tokens_on_the_next_request(client, partner, system, target):
    from partners import services

    oauth_client, key, admin = partner()
    token = _token(client, token_form(oauth_client.client_id, key)).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    if target == "client":
        clients.set_status(actor_of(admin), oauth_client, Status.SUSPENDED)
    else:
        services.set_organisation_status(system, oauth_client.organisation, Status.SUSPENDED)
    db.session.flush()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    assert _token(client, token_form(oauth_client.client_id, key)).status_code in (400, 401)


def _introspect(client, oauth_client, key, token):
    form = token_form(oauth_client.client_id, key)
    credentials = {k: v for k, v in form.items() if k.startswith("client_assertion")}
    return client.post("/oauth/introspect", data={"token": token, **credentials}).json


@pytest.mark.parametrize("target", ["client", "organisation"])
def test_reinstatement_does_not_revive_tokens_issued_before_the_suspension(
    client, partner, system, target
):
    from partners import services

    oauth_client, key, admin = partner()
    token = _token(client, token_form(oauth_client.client_id, key)).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    if target == "client":
        clients.set_status(actor_of(admin), oauth_client, Status.SUSPENDED)
        clients.set_status(actor_of(admin), oauth_client, Status.ACTIVE)
    else:
        organisation = oauth_client.organisation
        services.set_organisation_status(system, organisation, Status.SUSPENDED)
        services.set_organisation_status(system, organisation, Status.ACTIVE)
    db.session.flush()
    old = client.get("/api/v1/me", headers=headers)
    assert old.status_code == 401
    assert old.mimetype == "application/problem+json"
    assert _last_denied("api.access").reason == "token_revoked"
    # A token issued after the reinstatement works (even within the same second), and
    # introspection tells the two apart.
    fresh = _token(client, token_form(oauth_client.client_id, key)).json["access_token"]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
    assert _introspect(client, oauth_client, key, token) == {"active": False}
    assert _introspect(client, oauth_client, key, fresh)["active"] is True


def test_missing_or_unknown_purpose_is_a_400_problem(client, partner):
    oauth_client, key, _ = partner()
    token = _token(client, token_form(oauth_client.client_id, key)).json["access_token"]
    for purpose in (None, "curiosity"):
        headers = {"Authorization": f"Bearer {token}"}
        if purpose:
            headers["Hub-Purpose"] = purpose
        response = client.get("/api/v1/organisations", headers=headers)
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"


# --- DPoP ------------------------------------------------------------------------------


def _dpop_token(client, oauth_client, key, dpop_key):
    proof = dpop_proof(dpop_key, "POST", TOKEN_URL)
    return _token(client, token_form(oauth_client.client_id, key), {"DPoP": proof})


def test_dpop_bound_token_works_only_with_a_fresh_proof(client, partner):
    oauth_client, key, _ = partner(dpop_bound=True)
    dpop_key = new_key("P-256")
    body = _dpop_token(client, oauth_client, key, dpop_key).json
    assert body["token_type"] == "DPoP"
    token = body["access_token"]
    proof = dpop_proof(dpop_key, "GET", ME_URL, access_token=token)
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    # Replayed proof, proof for another URL, missing proof, token as Bearer: all refused.
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    other = dpop_proof(dpop_key, "GET", ISSUER + "/api/v1/organisations", access_token=token)
    assert (
        client.get(
            "/api/v1/me", headers={"Authorization": f"DPoP {token}", "DPoP": other}
        ).status_code
        == 401
    )
    assert client.get("/api/v1/me", headers={"Authorization": f"DPoP {token}"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    wrong_key = dpop_proof(new_key(), "GET", ME_URL, access_token=token)
    assert (
        client.get(
            "/api/v1/me", headers={"Authorization": f"DPoP {token}", "DPoP": wrong_key}
        ).status_code
        == 401
    )
    reasons = {
        e.reason
        for e in db.session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "api.access", AuditEntry.outcome == "denied"
            )
        )
    }
    assert {"dpop_invalid_dpop_proof", "dpop_token_as_bearer", "dpop_key_mismatch"} <= reasons


def test_dpop_bound_client_without_a_proof_gets_no_token(client, partner):
    oauth_client, key, _ = partner(dpop_bound=True)
    response = _token(client, token_form(oauth_client.client_id, key))
    assert response.status_code == 400
    assert response.json["error"] == "invalid_dpop_proof"


def test_dpop_nonce_when_the_hub_requires_one(app, client, partner):
    oauth_client, key, _ = partner(dpop_bound=True)
    dpop_key = new_key()
    app.config["HUB_SETTINGS"].dpop_require_nonce = True
    try:
        first = _dpop_token(client, oauth_client, key, dpop_key)
        assert first.status_code == 400 and first.json["error"] == "use_dpop_nonce"
        nonce = first.headers["DPoP-Nonce"]
        proof = dpop_proof(dpop_key, "POST", TOKEN_URL, nonce=nonce)
        second = _token(client, token_form(oauth_client.client_id, key), {"DPoP": proof})
        assert second.status_code == 200
    finally:
        app.config["HUB_SETTINGS"].dpop_require_nonce = False


def test_metadata_and_keys_are_published(client):
    metadata = client.get("/.well-known/oauth-authorization-server").json
    assert metadata["token_endpoint_auth_methods_supported"] == [
        "private_key_jwt",
        "client_secret_basic",
    ]
    assert metadata["grant_types_supported"] == ["client_credentials"]
    assert "dpop_signing_alg_values_supported" in metadata
    keys = client.get("/.well-known/jwks.json").json["keys"]
    assert keys and all("d" not in k for k in keys)


def test_rotated_key_stays_published_for_live_tokens(client, partner, cli):
    oauth_client, key, _ = partner()
    token = _token(client, token_form(oauth_client.client_id, key)).json["access_token"]
    before = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    from partners import signing_keys as token_keys

    token_keys.create_key()
    db.session.flush()
    after = {k["kid"] for k in client.get("/.well-known/jwks.json").json["keys"]}
    assert before < after
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_token_and_revocation_entries_carry_the_requests_id(client, partner):
    """Every entry of one request carries that request's X-Request-Id (issue 12, item 8)."""
    oauth_client, key, _ = partner()
    issued_id, revoked_id = str(uuid.uuid4()), str(uuid.uuid4())
    response = client.post(
        "/oauth/token",
        data=token_form(oauth_client.client_id, key),
        headers={"X-Request-Id": issued_id},
    )
    assert response.status_code == 200
    revoke = client.post(
        "/oauth/revoke",
        data={
            "token": response.json["access_token"],
            **{
                k: v
                for k, v in token_form(oauth_client.client_id, key).items()
                if k.startswith("client_assertion")
            },
        },
        headers={"X-Request-Id": revoked_id},
    )
    assert revoke.status_code == 200
    for request_id, action in ((issued_id, "oauth.token"), (revoked_id, "oauth.revoke")):
        actions = db.session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.request_id == request_id)
        ).all()
        assert action in actions, (action, actions)


def test_eddsa_assertions_and_proofs_leave_the_warning_filters_alone(client, partner, monkeypatch):
    """The "EdDSA" warning is silenced once for the process: changing the filters around each
    decode (`warnings.catch_warnings`) is not thread-safe under a threaded server, and reset
    every module's record of the warnings it has shown."""
    import warnings

    changes: list[int] = []
    mutated = warnings._filters_mutated  # type: ignore[attr-defined]
    monkeypatch.setattr(warnings, "_filters_mutated", lambda: changes.append(1) or mutated())
    oauth_client, key, _ = partner(dpop_bound=True)
    body = _dpop_token(client, oauth_client, key, new_key("Ed25519")).json
    assert body["token_type"] == "DPoP"
    assert changes == []
