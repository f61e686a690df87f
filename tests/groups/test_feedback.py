"""Feedback after a meeting: each member organisation's Prevent leads and named attendees get,
in the hub, the decisions and actions that concern it; the email only says where to read them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import db
from core.errors import Conflict, PermissionDenied
from hub.groups import actions, membership
from hub.groups.meetings import feedback
from hub.groups.meetings import services as meetings
from partners.models import InboxMessage, OutboxEmail
from tests.groups.conftest import audit_entries, schedule

SECRET_DECISION = "Ravensmoor will brief its events team on the lantern procession case."


@pytest.fixture
def decided(convened):
    w = convened
    held = schedule(w, days=-1)
    coord = w.actor("coord")
    meetings.record_decision(coord, held, {"text": "Members share stewarding plans."})
    meetings.record_decision(
        coord, held, {"text": SECRET_DECISION, "concerns_org_id": str(w.orgs["uni_b"].id)}
    )
    due = (actions.local_today() + timedelta(days=10)).isoformat()
    actions.create_action(
        coord,
        held,
        {"title": "Brief the events team", "owner_person_id": str(w.people["b_lead"].id),
         "due_on": due},
    )  # fmt: skip
    actions.create_action(
        coord,
        held,
        {"title": "Send the police briefing", "owner_person_id":
         str(w.people["police_lead"].id), "due_on": due},
    )  # fmt: skip
    return held


def _messages(person) -> list[InboxMessage]:
    return list(
        db.session.scalars(
            sa.select(InboxMessage).where(
                InboxMessage.person_id == person.id, InboxMessage.kind == "meeting.digest"
            )
        )
    )


def test_each_member_hears_only_what_concerns_it(convened, decided):
    w = convened
    told = feedback.send_digest(w.actor("coord"), decided)
    [to_b] = _messages(w.people["b_lead"])
    assert "Members share stewarding plans." in to_b.body and SECRET_DECISION in to_b.body
    assert "Brief the events team" in to_b.body and "Send the police briefing" not in to_b.body
    assert to_b.link == f"/groups/{w.group.id}/meetings/{decided.id}/feedback"
    [to_police] = _messages(w.people["police_lead"])
    assert SECRET_DECISION not in to_police.body and "Brief the events team" not in to_police.body
    assert "Send the police briefing" in to_police.body
    # The named attendee without the Prevent lead role hears too; the DPO does not.
    assert _messages(w.people["b_events"]) and not _messages(w.people["a_dpo"])
    # Each one told is emailed once (the meeting's other notices email their people too).
    digests = sa.select(OutboxEmail).where(OutboxEmail.kind == "meeting.digest")
    assert told == len(db.session.scalars(digests).all())


def test_the_email_says_where_to_read_and_nothing_of_the_decisions(convened, decided):
    w = convened
    feedback.send_digest(w.actor("coord"), decided)
    email = db.session.scalar(
        sa.select(OutboxEmail).where(
            OutboxEmail.to_address == w.people["b_lead"].email,
            OutboxEmail.kind == "meeting.digest",
        )
    )
    assert email.kind == "meeting.digest"
    assert "2 decision(s) and 1 action(s)" in email.body
    assert f"/groups/{w.group.id}/meetings/{decided.id}/feedback" in email.body
    assert SECRET_DECISION not in email.body and "Brief the events team" not in email.body
    assert w.people["b_lead"].name not in email.body


def test_an_organisation_without_leads_or_attendees_hears_through_its_administrators(
    convened, decided
):
    w = convened
    membership.remove_attendee(w.actor("coord"), w.group, w.people["police_lead"].id)
    w.people["police_lead"].role_grants.clear()
    db.session.flush()
    assert feedback.digest_recipients(w.group, w.orgs["police"]) == [w.people["police_admin"]]


def test_feedback_is_sent_once_after_the_meeting_by_its_managers(convened, decided):
    w = convened
    with pytest.raises(PermissionDenied):
        feedback.send_digest(w.actor("b_lead"), decided)
    with pytest.raises(Conflict):
        feedback.send_digest(w.actor("coord"), schedule(w, days=2))
    feedback.send_digest(w.actor("coord"), decided)
    with pytest.raises(Conflict):
        feedback.send_digest(w.actor("coord"), decided)
    [entry] = audit_entries("meeting.digest.send")
    assert '"organisations":4' in entry.details
    assert SECRET_DECISION.encode() not in entry.leaf


def test_the_feedback_page_shows_the_viewers_organisation_only(convened, decided):
    w = convened
    for_b = feedback.my_digest(w.actor("b_events"), decided)
    assert for_b.organisation == w.orgs["uni_b"]
    assert [d.text for d in for_b.decisions] == ["Members share stewarding plans.", SECRET_DECISION]
    assert [a.title for a in for_b.actions] == ["Brief the events team"]
    for_a = feedback.my_digest(w.actor("a_lead"), decided)
    assert [d.text for d in for_a.decisions] == ["Members share stewarding plans."]
    assert for_a.actions == []
