"""Signing in with an organisation's OpenID provider, end to end: a real provider process
(`oidc-provider`), the hub's real pages and callback, and every refusal audited with its reason."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa

from core.db import db
from partners import services as partners_services
from partners.identity import services
from partners.models import Person, Status
from tests.conftest import next_totp_code
from tests.partners.identity.conftest import (
    ACCOUNTS,
    DOMAIN,
    KEY_CLIENT_ID,
    details,
    entries,
    last_seq,
)


def _person(email: str) -> Person | None:
    return db.session.scalar(
        sa.select(Person)
        .where(sa.func.lower(Person.email) == email.lower())
        .execution_options(populate_existing=True)
    )


def _refused(response, reason: str, after: int) -> None:
    """A GOV.UK refusal page naming the reason, and exactly that failure in the audit log."""
    body = response.get_data(as_text=True)
    assert response.status_code == 403, body[:2000]
    assert "You could not be signed in" in body
    assert f'<code id="refusal-reason">{reason}</code>' in body
    failures = [e for e in entries("sign_in.oidc", after=after) if e.outcome != "granted"]
    assert [(e.outcome, e.reason) for e in failures] == [("failed", reason)]
    assert "sid" not in _session_keys(response)


def _session_keys(response) -> set[str]:
    cookie = response.headers.get("Set-Cookie", "")
    return {"sid"} if "hub_session=" in cookie and "sid" in cookie else set()


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


# --- signing in -------------------------------------------------------------------------


def test_a_person_signs_in_with_their_organisation_and_mfa_from_the_provider_counts(
    client, trusting_org, sign_in_with_provider, providers
):
    org = trusting_org()
    before = last_seq()

    flow = sign_in_with_provider(client, "mfa")
    # The authorization request: code flow, PKCE S256, state and nonce, our client.
    request = dict(parse_qsl(urlsplit(flow.authorization_url).query))
    assert flow.authorization_url.startswith(providers.trusted + "/auth?")
    assert request["response_type"] == "code" and request["code_challenge_method"] == "S256"
    assert len(request["code_challenge"]) == 43 and request["state"] and request["nonce"]
    assert request["scope"] == "openid email profile"
    assert request["login_hint"] == ACCOUNTS["mfa"]["email"]
    # RFC 9207: the provider names itself in the response.
    assert dict(parse_qsl(urlsplit(flow.callback_url).query))["iss"] == providers.trusted

    response = client.get(flow.callback_path)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    dashboard = client.get("/")
    assert dashboard.status_code == 200
    assert "Mina Factor" in dashboard.get_data(as_text=True)

    person = _person(ACCOUNTS["mfa"]["email"])
    assert person.organisation_id == org.id and person.roles == frozenset()
    [granted] = entries("sign_in.oidc", after=before)
    assert granted.outcome == "granted" and granted.actor == f"person:{person.id}"
    assert details(granted) == {"mfa_by_provider": "yes", "provisioned": "yes"}
    [created] = entries("person.create", after=before)
    assert details(created)["source"] == "identity_provider"


def test_the_people_list_shows_who_signs_in_through_the_organisation(
    client, new_client, trusting_org, make_person, sign_in_with_provider
):
    org = trusting_org()
    client.get(sign_in_with_provider(client, "mfa").callback_path)
    admin = new_client()
    admin.sign_in(make_person(org, ["org_admin"]))
    page = admin.get(f"/organisations/{org.slug}").get_data(as_text=True)
    row = page[page.index(ACCOUNTS["mfa"]["email"]) :].split("</tr>", 1)[0]
    assert "Organisation sign-in" in row and "Invited" not in row


def test_without_mfa_from_the_provider_the_hub_asks_for_its_own_code(
    client, trusting_org, make_person, sign_in_with_provider
):
    org = trusting_org()
    person = make_person(org, ["dpo"], email=ACCOUNTS["existing"]["email"].lower())

    flow = sign_in_with_provider(client, "existing")  # amr ["pwd"]: one factor
    response = client.get(flow.callback_path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in/code")
    assert client.get("/").status_code == 302  # not signed in until the code
    response = client.submit("/sign-in/code", {"code": next_totp_code(person)})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert _person(person.email).roles == frozenset({"dpo"})  # roles granted in the hub kept


def test_a_new_person_without_mfa_from_the_provider_sets_up_an_authenticator(
    client, trusting_org, sign_in_with_provider
):
    trusting_org()
    flow = sign_in_with_provider(client, "pwd")
    response = client.get(flow.callback_path)
    assert response.headers["Location"] == "/account/two-factor/setup"
    assert client.get("/").status_code == 302


def test_roles_come_from_the_mapped_claim(client, trusting_org, sign_in_with_provider):
    org = trusting_org(
        role_policy="claim",
        role_claim="groups",
        role_mapping="prevent-team = prevent_lead, events_officer\nunused = dpo",
        scopes="openid email profile groups",
    )
    before = last_seq()
    flow = sign_in_with_provider(client, "lead")
    assert client.get(flow.callback_path).headers["Location"] == "/"

    person = _person(ACCOUNTS["lead"]["email"])
    assert person.organisation_id == org.id
    assert person.roles == frozenset({"prevent_lead", "events_officer"})
    [change] = entries("person.roles.change", after=before)
    assert details(change)["granted"] == ["events_officer", "prevent_lead"]


def test_private_key_jwt_client_authentication(
    client, trusting_org, sign_in_with_provider, providers
):
    org = trusting_org(
        client_id=KEY_CLIENT_ID,
        client_auth_method="private_key_jwt",
        client_secret="",
        private_key=json.dumps(providers.hub_key),
    )
    flow = sign_in_with_provider(client, "mfa")
    assert client.get(flow.callback_path).headers["Location"] == "/"
    assert _person(ACCOUNTS["mfa"]["email"]).organisation_id == org.id


# --- refusals ---------------------------------------------------------------------------


def test_an_answer_from_another_issuer_is_refused(
    client, trusting_org, sign_in_with_provider, providers
):
    """A mix-up: the request is sent to another provider (sharing the same signing keys, like
    two tenants of one service); its answer names itself, and the hub refuses it."""
    trusting_org()
    before = last_seq()

    def to_other(url: str) -> str:
        return url.replace(providers.trusted, providers.other, 1)

    flow = sign_in_with_provider(client, "mfa", tamper=to_other)
    assert dict(parse_qsl(urlsplit(flow.callback_url).query))["iss"] == providers.other
    _refused(client.get(flow.callback_path), "wrong_issuer", before)
    assert _person(ACCOUNTS["mfa"]["email"]) is None


def test_an_answer_without_the_issuer_is_refused_when_the_provider_promises_it(
    client, trusting_org, sign_in_with_provider
):
    trusting_org()
    before = last_seq()
    flow = sign_in_with_provider(client, "mfa")
    parts = urlsplit(flow.callback_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "iss"]
    _refused(client.get(f"{parts.path}?{urlencode(query)}"), "issuer_missing", before)


def test_a_replayed_state_is_refused(client, new_client, trusting_org, sign_in_with_provider):
    trusting_org()
    flow = sign_in_with_provider(client, "mfa")
    assert client.get(flow.callback_path).status_code == 302
    before = last_seq()
    _refused(client.get(flow.callback_path), "replayed_state", before)
    before = last_seq()
    _refused(new_client().get(flow.callback_path), "replayed_state", before)


def test_a_state_from_another_browser_is_refused(
    client, new_client, trusting_org, sign_in_with_provider
):
    trusting_org()
    flow = sign_in_with_provider(client, "mfa")
    before = last_seq()
    _refused(new_client().get(flow.callback_path), "state_mismatch", before)
    # An unknown state is refused the same way.
    before = last_seq()
    _refused(client.get(_with_query(flow.callback_path, state="forged")), "state_mismatch", before)


def test_a_bad_nonce_is_refused(client, trusting_org, sign_in_with_provider):
    trusting_org()
    before = last_seq()
    flow = sign_in_with_provider(
        client, "mfa", tamper=lambda url: _with_query(url, nonce="not-the-hubs-nonce")
    )
    _refused(client.get(flow.callback_path), "nonce_mismatch", before)


def test_an_expired_id_token_is_refused(client, trusting_org, sign_in_with_provider):
    trusting_org()
    before = last_seq()
    flow = sign_in_with_provider(client, "expired")
    _refused(client.get(flow.callback_path), "id_token_expired", before)
    assert _person(ACCOUNTS["expired"]["email"]) is None


def test_an_email_outside_the_allowed_domains_is_refused(
    client, trusting_org, sign_in_with_provider
):
    trusting_org()
    before = last_seq()
    # The person starts with an allowed address but logs in at the provider as someone else.
    flow = sign_in_with_provider(client, "outsider", email=ACCOUNTS["mfa"]["email"])
    _refused(client.get(flow.callback_path), "email_domain_not_allowed", before)
    assert _person(ACCOUNTS["outsider"]["email"]) is None


def test_a_person_of_another_organisation_cannot_be_taken_over(
    client, trusting_org, make_org, make_person, sign_in_with_provider
):
    """shared.example is trusted by this organisation's provider, but alice@shared.example
    is a person of another organisation: the issuer never reaches across."""
    trusting_org(allowed_domains=f"{DOMAIN} shared.example")
    elsewhere = make_org(kind="university")
    alice = make_person(elsewhere, ["org_admin"], email=ACCOUNTS["shared"]["email"])
    before = last_seq()

    flow = sign_in_with_provider(client, "shared")
    _refused(client.get(flow.callback_path), "person_in_other_organisation", before)
    assert _person(alice.email).organisation_id == elsewhere.id
    assert client.get("/").status_code == 302


def test_a_suspended_person_is_refused(
    client, trusting_org, make_person, system, sign_in_with_provider
):
    org = trusting_org()
    person = make_person(org, ["dpo"], email=ACCOUNTS["mfa"]["email"])
    make_person(org, ["org_admin"])
    partners_services.set_person_status(system, person, Status.SUSPENDED)
    before = last_seq()
    flow = sign_in_with_provider(client, "mfa")
    _refused(client.get(flow.callback_path), "person_suspended", before)


def test_an_organisation_suspended_mid_sign_in_is_refused(
    client, trusting_org, system, sign_in_with_provider
):
    org = trusting_org()
    flow = sign_in_with_provider(client, "mfa")
    partners_services.set_organisation_status(system, org, Status.SUSPENDED)
    before = last_seq()
    _refused(client.get(flow.callback_path), "organisation_suspended", before)
    # And a suspended organisation's provider is not offered at all.
    response = client.submit("/sign-in/organisation", {"email": ACCOUNTS["mfa"]["email"]})
    assert response.status_code == 200
    assert "has not set up signing in" in response.get_data(as_text=True)


def test_an_email_no_organisation_trusts_is_told_so(client, trusting_org):
    trusting_org()
    response = client.submit("/sign-in/organisation", {"email": "x@nowhere.example"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "govuk-error-summary" in body
    assert "has not set up signing in" in body
    response = client.submit("/sign-in/organisation", {"email": "not an email"})
    assert "in the correct format" in response.get_data(as_text=True)


def test_the_password_page_offers_organisation_sign_in(client):
    body = client.get("/sign-in").get_data(as_text=True)
    assert "Sign in with your organisation's account" in body
    assert 'href="/sign-in/organisation' in body


def test_providers_are_found_by_email_domain(trusting_org):
    org = trusting_org()
    provider = services.provider_for_email(f"anyone@{DOMAIN.upper()}")
    assert provider.organisation_id == org.id
    assert services.provider_for_email("anyone@sub." + DOMAIN) is None
