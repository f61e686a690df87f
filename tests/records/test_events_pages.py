"""The events pages: forms with GOV.UK error summaries, the task list, the timeline, the
decision page's proportionate path, appeals and the post-event report."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from hub.records.events import assessments
from hub.records.events import services as events
from hub.records.models import Event, EventStatus, Outcome
from hub.records.speakers.services import create_speaker
from tests.conftest import last_seq
from tests.factories import REVIEW, all_no, event_data, local_moment
from tests.records.worlds import EventWorld, advance


@pytest.fixture
def world(event_world) -> EventWorld:
    return event_world


def signed_in(new_client, world: EventWorld, who: str):
    client = new_client()
    client.sign_in(world.people[who])
    return client


def html_of(response) -> str:
    return response.get_data(as_text=True)


def fresh(event: Event) -> Event:
    """The event as the database now holds it (pages commit in their own sessions)."""
    db.session.expire_all()
    return db.session.get(Event, event.id)


def test_events_officer_records_an_event_with_a_new_speaker(new_client, world):
    client = signed_in(new_client, world, "events_officer")
    listing = html_of(client.get("/events/"))
    assert "Record an event" in listing and "There are no events yet." in listing
    form = {**event_data(), "new_speakers": "Dr Ember Quillfeather", "action": "save"}
    response = client.submit("/events/new", form)
    assert response.status_code == 302
    page = html_of(client.get(response.headers["Location"]))
    assert "The event has been recorded as a draft." in page
    assert "Dr Ember Quillfeather" in page
    assert "Debate: the future of the high street" in page
    assert 'id="timeline"' in page and "Draft" in page
    assert "days from today to the start (not yet submitted)" in page


def test_event_form_errors_link_to_each_field(new_client, world):
    client = signed_in(new_client, world, "events_officer")
    form = event_data(title="", ends_at=local_moment(30, 17), expected_size="999999", action="save")
    response = client.submit("/events/new", form)
    page = html_of(response)
    assert response.status_code == 200
    assert "govuk-error-summary" in page and "<title>Error: " in page
    assert '<a href="#title">Enter the event&#39;s title.</a>' in page
    assert '<a href="#ends_at">The end must be after the start.</a>' in page
    assert 'href="#expected_size"' in page and 'id="expected_size-error"' in page
    # What was typed is kept.
    assert "Great Hall" in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0


def test_finding_speakers_keeps_the_form_and_offers_matches(new_client, world):
    actor = world.actor("events_officer")
    speaker = create_speaker(actor, {"display_name": "Professor Tobias Wrenfield"})
    client = signed_in(new_client, world, "events_officer")
    form = {**event_data(title="Kept title"), "speaker_query": "wrenfield", "action": "find"}
    page = html_of(client.submit("/events/new", form))
    assert "1 speaker found for" in page
    assert f'value="{speaker.id}"' in page and "Professor Tobias Wrenfield" in page
    assert 'value="Kept title"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0
    none = html_of(client.submit("/events/new", {**form, "speaker_query": "nobody-like-this"}))
    assert "No speakers in your records match" in none


def test_edit_page_changes_a_draft_and_refuses_a_submitted_event(new_client, world):
    event = advance(world, "assessed")
    client = signed_in(new_client, world, "events_officer")
    form_page = html_of(client.get(f"/events/{event.id}/edit"))
    assert 'value="Great Hall"' in form_page
    local = event.starts_at.astimezone(events.LOCAL_ZONE).strftime("%Y-%m-%dT%H:%M")
    assert f'value="{local}"' in form_page
    data = {**event_data(title="Renamed debate"), "action": "save"}
    assert client.submit(f"/events/{event.id}/edit", data).status_code == 302
    assert fresh(event).title == "Renamed debate"
    status_path = f"/events/{event.id}/status"
    client.submit(f"/events/{event.id}", {"status": "submitted"}, action=status_path)
    refused = client.get(f"/events/{event.id}/edit")
    assert refused.status_code == 409
    assert "Only a draft event can be changed; this event is submitted." in html_of(refused)


def test_task_list_shows_each_stage_and_links_what_the_actor_can_do(new_client, world):
    event = advance(world, "draft")
    client = signed_in(new_client, world, "events_officer")
    page = html_of(client.get(f"/events/{event.id}/assessment"))
    assert 'class="govuk-task-list"' in page
    assert f'href="/events/{event.id}/assessment/self"' in page
    assert "Not yet started" in page and "Cannot start yet" in page
    response = client.submit(f"/events/{event.id}/assessment/self", all_no())
    assert response.status_code == 302
    page = html_of(client.get(response.headers["Location"]))
    assert "The self-assessment has been saved." in page
    assert re.search(r"Organiser&#39;s self-assessment</a>.*?Completed", page, re.S)
    # A reader sees the list and the answers, with no links to act.
    auditor = signed_in(new_client, world, "auditor")
    page = html_of(auditor.get(f"/events/{event.id}/assessment"))
    assert "assessment/self" not in page and "Completed" in page


def test_self_assessment_needs_details_for_yes_and_not_sure(new_client, world):
    event = advance(world, "draft")
    client = signed_in(new_client, world, "events_officer")
    answers = {**all_no(), "touring_speaker": "yes", "unlawful_speech": "unsure"}
    answers.pop("segregation_demands")
    page = html_of(client.submit(f"/events/{event.id}/assessment/self", answers))
    assert (
        '<a href="#touring_speaker_detail">Give details of why you answered &#39;yes&#39; '
        "about a touring speaker.</a>" in page
    )
    assert 'href="#unlawful_speech_detail"' in page
    assert (
        '<a href="#segregation_demands">Choose yes, no or not sure for demands for a '
        "segregated audience.</a>" in page
    )
    assert fresh(event).assessment.self_assessment.value == "not_started"


def test_submitting_without_a_self_assessment_shows_a_specific_message(new_client, world):
    event = advance(world, "draft")
    client = signed_in(new_client, world, "events_officer")
    response = client.submit(
        f"/events/{event.id}", {"status": "submitted"}, action=f"/events/{event.id}/status"
    )
    assert response.status_code == 409
    page = html_of(response)
    assert "govuk-error-summary" in page
    assert "Complete the organiser&#39;s self-assessment before submitting the event." in page
    assert fresh(event).status == EventStatus.DRAFT


def test_skipped_step_is_refused_with_409_and_audited(new_client, world):
    event = advance(world, "assessed")
    client = signed_in(new_client, world, "prevent_lead")
    before = last_seq()
    response = client.submit(
        f"/events/{event.id}", {"status": "under_review"}, action=f"/events/{event.id}/status"
    )
    assert response.status_code == 409
    assert (
        "An event that is in draft can next be submitted or withdrawn; it cannot move "
        "straight to under review." in html_of(response)
    )
    denied = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq > before, AuditEntry.outcome == "denied")
    ).all()
    assert [(e.action, e.reason) for e in denied] == [("event.status", "skipped_step")]


def test_the_whole_workflow_through_the_pages(new_client, world):
    event = advance(world, "submitted")
    lead = signed_in(new_client, world, "prevent_lead")
    review_page = html_of(lead.get(f"/events/{event.id}/assessment/review"))
    assert "What the organiser said" in review_page and "1 to 4: low" in review_page
    assert lead.submit(f"/events/{event.id}/assessment/review", REVIEW).status_code == 302
    assert fresh(event).status == EventStatus.UNDER_REVIEW

    officer = world.people["senior_officer"]
    escalation_page = html_of(lead.get(f"/events/{event.id}/assessment/escalation"))
    assert officer.name in escalation_page
    assert world.people["prevent_lead"].name not in escalation_page.split("<select")[1]
    empty = html_of(lead.submit(f"/events/{event.id}/assessment/escalation", {}))
    assert 'href="#senior_officer_id"' in empty and 'href="#escalation_reason"' in empty
    response = lead.submit(
        f"/events/{event.id}/assessment/escalation",
        {"senior_officer_id": str(officer.id), "escalation_reason": "Large public audience."},
    )
    assert response.status_code == 302
    assert fresh(event).status == EventStatus.ESCALATED

    # Mitigations make "approved with conditions" the suggested outcome.
    organiser = signed_in(new_client, world, "events_officer")
    response = organiser.submit(
        f"/events/{event.id}/assessment/mitigations/new",
        {"type": "independent_chair", "owner_name": "Events team", "status": "agreed"},
    )
    assert response.status_code == 302

    # The Prevent lead may not decide a designated event.
    assert lead.get(f"/events/{event.id}/decision").status_code == 403

    decider = signed_in(new_client, world, "senior_officer")
    page = html_of(decider.get(f"/events/{event.id}/decision"))
    assert 'id="suggestion"' in page
    assert re.search(r'value="approved_with_conditions" checked', page)
    assert "Independent chair (Events team, agreed)" in page
    today = events.local_today()
    response = decider.submit(
        f"/events/{event.id}/decision",
        {
            "outcome": "approved_with_conditions",
            "conditions": "Independent chair.",
            "rationale": "Lawful debate with a chair.",
            "decided_on-day": str(today.day),
            "decided_on-month": str(today.month),
            "decided_on-year": str(today.year),
        },
    )
    assert response.status_code == 302, html_of(response)[:3000]
    page = html_of(decider.get(f"/events/{event.id}"))
    assert "The decision has been recorded." in page
    timeline = page.split('id="timeline"')[1]
    for label in ("Decided", "Escalated", "Under review", "Submitted", "Draft"):
        assert label in timeline
    assert fresh(event).outcome == Outcome.APPROVED_WITH_CONDITIONS


def test_a_rejection_without_the_guardrail_lists_every_missing_piece(new_client, world):
    event = advance(world, "under_review")
    client = signed_in(new_client, world, "prevent_lead")
    today = events.local_today()
    data = {
        "outcome": "rejected",
        "rationale": "Too risky.",
        "decided_on-day": str(today.day),
        "decided_on-month": str(today.month),
        "decided_on-year": str(today.year),
        "mitigations_considered": ["stewards_security"],
    }
    page = html_of(client.submit(f"/events/{event.id}/decision", data))
    assert 'href="#lawful_speech_finding"' in page
    assert 'href="#reason_category"' in page
    assert (
        '<a href="#why_stewards_security">Say why &#39;Stewards or security staff&#39; was not '
        "enough.</a>" in page
    )
    # The ticked mitigation stays ticked, its reason box open.
    assert re.search(r'value="stewards_security" checked', page)
    assert fresh(event).status == EventStatus.UNDER_REVIEW


def test_decision_date_before_submission_is_refused_on_the_page(new_client, world):
    event = advance(world, "under_review")
    client = signed_in(new_client, world, "prevent_lead")
    earlier = events.local_today() - timedelta(days=3)
    page = html_of(
        client.submit(
            f"/events/{event.id}/decision",
            {
                "outcome": "approved",
                "rationale": "Fine.",
                "decided_on-day": str(earlier.day),
                "decided_on-month": str(earlier.month),
                "decided_on-year": str(earlier.year),
            },
        )
    )
    assert '<a href="#decided_on">The date of the decision cannot be before the event' in page


def test_second_decision_page_is_a_conflict(new_client, world):
    event = advance(world, "decided")
    client = signed_in(new_client, world, "senior_officer")
    response = client.get(f"/events/{event.id}/decision")
    assert response.status_code == 409
    assert "A decision has already been recorded for this event." in html_of(response)


def test_appeal_lodged_and_overturned_through_the_pages(new_client, world):
    event = advance(world, "decided")
    organiser = signed_in(new_client, world, "events_officer")
    page = html_of(organiser.get(f"/events/{event.id}"))
    assert "Lodge an appeal against this decision" in page
    assert "Leave blank for 10 working days" in html_of(organiser.get(f"/events/{event.id}/appeal"))
    empty = html_of(organiser.submit(f"/events/{event.id}/appeal", {"grounds": ""}))
    assert '<a href="#grounds">Enter the grounds for the appeal.</a>' in empty
    response = organiser.submit(
        f"/events/{event.id}/appeal", {"grounds": "The conditions are disproportionate."}
    )
    assert response.status_code == 302
    appeal = fresh(event).decisions[0].appeals[0]

    lead = signed_in(new_client, world, "prevent_lead")
    page = html_of(lead.get(f"/events/{event.id}"))
    assert f"/events/{event.id}/appeals/{appeal.id}" in page
    response = lead.submit(
        f"/events/{event.id}/appeals/{appeal.id}",
        {"appeal_outcome": "overturned", "rationale": "A chair is not needed.",
         "new_outcome": "approved"},
    )  # fmt: skip
    assert response.status_code == 302, html_of(response)[:2000]
    event = fresh(event)
    assert event.outcome == Outcome.APPROVED
    page = html_of(lead.get(f"/events/{event.id}"))
    assert "Earlier decisions" in page and "superseded after an appeal" in page


def test_post_event_report_page(new_client, world):
    event = advance(world, "decided")
    event.starts_at = datetime.now(UTC) - timedelta(days=3)
    event.ends_at = datetime.now(UTC) - timedelta(days=3, hours=-2)
    db.session.flush()
    client = signed_in(new_client, world, "events_officer")
    assert "Write the post-event report" in html_of(client.get(f"/events/{event.id}"))
    page = html_of(client.submit(f"/events/{event.id}/report", {"conditions_held": "no"}))
    assert 'href="#incidents"' in page
    response = client.submit(
        f"/events/{event.id}/report",
        {"conditions_held": "yes", "had_incidents": "no", "incidents": ""},
    )
    assert response.status_code == 302
    page = html_of(client.get(f"/events/{event.id}"))
    assert "Post-event report" in page and "None reported" in page


def test_mitigations_can_be_changed_and_removed(new_client, world):
    event = advance(world, "under_review")
    actor = world.actor("prevent_lead")
    item = assessments.add_mitigation(
        actor, event, {"type": "recording", "owner_name": "AV team", "status": "proposed"}
    )
    client = signed_in(new_client, world, "prevent_lead")
    page = html_of(client.get(f"/events/{event.id}/assessment/mitigations"))
    assert "Recording the event" in page and "AV team" in page
    response = client.submit(
        f"/events/{event.id}/assessment/mitigations/{item.id}",
        {"type": "recording", "owner_name": "AV team", "status": "in_place"},
    )
    assert response.status_code == 302
    assert fresh(event).assessment.mitigations[0].status.value == "in_place"
    response = client.submit(
        f"/events/{event.id}/assessment/mitigations",
        {},
        action=f"/events/{event.id}/assessment/mitigations/{item.id}/remove",
    )
    assert response.status_code == 302
    assert fresh(event).assessment.mitigations == []


def test_withdrawing_shows_in_the_timeline(new_client, world):
    event = advance(world, "submitted")
    client = signed_in(new_client, world, "events_officer")
    response = client.submit(
        f"/events/{event.id}",
        {"status": "withdrawn", "note": "Speaker cancelled."},
        action=f"/events/{event.id}/status",
    )
    assert response.status_code == 302
    page = html_of(client.get(f"/events/{event.id}"))
    assert "The event has been withdrawn." in page
    assert "Speaker cancelled." in page.split('id="timeline"')[1]
    assert "Withdraw event" not in page


def test_list_filters_by_status_and_flags_short_lead_times(new_client, world):
    advance(world, "submitted", starts_at=local_moment(5), ends_at=local_moment(5, 21))
    advance(world, "draft", title="A draft for later")
    client = signed_in(new_client, world, "auditor")
    page = html_of(client.get("/events/?status=submitted"))
    assert "1 event submitted" in page and "Short" in page
    assert "A draft for later" not in page
    assert "Record an event" not in page


def test_naming_another_organisations_speaker_on_the_form_is_refused_and_audited(new_client, world):
    theirs = create_speaker(world.actor("b_events_officer"), {"display_name": "Rhea Farrow"})
    client = signed_in(new_client, world, "events_officer")
    before = last_seq()
    form = {**event_data(), "speaker_ids": [str(theirs.id)], "action": "save"}
    response = client.submit("/events/new", form)
    page = html_of(response)
    assert response.status_code == 200
    assert 'href="#speaker_ids"' in page and "Rhea Farrow" not in page
    denied = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq > before, AuditEntry.outcome == "denied")
    ).all()
    assert [(e.action, e.reason) for e in denied] == [("event.create", "not_owner")]
    assert str(theirs.id) in denied[0].resource_ids
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == 0
