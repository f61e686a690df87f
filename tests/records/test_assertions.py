"""Assertions (statements about a speaker): provenance on creation, the review-date rule,
flags for special-category and criminal-offence data, status changes and corrections kept as
revisions, who may change them, and the audit of each change; advisory ratings issued by
police and read on the speaker's page."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.records.models import (
    AssertionKind,
    AssertionStatus,
    Confidence,
    Distribution,
    Rating,
)
from hub.records.speakers import assertions, ratings
from hub.records.speakers import services as speakers
from tests.conftest import audit_entries, last_seq
from tests.factories import assertion_data, days, new_speaker


@pytest.fixture
def world(speaker_world):
    return speaker_world


@pytest.fixture
def speaker(world):
    return new_speaker(world.actor("events_officer"))


def record(world, speaker, who="events_officer", **overrides):
    return assertions.create_assertion(world.actor(who), speaker, assertion_data(**overrides))


# --- creating ---------------------------------------------------------------------------


def test_a_statement_records_who_what_source_and_when(world, speaker):
    statement = record(world, speaker)
    assert statement.owner_org_id == world.orgs["a"].id
    assert statement.kind == AssertionKind.FACT
    assert statement.source == "Forum programme"
    assert statement.source_url == "https://forum.example/programme"
    assert statement.stated_on == utcnow().date() - timedelta(days=30)
    assert statement.confidence == Confidence.HIGH
    assert statement.status == AssertionStatus.ACTIVE and statement.version == 1
    assert statement.created_by_id == world.people["events_officer"].id
    assert statement.distribution == speaker.distribution
    [first] = statement.revisions
    assert (first.version, first.status, first.text) == (1, AssertionStatus.ACTIVE, statement.text)
    assert first.changed_by_id == world.people["events_officer"].id


@pytest.mark.parametrize("flag", ["special_category", "criminal_offence"])
def test_flagged_statements_are_internal_unless_the_recorder_says_otherwise(world, speaker, flag):
    assert speaker.distribution == Distribution.SHAREABLE
    assert record(world, speaker, **{flag: True}).distribution == Distribution.INTERNAL
    chosen = record(world, speaker, **{flag: "yes", "distribution": "shareable"})
    assert chosen.distribution == Distribution.SHAREABLE and getattr(chosen, flag) is True


def test_creation_is_audited_with_codes_and_field_names_only(world, speaker):
    before = last_seq()
    statement = record(world, speaker, special_category=True, text="Holds views on zoning.")
    [entry] = audit_entries("assertion.create", before)
    assert json.loads(entry.resource_ids) == [str(statement.id)]
    assert entry.resource_type == "assertion"
    assert {"text", "source", "special_category"} <= set(json.loads(entry.fields))
    details = json.loads(entry.details)
    assert details["special_category"] == 1 and details["kind"] == "fact"
    assert "zoning" not in entry.leaf.decode() and "Forum programme" not in entry.leaf.decode()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"kind": "rumour"}, "kind", "Choose whether this is a fact or an opinion"),
        ({"text": ""}, "text", "Enter the statement"),
        ({"source": ""}, "source", "Enter where this comes from"),
        ({"source_url": "javascript:alert(1)"}, "source_url", "starting with https://"),
        ({"stated_on": days(1)}, "stated_on", "today or in the past"),
        ({"confidence": "certain"}, "confidence", "Choose how confident"),
        ({"special_category": "perhaps"}, "special_category", "Answer yes or no"),
        ({"review_by": days(-40)}, "review_by", "after the date of the statement"),
        ({"review_by": days(-1), "stated_on": days(-60)}, "review_by", "in the future"),
        ({"review_by": days(3 * 365 + 2)}, "review_by", "no more than 3 years"),
        ({"review_by": ""}, "review_by", "Enter the date to review"),
        ({"text": "x" * 5001}, "text", "5,000 characters or fewer"),
    ],
)
def test_bad_statements_are_refused_with_a_specific_message(world, speaker, change, field, message):
    with pytest.raises(ValidationFailed) as caught:
        record(world, speaker, **change)
    assert any(message in m for m in caught.value.errors[field]), caught.value.errors
    assert assertions.assertions_about(world.actor("events_officer"), speaker) == []


def test_the_review_date_may_be_three_years_ahead_but_no_further(world, speaker):
    assert record(world, speaker, review_by=days(3 * 365)).review_by > utcnow().date()


@pytest.mark.parametrize("who", ["dpo", "auditor", "org_admin"])
def test_readers_cannot_record_statements(world, speaker, who):
    with pytest.raises(PermissionDenied):
        record(world, speaker, who=who)


def test_another_organisation_cannot_record_a_statement_about_the_speaker(world, speaker):
    with pytest.raises(NotFound):
        record(world, speaker, who="b_prevent_lead")


def test_no_statement_on_a_merged_record(world, speaker):
    other = new_speaker(world.actor("events_officer"), "Ember Quilfeather", aliases=[])
    speakers.merge_speakers(world.actor("prevent_lead"), other, speaker, "Same person.")
    with pytest.raises(Conflict):
        record(world, speaker)


# --- status and corrections -------------------------------------------------------------


def test_status_changes_and_corrections_are_kept_as_revisions(world, speaker):
    officer, lead = world.actor("events_officer"), world.actor("prevent_lead")
    statement = record(world, speaker)
    assertions.change_assertion_status(officer, statement, {"status": "disputed", "reason": "R1"})
    assertions.change_assertion_status(lead, statement, {"status": "active", "reason": "R2"})
    assertions.correct_assertion(lead, statement, {"text": "Chaired the forum.", "reason": "R3"})
    assertions.change_assertion_status(lead, statement, {"status": "withdrawn", "reason": "R4"})
    assert statement.version == 5 and statement.status == AssertionStatus.WITHDRAWN
    assert statement.text == "Chaired the forum."
    history = [(r.version, r.status.value, r.reason) for r in statement.revisions]
    assert history == [
        (1, "active", "Recorded."),
        (2, "disputed", "R1"),
        (3, "active", "R2"),
        (4, "corrected", "R3"),
        (5, "withdrawn", "R4"),
    ]
    assert statement.revisions[2].text == "Spoke at the Fellwater Heritage Forum."
    assert statement.revisions[3].text == "Chaired the forum."
    assert statement.revisions[4].changed_by_id == world.people["prevent_lead"].id


def test_each_change_is_audited_by_field_name(world, speaker):
    statement = record(world, speaker)
    before = last_seq()
    assertions.change_assertion_status(
        world.actor("events_officer"), statement, {"status": "disputed", "reason": "Secret why."}
    )
    assertions.correct_assertion(
        world.actor("events_officer"), statement, {"text": "Hidden text.", "reason": "Hidden."}
    )
    [status] = audit_entries("assertion.status", before)
    assert json.loads(status.fields) == ["status"]
    assert json.loads(status.details)["to_status"] == "disputed"
    [correction] = audit_entries("assertion.correct", before)
    assert sorted(json.loads(correction.fields)) == ["status", "text"]
    for entry in (status, correction):
        leaf = entry.leaf.decode()
        assert "Secret" not in leaf and "Hidden" not in leaf


TRANSITION_CASES = [
    (start, target)
    for start in AssertionStatus
    for target in AssertionStatus
    if target != AssertionStatus.CORRECTED
]


def _bring_to(world, speaker, status: AssertionStatus):
    officer = world.actor("events_officer")
    statement = record(world, speaker)
    if status == AssertionStatus.CORRECTED:
        assertions.correct_assertion(officer, statement, {"text": "New text.", "reason": "R."})
    elif status != AssertionStatus.ACTIVE:
        assertions.change_assertion_status(officer, statement, {"status": status, "reason": "R."})
    return statement


@pytest.mark.parametrize(("start", "target"), TRANSITION_CASES)
def test_the_status_machine(world, speaker, start, target):
    statement = _bring_to(world, speaker, start)
    version = statement.version
    change = {"status": target.value, "reason": "Because."}
    if target in assertions.TRANSITIONS[start]:
        assertions.change_assertion_status(world.actor("prevent_lead"), statement, change)
        assert statement.status == target and statement.version == version + 1
    else:
        with pytest.raises(ValidationFailed) as caught:
            assertions.change_assertion_status(world.actor("prevent_lead"), statement, change)
        assert caught.value.errors["status"]
        assert statement.status == start and statement.version == version


def test_a_correction_needs_new_text_and_a_reason_and_not_a_withdrawn_statement(world, speaker):
    statement = record(world, speaker)
    lead = world.actor("prevent_lead")
    with pytest.raises(ValidationFailed) as same:
        assertions.correct_assertion(lead, statement, {"text": statement.text, "reason": "R"})
    assert "the same" in same.value.errors["text"][0]
    with pytest.raises(ValidationFailed) as no_reason:
        assertions.correct_assertion(lead, statement, {"text": "Other.", "reason": ""})
    assert no_reason.value.errors["reason"]
    with pytest.raises(ValidationFailed):
        assertions.change_assertion_status(lead, statement, {"status": "corrected", "reason": "R"})
    assertions.change_assertion_status(lead, statement, {"status": "withdrawn", "reason": "R"})
    with pytest.raises(ValidationFailed):
        assertions.correct_assertion(lead, statement, {"text": "Other.", "reason": "R"})
    assert statement.version == 2


def test_a_data_protection_officer_may_dispute_or_withdraw_but_not_rewrite(world, speaker):
    statement = record(world, speaker)
    dpo = world.actor("dpo")
    assertions.change_assertion_status(dpo, statement, {"status": "disputed", "reason": "SAR."})
    assert statement.status == AssertionStatus.DISPUTED
    with pytest.raises(PermissionDenied):
        assertions.correct_assertion(dpo, statement, {"text": "Other.", "reason": "R."})
    with pytest.raises(PermissionDenied):
        assertions.update_assertion(dpo, statement, {"confidence": "low"})


@pytest.mark.parametrize("who", ["auditor", "org_admin", "signatory"])
def test_other_roles_cannot_change_a_statement(world, speaker, who):
    statement = record(world, speaker)
    with pytest.raises(PermissionDenied):
        assertions.change_assertion_status(
            world.actor(who), statement, {"status": "disputed", "reason": "R."}
        )


def test_another_organisations_statement_is_not_found(world, speaker):
    statement = record(world, speaker)
    b = world.actor("b_prevent_lead")
    with pytest.raises(NotFound):
        assertions.change_assertion_status(b, statement, {"status": "disputed", "reason": "R."})
    with pytest.raises(NotFound):
        assertions.get_assertion(world.actor("events_officer"), speaker, uuid.uuid4())


def test_details_change_without_touching_the_statement(world, speaker):
    statement = record(world, speaker)
    before = last_seq()
    changed = assertions.update_assertion(
        world.actor("events_officer"),
        statement,
        {"confidence": "low", "criminal_offence": "yes", "review_by": days(90)},
    )
    assert changed == ["confidence", "criminal_offence", "review_by"]
    assert statement.version == 1 and statement.criminal_offence is True
    [entry] = audit_entries("assertion.update", before)
    assert sorted(json.loads(entry.fields)) == changed


def test_review_overdue(world, speaker):
    statement = record(world, speaker)
    assert not assertions.is_review_overdue(statement)
    assert assertions.is_review_overdue(statement, statement.review_by + timedelta(days=1))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(["active", "disputed", "withdrawn", "correct"]), max_size=8))
def test_any_sequence_of_changes_keeps_a_gapless_history(world, speaker, steps):
    statement = record(world, speaker)
    for step in steps:
        try:
            if step == "correct":
                assertions.correct_assertion(
                    world.actor("prevent_lead"),
                    statement,
                    {"text": f"Version {statement.version + 1}.", "reason": "R."},
                )
            else:
                assertions.change_assertion_status(
                    world.actor("prevent_lead"), statement, {"status": step, "reason": "R."}
                )
        except ValidationFailed:
            pass
    versions = [r.version for r in statement.revisions]
    assert versions == list(range(1, statement.version + 1))
    latest = statement.revisions[-1]
    assert (latest.status, latest.text) == (statement.status, statement.text)
    withdrawn = [r.version for r in statement.revisions if r.status == AssertionStatus.WITHDRAWN]
    assert not withdrawn or withdrawn[0] == statement.version  # nothing after a withdrawal


# --- advisory ratings -------------------------------------------------------------------


def rating_data(**overrides):
    data = {"rating": "amber", "rationale": "Protests at two venues.", "expires_on": days(180)}
    data.update(overrides)
    return data


def test_a_police_prevent_lead_issues_a_rating_owned_by_police(world, speaker):
    before = last_seq()
    issued = ratings.issue_rating(world.actor("police_prevent_lead"), speaker, rating_data())
    assert issued.rating == Rating.AMBER and issued.owner_org_id == world.orgs["police"].id
    assert issued.issued_on == utcnow().date()
    assert issued.issued_by_id == world.people["police_prevent_lead"].id
    assert issued.distribution == Distribution.INTERNAL
    [entry] = audit_entries("rating.issue", before)
    assert entry.resource_type == "advisory_rating"
    assert json.loads(entry.details)["speaker_id"] == str(speaker.id)
    assert "Protests" not in entry.leaf.decode()
    [view] = ratings.ratings_for(world.actor("police_prevent_lead"), speaker)
    assert view.issuer_name == world.orgs["police"].name and view.expired is False


@pytest.mark.parametrize(
    "who", ["prevent_lead", "events_officer", "coordinator", "b_prevent_lead", "dpo"]
)
def test_only_police_prevent_leads_issue_ratings(world, speaker, who):
    with pytest.raises(PermissionDenied):
        ratings.issue_rating(world.actor(who), speaker, rating_data())


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"rating": "purple"}, "rating"),
        ({"rationale": ""}, "rationale"),
        ({"expires_on": days(0)}, "expires_on"),
        ({"expires_on": days(800)}, "expires_on"),
        ({"expires_on": "soon"}, "expires_on"),
    ],
)
def test_bad_ratings_are_refused(world, speaker, change, field):
    with pytest.raises(ValidationFailed) as caught:
        ratings.issue_rating(world.actor("police_prevent_lead"), speaker, rating_data(**change))
    assert caught.value.errors[field]


def test_ratings_are_newest_first_and_expire(world, speaker):
    police = world.actor("police_prevent_lead")
    first = ratings.issue_rating(police, speaker, rating_data(rating="green"))
    first.issued_on = utcnow().date() - timedelta(days=400)
    first.expires_on = utcnow().date() - timedelta(days=1)
    ratings.issue_rating(police, speaker, rating_data(rating="red"))
    db.session.flush()
    views = ratings.ratings_for(police, speaker)
    assert [(v.rating, v.expired) for v in views] == [
        (Rating.RED, False),
        (Rating.GREEN, True),
    ]


def test_no_rating_on_a_merged_record(world, speaker):
    other = new_speaker(world.actor("events_officer"), "Ember Quilfeather", aliases=[])
    speakers.merge_speakers(world.actor("prevent_lead"), other, speaker, "Same person.")
    with pytest.raises(Conflict):
        ratings.issue_rating(world.actor("police_prevent_lead"), speaker, rating_data())
