"""Client management pages: an organisation's admins register partner systems (keys or, knowingly,
a shared secret), rotate keys, revoke and reinstate; everyone else is refused and audited."""

from __future__ import annotations

import base64
import json
import re

import pytest
import sqlalchemy as sa
from markupsafe import escape

from audit.models import AuditEntry
from core.db import db
from partners import signin
from partners.models import ClientAuthMethod, OAuthClient, Status
from partners.oauth import clients
from tests.conftest import actor_of
from tests.oauth_helpers import ISSUER, jwks_of, new_key, token_form


@pytest.fixture
def admin_org(make_org, make_person):
    """An organisation and one of its administrators."""

    def factory(kind="university"):
        organisation = make_org(kind=kind)
        return organisation, make_person(organisation, ["org_admin"])

    return factory


@pytest.fixture
def registered(admin_org):
    """An organisation with a private_key_jwt client registered by its admin."""
    organisation, admin = admin_org()
    key = new_key()
    client, _ = clients.register_client(
        actor_of(admin),
        organisation,
        {"name": "Events booking system", "jwks": jwks_of(key), "scopes": ["speakers:read"]},
    )
    return organisation, admin, client, key


def _client_by_name(organisation, name) -> OAuthClient | None:
    return db.session.scalar(
        sa.select(OAuthClient).where(
            OAuthClient.organisation_id == organisation.id, OAuthClient.name == name
        )
    )


def _last(action, outcome="granted") -> AuditEntry | None:
    return db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.outcome == outcome)
        .order_by(AuditEntry.seq.desc())
    )


def _error_links_point_at_fields(html: str) -> None:
    """Every link in the error summary points at an element on the page (axe: no dead links)."""
    summary = html.split('class="govuk-error-summary"', 1)[1].split("</ul>", 1)[0]
    targets = re.findall(r'href="#([^"]+)"', summary)
    assert targets, "an error summary without links"
    for target in targets:
        assert f'id="{target}"' in html, f"the error summary links to #{target}, not on the page"


# --- listing ------------------------------------------------------------------------------


def test_the_list_shows_each_client_and_marks_a_shared_secret_as_weaker(client, admin_org):
    organisation, admin = admin_org()
    actor = actor_of(admin)
    strong, _ = clients.register_client(
        actor,
        organisation,
        {
            "name": "Events booking system",
            "jwks": jwks_of(new_key()),
            "scopes": ["speakers:read", "events:read"],
            "dpop_bound": True,
        },
    )
    weak, _ = clients.register_client(
        actor,
        organisation,
        {
            "name": "Legacy export",
            "auth_method": "client_secret_basic",
            "scopes": ["audit:verify"],
        },
    )
    client.sign_in(admin)
    response = client.get(f"/organisations/{organisation.slug}/clients")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert strong.client_id in html and weak.client_id in html
    assert html.count("Weaker: shared secret") == 1
    row = html.split(weak.client_id, 1)[1].split("</tr>", 1)[0]
    assert "Weaker: shared secret" in row and "Not required" in row
    strong_row = html.split(strong.client_id, 1)[1].split("</tr>", 1)[0]
    assert "events:read" in strong_row and "speakers:read" in strong_row
    assert "Required" in strong_row and "Active" in strong_row


# --- registering --------------------------------------------------------------------------


def test_registering_a_client_with_its_keys_shows_its_id_and_the_token_endpoint(client, admin_org):
    organisation, admin = admin_org()
    key = new_key("P-256")
    client.sign_in(admin)
    page = f"/organisations/{organisation.slug}/clients/new"
    response = client.submit(
        page,
        {
            "name": "Events booking system",
            "jwks": json.dumps(jwks_of(key)),
            "scopes": ["speakers:read", "events:read"],
            "dpop_bound": "yes",
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:3000]
    html = response.get_data(as_text=True)
    registered = _client_by_name(organisation, "Events booking system")
    assert registered is not None
    assert registered.auth_method == ClientAuthMethod.PRIVATE_KEY_JWT
    assert registered.dpop_bound and registered.scope_set == {"speakers:read", "events:read"}
    assert registered.client_id in html
    assert f"{ISSUER}/oauth/token" in html
    assert 'id="client-secret"' not in html
    entry = _last("oauth_client.create")
    assert json.loads(entry.resource_ids) == [registered.client_id]
    # The client registered through the page gets a token with its key.
    token = client.post("/oauth/token", data=token_form(registered.client_id, key, "speakers:read"))
    assert token.status_code == 400  # DPoP-bound: a proof is required
    assert token.json["error"] == "invalid_dpop_proof"


def test_a_client_registered_without_dpop_gets_a_bearer_token(client, admin_org):
    organisation, admin = admin_org()
    key = new_key()
    client.sign_in(admin)
    client.submit(
        f"/organisations/{organisation.slug}/clients/new",
        {"name": "Case system", "jwks": json.dumps(jwks_of(key)), "scopes": ["speakers:read"]},
    )
    registered = _client_by_name(organisation, "Case system")
    assert registered is not None and not registered.dpop_bound
    token = client.post("/oauth/token", data=token_form(registered.client_id, key))
    assert token.status_code == 200 and token.json["token_type"] == "Bearer"


def test_registering_with_the_address_of_its_keys(client, admin_org):
    organisation, admin = admin_org()
    client.sign_in(admin)
    response = client.submit(
        f"/organisations/{organisation.slug}/clients/new",
        {
            "name": "Regional hub",
            "jwks_uri": "https://hub.example.org/.well-known/jwks.json",
            "scopes": ["agreements:read"],
        },
    )
    assert response.status_code == 200
    registered = _client_by_name(organisation, "Regional hub")
    assert registered.jwks is None
    assert registered.jwks_uri == "https://hub.example.org/.well-known/jwks.json"


def test_a_shared_secret_is_shown_once_and_works_with_basic_authentication(client, admin_org):
    organisation, admin = admin_org()
    client.sign_in(admin)
    response = client.submit(
        f"/organisations/{organisation.slug}/clients/new",
        {"name": "Legacy export", "scopes": ["audit:verify"], "shared_secret": "yes"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    secret = re.search(r'<code id="client-secret">([^<]+)</code>', html).group(1)
    registered = _client_by_name(organisation, "Legacy export")
    assert registered.auth_method == ClientAuthMethod.CLIENT_SECRET_BASIC
    assert signin.password_hasher().verify(registered.secret_hash, secret)
    assert secret not in registered.secret_hash
    assert response.headers["Cache-Control"] == "no-store"
    shown = client.get(f"/clients/{registered.client_id}").get_data(as_text=True)
    assert secret not in shown and "Weaker: shared secret" in shown
    basic = base64.b64encode(f"{registered.client_id}:{secret}".encode()).decode()
    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert token.status_code == 200, token.get_data(as_text=True)
    assert token.json["scope"] == "audit:verify"


@pytest.mark.parametrize(
    ("kind", "offered", "withheld"),
    [
        ("university", "speakers:write", "advisory:respond"),
        ("police_prevent", "advisory:respond", "speakers:write"),
        ("regional_coordinator", "speakers:read", "events:write"),
    ],
)
def test_scope_choices_are_what_the_organisation_kind_may_hold(
    client, admin_org, kind, offered, withheld
):
    from partners.oauth.scopes import SCOPES

    organisation, admin = admin_org(kind)
    client.sign_in(admin)
    html = client.get(f"/organisations/{organisation.slug}/clients/new").get_data(as_text=True)
    assert f'value="{offered}"' in html
    assert str(escape(SCOPES[offered])) in html
    assert f'value="{withheld}"' not in html
    assert "Allow a shared secret instead (weaker)" in html


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"jwks": "{}", "scopes": ["speakers:read"]}, "name", "Enter the client's name"),
        ({"name": "X", "scopes": ["speakers:read"]}, "jwks", "Give the client's public keys"),
        ({"name": "X", "jwks": "not json", "scopes": ["speakers:read"]}, "jwks", "JWKS"),
        ({"name": "X", "jwks": "PRIVATE", "scopes": ["speakers:read"]}, "jwks", "private key"),
        ({"name": "X", "jwks": "PUBLIC"}, "scopes", "Choose at least one scope"),
        (
            {"name": "X", "jwks": "PUBLIC", "scopes": ["advisory:respond"]},
            "scopes",
            "cannot hold advisory:respond",
        ),
        (
            {"name": "X", "jwks_uri": "http://keys.example.org/jwks", "scopes": ["speakers:read"]},
            "jwks_uri",
            "https://",
        ),
        (
            {
                "name": "X",
                "jwks": "PUBLIC",
                "jwks_uri": "https://keys.example.org/jwks",
                "scopes": ["speakers:read"],
            },
            "jwks_uri",
            "not both",
        ),
    ],
)
def test_mistakes_are_shown_in_the_error_summary_and_nothing_is_registered(
    client, admin_org, data, field, message
):
    organisation, admin = admin_org()
    key = new_key()
    substitutes = {
        "PUBLIC": json.dumps(jwks_of(key)),
        "PRIVATE": json.dumps({"keys": [{**key.as_dict(private=True), "kid": "k1"}]}),
    }
    data = {k: substitutes.get(v, v) if isinstance(v, str) else v for k, v in data.items()}
    client.sign_in(admin)
    response = client.submit(f"/organisations/{organisation.slug}/clients/new", data)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "govuk-error-summary" in html
    assert f'href="#{field}"' in html
    assert str(escape(message)) in html
    assert "<title>Error:" in html
    _error_links_point_at_fields(html)
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(OAuthClient)
            .where(OAuthClient.organisation_id == organisation.id)
        )
        == 0
    )


# --- one client: rotate, revoke, reinstate ------------------------------------------------


def test_the_client_page_shows_its_keys_and_endpoints(client, registered):
    _organisation, admin, oauth_client, key = registered
    client.sign_in(admin)
    html = client.get(f"/clients/{oauth_client.client_id}").get_data(as_text=True)
    assert oauth_client.client_id in html
    assert key.kid in html
    assert f"{ISSUER}/oauth/token" in html
    assert "Rotate keys" in html and "Revoke Events booking system" in html


def test_rotating_keys_replaces_them_and_is_audited(client, registered):
    _organisation, admin, oauth_client, old_key = registered
    new = new_key("P-256")
    client.sign_in(admin)
    page = f"/clients/{oauth_client.client_id}/keys"
    response = client.submit(page, {"jwks": json.dumps(jwks_of(new))})
    assert response.status_code == 302
    assert response.headers["Location"] == f"/clients/{oauth_client.client_id}"
    db.session.refresh(oauth_client)
    assert [k["kid"] for k in oauth_client.jwks["keys"]] == [new.kid]
    assert _last("oauth_client.rotate") is not None
    assert (
        client.post("/oauth/token", data=token_form(oauth_client.client_id, new)).status_code == 200
    )
    refused = client.post("/oauth/token", data=token_form(oauth_client.client_id, old_key))
    assert refused.json["error"] == "invalid_client"


def test_rotating_to_nothing_is_an_error(client, registered):
    _organisation, admin, oauth_client, _key = registered
    client.sign_in(admin)
    response = client.submit(f"/clients/{oauth_client.client_id}/keys", {"jwks": ""})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Give the client&#39;s new public keys" in html
    _error_links_point_at_fields(html)


def test_revoking_stops_tokens_and_reinstating_restores_them(client, registered):
    _organisation, admin, oauth_client, key = registered
    client.sign_in(admin)
    path = f"/clients/{oauth_client.client_id}/status"
    response = client.submit("/account", {"status": "suspended"}, action=path)
    assert response.status_code == 302
    db.session.refresh(oauth_client)
    assert oauth_client.status == Status.SUSPENDED
    assert _last("oauth_client.revoke") is not None
    refused = client.post("/oauth/token", data=token_form(oauth_client.client_id, key))
    assert refused.status_code in (400, 401)
    shown = client.get(f"/clients/{oauth_client.client_id}").get_data(as_text=True)
    assert "Reinstate Events booking system" in shown and "Revoked" in shown

    client.submit("/account", {"status": "active"}, action=path)
    db.session.refresh(oauth_client)
    assert oauth_client.status == Status.ACTIVE
    assert _last("oauth_client.reinstate") is not None
    assert (
        client.post("/oauth/token", data=token_form(oauth_client.client_id, key)).status_code == 200
    )


def test_a_form_without_its_csrf_token_is_refused(client, registered):
    _organisation, admin, oauth_client, _key = registered
    client.sign_in(admin)
    response = client.post(
        f"/clients/{oauth_client.client_id}/status", data={"status": "suspended"}
    )
    assert response.status_code == 400
    db.session.refresh(oauth_client)
    assert oauth_client.is_active


# --- who may ------------------------------------------------------------------------------

PAGES = [
    ("GET", "/organisations/{slug}/clients", "oauth_client.list"),
    ("GET", "/organisations/{slug}/clients/new", "oauth_client.create"),
    ("POST", "/organisations/{slug}/clients/new", "oauth_client.create"),
    ("GET", "/clients/{client_id}", "oauth_client.read"),
    ("GET", "/clients/{client_id}/keys", "oauth_client.rotate"),
    ("POST", "/clients/{client_id}/keys", "oauth_client.rotate"),
    ("POST", "/clients/{client_id}/status", "oauth_client.revoke"),
]


def _call(client, method, path):
    if method == "GET":
        return client.get(path)
    data = {"name": "Sneaky", "jwks": "{}", "scopes": ["speakers:read"], "status": "suspended"}
    return client.submit("/account", data, action=path)


@pytest.mark.parametrize(("method", "template", "action"), PAGES)
@pytest.mark.parametrize("roles", [["events_officer"], ["dpo"], ["auditor", "signatory"]])
def test_colleagues_who_are_not_admins_are_refused_and_audited(
    client, registered, make_person, method, template, action, roles
):
    organisation, _admin, oauth_client, _key = registered
    colleague = make_person(organisation, roles)
    client.sign_in(colleague)
    path = template.format(slug=organisation.slug, client_id=oauth_client.client_id)
    response = _call(client, method, path)
    assert response.status_code == 403
    entry = _last(action, "denied")
    assert entry is not None and entry.resource_org == str(organisation.id)
    db.session.refresh(oauth_client)
    assert oauth_client.is_active


@pytest.mark.parametrize(("method", "template", "action"), PAGES)
def test_another_organisations_admin_is_refused_and_never_sees_its_clients(
    client, registered, admin_org, method, template, action
):
    organisation, _admin, oauth_client, _key = registered
    _other, outsider = admin_org()
    client.sign_in(outsider)
    path = template.format(slug=organisation.slug, client_id=oauth_client.client_id)
    response = _call(client, method, path)
    # The organisation is in the directory (403); its clients are not (404, like a missing one).
    assert response.status_code == (404 if "{client_id}" in template else 403)
    assert oauth_client.client_id not in response.get_data(as_text=True)
    entry = _last("oauth_client.read" if "{client_id}" in template else action, "denied")
    assert entry is not None and entry.resource_org == str(organisation.id)
    db.session.refresh(oauth_client)
    assert oauth_client.is_active


@pytest.mark.parametrize(("method", "template", "_action"), PAGES)
def test_hub_administrators_manage_any_organisations_clients(
    client, registered, admin_org, method, template, _action
):
    organisation, _admin, oauth_client, _key = registered
    _hub, hub_admin = admin_org("hub")
    client.sign_in(hub_admin)
    path = template.format(slug=organisation.slug, client_id=oauth_client.client_id)
    response = _call(client, method, path)
    # GETs show the page; the (deliberately incomplete) form posts are re-shown with errors,
    # and the status change is made.
    assert response.status_code in (200, 302)


def test_anonymous_visitors_are_sent_to_sign_in(client, registered):
    organisation, _admin, oauth_client, _key = registered
    for path in (
        f"/organisations/{organisation.slug}/clients",
        f"/clients/{oauth_client.client_id}",
    ):
        response = client.get(path)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/sign-in")


def test_an_unknown_client_is_not_found(client, admin_org):
    _organisation, admin = admin_org()
    client.sign_in(admin)
    assert client.get("/clients/hubc_nonexistent").status_code == 404
