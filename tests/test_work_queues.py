"""Each role's dashboard opens with what waits for them, and the navigation counts it: the
senior officer's decisions, the Prevent lead's local reviews, the events officer's drafts, the
coordinator's and the police's advisory requests, the signatory's approvals, the DPO's
suspended agreements and the administrator's locked-out people."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from agreements import lifecycle as agreements
from audit import activity
from audit import services as audit
from core.db import db, utcnow
from partners import lockout, signin
from tests.agreement_factories import rule
from tests.conftest import actor_of
from tests.records.worlds import (
    EventWorld,
    advance,
    advisory_world,
    event_world,
    route,
    submit,
)


@pytest.fixture
def world(make_org, make_person) -> EventWorld:
    return event_world(make_org, make_person)


def _dashboard(new_client, person) -> str:
    client = new_client()
    client.sign_in(person)
    response = client.get("/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _queue(html: str, key: str) -> str:
    """The HTML of one queue on the dashboard ('' when the dashboard has none)."""
    match = re.search(rf'<section class="hub-queue" id="queue-{key}".*?</section>', html, re.S)
    return match.group(0) if match else ""


def _nav_count(html: str, text: str) -> int:
    nav = re.search(r'<nav aria-label="Menu".*?</nav>', html, re.S)
    assert nav is not None
    item = re.search(
        rf">\s*(?:<strong[^>]*>)?{re.escape(text)}(?:</strong>)?"
        r'(?: <span class="hub-count">(\d+)<span class="govuk-visually-hidden"> waiting for you)?',
        nav.group(0),
    )
    assert item is not None, f"no {text} in the navigation"
    return int(item.group(1) or 0)


def test_the_senior_officer_sees_the_decision_escalated_to_them(new_client, world):
    event = advance(world, "escalated", title="Lanterns over the Fells")
    html = _dashboard(new_client, world.people["senior_officer"])
    queue = _queue(html, "decisions")
    assert "Decisions waiting for you" in queue and "Lanterns over the Fells" in queue
    assert f'href="/events/{event.id}/decision"' in queue
    assert "Decide before" in queue  # its due date: the event's start
    assert _nav_count(html, "Events") == 1


def test_a_decision_leaves_the_queue_once_made(new_client, world):
    advance(world, "decided", title="Lanterns over the Fells")
    html = _dashboard(new_client, world.people["senior_officer"])
    assert _queue(html, "decisions") == ""
    assert _nav_count(html, "Events") == 0


def test_another_senior_officer_does_not_see_a_decision_not_theirs(new_client, world, make_person):
    advance(world, "escalated", title="Lanterns over the Fells")
    colleague = make_person(world.orgs["a"], ["senior_officer"])
    html = _dashboard(new_client, colleague)
    assert _queue(html, "decisions") == "" and "Lanterns over the Fells" not in html


@pytest.mark.parametrize("stage", ["submitted", "under_review"])
def test_the_prevent_lead_sees_events_waiting_for_local_review(new_client, world, stage):
    event = advance(world, stage, title="Kites and Candour")
    for who in ("prevent_lead", "second_lead"):
        html = _dashboard(new_client, world.people[who])
        queue = _queue(html, "local-reviews")
        assert "Events waiting for local review" in queue and "Kites and Candour" in queue
        assert f'href="/events/{event.id}/assessment"' in queue
        assert _nav_count(html, "Events") == 1
    other = _dashboard(new_client, world.people["b_prevent_lead"])
    assert "Kites and Candour" not in other


def test_the_events_officer_sees_drafts_and_a_way_to_record_an_event(new_client, world):
    empty = _dashboard(new_client, world.people["events_officer"])
    assert "You have no draft events." in _queue(empty, "drafts")
    assert 'href="/events/new"' in _queue(empty, "drafts")
    advance(world, "draft", title="Moths at Midnight")
    html = _dashboard(new_client, world.people["events_officer"])
    assert "Moths at Midnight" in _queue(html, "drafts")
    assert _nav_count(html, "Events") == 1


@pytest.mark.parametrize("who", ["dpo", "auditor", "org_admin"])
def test_readers_who_act_on_nothing_have_no_event_queues(new_client, world, who):
    advance(world, "escalated", title="Lanterns over the Fells")
    html = _dashboard(new_client, world.people[who])
    for key in ("decisions", "local-reviews", "drafts"):
        assert _queue(html, key) == ""


def test_the_coordinator_routes_and_the_police_answer_from_their_queues(
    new_client, make_org, make_person, make_speaker
):
    aw = advisory_world(make_org, make_person, make_speaker)
    request = submit(aw)
    html = _dashboard(new_client, aw.people["coordinator"])
    queue = _queue(html, "advisory")
    assert "Advisory requests to route" in queue
    assert f'href="/advisory/{request.id}"' in queue
    assert aw.speaker.display_name not in html  # a name is a disclosure, made on its page
    assert _nav_count(html, "Advisory requests") == 1
    assert _queue(_dashboard(new_client, aw.people["police"]), "advisory") == ""

    route(aw, request)
    police = _dashboard(new_client, aw.people["police"])
    assert "Advisory requests to answer" in _queue(police, "advisory")
    assert _nav_count(police, "Advisory requests") == 1
    assert _queue(_dashboard(new_client, aw.people["coordinator"]), "advisory") == ""
    # The institution that asked waits, but acts on nothing: no queue, its table stays.
    requester = _dashboard(new_client, aw.people["requester"])
    assert _queue(requester, "advisory") == "" and 'id="advisory-requests"' in requester


def test_signatories_see_agreements_waiting_for_their_approval(
    new_client, make_org, make_agreement
):
    a, b = make_org(), make_org()
    agreement, signatories = make_agreement(
        [a, b], [rule(a, b, "speaker", existence_only=True)], approve=False, kind="one_way"
    )
    agreements.propose(actor_of(signatories[0]), agreement)
    db.session.flush()
    for signatory in signatories:
        html = _dashboard(new_client, signatory)
        assert agreement.reference in _queue(html, "approvals")
        assert _nav_count(html, "Agreements") == 1


def test_the_dpo_sees_suspended_agreements(new_client, make_org, make_agreement):
    a, b = make_org(), make_org()
    agreement, signatories = make_agreement(
        [a, b], [rule(a, b, "speaker", existence_only=True)], kind="one_way"
    )
    agreements.suspend(actor_of(signatories[0]), agreement, "Checking a complaint.")
    db.session.flush()
    mine = _queue(_dashboard(new_client, signatories[0]), "suspensions")
    theirs = _queue(_dashboard(new_client, signatories[1]), "suspensions")
    assert agreement.reference in mine and "Suspended by you" in mine
    assert agreement.reference in theirs and "Suspended by another party" in theirs


def test_the_administrator_sees_people_locked_out(new_client, make_org, make_person):
    org = make_org()
    admin = make_person(org, ["org_admin"])
    locked = make_person(org, name="Perdita Lockwood")
    throttle = signin._throttle_for(lockout.password_key(locked.email))
    throttle.locked_until = utcnow() + timedelta(minutes=10)
    db.session.flush()
    html = _dashboard(new_client, admin)
    assert "Perdita Lockwood" in _queue(html, "locked-out")
    assert _nav_count(html, "People") == 1
    assert _queue(_dashboard(new_client, make_person(org, ["dpo"])), "locked-out") == ""


def test_the_dpo_sees_unusual_access_to_look_at_until_it_is_reviewed(
    new_client, make_org, make_person
):
    org = make_org()
    dpo = make_person(org, ["dpo"])
    for _ in range(activity.EXPORTS_PER_DAY + 1):
        audit.record(actor_of(dpo), "audit.export", "granted", format="csv", count=3)
    db.session.flush()
    client = new_client()
    client.sign_in(dpo)
    queue = _queue(client.get("/").get_data(as_text=True), "flags")
    assert "Unusual access to look at" in queue and "Bulk exports" in queue
    link = re.search(r'href="(/audit/flags/review\?flag=bulk_export[^"]+)"', queue)
    assert link is not None
    response = client.submit(
        link.group(1).replace("&amp;", "&"), {"note": "The DPO's own downloads for the board."}
    )
    assert response.status_code == 302
    # (Out of hours, the DPO's own burst of entries may be a flag of its own.)
    assert "Bulk exports" not in _queue(client.get("/").get_data(as_text=True), "flags")


def test_an_events_officer_has_no_flags_queue(new_client, make_org, make_person):
    html = _dashboard(new_client, make_person(make_org(), ["events_officer"]))
    assert _queue(html, "flags") == ""
