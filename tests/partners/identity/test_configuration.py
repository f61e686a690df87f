"""Configuring an organisation's identity provider: who may, what is refused, what is stored."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from joserfc.jwk import RSAKey

from audit.models import AuditEntry
from core.db import db
from core.errors import PermissionDenied, ValidationFailed
from core.security import Actor
from partners.identity import relying_party, services
from tests.conftest import actor_of
from tests.partners.identity.conftest import entries, last_seq

ISSUER = "https://login.fellwater.example/tenant/v2.0"
GOOD = {
    "issuer": ISSUER,
    "client_id": "prevent-hub",
    "client_auth_method": "client_secret_basic",
    "client_secret": "s3cret-value-from-the-provider",
    "allowed_domains": "fellwater.example\nstaff.fellwater.example",
    "scopes": "openid email profile",
    "role_policy": "hub",
    "role_claim": "",
    "role_mapping": "",
    "enabled": "yes",
}
ACTORS = ["hub_admin", "a_admin", "a_events", "a_dpo", "b_admin", "anonymous"]
ALLOWED = {"hub_admin", "a_admin"}


@pytest.fixture
def world(make_org, make_person):
    hub = make_org(kind="hub")
    # A's own addresses show that GOOD's domains are A's (see test_domain_claims.py).
    a = make_org(kind="university", dp_contact_email="dpo@fellwater.example")
    b = make_org(kind="university")
    people = {
        "hub_admin": make_person(hub, ["org_admin"]),
        "a_admin": make_person(a, ["org_admin"], email="admin@staff.fellwater.example"),
        "a_events": make_person(a, ["events_officer"]),
        "a_dpo": make_person(a, ["dpo"]),
        "b_admin": make_person(b, ["org_admin"]),
    }
    return {"a": a, "b": b, "people": people}


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("who", ACTORS)
def test_who_may_configure_an_identity_provider(client, world, who, method):
    org = world["a"]
    path = f"/organisations/{org.slug}/identity-provider"
    if who != "anonymous":
        client.sign_in(world["people"][who])
    before = last_seq()
    if method == "GET":
        response = client.get(path)
    else:
        response = client.submit(
            "/account" if who != "anonymous" else "/sign-in", GOOD, action=path
        )

    if who == "anonymous":
        assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
        return
    if who in ALLOWED:
        assert response.status_code == (200 if method == "GET" else 302)
        if method == "POST":
            provider = services.get_provider(org)
            assert provider.issuer == ISSUER
            [created] = entries("identity_provider.create", after=before)
            assert created.actor == f"person:{world['people'][who].id}"
        return
    assert response.status_code == 403
    assert services.get_provider(org) is None
    [denied] = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq > before, AuditEntry.outcome == "denied")
    ).all()
    assert denied.action == "identity_provider.configure" and denied.reason == "not_permitted"


def test_the_secret_is_stored_encrypted_and_changes_are_audited(app_ctx, world):
    admin = actor_of(world["people"]["a_admin"])
    provider = services.configure_provider(admin, world["a"], GOOD)
    assert GOOD["client_secret"].encode() not in provider.credential_encrypted
    assert services._settings(provider).credential == GOOD["client_secret"]
    assert provider.domain_list == ["fellwater.example", "staff.fellwater.example"]

    before = last_seq()
    # A blank secret keeps the stored one; the change names fields, never values.
    services.configure_provider(
        admin, world["a"], {**GOOD, "client_secret": "", "scopes": "openid email"}
    )
    [update] = entries("identity_provider.update", after=before)
    assert json.loads(update.fields) == ["scopes"]
    assert services._settings(provider).credential == GOOD["client_secret"]
    assert GOOD["client_secret"] not in (update.details or "")


def test_a_private_key_is_accepted_for_private_key_jwt(app_ctx, world):
    key = RSAKey.generate_key(2048, private=True)
    data = {**GOOD, "client_auth_method": "private_key_jwt", "client_secret": ""}
    provider = services.configure_provider(
        actor_of(world["people"]["a_admin"]),
        world["a"],
        {**data, "private_key": json.dumps(key.as_dict(private=True))},
    )
    assert provider.client_auth_method.value == "private_key_jwt"
    with pytest.raises(ValidationFailed) as refused:
        services.configure_provider(
            actor_of(world["people"]["b_admin"]),
            world["b"],
            {
                **data,
                "issuer": ISSUER + "/b",
                "private_key": json.dumps(key.as_dict(private=False)),
            },
        )
    assert "private_key" in refused.value.errors


def test_an_issuer_is_trusted_by_one_organisation_only(app_ctx, world):
    services.configure_provider(actor_of(world["people"]["a_admin"]), world["a"], GOOD)
    with pytest.raises(ValidationFailed) as refused:
        services.configure_provider(actor_of(world["people"]["b_admin"]), world["b"], GOOD)
    assert "one organisation only" in refused.value.errors["issuer"][0]


def test_another_organisations_admin_is_refused_by_the_service(app_ctx, world):
    with pytest.raises(PermissionDenied):
        services.configure_provider(actor_of(world["people"]["b_admin"]), world["a"], GOOD)


BAD_INPUT = [
    ({"issuer": "not a url"}, "issuer"),
    ({"issuer": "ftp://login.example"}, "issuer"),
    ({"issuer": "http://login.fellwater.example"}, "issuer"),  # https only (but loopback)
    ({"issuer": ""}, "issuer"),
    ({"client_id": ""}, "client_id"),
    ({"client_secret": ""}, "client_secret"),
    ({"client_auth_method": "magic"}, "client_auth_method"),
    (
        {"client_auth_method": "private_key_jwt", "private_key": "-----BEGIN nonsense"},
        "private_key",
    ),
    ({"allowed_domains": ""}, "allowed_domains"),
    ({"allowed_domains": "not a domain!"}, "allowed_domains"),
    ({"scopes": "email profile"}, "scopes"),
    ({"role_policy": ""}, "role_policy"),
    ({"role_policy": "claim", "role_claim": ""}, "role_claim"),
    (
        {"role_policy": "claim", "role_claim": "groups", "role_mapping": "x = wizard"},
        "role_mapping",
    ),
    (
        {"role_policy": "claim", "role_claim": "groups", "role_mapping": "x = coordinator"},
        "role_mapping",
    ),
    (
        {"role_policy": "claim", "role_claim": "groups", "role_mapping": "no equals sign"},
        "role_mapping",
    ),
]


@pytest.mark.parametrize(("change", "field"), BAD_INPUT)
def test_bad_input_shows_the_error_summary(client, world, change, field):
    client.sign_in(world["people"]["a_admin"])
    path = f"/organisations/{world['a'].slug}/identity-provider"
    response = client.submit(path, {**GOOD, **change})
    body = response.get_data(as_text=True)
    assert response.status_code == 200, body[:2000]
    assert "govuk-error-summary" in body and f'href="#{field}"' in body
    assert f'id="{field}-error"' in body
    assert GOOD["client_secret"] not in body  # a secret is never echoed back
    assert services.get_provider(world["a"]) is None


def test_the_form_shows_the_redirect_uri_and_the_organisation_page_links_it(client, world):
    client.sign_in(world["people"]["a_admin"])
    body = client.get(f"/organisations/{world['a'].slug}/identity-provider").get_data(as_text=True)
    assert "http://127.0.0.1:8000/sign-in/oidc/callback" in body
    org_page = client.get(f"/organisations/{world['a'].slug}").get_data(as_text=True)
    assert f"/organisations/{world['a'].slug}/identity-provider" in org_page


def test_removing_the_provider_is_audited(client, world):
    client.sign_in(world["people"]["a_admin"])
    path = f"/organisations/{world['a'].slug}/identity-provider"
    assert client.submit(path, GOOD).status_code == 302
    before = last_seq()
    response = client.submit(path, {}, action=path + "/remove")
    assert response.status_code == 302
    assert services.get_provider(world["a"]) is None
    [removed] = entries("identity_provider.remove", after=before)
    assert removed.resource_org == str(world["a"].id)


@pytest.mark.parametrize(
    ("issuer", "development", "allowed"),
    [
        ("https://login.example.org", False, True),
        ("http://127.0.0.1:5000", True, True),
        ("http://localhost:5000", True, True),
        ("http://127.0.0.1:5000", False, False),
        ("http://login.example.org", True, False),
    ],
)
def test_plain_http_issuers_only_on_loopback_in_development(issuer, development, allowed):
    problem = relying_party.issuer_problem(issuer, development=development)
    assert (problem is None) == allowed


def test_a_production_hub_refuses_a_loopback_http_issuer(make_org, app):
    settings = app.config["HUB_SETTINGS"]
    org = make_org()
    settings.env = "production"
    try:
        with pytest.raises(ValidationFailed) as refused:
            services.configure_provider(
                Actor.system("test"), org, {**GOOD, "issuer": "http://127.0.0.1:5000"}
            )
    finally:
        settings.env = "test"
    assert "https" in refused.value.errors["issuer"][0]


@pytest.mark.parametrize(
    ("amr", "multi_factor"),
    [
        (["mfa"], True),
        (["pwd", "otp"], True),
        (["hwk", "pin"], True),
        (["swk", "fpt"], True),
        (["pwd"], False),
        (["otp"], False),
        (["hwk"], False),
        (["pwd", "kba"], False),  # two things known are one factor
        ("mfa", False),  # not a list: not trusted
        (None, False),
    ],
)
def test_the_amr_rule(amr, multi_factor):
    assert relying_party.mfa_asserted(amr) is multi_factor
