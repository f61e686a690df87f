"""Events: creating and changing drafts, speakers chosen or added by name, lead time, bad input,
the post-event report, and the audit of each change."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from core.db import db
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.validation import LOCAL_ZONE
from hub.records.events import services as events
from hub.records.models import (
    ConditionsHeld,
    Event,
    EventSpeaker,
    EventStatus,
    Outcome,
    Speaker,
)
from hub.records.speakers import search
from hub.records.speakers.services import create_speaker
from tests.conftest import audit_entries, last_seq
from tests.factories import event_data, local_moment
from tests.records.worlds import EventWorld, advance


@pytest.fixture
def world(event_world) -> EventWorld:
    return event_world


def test_create_event_records_a_draft_with_history_and_assessment(world):
    actor = world.actor("events_officer")
    event = events.create_event(actor, event_data())
    assert event.status == EventStatus.DRAFT
    assert str(event.owner_org_id) == str(world.orgs["a"].id)
    assert event.tags == ["debate", "economics"]
    assert event.branded_or_funded is True and event.streamed is False
    assert event.expected_size == 120
    assert event.assessment is not None
    changes = events.history(event)
    assert [(c.from_status, c.to_status) for c in changes] == [(None, EventStatus.DRAFT)]
    assert str(changes[0].changed_by_id) == str(world.people["events_officer"].id)
    # Stored in UTC; typed as UK local time.
    local = event.starts_at.astimezone(LOCAL_ZONE)
    assert (local.hour, local.minute) == (18, 30)
    assert event.starts_at.tzinfo is not None
    assert event.retention_until > event.ends_at.date() + timedelta(days=5 * 365)


def test_create_event_audits_field_names_only(world):
    before = last_seq()
    event = events.create_event(world.actor("events_officer"), event_data())
    [entry] = audit_entries("event.create", before)
    assert entry.outcome == "granted"
    assert json.loads(entry.resource_ids) == [str(event.id)]
    assert "title" in json.loads(entry.fields)
    leaf = entry.leaf.decode()
    for value in ("Debating Society", "high street", "Great Hall", "Dr Chair Person"):
        assert value not in leaf


def test_new_speaker_is_created_by_name_and_linked(world):
    actor = world.actor("events_officer")
    event = events.create_event(
        actor, event_data(new_speakers="Dr Ember Quillfeather\nHarlow, Professor Ines")
    )
    names = sorted(link.speaker.display_name for link in event.speakers)
    assert names == ["Dr Ember Quillfeather", "Harlow, Professor Ines"]
    assert all(str(link.speaker.owner_org_id) == actor.org_id for link in event.speakers)
    # The new speakers are findable by name for the next event.
    found = search.search_speakers(actor, "quillfeather")
    assert [m.display_name for m in found] == ["Dr Ember Quillfeather"]


def test_existing_speakers_are_chosen_by_id(world):
    actor = world.actor("events_officer")
    speaker = create_speaker(actor, {"display_name": "Professor Tobias Wrenfield"})
    event = events.create_event(actor, event_data(speaker_ids=[str(speaker.id)]))
    assert [link.speaker_id for link in event.speakers] == [speaker.id]


def test_the_finder_matches_words_in_any_order_and_only_own_org(world):
    """The event form asks the one finder (`search.search_speakers`), as /speakers/?q= does."""
    mine = create_speaker(world.actor("events_officer"), {"display_name": "Dr Ember Quillfeather"})
    create_speaker(world.actor("b_events_officer"), {"display_name": "Dr Ember Quillfeather"})
    found = search.search_speakers(world.actor("events_officer"), "quillfeather ember")
    assert [m.speaker_id for m in found] == [mine.id]
    assert search.search_speakers(world.actor("events_officer"), "  ") == []


def test_unknown_speaker_id_is_refused_with_a_specific_message(world):
    missing = str(uuid.uuid4())
    with pytest.raises(ValidationFailed) as caught:
        events.create_event(world.actor("events_officer"), event_data(speaker_ids=[missing]))
    assert caught.value.errors["speaker_ids"] == [
        f"There is no speaker with the id '{missing}' in your organisation's records: "
        "choose a speaker from the list or add a new one by name."
    ]
    assert caught.value.audit is None


def test_another_organisations_speaker_is_unknown_and_the_refusal_is_marked_for_audit(world):
    theirs = create_speaker(world.actor("b_events_officer"), {"display_name": "Rhea Farrow"})
    with pytest.raises(ValidationFailed) as caught:
        events.create_event(world.actor("events_officer"), event_data(speaker_ids=[str(theirs.id)]))
    assert "no speaker with the id" in caught.value.errors["speaker_ids"][0]
    assert caught.value.audit["resource_ids"] == [str(theirs.id)]
    assert caught.value.reason == "not_owner"


def test_end_before_start_is_refused(world):
    with pytest.raises(ValidationFailed) as caught:
        events.create_event(
            world.actor("events_officer"),
            event_data(starts_at=local_moment(30, 18), ends_at=local_moment(30, 17)),
        )
    assert caught.value.errors == {"ends_at": ["The end must be after the start."]}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"title": ""}, "title", "Enter the event's title."),
        ({"expected_size": "100001"}, "expected_size", "The expected audience size must be "
         "100,000 or less."),
        ({"expected_size": "-1"}, "expected_size", "The expected audience size must be 0 or "
         "more."),
        ({"expected_size": "lots"}, "expected_size", "The expected audience size must be a "
         "whole number, like 120."),
        ({"venue_kind": "moon"}, "venue_kind", "Choose where the event takes place from: "
         "on_campus, off_campus, online, hybrid."),
        ({"venue_place": ""}, "venue_place", "Enter the venue (the building and room, or the "
         "address)."),
        ({"starts_at": "31/02/2026"}, "starts_at", "The start date and time must be a real "
         "date and time, like 2026-03-14T18:30."),
        ({"organiser_type": ""}, "organiser_type", "Choose who organises the event."),
    ],
)  # fmt: skip
def test_bad_event_fields_have_specific_messages(world, overrides, field, message):
    with pytest.raises(ValidationFailed) as caught:
        events.create_event(world.actor("events_officer"), event_data(**overrides))
    assert caught.value.errors[field] == [message]


def test_online_event_needs_no_venue(world):
    event = events.create_event(
        world.actor("events_officer"), event_data(venue_kind="online", venue_place="")
    )
    assert event.venue_place == ""


def test_nothing_is_saved_when_a_new_speaker_comes_with_a_bad_field(world):
    speakers_before = db.session.scalar(sa.select(sa.func.count()).select_from(Speaker))
    with pytest.raises(ValidationFailed):
        events.create_event(
            world.actor("events_officer"),
            event_data(new_speakers="Dr Ember Quillfeather", expected_size="-5"),
        )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Speaker)) == speakers_before


@pytest.mark.parametrize("who", ["dpo", "auditor", "org_admin", "senior_officer"])
def test_readers_and_others_cannot_create_events(world, who):
    with pytest.raises(PermissionDenied):
        events.create_event(world.actor(who), event_data())


def test_police_and_coordinators_do_not_host_events(world):
    for who in ("police_prevent_lead", "coordinator"):
        with pytest.raises(PermissionDenied) as caught:
            events.create_event(world.actor(who), event_data())
        assert caught.value.audit["action"] == "event.create"


def test_update_changes_a_draft_and_audits_the_changed_fields(world):
    actor = world.actor("events_officer")
    event = events.create_event(actor, event_data())
    before = last_seq()
    events.update_event(actor, event, {"title": "A new title", "expected_size": 80})
    assert (event.title, event.expected_size) == ("A new title", 80)
    assert event.venue_place == "Great Hall"  # left out, kept
    [entry] = audit_entries("event.update", before)
    assert sorted(json.loads(entry.fields)) == ["expected_size", "title"]


def test_update_replaces_the_speakers(world):
    actor = world.actor("events_officer")
    first = create_speaker(actor, {"display_name": "Dr Ember Quillfeather"})
    second = create_speaker(actor, {"display_name": "Professor Tobias Wrenfield"})
    event = events.create_event(actor, event_data(speaker_ids=[str(first.id)]))
    events.update_event(actor, event, {"speaker_ids": [str(second.id)]})
    db.session.flush()
    links = db.session.scalars(sa.select(EventSpeaker).where(EventSpeaker.event_id == event.id))
    assert [link.speaker_id for link in links] == [second.id]


def test_only_a_draft_can_be_changed(world):
    event = advance(world, "submitted")
    with pytest.raises(Conflict) as caught:
        events.update_event(world.actor("events_officer"), event, {"title": "Late change"})
    assert caught.value.detail == "Only a draft event can be changed; this event is submitted."


def test_lead_time_counts_from_submission_and_flags_short_ones(world):
    event = advance(world, "submitted", starts_at=local_moment(10), ends_at=local_moment(10, 21))
    lead = events.lead_time(event)
    assert lead.submitted and lead.days in (9, 10) and lead.short
    long_event = advance(world, "draft")
    assert not events.lead_time(long_event).short
    assert not events.lead_time(long_event).submitted


def test_another_organisations_event_is_not_found_and_audited(world):
    event = advance(world, "draft")
    with pytest.raises(NotFound) as caught:
        events.get_event(world.actor("b_prevent_lead"), event.id)
    assert caught.value.detail == "There is no such event."
    assert caught.value.audit["action"] == "event.read"
    with pytest.raises(NotFound) as missing:
        events.get_event(world.actor("b_prevent_lead"), uuid.uuid4())
    assert missing.value.detail == caught.value.detail and missing.value.audit is None
    with pytest.raises(NotFound):
        events.get_event(world.actor("b_prevent_lead"), "not-a-uuid")


def test_list_shows_own_events_only(world):
    mine = advance(world, "draft")
    events.create_event(world.actor("b_events_officer"), event_data())
    listed = events.list_events(world.actor("auditor"))
    assert [e.id for e in listed] == [mine.id]
    assert events.list_events(world.actor("auditor"), status=EventStatus.SUBMITTED) == []


def test_named_senior_officer_sees_only_the_events_they_decide(world):
    escalated = advance(world, "escalated")
    advance(world, "draft")
    officer = world.actor("senior_officer")
    assert [e.id for e in events.list_events(officer)] == [escalated.id]
    assert events.get_event(officer, escalated.id) is escalated
    with pytest.raises(PermissionDenied):
        events.list_events(world.actor("coordinator"))


# --- after the event --------------------------------------------------------------------


def _ended(event: Event) -> None:
    # Move the (decided) event into the past, as time would.
    event.starts_at = datetime.now(UTC) - timedelta(days=2)
    event.ends_at = datetime.now(UTC) - timedelta(days=2) + timedelta(hours=2)
    db.session.flush()


def test_post_event_report_after_an_approved_event(world):
    event = advance(world, "decided")
    _ended(event)
    before = last_seq()
    report = events.record_report(
        world.actor("events_officer"),
        event,
        {"conditions_held": "partly", "had_incidents": "yes", "incidents": "A brief protest."},
    )
    assert report.conditions_held == ConditionsHeld.PARTLY
    [entry] = audit_entries("event.report", before)
    assert "A brief protest" not in entry.leaf.decode()
    with pytest.raises(Conflict):
        events.record_report(
            world.actor("events_officer"), event, {"conditions_held": "yes", "had_incidents": "no"}
        )


def test_post_event_report_needs_details_when_conditions_failed(world):
    event = advance(world, "decided")
    _ended(event)
    with pytest.raises(ValidationFailed) as caught:
        events.record_report(
            world.actor("events_officer"), event, {"conditions_held": "no", "had_incidents": "no"}
        )
    assert caught.value.errors == {
        "incidents": ["Say which conditions did not hold and what happened."]
    }


def test_post_event_report_waits_for_the_end_and_an_approval(world):
    event = advance(world, "decided")
    with pytest.raises(Conflict) as early:
        events.record_report(world.actor("events_officer"), event, {"conditions_held": "yes"})
    assert early.value.detail == "The post-event report can be written once the event has ended."
    draft = advance(world, "draft")
    with pytest.raises(Conflict) as undecided:
        events.record_report(world.actor("events_officer"), draft, {"conditions_held": "yes"})
    assert "approved" in undecided.value.detail
    assert event.outcome == Outcome.APPROVED_WITH_CONDITIONS
