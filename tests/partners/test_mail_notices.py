"""What the hub emails, read from a real SMTP server after delivery: enrolment links, "waiting
for you" notices (escalation to the senior officer, local review, advisory requests at the
coordinator and the police), advisory due-date reminders, agreement changes and reminders, and
working-group digests. Each says what waits and links to it, and names no speaker, question or
event title."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import db, utcnow
from hub.records.advisory import notices as advisory_notices
from hub.records.models import AdvisoryRequest
from partners.mail import sender
from partners.mail.backends import SmtpBackend
from partners.models import OutboxEmail, Status
from tests.agreement_factories import rule
from tests.conftest import actor_of
from tests.mail import HOST, SmtpServer
from tests.records import worlds
from tests.records.worlds import ALIAS, EVENT_TITLE, SPEAKER_NAME

BASE = "http://127.0.0.1:8000"  # the test app's HUB_BASE_URL


def deliver(mailbox: SmtpServer) -> None:
    db.session.commit()
    backend = SmtpBackend(HOST, mailbox.port, sender="hub@hub.example", tls="none", timeout=5)
    while (done := sender.deliver(db.session(), backend)).attempted:  # every round
        assert done.retrying == done.failed == 0


def only(mailbox: SmtpServer, address: str, subject: str):
    found = [m for m in mailbox.to(address) if m.subject == subject]
    assert len(found) == 1, [m.subject for m in mailbox.to(address)]
    return found[0]


def says_nothing_of(message, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in message.text and secret not in message.html
        assert secret not in message.subject


# --- enrolment links ---------------------------------------------------------------------


def test_adding_a_person_emails_them_their_enrolment_link(client, make_org, make_person, mailbox):
    org = make_org(name="Fellwater University")
    admin = make_person(org, ["org_admin"])
    client.sign_in(admin)
    page = client.submit(
        f"/organisations/{org.slug}/people/new",
        {"name": "Nia Newcombe", "email": "nia@fellwater.example", "roles": ["events_officer"]},
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "We are emailing a one-time link to nia@fellwater.example" in html
    shown = re.search(r'id="enrolment-link">([^<]+)<', html).group(1)
    deliver(mailbox)
    email = only(
        mailbox, "nia@fellwater.example", "Your account on the Prevent Information Sharing Hub"
    )
    assert shown in email.text and f'href="{shown}"' in email.html
    assert shown.startswith(f"{BASE}/enrol/")
    assert "Fellwater University" in email.text and "expires in 7 days" in email.text
    # The link in the email works: it opens the page to choose a password.
    assert client.get(shown.removeprefix(BASE)).status_code == 200


def test_a_new_link_is_emailed_and_the_old_one_stops_working(
    client, make_org, make_person, mailbox
):
    org = make_org()
    admin = make_person(org, ["org_admin"])
    person = make_person(org, ["events_officer"])
    client.sign_in(admin)
    first = client.submit(
        f"/organisations/{org.slug}", {}, action=f"/people/{person.id}/enrolment-link"
    )
    second = client.submit(
        f"/organisations/{org.slug}", {}, action=f"/people/{person.id}/enrolment-link"
    )
    assert first.status_code == second.status_code == 200
    deliver(mailbox)
    emails = mailbox.to(person.email)
    assert [m.subject for m in emails] == [
        "A new sign-in link for the Prevent Information Sharing Hub"
    ] * 2
    links = [re.search(rf"{re.escape(BASE)}/enrol/\S+", m.text).group(0) for m in emails]
    assert links[0] != links[1]
    assert client.get(links[0].removeprefix(BASE)).status_code == 404
    assert client.get(links[1].removeprefix(BASE)).status_code == 200


# --- events ------------------------------------------------------------------------------


@pytest.fixture
def event_world(make_org, make_person):
    return worlds.event_world(make_org, make_person)


def test_escalation_tells_the_senior_officer_by_inbox_and_email(event_world, mailbox):
    w = event_world
    event = worlds.advance(w, "escalated", title="Lanterns at the Union")
    deliver(mailbox)
    officer = w.people["senior_officer"]
    email = only(mailbox, officer.email, "An event is waiting for your decision")
    link = f"{BASE}/events/{event.id}/decision"
    assert link in email.text and f'href="{link}"' in email.html
    says_nothing_of(email, "Lanterns at the Union", officer.name)
    # Nobody else is told that it waits for a decision.
    assert [m for m in mailbox.messages if m.subject == email.subject and m is not email] == []


def test_submitting_an_event_tells_the_host_organisations_prevent_leads(event_world, mailbox):
    w = event_world
    event = worlds.advance(w, "submitted", title="Lanterns at the Union")
    deliver(mailbox)
    subject = "An event is waiting for local review"
    told = {m.envelope_to[0] for m in mailbox.messages if m.subject == subject}
    assert told == {w.people["prevent_lead"].email, w.people["second_lead"].email}
    email = only(mailbox, w.people["prevent_lead"].email, subject)
    assert f"{BASE}/events/{event.id}/assessment/review" in email.text
    says_nothing_of(email, "Lanterns at the Union")


def test_a_suspended_lead_is_not_emailed(event_world, mailbox):
    w = event_world
    w.people["second_lead"].status = Status.SUSPENDED
    db.session.flush()
    worlds.advance(w, "submitted")
    deliver(mailbox)
    assert mailbox.to(w.people["second_lead"].email) == []
    assert mailbox.to(w.people["prevent_lead"].email)


# --- advisory requests -------------------------------------------------------------------


@pytest.fixture
def advisory_world(make_org, make_person, make_speaker):
    return worlds.advisory_world(make_org, make_person, make_speaker)


def test_a_submitted_request_waits_for_the_coordinator_and_a_routed_one_for_the_police(
    advisory_world, mailbox
):
    w = advisory_world
    request = worlds.submit(w)
    deliver(mailbox)
    to_route = only(
        mailbox, w.people["coordinator"].email, "An advisory request is waiting for you to route it"
    )
    link = f"{BASE}/advisory/{request.id}"
    assert link in to_route.text and f'href="{link}"' in to_route.html
    due = f"{request.due_on.day} {request.due_on:%B %Y}"
    assert due in to_route.text
    worlds.route(w, request)
    deliver(mailbox)
    to_answer = only(
        mailbox, w.people["police"].email, "An advisory request is waiting for your answer"
    )
    assert link in to_answer.text and due in to_answer.text
    for email in (to_route, to_answer):
        says_nothing_of(email, SPEAKER_NAME, ALIAS, EVENT_TITLE, "anything we should know")
    # The other region's coordinator and police hear nothing.
    assert mailbox.to(w.people["other_coordinator"].email) == []
    assert mailbox.to(w.people["other_police"].email) == []


def test_due_date_reminders_go_once_to_whoever_has_the_request(advisory_world, mailbox, cli):
    w = advisory_world
    request = worlds.submit(w)
    far = request.due_on - timedelta(days=14)
    assert advisory_notices.queue_due_reminders(far) == 0
    assert advisory_notices.queue_due_reminders(request.due_on) == 1
    assert advisory_notices.queue_due_reminders(request.due_on) == 0  # once
    worlds.route(w, request)
    late = request.due_on + timedelta(days=1)
    assert advisory_notices.queue_due_reminders(late) == 1  # now the police's turn
    deliver(mailbox)
    due = f"{request.due_on.day} {request.due_on:%B %Y}"
    coordinator = only(
        mailbox, w.people["coordinator"].email, f"An advisory request is due on {due}"
    )
    police = only(mailbox, w.people["police"].email, f"An advisory request was due on {due}")
    assert "route or decline it" in coordinator.text and "answer it" in police.text
    for email in (coordinator, police):
        assert f"{BASE}/advisory/{request.id}" in email.text
        says_nothing_of(email, SPEAKER_NAME, ALIAS, EVENT_TITLE)


def test_the_reminder_command_queues_what_is_due(advisory_world, cli):
    w = advisory_world
    request = worlds.submit(w)
    request.due_on = utcnow().date()  # due today
    db.session.flush()
    result = cli.invoke(args=["advisory", "remind"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "Queued 1 advisory reminder."
    result = cli.invoke(args=["advisory", "remind"])
    assert result.output.strip() == "Queued 0 advisory reminders."
    keys = db.session.scalars(
        sa.select(OutboxEmail.dedupe_key).where(OutboxEmail.kind == "advisory.due")
    )
    assert list(keys) == [f"advisory-due:{request.id}:submitted:{w.people['coordinator'].id}"]
    assert db.session.get(AdvisoryRequest, request.id) is not None


# --- agreements --------------------------------------------------------------------------


def test_agreement_changes_email_each_partys_dpo_and_signatory(make_org, make_agreement, mailbox):
    a, b = make_org(), make_org()
    agreement, signatories = make_agreement(
        [a, b],
        [
            rule(a, b, "speaker", {"display_name": "full"}),
            rule(b, a, "speaker", {"display_name": "full"}),
        ],
    )
    from agreements import lifecycle

    lifecycle.suspend(actor_of(signatories[0]), agreement, "A breach is being looked into.")
    deliver(mailbox)
    subject = f"Agreement {agreement.reference} is suspended: sharing has stopped"
    for signatory in signatories:
        email = only(mailbox, signatory.email, subject)
        assert f"{BASE}/agreements/{agreement.id}" in email.text
        says_nothing_of(email, "A breach is being looked into.")
    approved = f"Agreement {agreement.reference} v1 is approved"
    assert {m.envelope_to[0] for m in mailbox.messages if m.subject == approved} == {
        s.email for s in signatories
    }


def test_review_reminders_are_real_emails_to_the_data_protection_contact(
    make_org, make_agreement, mailbox
):
    from agreements import lifecycle

    a, b = make_org(), make_org()
    agreement, _ = make_agreement(
        [a, b],
        [
            rule(a, b, "speaker", {"display_name": "full"}),
            rule(b, a, "speaker", {"display_name": "full"}),
        ],
        ends_at=utcnow() + timedelta(days=20),
    )
    assert lifecycle.queue_review_reminders() >= 2
    assert lifecycle.queue_review_reminders() == 0
    deliver(mailbox)
    [email] = [
        m
        for m in mailbox.to(a.dp_contact_email)
        if m.subject.endswith(f"end date {agreement.ends_at.date().isoformat()}")
    ]
    assert email.html and f'href="{BASE}/agreements/{agreement.id}"' in email.html
