"""Webhooks: subscriptions, events queued with the changes they report, signed deliveries to a
real loopback server, retries with backoff, and nothing for a withdrawn subscription."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from joserfc import jws
from joserfc.jwk import KeySet

from agreements import services as agreements
from audit.models import AuditEntry
from core.db import db, utcnow
from core.errors import NotFound, PermissionDenied, ValidationFailed
from hub.records.sharing import services as shared
from hub.records.speakers import assertions
from partners import notifications, outbound, services, webhooks
from partners.models import DeliveryStatus, Status, WebhookDelivery, WebhookStatus
from tests.agreement_factories import rule
from tests.conftest import actor_of

ALL_EVENTS = sorted(webhooks.EVENT_TYPES)


# --- a partner system's endpoint, on this machine -----------------------------------------


@dataclass
class Receiver:
    """What the test's HTTP server received, and what it answers next."""

    url: str
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def receiver():
    """A real HTTP server on the loopback interface, in a thread."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(({k: v for k, v in self.headers.items()}, body))
            self.send_response(state.status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/hub-events"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def subscribed(make_org, make_person, receiver):
    """An organisation whose admin subscribed the receiver to `events`."""

    def factory(events=ALL_EVENTS, *, org=None, url=None):
        organisation = org or make_org()
        admin = make_person(organisation, ["org_admin"])
        subscription = webhooks.subscribe(
            actor_of(admin), organisation, {"url": url or receiver.url, "events": list(events)}
        )
        return organisation, admin, subscription

    return factory


def _jwks(client) -> dict[str, Any]:
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return response.json


def _deliveries(subscription) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            sa.select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == subscription.id)
            .execution_options(populate_existing=True)
        )
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# --- delivery and signature ---------------------------------------------------------------


def test_a_correction_is_delivered_signed_with_the_published_keys(client, subscribed, receiver):
    organisation, _admin, subscription = subscribed()
    speaker_id, assertion_id = str(uuid.uuid4()), str(uuid.uuid4())
    notifications.notify(
        organisation.id,
        "assertion.corrected",
        "A statement shared with you about a speaker was corrected",
        link=f"/shared/speakers/{speaker_id}",
        data={"assertion_id": assertion_id, "speaker_id": speaker_id},
    )
    [queued] = _deliveries(subscription)
    assert queued.status == DeliveryStatus.PENDING

    run = webhooks.deliver_due(utcnow())

    assert run.delivered == 1
    [(headers, body)] = receiver.received
    payload = json.loads(body)
    assert set(payload) == {"id", "type", "occurred_at", "organisation", "data"}
    assert payload["type"] == "assertion.corrected"
    assert payload["organisation"] == str(organisation.id)
    assert payload["data"] == {"speaker_id": speaker_id, "assertion_id": assertion_id}
    assert headers["Hub-Delivery-Id"] == str(queued.id)
    assert headers["Hub-Event-Type"] == "assertion.corrected"
    assert headers["Content-Type"] == "application/json"
    # The receiver's recipe: the detached JWS with the body put back verifies with the JWKS.
    protected, empty, signature = headers["Hub-Signature"].split(".")
    assert empty == ""
    whole = f"{protected}.{_b64(body)}.{signature}"
    checked = jws.deserialize_compact(whole, KeySet.import_key_set(_jwks(client)))
    assert checked.protected["alg"] == "ES256"
    assert checked.protected["typ"] == "hub-event+jws"
    assert json.loads(checked.payload) == payload
    assert webhooks.verify(headers["Hub-Signature"], body, _jwks(client)) == payload
    [done] = _deliveries(subscription)
    assert (done.status, done.attempts, done.last_status_code) == (DeliveryStatus.DELIVERED, 1, 204)
    assert done.delivered_at is not None and done.next_attempt_at is None


def test_a_signature_does_not_verify_another_body(client, subscribed, receiver):
    organisation, _admin, _subscription = subscribed()
    webhooks.emit(organisation.id, "agreement.status", {"status": "suspended"})
    webhooks.deliver_due(utcnow())
    [(headers, body)] = receiver.received
    tampered = body.replace(b"suspended", b"approved_")
    with pytest.raises(ValueError, match="does not verify"):
        webhooks.verify(headers["Hub-Signature"], tampered, _jwks(client))


def test_a_signature_verifies_after_the_signing_key_is_rotated(client, subscribed, receiver):
    from partners import signing_keys as keys

    organisation, _admin, _subscription = subscribed()
    webhooks.emit(organisation.id, "agreement.status", {"status": "approved"})
    webhooks.deliver_due(utcnow())
    keys.create_key()  # the old key stays published until its tokens could have expired
    [(headers, body)] = receiver.received
    assert webhooks.verify(headers["Hub-Signature"], body, _jwks(client))["type"] == (
        "agreement.status"
    )


def test_a_failing_endpoint_is_retried_with_backoff(subscribed, receiver):
    organisation, _admin, subscription = subscribed()
    receiver.status = 500
    webhooks.emit(organisation.id, "agreement.status", {"status": "proposed"})
    start = utcnow()

    assert webhooks.deliver_due(start).retrying == 1
    [delivery] = _deliveries(subscription)
    assert delivery.attempts == 1 and delivery.last_status_code == 500
    assert delivery.next_attempt_at == start + timedelta(minutes=1)
    assert "500" in delivery.last_error

    assert webhooks.deliver_due(start + timedelta(seconds=30)).attempted == 0  # not yet due
    second = start + timedelta(minutes=1, seconds=1)
    assert webhooks.deliver_due(second).retrying == 1
    [delivery] = _deliveries(subscription)
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == second + timedelta(minutes=5)

    receiver.status = 200
    assert webhooks.deliver_due(second + timedelta(minutes=5)).delivered == 1
    [delivery] = _deliveries(subscription)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        DeliveryStatus.DELIVERED,
        3,
        "",
    )
    assert len(receiver.received) == 3
    # The same delivery, the same body, on every attempt.
    assert len({headers["Hub-Delivery-Id"] for headers, _ in receiver.received}) == 1
    assert len({body for _, body in receiver.received}) == 1


def test_delivery_gives_up_after_the_last_attempt(subscribed, receiver):
    organisation, _admin, subscription = subscribed()
    receiver.status = 503
    webhooks.emit(organisation.id, "agreement.status", {"status": "terminated"})
    now = utcnow()
    webhooks.deliver_due(now)
    for delay in webhooks.BACKOFF:
        now += delay
        webhooks.deliver_due(now)
    [delivery] = _deliveries(subscription)
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == webhooks.MAX_ATTEMPTS == len(receiver.received)
    assert delivery.next_attempt_at is None
    assert webhooks.deliver_due(now + timedelta(days=7)).attempted == 0


def test_an_unreachable_endpoint_is_recorded_and_retried(subscribed, receiver):
    import socket

    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        closed_port = spare.getsockname()[1]
    organisation, _admin, subscription = subscribed(url=f"http://127.0.0.1:{closed_port}/x")
    webhooks.emit(organisation.id, "agreement.status", {"status": "approved"})
    assert webhooks.deliver_due(utcnow()).retrying == 1
    [delivery] = _deliveries(subscription)
    assert delivery.last_status_code is None
    assert "refused" in delivery.last_error.lower()
    assert delivery.status == DeliveryStatus.PENDING


def test_a_redirect_is_a_failed_attempt_not_followed(subscribed, receiver):
    organisation, _admin, subscription = subscribed()
    receiver.status = 302
    receiver.headers = {"Location": receiver.url + "/elsewhere"}
    webhooks.emit(organisation.id, "agreement.status", {"status": "approved"})
    assert webhooks.deliver_due(utcnow()).retrying == 1
    assert len(receiver.received) == 1
    [delivery] = _deliveries(subscription)
    assert delivery.last_status_code == 302


# --- withdrawn subscriptions get nothing --------------------------------------------------


def test_a_withdrawn_subscription_gets_nothing_not_even_what_was_queued(subscribed, receiver):
    organisation, admin, subscription = subscribed()
    webhooks.emit(organisation.id, "agreement.status", {"status": "proposed"})
    webhooks.emit(organisation.id, "assertion.withdrawn", {"assertion_id": str(uuid.uuid4())})

    webhooks.withdraw(actor_of(admin), subscription)

    assert subscription.status == WebhookStatus.WITHDRAWN
    assert {d.status for d in _deliveries(subscription)} == {DeliveryStatus.CANCELLED}
    assert webhooks.emit(organisation.id, "agreement.status", {"status": "approved"}) == []
    assert webhooks.deliver_due(utcnow() + timedelta(days=1)).attempted == 0
    assert receiver.received == []
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "webhook.withdraw"))
    assert entry.outcome == "granted" and json.loads(entry.details)["cancelled"] == 2


def test_a_delivery_waiting_for_a_retry_is_cancelled_by_withdrawal(subscribed, receiver):
    organisation, admin, subscription = subscribed()
    receiver.status = 500
    webhooks.emit(organisation.id, "agreement.status", {"status": "proposed"})
    now = utcnow()
    webhooks.deliver_due(now)
    webhooks.withdraw(actor_of(admin), subscription)
    receiver.status = 200
    assert webhooks.deliver_due(now + timedelta(hours=1)).attempted == 0
    assert len(receiver.received) == 1
    [delivery] = _deliveries(subscription)
    assert delivery.status == DeliveryStatus.CANCELLED


def test_a_suspended_organisation_is_sent_nothing(subscribed, receiver, system):
    organisation, _admin, subscription = subscribed()
    webhooks.emit(organisation.id, "agreement.status", {"status": "proposed"})
    services.set_organisation_status(system, organisation, Status.SUSPENDED)
    assert webhooks.deliver_due(utcnow()).cancelled == 1
    assert receiver.received == []
    [delivery] = _deliveries(subscription)
    assert delivery.status == DeliveryStatus.CANCELLED
    assert delivery.last_error == "The organisation is suspended."
    assert webhooks.emit(organisation.id, "agreement.status", {"status": "approved"}) == []


# --- who gets which events ----------------------------------------------------------------


def test_only_subscriptions_to_the_event_get_it(subscribed, make_org):
    organisation, _admin, subscription = subscribed(["agreement.status"])
    assert webhooks.emit(organisation.id, "assertion.corrected", {"assertion_id": "a"}) == []
    other, _other_admin, _ = subscribed(["assertion.corrected"])
    [delivery] = webhooks.emit(other.id, "assertion.corrected", {"assertion_id": "a"})
    assert delivery.organisation_id == other.id
    assert _deliveries(subscription) == []


def test_inbox_messages_that_are_not_events_queue_nothing(subscribed):
    organisation, _admin, subscription = subscribed()
    notifications.notify(organisation.id, "agreement.review_due", "An agreement is due a review")
    assert _deliveries(subscription) == []


def test_agreement_status_changes_reach_every_party(subscribed, make_org, make_agreement):
    a, _admin_a, subscription_a = subscribed(["agreement.status"])
    b, _admin_b, subscription_b = subscribed(["agreement.status"], org=make_org())
    agreement, signatories = make_agreement(
        [a, b],
        [
            rule(a, b, "speaker", {"display_name": "full"}),
            rule(b, a, "speaker", {"display_name": "full"}),
        ],
        approve=False,
    )
    agreements.propose(actor_of(signatories[0]), agreement)
    for subscription in (subscription_a, subscription_b):
        [delivery] = _deliveries(subscription)
        payload = json.loads(delivery.payload)
        assert payload["type"] == "agreement.status"
        assert payload["data"] == {
            "agreement_id": str(agreement.id),
            "reference": agreement.reference,
            "version": agreement.version,
            "status": "proposed",
        }
    for signatory in signatories:
        agreements.approve(
            actor_of(signatory),
            agreement,
            content_hash=agreement.content_hash,
            reauthenticated_at=datetime.now(UTC),
        )
    agreements.suspend(actor_of(signatories[1]), agreement, "A breach is being investigated.")
    statuses = [json.loads(d.payload)["data"]["status"] for d in _deliveries(subscription_a)]
    assert sorted(statuses) == ["approved", "proposed", "suspended"]
    assert "investigated" not in " ".join(d.payload for d in _deliveries(subscription_a))


def test_an_advisory_answer_tells_the_institution_that_asked(subscribed):
    organisation, _admin, subscription = subscribed(["advisory.answered"])
    request = SimpleNamespace(
        id=uuid.uuid4(),
        requesting_org_id=organisation.id,
        speaker_id=uuid.uuid4(),
        rating_id=uuid.uuid4(),
    )
    webhooks.advisory_answered(request)
    [delivery] = _deliveries(subscription)
    assert json.loads(delivery.payload)["data"] == {
        "advisory_request_id": str(request.id),
        "speaker_id": str(request.speaker_id),
        "rating_id": str(request.rating_id),
        "status": "answered",
    }


def test_a_rolled_back_change_queues_nothing(subscribed):
    organisation, _admin, subscription = subscribed()
    savepoint = db.session.begin_nested()
    webhooks.emit(organisation.id, "agreement.status", {"status": "proposed"})
    savepoint.rollback()
    assert _deliveries(subscription) == []


# --- no personal values -------------------------------------------------------------------


@settings(max_examples=50, deadline=None)
@given(key=st.text(min_size=1, max_size=30).filter(lambda k: k not in webhooks.DATA_KEYS))
def test_payload_data_refuses_any_key_but_identifiers_and_codes(key):
    # Refused before the database is touched: no payload is ever built with such a key.
    with pytest.raises(ValueError, match="may not carry"):
        webhooks.emit(uuid.uuid4(), "assertion.corrected", {key: "x"})


@pytest.mark.parametrize("value", ["Dr Ember Quillfeather said " + "x" * 100, 1.5, None, ["a"]])
def test_payload_values_must_be_short_identifiers(value):
    with pytest.raises(ValueError, match="short identifier"):
        webhooks.emit(uuid.uuid4(), "assertion.corrected", {"assertion_id": value})


def test_unknown_event_types_are_refused():
    with pytest.raises(ValueError, match="not a webhook event"):
        webhooks.emit(uuid.uuid4(), "speaker.renamed", {})


# --- subscribing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        ("https://events.example.ac.uk/hub-events", True),
        ("http://127.0.0.1:8123/hooks", True),  # loopback over http: development and tests
        ("http://localhost/hooks", True),
        ("http://events.example.ac.uk/hub-events", False),
        ("https://10.1.2.3/hooks", False),
        ("https://169.254.169.254/latest", False),
        ("https://user:secret@events.example.ac.uk/", False),
        ("ftp://events.example.ac.uk/", False),
        ("https://events.example.ac.uk/#part", False),
        ("events.example.ac.uk", False),
        ("", False),
    ],
)
def test_subscription_addresses(make_org, make_person, url, accepted):
    organisation = make_org()
    admin = actor_of(make_person(organisation, ["org_admin"]))
    data = {"url": url, "events": ["agreement.status"]}
    if accepted:
        assert webhooks.subscribe(admin, organisation, data).url == url
    else:
        with pytest.raises(ValidationFailed) as excinfo:
            webhooks.subscribe(admin, organisation, data)
        assert "url" in excinfo.value.errors


def test_production_refuses_plain_http_even_to_loopback(app, make_org, make_person, monkeypatch):
    monkeypatch.setattr(app.config["HUB_SETTINGS"], "env", "production")
    organisation = make_org()
    admin = actor_of(make_person(organisation, ["org_admin"]))
    with pytest.raises(ValidationFailed) as excinfo:
        webhooks.subscribe(
            admin, organisation, {"url": "http://127.0.0.1:9/x", "events": ["agreement.status"]}
        )
    assert excinfo.value.errors["url"] == ["The address must start with https://."]


@pytest.mark.parametrize("events", [[], ["speaker.renamed"], ["agreement.status", "nope"]])
def test_subscription_events_must_be_known(make_org, make_person, events):
    organisation = make_org()
    admin = actor_of(make_person(organisation, ["org_admin"]))
    with pytest.raises(ValidationFailed) as excinfo:
        webhooks.subscribe(admin, organisation, {"url": "https://a.example/x", "events": events})
    assert "events" in excinfo.value.errors


def test_subscribing_is_audited_with_its_events(make_org, make_person):
    organisation = make_org()
    admin = actor_of(make_person(organisation, ["org_admin"]))
    subscription = webhooks.subscribe(
        admin,
        organisation,
        {"url": "https://a.example/x", "events": ["agreement.status", "assertion.corrected"]},
    )
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "webhook.subscribe"))
    assert json.loads(entry.resource_ids) == [str(subscription.id)]
    assert json.loads(entry.details)["events"] == ["agreement.status", "assertion.corrected"]
    assert "a.example" not in entry.details


# --- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("roles", [["events_officer"], ["dpo"], ["auditor"], ["signatory"]])
def test_only_admins_subscribe(make_org, make_person, roles):
    organisation = make_org()
    person = make_person(organisation, roles)
    with pytest.raises(PermissionDenied):
        webhooks.subscribe(
            actor_of(person),
            organisation,
            {"url": "https://a.example/x", "events": ["agreement.status"]},
        )


def test_another_organisations_admin_cannot_subscribe_for_it(make_org, make_person):
    organisation = make_org()
    outsider = make_person(make_org(), ["org_admin"])
    with pytest.raises(PermissionDenied):
        webhooks.subscribe(
            actor_of(outsider),
            organisation,
            {"url": "https://a.example/x", "events": ["agreement.status"]},
        )


def test_hub_administrators_may_subscribe_for_any_organisation(make_org, make_person):
    organisation = make_org()
    hub_admin = make_person(make_org(kind="hub"), ["org_admin"])
    subscription = webhooks.subscribe(
        actor_of(hub_admin),
        organisation,
        {"url": "https://a.example/x", "events": ["agreement.status"]},
    )
    assert subscription.organisation_id == organisation.id


def test_another_organisations_subscription_answers_as_missing_and_is_audited(
    subscribed, make_org, make_person
):
    _organisation, _admin, subscription = subscribed()
    outsider = make_person(make_org(), ["org_admin"])
    with pytest.raises(NotFound) as excinfo:
        webhooks.get_subscription(actor_of(outsider), subscription.id)
    assert excinfo.value.audit["action"] == "webhook.read"
    with pytest.raises(NotFound) as missing:
        webhooks.get_subscription(actor_of(outsider), uuid.uuid4())
    assert missing.value.detail == excinfo.value.detail


def test_a_colleague_who_is_not_an_admin_cannot_withdraw(subscribed, make_person):
    organisation, _admin, subscription = subscribed()
    colleague = make_person(organisation, ["dpo"])
    with pytest.raises(PermissionDenied):
        webhooks.withdraw(actor_of(colleague), subscription)
    assert subscription.is_active


# --- the CLI ------------------------------------------------------------------------------


def test_the_cli_sends_what_is_due(cli, subscribed, receiver):
    organisation, _admin, subscription = subscribed()
    webhooks.emit(organisation.id, "agreement.status", {"status": "approved"})
    result = cli.invoke(args=["partners", "deliver-webhooks"])
    assert result.exit_code == 0, result.output
    assert "Delivered 1, retrying 0, failed 0, cancelled 0" in result.output
    assert len(receiver.received) == 1
    assert _deliveries(subscription)[0].status == DeliveryStatus.DELIVERED


# --- the pages ----------------------------------------------------------------------------


def test_an_admin_subscribes_on_the_page_and_sees_the_delivery_log(
    client, make_org, make_person, receiver
):
    organisation = make_org()
    admin = make_person(organisation, ["org_admin"])
    client.sign_in(admin)
    response = client.submit(
        f"/organisations/{organisation.slug}/webhooks/new",
        {"url": receiver.url, "events": ["agreement.status", "assertion.withdrawn"]},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    subscription_page = response.headers["Location"]
    subscription_id = subscription_page.rsplit("/", 1)[1]
    receiver.status = 500
    [delivery] = webhooks.emit(organisation.id, "agreement.status", {"status": "approved"})
    webhooks.deliver_due(utcnow())

    html = client.get(subscription_page).get_data(as_text=True)
    assert receiver.url in html
    assert str(delivery.id) in html
    row = html.split(str(delivery.id), 1)[1].split("</tr>", 1)[0]
    assert "Pending" in row and "HTTP 500" in row and ">1<" in row
    assert "Withdraw subscription" in html

    listing = client.get(f"/organisations/{organisation.slug}/webhooks").get_data(as_text=True)
    assert f"/webhooks/{subscription_id}" in listing and str(delivery.id) in listing

    withdrawn = client.submit(subscription_page, {}, action=f"/webhooks/{subscription_id}/withdraw")
    assert withdrawn.status_code == 302
    html = client.get(subscription_page).get_data(as_text=True)
    assert "Withdrawn" in html and "Withdraw subscription" not in html
    row = html.split(str(delivery.id), 1)[1].split("</tr>", 1)[0]
    assert "Cancelled" in row


def test_the_subscribe_page_shows_mistakes_in_the_error_summary(client, make_org, make_person):
    organisation = make_org()
    client.sign_in(make_person(organisation, ["org_admin"]))
    response = client.submit(
        f"/organisations/{organisation.slug}/webhooks/new",
        {"url": "http://events.example.ac.uk/x"},
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'href="#url"' in html and 'href="#events"' in html
    assert 'id="url"' in html and 'id="events"' in html
    assert "The address must start with https://." in html


WEBHOOK_PAGES = [
    ("/organisations/{slug}/webhooks", "webhook.list"),
    ("/organisations/{slug}/webhooks/new", "webhook.subscribe"),
    ("/webhooks/{subscription_id}", "webhook.read"),
]


@pytest.mark.parametrize(("template", "action"), WEBHOOK_PAGES)
@pytest.mark.parametrize("outsider", [False, True])
def test_webhook_pages_are_for_the_organisations_admins(
    client, subscribed, make_org, make_person, template, action, outsider
):
    organisation, _admin, subscription = subscribed()
    person = (
        make_person(make_org(), ["org_admin"])
        if outsider
        else make_person(organisation, ["events_officer", "dpo"])
    )
    client.sign_in(person)
    path = template.format(slug=organisation.slug, subscription_id=subscription.id)
    response = client.get(path)
    expected = 404 if outsider and "{subscription_id}" in template else 403
    assert response.status_code == expected
    assert subscription.url not in response.get_data(as_text=True)
    entry = db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == action, AuditEntry.outcome == "denied")
        .order_by(AuditEntry.seq.desc())
    )
    assert entry is not None and entry.resource_org == str(organisation.id)


def test_only_admins_withdraw_on_the_page(client, subscribed, make_person):
    organisation, _admin, subscription = subscribed()
    client.sign_in(make_person(organisation, ["dpo"]))
    response = client.submit("/account", {}, action=f"/webhooks/{subscription.id}/withdraw")
    assert response.status_code == 403
    assert subscription.is_active


# --- wired into the records and the API edge ---------------------------------------------


def test_an_answered_advisory_request_queues_advisory_answered(
    make_org, make_person, make_speaker, answer_advisory, receiver
):
    uni = make_org(kind="university")
    admin = make_person(uni, ["org_admin"])
    subscription = webhooks.subscribe(
        actor_of(admin), uni, {"url": receiver.url, "events": ["advisory.answered"]}
    )
    asker = make_person(uni, ["events_officer"])
    police = make_person(make_org(kind="police_prevent"), ["prevent_lead"])
    speaker = make_speaker(by=asker, name="Dr Ember Quillfeather")
    request = answer_advisory(asker, speaker, police, rating="amber")
    [delivery] = _deliveries(subscription)
    data = json.loads(delivery.payload)["data"]
    assert data == {
        "advisory_request_id": str(request.id),
        "speaker_id": str(request.speaker_id),
        "rating_id": str(request.rating_id),
        "status": "answered",
    }
    webhooks.deliver_due(utcnow())
    [(_headers, body)] = receiver.received
    assert b"amber" not in body and b"Quillfeather" not in body


def test_a_corrected_statement_reaches_the_recipients_webhook_with_its_id(
    make_org, make_person, make_speaker, make_statement, make_agreement, receiver
):
    owner, reader_org = make_org(), make_org()
    owner_officer = make_person(owner, ["events_officer"])
    reader = make_person(reader_org, ["events_officer"])
    admin = make_person(reader_org, ["org_admin"])
    subscription = webhooks.subscribe(
        actor_of(admin), reader_org, {"url": receiver.url, "events": ["assertion.corrected"]}
    )
    speaker = make_speaker(by=owner_officer, name="Ember Quillfeather", distribution="shareable")
    statement = make_statement(
        speaker,
        by=owner_officer,
        text="Spoke at the Northshire lantern fair in 2025.",
        distribution="shareable",
    )
    make_agreement(
        [owner, reader_org],
        [
            rule(owner, reader_org, "speaker", {"display_name": "full"}),
            rule(owner, reader_org, "assertion", {"text": "full", "speaker": "full"}),
        ],
        kind="one_way",
    )
    shared.shared_speaker(actor_of(reader), str(speaker.id), "speaker_due_diligence")
    assertions.correct_assertion(
        actor_of(owner_officer),
        statement,
        {"text": "Spoke at the Northshire lantern fair in 2024.", "reason": "Wrong year"},
    )
    [delivery] = _deliveries(subscription)
    payload = json.loads(delivery.payload)
    assert payload["type"] == "assertion.corrected"
    assert payload["data"] == {
        "assertion_id": str(statement.id),
        "speaker_id": str(speaker.id),  # the schedule gives statements' speaker in full
        "fields": ["text"],
    }
    assert "Northshire" not in delivery.payload and "Quillfeather" not in delivery.payload


def test_outside_development_a_name_resolving_to_a_private_address_is_not_posted_to(
    app, subscribed, receiver, monkeypatch
):
    organisation, _admin, subscription = subscribed(url="https://hooks.example.org/in")
    webhooks.emit(organisation.id, "agreement.status", {"status": "approved"})
    monkeypatch.setattr(app.config["HUB_SETTINGS"], "env", "production")
    monkeypatch.setattr(outbound, "addresses_of", lambda host: ["93.184.215.14", "10.0.0.7"])
    posted = []
    monkeypatch.setattr(webhooks, "_post", lambda *args: posted.append(args) or (204, ""))
    assert webhooks.deliver_due(utcnow()).retrying == 1
    assert posted == []
    [delivery] = _deliveries(subscription)
    assert "not on the public internet" in delivery.last_error


def test_outside_development_a_public_address_is_posted_to(app, subscribed, monkeypatch):
    organisation, _admin, subscription = subscribed(url="https://hooks.example.org/in")
    webhooks.emit(organisation.id, "agreement.status", {"status": "approved"})
    monkeypatch.setattr(app.config["HUB_SETTINGS"], "env", "production")
    monkeypatch.setattr(outbound, "addresses_of", lambda host: ["93.184.215.14"])
    posted = []
    monkeypatch.setattr(webhooks, "_post", lambda *args: posted.append(args) or (204, ""))
    assert webhooks.deliver_due(utcnow()).delivered == 1
    [(url, address, _body, headers)] = posted
    assert (url, address) == ("https://hooks.example.org/in", "93.184.215.14")
    assert headers["Hub-Delivery-Id"] == str(_deliveries(subscription)[0].id)


def test_names_are_resolved_to_decide_what_is_private():
    assert outbound.addresses_of("localhost")
    with pytest.raises(outbound.OutboundError):
        outbound.address_for("https://localhost/x", allow_loopback=False)
    assert outbound.addresses_of("name.invalid") == []
    with pytest.raises(outbound.OutboundError, match="does not resolve"):
        outbound.address_for("https://name.invalid/x", allow_loopback=False)


def test_the_cli_follows_until_stopped(cli, subscribed, receiver, monkeypatch):
    from partners import cli as partners_cli

    organisation, _admin, _subscription = subscribed()
    webhooks.emit(organisation.id, "agreement.status", {"status": "approved"})

    sleep = partners_cli.time.sleep

    def stop(seconds):
        # `time.sleep` is the process's: only the command's own wait (on this thread) stops;
        # the hub's background threads (the database watchdog) sleep as before.
        if threading.current_thread() is not threading.main_thread():
            return sleep(seconds)
        raise KeyboardInterrupt

    monkeypatch.setattr(partners_cli.time, "sleep", stop)
    result = cli.invoke(args=["partners", "deliver-webhooks", "--follow", "--interval", "1"])
    assert "Delivered 1" in result.output
    assert len(receiver.received) == 1
