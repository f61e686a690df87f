"""The inbox and webhooks over the API: people see their organisation's messages and their own,
partner systems (scope notifications:read) their organisation's; only admins subscribe."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from partners import notifications, webhooks
from partners.models import InboxMessage
from partners.oauth import clients, rate_limits
from tests.conftest import actor_of
from tests.oauth_helpers import jwks_of, new_key, token_form

PURPOSE = {"Hub-Purpose": "speaker_due_diligence"}


@pytest.fixture
def token_for(client, make_person):
    """An access token of a new client of `org` holding `scopes`."""

    def factory(org, scopes):
        admin = make_person(org, ["org_admin"])
        key = new_key()
        oauth_client, _ = clients.register_client(
            actor_of(admin),
            org,
            {"name": "Partner system", "jwks": jwks_of(key), "scopes": scopes.split()},
        )
        response = client.post("/oauth/token", data=token_form(oauth_client.client_id, key))
        assert response.status_code == 200, response.get_data(as_text=True)
        return {"Authorization": f"Bearer {response.json['access_token']}"}

    return factory


@pytest.fixture
def inbox(make_org, make_person):
    """An organisation with a message to everyone, one to a person, and one to another org."""
    organisation = make_org()
    person = make_person(organisation, ["events_officer"])
    colleague = make_person(organisation, ["events_officer"])
    everyone = notifications.notify(organisation.id, "agreement.review_due", "Review due")
    personal = notifications.notify(
        organisation.id, "account.notice", "For you", person_id=person.id
    )
    theirs = notifications.notify(
        organisation.id, "account.notice", "For a colleague", person_id=colleague.id
    )
    elsewhere = notifications.notify(make_org().id, "agreement.review_due", "Not yours")
    return (
        organisation,
        person,
        {
            "everyone": everyone,
            "personal": personal,
            "colleague": theirs,
            "elsewhere": elsewhere,
        },
    )


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.get_data(as_text=True)
    return {item["id"] for item in response.json}


# --- the inbox ----------------------------------------------------------------------------


def test_a_person_sees_the_organisations_messages_and_their_own(client, inbox):
    _organisation, person, messages = inbox
    client.sign_in(person)
    seen = _ids(client.api("GET", "/api/v1/notifications"))
    assert seen == {messages["everyone"].id, messages["personal"].id}
    body = client.api("GET", "/api/v1/notifications").json
    assert {item["personal"] for item in body} == {True, False}
    assert set(body[0]) == {
        "id",
        "kind",
        "title",
        "body",
        "link",
        "personal",
        "created_at",
        "read_at",
    }


def test_a_partner_system_sees_only_messages_to_the_whole_organisation(client, inbox, token_for):
    organisation, _person, messages = inbox
    headers = token_for(organisation, "notifications:read")
    seen = _ids(client.get("/api/v1/notifications", headers=headers))
    assert seen == {messages["everyone"].id}


def test_a_partner_system_without_the_scope_is_refused_and_audited(client, inbox, token_for):
    organisation, _person, _messages = inbox
    headers = token_for(organisation, "speakers:read")
    response = client.get("/api/v1/notifications", headers=headers)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    entry = db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "api.access", AuditEntry.outcome == "denied")
        .order_by(AuditEntry.seq.desc())
    )
    assert entry.reason == "insufficient_scope"


def test_unread_only_and_limit(client, inbox):
    _organisation, person, messages = inbox
    messages["everyone"].read_at = messages["everyone"].created_at
    db.session.flush()
    client.sign_in(person)
    assert _ids(client.api("GET", "/api/v1/notifications?unread_only=true")) == {
        messages["personal"].id
    }
    assert len(client.api("GET", "/api/v1/notifications?limit=1").json) == 1
    bad = client.api("GET", "/api/v1/notifications?limit=0")
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"


def test_marking_one_message_read(client, inbox):
    _organisation, person, messages = inbox
    client.sign_in(person)
    response = client.api("POST", f"/api/v1/notifications/{messages['everyone'].id}/read")
    assert response.status_code == 200
    assert response.json["read_at"] is not None
    stored = db.session.get(InboxMessage, messages["everyone"].id, populate_existing=True)
    assert stored.read_at is not None


@pytest.mark.parametrize("whose", ["colleague", "elsewhere"])
def test_someone_elses_message_answers_as_missing_and_is_audited(client, inbox, whose):
    _organisation, person, messages = inbox
    client.sign_in(person)
    response = client.api("POST", f"/api/v1/notifications/{messages[whose].id}/read")
    missing = client.api("POST", "/api/v1/notifications/987654321/read")
    assert response.status_code == missing.status_code == 404
    assert response.json["detail"] == missing.json["detail"]
    entry = db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "notification.read", AuditEntry.outcome == "denied")
        .order_by(AuditEntry.seq.desc())
    )
    assert entry is not None
    stored = db.session.get(InboxMessage, messages[whose].id, populate_existing=True)
    assert stored.read_at is None


def test_a_huge_message_number_is_simply_not_found(client, inbox):
    _organisation, person, _messages = inbox
    client.sign_in(person)
    assert client.api("POST", f"/api/v1/notifications/{2**63}/read").status_code == 404


def test_marking_everything_read_touches_only_what_the_caller_sees(client, inbox):
    _organisation, person, messages = inbox
    client.sign_in(person)
    response = client.api("POST", "/api/v1/notifications/read")
    assert response.status_code == 200 and response.json == {"marked": 2}
    for name, read in (("everyone", True), ("personal", True), ("colleague", False)):
        stored = db.session.get(InboxMessage, messages[name].id, populate_existing=True)
        assert (stored.read_at is not None) is read, name
    assert client.api("POST", "/api/v1/notifications/read").json == {"marked": 0}


def test_a_partner_system_marks_the_organisations_messages_read(client, inbox, token_for):
    organisation, _person, messages = inbox
    headers = token_for(organisation, "notifications:read")
    response = client.post("/api/v1/notifications/read", headers=headers)
    assert response.status_code == 200 and response.json == {"marked": 1}
    personal = db.session.get(InboxMessage, messages["personal"].id, populate_existing=True)
    assert personal.read_at is None


def test_signed_out_callers_get_a_problem(client):
    response = client.get("/api/v1/notifications")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


# --- webhooks -----------------------------------------------------------------------------


def _subscribe(client, url="https://events.example.ac.uk/hub-events", events=None):
    return client.api(
        "POST",
        "/api/v1/webhooks",
        json={"url": url, "events": events or ["assertion.corrected", "agreement.status"]},
    )


def test_an_admin_subscribes_lists_and_withdraws_over_the_api(client, make_org, make_person):
    organisation = make_org()
    admin = make_person(organisation, ["org_admin"])
    client.sign_in(admin)
    created = _subscribe(client)
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.json
    assert body["status"] == "active"
    assert body["events"] == ["agreement.status", "assertion.corrected"]
    listed = client.api("GET", "/api/v1/webhooks").json
    assert [item["id"] for item in listed] == [body["id"]]
    assert client.api("GET", f"/api/v1/webhooks/{body['id']}").json["url"] == body["url"]
    withdrawn = client.api("DELETE", f"/api/v1/webhooks/{body['id']}")
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"url": "http://events.example.ac.uk/x", "events": ["agreement.status"]}, "url"),
        ({"url": "https://events.example.ac.uk/x", "events": ["speaker.renamed"]}, "events"),
        ({"url": "https://events.example.ac.uk/x", "events": []}, "events"),
        ({"events": ["agreement.status"]}, "url"),
    ],
)
def test_a_bad_subscription_is_a_problem_naming_the_field(
    client, make_org, make_person, payload, field
):
    organisation = make_org()
    client.sign_in(make_person(organisation, ["org_admin"]))
    response = client.api("POST", "/api/v1/webhooks", json=payload)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert any(key.startswith(field) for key in response.json["errors"])


def test_a_colleague_who_is_not_an_admin_cannot_subscribe(client, make_org, make_person):
    organisation = make_org()
    client.sign_in(make_person(organisation, ["dpo"]))
    response = _subscribe(client)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_a_partner_system_reads_subscriptions_and_deliveries_but_cannot_subscribe(
    client, make_org, make_person, token_for
):
    organisation = make_org()
    admin = make_person(organisation, ["org_admin"])
    subscription = webhooks.subscribe(
        actor_of(admin),
        organisation,
        {"url": "https://events.example.ac.uk/x", "events": ["agreement.status"]},
    )
    [delivery] = webhooks.emit(organisation.id, "agreement.status", {"status": "approved"})
    headers = {**token_for(organisation, "notifications:read"), **PURPOSE}
    listed = client.get("/api/v1/webhooks", headers=headers)
    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert [item["id"] for item in listed.json] == [str(subscription.id)]
    deliveries = client.get("/api/v1/webhooks/deliveries", headers=headers)
    assert deliveries.status_code == 200
    [item] = deliveries.json
    assert item["id"] == str(delivery.id)
    assert item["status"] == "pending" and item["attempts"] == 0
    assert item["payload"]["data"] == {"status": "approved"}
    assert item["payload"]["organisation"] == str(organisation.id)
    one = client.get(f"/api/v1/webhooks/{subscription.id}/deliveries", headers=headers)
    assert [d["id"] for d in one.json] == [str(delivery.id)]
    filtered = client.get("/api/v1/webhooks/deliveries?status=delivered", headers=headers)
    assert filtered.json == []
    refused = client.post(
        "/api/v1/webhooks",
        json={"url": "https://attacker.example/x", "events": ["agreement.status"]},
        headers=headers,
    )
    assert refused.status_code == 403
    withdraw = client.client.delete(f"/api/v1/webhooks/{subscription.id}", headers=headers)
    assert withdraw.status_code == 403
    assert subscription.is_active


def test_a_partner_system_without_notifications_read_sees_no_deliveries(
    client, make_org, token_for
):
    organisation = make_org()
    headers = {**token_for(organisation, "speakers:read"), **PURPOSE}
    response = client.get("/api/v1/webhooks/deliveries", headers=headers)
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_another_organisations_subscription_answers_as_missing(client, make_org, make_person):
    organisation = make_org()
    admin = make_person(organisation, ["org_admin"])
    subscription = webhooks.subscribe(
        actor_of(admin),
        organisation,
        {"url": "https://events.example.ac.uk/x", "events": ["agreement.status"]},
    )
    outsider = make_person(make_org(), ["org_admin"])
    client.sign_in(outsider)
    theirs = client.api("GET", f"/api/v1/webhooks/{subscription.id}")
    missing = client.api("GET", f"/api/v1/webhooks/{uuid.uuid4()}")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json["detail"] == missing.json["detail"]
    assert client.api("DELETE", f"/api/v1/webhooks/{subscription.id}").status_code == 404
    assert subscription.is_active
    entry = db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "webhook.read", AuditEntry.outcome == "denied")
        .order_by(AuditEntry.seq.desc())
    )
    assert entry is not None and entry.resource_org == str(organisation.id)


def test_the_openapi_documents_the_inbox_and_webhooks(client):
    spec = client.get("/api/openapi.json").json
    for path in (
        "/api/v1/notifications",
        "/api/v1/notifications/{message_id}/read",
        "/api/v1/notifications/read",
        "/api/v1/webhooks",
        "/api/v1/webhooks/deliveries",
        "/api/v1/webhooks/{subscription_id}",
        "/api/v1/webhooks/{subscription_id}/deliveries",
    ):
        assert path in spec["paths"], path
    assert spec["paths"]["/api/v1/webhooks"]["post"]["summary"].startswith("Subscribe")


def test_partner_calls_about_webhooks_need_no_purpose_but_the_notifications_scope(
    client, make_org, token_for
):
    organisation = make_org()
    allowed = client.get("/api/v1/webhooks", headers=token_for(organisation, "notifications:read"))
    assert allowed.status_code == 200, allowed.get_data(as_text=True)
    refused = client.get("/api/v1/webhooks", headers=token_for(organisation, "speakers:read"))
    assert refused.status_code == 403
    assert refused.headers["WWW-Authenticate"].startswith('Bearer error="insufficient_scope"')


def test_the_organisation_page_links_admins_to_partner_systems_and_webhooks(
    client, make_org, make_person
):
    organisation = make_org()
    client.sign_in(make_person(organisation, ["org_admin"]))
    html = client.get(f"/organisations/{organisation.slug}").get_data(as_text=True)
    assert f'href="/organisations/{organisation.slug}/clients"' in html
    assert f'href="/organisations/{organisation.slug}/webhooks"' in html


def test_colleagues_see_no_links_to_partner_systems(client, make_org, make_person):
    organisation = make_org()
    client.sign_in(make_person(organisation, ["events_officer"]))
    html = client.get(f"/organisations/{organisation.slug}").get_data(as_text=True)
    assert "/clients" not in html and "/webhooks" not in html


def test_the_app_factory_limits_the_api(app):
    assert app.extensions.get(rate_limits.EXTENSION) is not None
