"""The meeting digest as its readers get it: delivered through a real SMTP server, it says how
many decisions and actions concern their organisation and links to them, and no more."""

from __future__ import annotations

from datetime import timedelta

from core.db import db
from hub.groups import actions
from hub.groups.meetings import feedback
from hub.groups.meetings import services as meetings
from partners.mail import sender
from partners.mail.backends import SmtpBackend
from tests.groups.conftest import schedule
from tests.mail import HOST

DECISION = "Ravensmoor will brief its events team on the lantern procession case."


def test_the_digest_email_says_where_to_read_and_nothing_of_what_was_decided(convened, mailbox):
    w = convened
    held = schedule(w, days=-1)
    coord = w.actor("coord")
    meetings.record_decision(
        coord, held, {"text": DECISION, "concerns_org_id": str(w.orgs["uni_b"].id)}
    )
    due = (actions.local_today() + timedelta(days=10)).isoformat()
    actions.create_action(
        coord,
        held,
        {"title": "Brief the events team", "owner_person_id": str(w.people["b_lead"].id),
         "due_on": due},
    )  # fmt: skip
    feedback.send_digest(coord, held)
    db.session.commit()
    backend = SmtpBackend(HOST, mailbox.port, sender="hub@hub.example", tls="none", timeout=5)
    while (done := sender.deliver(db.session(), backend)).attempted:
        assert done.failed == done.retrying == 0
    lead = w.people["b_lead"]
    [digest] = [m for m in mailbox.to(lead.email) if m.subject.startswith("Feedback from the")]
    assert "1 decision(s) and 1 action(s)" in digest.text
    link = f"http://127.0.0.1:8000/groups/{w.group.id}/meetings/{held.id}/feedback"
    assert link in digest.text and f'href="{link}"' in digest.html
    for part in (digest.text, digest.html):
        assert DECISION not in part and "Brief the events team" not in part
        assert lead.name not in part
    # The action's owner is also told, by its own notice, that an action waits for them.
    assert any(m.subject.startswith("An action for you from") for m in mailbox.to(lead.email))
