"""The partner API over real HTTP: a hub served on loopback with its own committed database,
called with httpx2 as a partner system would. The worked example runs end to end against it
and verifies its own query's audit entry; every refusal answers the right status and body
(OAuth JSON errors at the token endpoint, RFC 9457 problems on the API) and is audited.
The hub and its seed are in tests/partners/live_hub.py (the `live_hub` fixture: conftest).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx2
import pytest
import sqlalchemy as sa

from agreements import services as agreements
from agreements.models import AgreementKey
from audit import log
from audit.models import AuditEntry
from core.db import db
from core.security import Actor
from hub.records.speakers import services as speakers
from partners import services
from partners.models import OAuthClient, Status
from partners.oauth import clients
from tests.agreement_factories import agreement_data, rule
from tests.conftest import actor_of
from tests.oauth_helpers import assertion, dpop_proof, new_key, token_form
from tests.partners.live_hub import (
    PURPOSE,
    ROOT,
    SPEAKER_NAME,
    Partner,
    new_person,
    on_behalf,
)

EXAMPLE = ROOT / "examples" / "partner_client.py"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@pytest.fixture
def http(live_hub) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=live_hub.url, timeout=30) as client:
        yield client


# --- helpers -------------------------------------------------------------------------------------


def _rid() -> str:
    return str(uuid.uuid4())


def _token(http, partner: Partner, *, dpop_key=None, **assertion_options) -> dict[str, Any]:
    """A token for `partner` (DPoP-bound when given a proof key)."""
    issuer = str(http.base_url).rstrip("/")
    headers = {}
    if dpop_key is not None:
        headers["DPoP"] = dpop_proof(dpop_key, "POST", issuer + "/oauth/token")
    response = http.post(
        "/oauth/token",
        data=token_form(partner.client_id, partner.key, aud=issuer, **assertion_options),
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _refused_token(http, form: dict[str, str]) -> tuple[httpx2.Response, str]:
    request_id = _rid()
    response = http.post("/oauth/token", data=form, headers={"X-Request-Id": request_id})
    return response, request_id


def _oauth_error(response: httpx2.Response, error: str) -> dict[str, Any]:
    """An OAuth 2.0 error answer (RFC 6749 section 5.2), never cached."""
    assert response.status_code in (400, 401), response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("cache-control") == "no-store"
    body = response.json()
    assert body["error"] == error and body.get("error_description")
    return body


def _problem(response: httpx2.Response, status: int, slug: str) -> dict[str, Any]:
    """An RFC 9457 problem document with the right status and type."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == status and problem["type"].endswith("/" + slug)
    assert problem["title"] and problem["detail"]
    return problem


def _denied(live_hub, request_id: str, action: str, reason: str | None = None) -> AuditEntry:
    """The one refusal the hub audited for this request."""
    [entry] = [e for e in live_hub.entries(request_id) if e.outcome == "denied"]
    assert entry.action == action
    if reason is not None:
        assert entry.reason == reason
    return entry


def _api(http, method: str, path: str, headers: dict[str, str]) -> tuple[httpx2.Response, str]:
    request_id = _rid()
    response = http.request(method, path, headers={**headers, "X-Request-Id": request_id})
    return response, request_id


# --- the worked example, end to end ---------------------------------------------------------------


@pytest.mark.parametrize("binding", ["bearer", "dpop"])
def test_the_example_client_verifies_its_own_query_in_the_audit_log(live_hub, tmp_path, binding):
    partner = live_hub.world.partners["reader" if binding == "bearer" else "dpop"]
    key_file = tmp_path / "client-key.json"
    key_file.write_text(json.dumps({**partner.key.as_dict(private=True), "kid": partner.key.kid}))
    with live_hub.app.app_context():
        log_key = log.verifier_key()
    command = [
        sys.executable,
        str(EXAMPLE),
        "search",
        "--hub",
        live_hub.url,
        "--client-id",
        partner.client_id,
        "--key",
        str(key_file),
        "--query",
        "Ember Quilfeather",
        "--on-behalf-of",
        "staff-4711",
        "--log-key",
        log_key,
        "--json",
    ]
    if binding == "dpop":
        command.append("--dpop")
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    assert report["token_type"] == ("DPoP" if binding == "dpop" else "Bearer")
    assert report["expires_in"] == 300
    assert report["total"] == 1
    [hit] = report["results"]
    assert hit["id"] == live_hub.world.speaker_id and hit["owner"] == "Fellwater University"
    assert hit["display_name"] == SPEAKER_NAME and hit["disclosed_under"]["version"] == 1
    entry = report["entry"]
    assert entry["action"] == "speaker.search" and entry["outcome"] == "granted"
    assert entry["request_id"] == report["request_id"]
    assert entry["actor"] == f"client:{partner.client_id}"
    assert entry["purpose"] == PURPOSE
    assert entry["on_behalf_of"] == on_behalf(live_hub, "staff-4711")  # never as sent
    assert SPEAKER_NAME not in json.dumps(entry)  # the log holds ids, never names
    [disclosure] = report["disclosures"]
    assert disclosure["resource_ids"] == [live_hub.world.speaker_id]
    assert disclosure["fields"] == ["aliases", "display_name"]
    assert report["log_key_pinned"] and report["inclusion_verified"]
    assert 0 <= report["entry_index"] < report["checkpoint_size"]
    assert report["revoked"]
    # The hub's own log agrees with what the partner saw.
    rows = live_hub.entries(report["request_id"])
    assert {(r.action, r.outcome) for r in rows} == {
        ("speaker.search", "granted"),
        ("disclosure", "granted"),
    }


# --- the token endpoint: OAuth errors, each audited -----------------------------------------------


def _issuer(live_hub) -> str:
    return live_hub.url


@pytest.mark.parametrize(
    "case",
    ["expired", "wrong_aud", "unknown_key", "too_long_lived", "unknown_client"],
)
def test_bad_client_assertions_are_refused_and_audited(live_hub, http, case):
    partner = live_hub.world.partners["reader"]
    issuer = _issuer(live_hub)
    options: dict[str, Any] = {"aud": issuer}
    key = partner.key
    client_id = partner.client_id
    if case == "expired":
        options.update(iat=time.time() - 1000, lifetime=120)
    elif case == "wrong_aud":
        options["aud"] = issuer + "/oauth/token"  # Authlib's default audience: not ours
    elif case == "unknown_key":
        key = new_key()
    elif case == "too_long_lived":
        options["lifetime"] = 3600  # Authlib's default lifetime
    else:
        client_id = "hubc_no_such_client"
    response, request_id = _refused_token(http, token_form(client_id, key, **options))
    _oauth_error(response, "invalid_client")
    entry = _denied(live_hub, request_id, "oauth.token", "invalid_client")
    if case == "unknown_client":
        # The claimed id is not recorded (it names no client); the reason is.
        assert json.loads(entry.details)["detail"] == "client_unknown_or_suspended"
    else:
        assert json.loads(entry.resource_ids) == [client_id]


def test_a_replayed_assertion_is_refused_and_audited(live_hub, http):
    partner = live_hub.world.partners["reader"]
    form = token_form(partner.client_id, partner.key, aud=_issuer(live_hub))
    first, _ = _refused_token(http, form)
    assert first.status_code == 200
    again, request_id = _refused_token(http, form)
    _oauth_error(again, "invalid_client")
    _denied(live_hub, request_id, "oauth.token", "invalid_client")


def test_an_assertion_spent_on_a_refused_request_stays_spent(live_hub, http):
    """The assertion's id is recorded with the refusal, not rolled back with the request."""
    partner = live_hub.world.partners["reader"]
    form = token_form(partner.client_id, partner.key, aud=_issuer(live_hub))
    refused, _ = _refused_token(http, {**form, "scope": "events:erase"})  # no such scope
    _oauth_error(refused, "invalid_scope")
    again, request_id = _refused_token(http, form)
    _oauth_error(again, "invalid_client")
    _denied(live_hub, request_id, "oauth.token", "invalid_client")


def test_a_dpop_bound_client_gets_no_token_without_a_proof(live_hub, http):
    partner = live_hub.world.partners["dpop"]
    response, request_id = _refused_token(
        http, token_form(partner.client_id, partner.key, aud=_issuer(live_hub))
    )
    _oauth_error(response, "invalid_dpop_proof")
    _denied(live_hub, request_id, "oauth.token", "invalid_dpop_proof")


# --- the API: problems, each audited --------------------------------------------------------------


def test_a_revoked_token_is_refused(live_hub, http):
    partner = live_hub.world.partners["reader"]
    token = _token(http, partner)["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert http.get("/api/v1/me", headers=bearer).status_code == 200
    revoke = http.post(
        "/oauth/revoke",
        data={
            "token": token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(partner.client_id, partner.key, aud=_issuer(live_hub)),
        },
    )
    assert revoke.status_code == 200
    response, request_id = _api(http, "GET", "/api/v1/me", bearer)
    _problem(response, 401, "not-authenticated")
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    _denied(live_hub, request_id, "api.access", "token_revoked")


@pytest.mark.parametrize("target", ["client", "organisation"])
def test_a_suspension_stops_a_live_token_at_once(live_hub, http, target):
    name = "doomed" if target == "client" else "elsewhere"
    partner = live_hub.world.partners[name]
    token = _token(http, partner)["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert http.get("/api/v1/me", headers=bearer).status_code == 200

    def suspend() -> None:
        if target == "client":
            model = db.session.scalar(
                sa.select(OAuthClient).where(OAuthClient.client_id == partner.client_id)
            )
            clients.set_status(Actor.system("test"), model, Status.SUSPENDED)
        else:
            organisation = services.get_organisation(partner.org_slug)
            services.set_organisation_status(Actor.system("test"), organisation, Status.SUSPENDED)

    live_hub.change(suspend)
    response, request_id = _api(http, "GET", "/api/v1/me", bearer)
    _problem(response, 401, "not-authenticated")
    _denied(live_hub, request_id, "api.access", "client_suspended")
    # Nor does it get a new token.
    refused, request_id = _refused_token(
        http, token_form(partner.client_id, partner.key, aud=_issuer(live_hub))
    )
    _oauth_error(refused, "invalid_client")
    _denied(live_hub, request_id, "oauth.token", "invalid_client")


def test_a_scope_the_client_lacks_is_a_403_problem(live_hub, http):
    token = _token(http, live_hub.world.partners["reader"])["access_token"]
    response, request_id = _api(
        http, "GET", "/api/v1/agreements", {"Authorization": f"Bearer {token}"}
    )
    problem = _problem(response, 403, "permission-denied")
    assert "agreements:read" in problem["detail"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    _denied(live_hub, request_id, "api.access", "insufficient_scope")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Hub-On-Behalf-Of": "staff-4711"}, "purpose_missing"),
        ({"Hub-Purpose": "curiosity", "Hub-On-Behalf-Of": "staff-4711"}, "purpose_unknown"),
        ({"Hub-Purpose": PURPOSE}, "on_behalf_of_missing"),
    ],
)
def test_a_shared_read_needs_a_known_purpose_and_a_named_member_of_staff(
    live_hub, http, headers, reason
):
    token = _token(http, live_hub.world.partners["reader"])["access_token"]
    response, request_id = _api(
        http,
        "GET",
        f"/api/v1/shared/speakers/{live_hub.world.speaker_id}",
        {"Authorization": f"Bearer {token}", **headers},
    )
    _problem(response, 400, "bad-request")
    _denied(live_hub, request_id, "api.access", reason)


def _shared_headers(http, live_hub, purpose: str) -> dict[str, str]:
    token = _token(http, live_hub.world.partners["reader"])["access_token"]
    return {
        "Authorization": f"Bearer {token}",
        "Hub-Purpose": purpose,
        "Hub-On-Behalf-Of": "staff-4711",
    }


def test_a_shared_read_is_disclosed_and_audited_with_purpose_and_member_of_staff(live_hub, http):
    response, request_id = _api(
        http,
        "GET",
        f"/api/v1/shared/speakers/{live_hub.world.speaker_id}",
        _shared_headers(http, live_hub, PURPOSE),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["owner"] == "Fellwater University"
    assert body["speaker"]["data"] == {"display_name": SPEAKER_NAME, "aliases": ["E••• Q•••"]}
    [disclosure] = [e for e in live_hub.entries(request_id) if e.action == "disclosure"]
    assert disclosure.on_behalf_of == on_behalf(live_hub, "staff-4711")
    assert disclosure.purpose == PURPOSE
    assert disclosure.actor == f"client:{live_hub.world.partners['reader'].client_id}"


def test_a_shared_read_for_a_purpose_no_agreement_names_is_a_404_and_audited(live_hub, http):
    headers = _shared_headers(http, live_hub, "event_risk_assessment")  # not in the agreement
    response, request_id = _api(
        http, "GET", f"/api/v1/shared/speakers/{live_hub.world.speaker_id}", headers
    )
    _problem(response, 404, "not-found")
    assert any(e.outcome == "denied" for e in live_hub.entries(request_id))


def test_an_undisclosed_partner_record_answers_exactly_like_a_missing_one(live_hub, http):
    headers = _shared_headers(http, live_hub, "event_risk_assessment")
    speaker_id = live_hub.world.speaker_id
    refused, request_id = _api(http, "GET", f"/api/v1/shared/speakers/{speaker_id}", headers)
    missing, _ = _api(http, "GET", f"/api/v1/shared/speakers/{uuid.uuid4()}", headers)
    assert _problem(refused, 404, "not-found") == _problem(missing, 404, "not-found")
    # The answer hides the record; the log does not hide the refusal from the DPO.
    denied = [e for e in live_hub.entries(request_id) if e.action == "disclosure"]
    assert [(e.outcome, e.reason, e.resource_type) for e in denied] == [
        ("denied", "no_agreement", "speaker")
    ]
    assert speaker_id in denied[0].resource_ids


# --- DPoP over the wire ---------------------------------------------------------------------------


@pytest.fixture
def dpop_session(live_hub, http):
    """A DPoP-bound token, its proof key, and a maker of proofs for this hub's URLs."""
    dpop_key = new_key("P-256")
    body = _token(http, live_hub.world.partners["dpop"], dpop_key=dpop_key)
    assert body["token_type"] == "DPoP"
    token = body["access_token"]

    def proof(method: str, path: str, **options: Any) -> str:
        return dpop_proof(dpop_key, method, live_hub.url + path, access_token=token, **options)

    return token, proof


def test_a_dpop_bound_token_works_with_a_fresh_proof(http, dpop_session):
    token, proof = dpop_session
    for _ in range(2):  # each call its own proof
        response = http.get(
            "/api/v1/me",
            headers={"Authorization": f"DPoP {token}", "DPoP": proof("GET", "/api/v1/me")},
        )
        assert response.status_code == 200 and response.json()["kind"] == "client"


def test_a_replayed_dpop_proof_is_refused(live_hub, http, dpop_session):
    token, proof = dpop_session
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof("GET", "/api/v1/me")}
    assert http.get("/api/v1/me", headers=headers).status_code == 200
    response, request_id = _api(http, "GET", "/api/v1/me", headers)
    problem = _problem(response, 401, "not-authenticated")
    assert "used before" in problem["detail"]
    assert response.headers["www-authenticate"].startswith('DPoP error="invalid_dpop_proof"')
    _denied(live_hub, request_id, "api.access", "dpop_invalid_dpop_proof")


def test_a_dpop_proof_for_another_url_is_refused(live_hub, http, dpop_session):
    token, proof = dpop_session
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof("GET", "/api/v1/organisations")}
    response, request_id = _api(http, "GET", "/api/v1/me", headers)
    problem = _problem(response, 401, "not-authenticated")
    assert "another URL" in problem["detail"]
    _denied(live_hub, request_id, "api.access", "dpop_invalid_dpop_proof")


def test_a_dpop_proof_for_another_method_is_refused(live_hub, http, dpop_session):
    token, proof = dpop_session
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof("POST", "/api/v1/me")}
    response, request_id = _api(http, "GET", "/api/v1/me", headers)
    assert "another HTTP method" in _problem(response, 401, "not-authenticated")["detail"]
    _denied(live_hub, request_id, "api.access", "dpop_invalid_dpop_proof")


def test_a_missing_dpop_proof_is_refused(live_hub, http, dpop_session):
    token, _proof = dpop_session
    response, request_id = _api(http, "GET", "/api/v1/me", {"Authorization": f"DPoP {token}"})
    assert "required" in _problem(response, 401, "not-authenticated")["detail"]
    _denied(live_hub, request_id, "api.access", "dpop_invalid_dpop_proof")


def test_a_dpop_bound_token_presented_as_bearer_is_refused(live_hub, http, dpop_session):
    token, _proof = dpop_session
    response, request_id = _api(http, "GET", "/api/v1/me", {"Authorization": f"Bearer {token}"})
    _problem(response, 401, "not-authenticated")
    assert response.headers["www-authenticate"].startswith("DPoP ")
    _denied(live_hub, request_id, "api.access", "dpop_token_as_bearer")


def test_a_proof_signed_by_another_key_is_refused(live_hub, http, dpop_session):
    token, _proof = dpop_session
    stranger = dpop_proof(new_key(), "GET", live_hub.url + "/api/v1/me", access_token=token)
    response, request_id = _api(
        http, "GET", "/api/v1/me", {"Authorization": f"DPoP {token}", "DPoP": stranger}
    )
    _problem(response, 401, "not-authenticated")
    _denied(live_hub, request_id, "api.access", "dpop_key_mismatch")


def test_metadata_names_this_hub_as_issuer(live_hub, http):
    metadata = http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == live_hub.url
    assert metadata["token_endpoint"] == live_hub.url + "/oauth/token"
    keys = http.get(metadata["jwks_uri"]).json()["keys"]
    assert keys and all("d" not in k for k in keys)


# --- concurrency ---------------------------------------------------------------------------------


def _fresh_agreement(live_hub) -> tuple[str, str]:
    """A speaker shared under a new agreement lineage nothing has been disclosed under yet;
    returns the speaker's and the agreement's ids."""
    made: dict[str, str] = {}

    def make() -> None:
        owner = services.get_organisation("fellwater")
        recipient = services.get_organisation("brackenmoor")
        officer = new_person(owner, ["events_officer"])
        speaker = speakers.create_speaker(
            actor_of(officer),
            {"display_name": "Professor Tobias Wrenfield", "distribution": "shareable"},
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
        schedule = [rule(owner, recipient, "speaker", {"display_name": "full"})]
        data = agreement_data(
            parties,
            schedule,
            kind="one_way",
            reference=f"RACE-{uuid.uuid4().hex[:6]}",
            purposes=[PURPOSE],
        )
        agreement = agreements.create_draft(actor_of(signatories[0]), data)
        agreements.propose(actor_of(signatories[0]), agreement)
        for signatory in signatories:
            agreements.approve(
                actor_of(signatory),
                agreement,
                content_hash=agreement.content_hash,
                reauthenticated_at=datetime.now(UTC),
            )
        # As for a lineage drafted before keys were made with the draft: none exists yet.
        db.session.execute(
            sa.delete(AgreementKey).where(AgreementKey.lineage_id == agreement.lineage_id)
        )
        made["speaker"], made["agreement"] = str(speaker.id), str(agreement.id)

    live_hub.change(make)
    return made["speaker"], made["agreement"]


def test_two_first_disclosures_at_once_share_one_agreement_key(live_hub):
    """Two requests disclosing under a new agreement at once (seen under load with gunicorn
    threads), made certain: the first's transaction holds the new key uncommitted while the
    second looks for it."""

    from agreements import lifecycle
    from agreements.models import Agreement

    _speaker_id, agreement_id = _fresh_agreement(live_hub)
    flushed, second_started = threading.Event(), threading.Event()
    keys: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def disclose_first(name: str) -> None:
        try:
            with live_hub.app.app_context():
                if name == "second":
                    flushed.wait(10)
                    second_started.set()
                agreement = db.session.get(Agreement, uuid.UUID(agreement_id))
                keys[name] = lifecycle.pseudonym_key(agreement)
                if name == "first":
                    flushed.set()
                    second_started.wait(10)
                    time.sleep(0.3)  # the second is now waiting on the same key
                db.session.commit()
        except BaseException as exc:  # reported below, from the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=disclose_first, args=(n,)) for n in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert keys["first"] == keys["second"]
