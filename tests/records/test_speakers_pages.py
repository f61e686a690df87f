"""Speaker pages: the list and search, adding a speaker (with the "Is it one of these?" step),
changing one, the speaker's page (flags, history, ratings, appearances), statements and their
status, merging (and the merged record's address), and errors shown in the error summary."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from core.db import db, utcnow
from hub.records.models import (
    AssertionStatus,
    RecordStatus,
    Speaker,
    SpeakerRole,
)
from hub.records.speakers import assertions
from tests.factories import (
    assertion_data,
    date_fields,
    give_role,
    hold_in_the_past,
    new_speaker,
    speaker_form,
)


@pytest.fixture
def world(speaker_world):
    return speaker_world


def signed_in(new_client, world, who="events_officer"):
    """A client signed in as `who`."""
    client = new_client()
    client.sign_in(world.people[who])
    return client


def text_of(response) -> str:
    return response.get_data(as_text=True)


# --- list and search --------------------------------------------------------------------


def test_the_list_shows_own_speakers_only_and_search_tolerates_spelling(new_client, world):
    mine = new_speaker(world.actor("events_officer"), "Mohammed Ashcombe", aliases=[])
    new_speaker(world.actor("b_events_officer"), "Mohammed Ashcombe Other", aliases=[])
    client = signed_in(new_client, world, "auditor")
    page = text_of(client.get("/speakers/"))
    assert "Mohammed Ashcombe" in page and "Ashcombe Other" not in page
    assert 'for="q"' in page  # the search box is labelled
    results = text_of(client.get("/speakers/?q=Muhammad+Ashcomb"))
    assert f"/speakers/{mine.id}" in results and "Ashcombe Other" not in results
    assert re.search(r"\d+%", results)
    assert "No speaker records match" in text_of(client.get("/speakers/?q=Zzyzx+Qwerty"))


def test_readers_see_no_write_controls(new_client, world):
    speaker = new_speaker(world.actor("events_officer"))
    client = signed_in(new_client, world, "dpo")
    assert "Add a speaker" not in text_of(client.get("/speakers/"))
    page = text_of(client.get(f"/speakers/{speaker.id}"))
    assert "Change details" not in page and "Record a statement" not in page


# --- adding and changing ----------------------------------------------------------------


def test_adding_a_speaker_saves_every_section(new_client, world):
    client = signed_in(new_client, world)
    response = client.submit("/speakers/new", speaker_form())
    assert response.status_code == 302, text_of(response)[:3000]
    speaker = db.session.scalar(
        sa.select(Speaker).where(Speaker.display_name == "Professor Tobias Wrenfield")
    )
    assert [a.name for a in speaker.aliases] == ["Tobias Renfield"]
    assert [a.organisation_name for a in speaker.affiliations] == ["Ashcombe College"]
    assert [s.retrieved_on for s in speaker.sources] == [utcnow().date() - timedelta(days=2)]
    assert sorted(t.topic for t in speaker.topics) == ["bridges", "rivers"]
    assert speaker.retention_until == utcnow().date() + timedelta(days=900)
    page = text_of(client.get(response.headers["Location"]))
    assert "has been added" in page and "Staff page" in page and "read on" in page


def test_likely_duplicates_are_offered_before_a_new_record_is_made(new_client, world):
    existing = new_speaker(world.actor("prevent_lead"), "Dr Yusuf Wrenfield", aliases=[])
    client = signed_in(new_client, world)
    form = speaker_form(display_name="Yousef Wrenfield", **{"aliases-0-name": ""})
    response = client.submit("/speakers/new", form)
    page = text_of(response)
    assert response.status_code == 200
    assert "Is it one of these?" in page and f"/speakers/{existing.id}" in page
    count = sa.select(sa.func.count()).select_from(Speaker)
    assert db.session.scalar(count) == 1
    # The person's answers are still in the form, and "create anyway" makes the record.
    assert 'value="Yousef Wrenfield"' in page
    response = client.submit("/speakers/new", {**form, "confirm_new": "yes"})
    assert response.status_code == 302
    assert db.session.scalar(count) == 2


def test_errors_are_shown_in_the_summary_and_the_form_keeps_its_values(new_client, world):
    client = signed_in(new_client, world)
    form = speaker_form(**date_fields("sources-0-retrieved_on", 3), display_name="")
    response = client.submit("/speakers/new", form)
    page = text_of(response)
    assert response.status_code == 200
    assert "There is a problem" in page
    assert 'href="#display_name"' in page and 'href="#sources-0-retrieved_on"' in page
    assert "must be today or in the past" in page
    assert 'value="https://college.example/wrenfield"' in page
    assert page.startswith("<!DOCTYPE html>") and "<title>Error:" in page


def test_changing_a_speaker(new_client, world):
    speaker = new_speaker(world.actor("events_officer"))
    client = signed_in(new_client, world, "prevent_lead")
    form = text_of(client.get(f"/speakers/{speaker.id}/edit"))
    assert 'value="Dr Ember Quillfeather"' in form and 'value="Emba Kwilfether"' in form
    values = {
        "display_name": "Dr Ember Quillfeather",
        "aliases-0-name": "Ember Quilfeather",
        "aliases-0-kind": "alias",
        "aliases-1-name": "",
        "aliases-1-kind": "alias",
        "affiliations-0-organisation_name": "Fellwater Institute",
        "affiliations-0-role": "Senior Fellow",
        "topics": "heritage",
        "distribution": "internal",
        **date_fields("retention_until", 400),
    }
    response = client.submit(f"/speakers/{speaker.id}/edit", values)
    assert response.status_code == 302, text_of(response)[:2000]
    db.session.expire_all()
    speaker = db.session.get(Speaker, speaker.id)
    assert [a.name for a in speaker.aliases] == ["Ember Quilfeather"]
    assert [a.role for a in speaker.affiliations] == ["Senior Fellow"]
    assert speaker.sources == []
    assert speaker.distribution.value == "internal"


# --- the speaker's page -----------------------------------------------------------------


def test_the_page_shows_statements_with_flags_history_ratings_and_appearances(
    new_client, world, answer_advisory, make_event
):
    officer = world.actor("events_officer")
    speaker = new_speaker(officer)
    flagged = assertions.create_assertion(
        officer,
        speaker,
        assertion_data(
            kind="opinion", text="Holds strong views on planning.", special_category=True
        ),
    )
    assertions.change_assertion_status(
        officer, flagged, {"status": "disputed", "reason": "The speaker says this is wrong."}
    )
    police = world.people["police_prevent_lead"]
    asker = world.people["events_officer"]
    old = answer_advisory(asker, speaker, police, rating="green", rationale="Nothing known.")
    old.rating.expires_on = utcnow().date() - timedelta(days=1)
    answer_advisory(asker, speaker, police, rationale="Past events drew protests.")
    event = make_event(
        by=officer,
        title="Heritage lecture",
        speakers=[speaker],
        stage="decided",
        decision={"outcome": "approved"},
    )
    hold_in_the_past(event, 20)
    give_role(event, speaker, SpeakerRole.PANELLIST)
    page = text_of(signed_in(new_client, world, "auditor").get(f"/speakers/{speaker.id}"))
    assert "Opinion" in page and "Disputed" in page
    assert "Special-category data" in page and "Article 9" in page
    assert "The speaker says this is wrong." in page and "History (version 2)" in page
    assert world.orgs["police"].name in page
    # The police's answers show their rating, never their rationale (the police's record).
    assert "Amber" in page and "Past events drew protests." not in page
    assert "Nothing known." not in page and "the rating is shared with you" in page
    assert page.count("Expired") == 1
    assert "Heritage lecture" in page and "Panellist" in page and "Approved" in page
    assert "Fellwater Institute" in page and "read on" in page


def test_statements_are_recorded_disputed_corrected_and_withdrawn_from_pages(new_client, world):
    speaker = new_speaker(world.actor("events_officer"))
    client = signed_in(new_client, world, "prevent_lead")
    base = f"/speakers/{speaker.id}/statements"
    form = {
        "kind": "fact",
        "text": "Gave the Fellwater lecture.",
        "source": "Lecture listing",
        "source_url": "",
        **date_fields("stated_on", -5),
        "confidence": "medium",
        "special_category": "no",
        "criminal_offence": "yes",
        **date_fields("review_by", 200),
        "distribution": "",
    }
    response = client.submit(f"{base}/new", form)
    assert response.status_code == 302, text_of(response)[:3000]
    [statement] = assertions.assertions_about(world.actor("prevent_lead"), speaker)
    assert statement.criminal_offence and statement.distribution.value == "internal"
    path = f"{base}/{statement.id}"
    assert (
        client.submit(f"{path}/status", {"status": "disputed", "reason": "Contested."}).status_code
        == 302
    )
    assert (
        client.submit(
            f"{path}/correct",
            {"text": "Chaired the Fellwater lecture.", "reason": "Listing re-read."},
        ).status_code
        == 302
    )
    assert (
        client.submit(
            f"{path}/status", {"status": "withdrawn", "reason": "Source removed."}
        ).status_code
        == 302
    )
    db.session.expire_all()
    [statement] = assertions.assertions_about(world.actor("prevent_lead"), speaker)
    assert statement.status == AssertionStatus.WITHDRAWN and statement.version == 4
    page = text_of(client.get(f"/speakers/{speaker.id}"))
    assert "Withdrawn: do not rely on this statement." in page
    assert "Gave the Fellwater lecture." in page  # the earlier text, in the history
    # A withdrawn statement offers no further status change.
    assert "cannot be changed" in text_of(client.get(f"{path}/status"))


def test_a_bad_review_date_is_explained(new_client, world):
    speaker = new_speaker(world.actor("events_officer"))
    client = signed_in(new_client, world)
    form = {
        "kind": "opinion",
        "text": "A view.",
        "source": "Blog",
        **date_fields("stated_on", -5),
        "confidence": "low",
        "special_category": "no",
        "criminal_offence": "no",
        **date_fields("review_by", 5 * 365),
    }
    page = text_of(client.submit(f"/speakers/{speaker.id}/statements/new", form))
    assert "no more than 3 years from today" in page and 'href="#review_by"' in page


# --- merging ----------------------------------------------------------------------------


def test_merging_from_the_pages_and_the_merged_address_redirects(new_client, world):
    officer = world.actor("events_officer")
    keep = new_speaker(officer, "Dr Ember Quillfeather", aliases=[])
    merge = new_speaker(officer, "Ember Quilfeather", aliases=[])
    client = signed_in(new_client, world, "prevent_lead")
    choose = text_of(client.get(f"/speakers/{keep.id}/merge"))
    assert f"merge_id={merge.id}" in choose
    compare = text_of(client.get(f"/speakers/{keep.id}/merge?merge_id={merge.id}"))
    assert "Are these the same person?" in compare and "Ember Quilfeather" in compare
    missing_reason = client.submit(
        f"/speakers/{keep.id}/merge?merge_id={merge.id}", {"merge_id": str(merge.id), "reason": ""}
    )
    assert "Enter why these are the same person" in text_of(missing_reason)
    response = client.submit(
        f"/speakers/{keep.id}/merge?merge_id={merge.id}",
        {"merge_id": str(merge.id), "reason": "Same person, misspelt."},
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Speaker, merge.id).status == RecordStatus.MERGED
    moved = client.get(f"/speakers/{merge.id}")
    assert moved.status_code == 301 and moved.headers["Location"].endswith(f"/speakers/{keep.id}")
    page = text_of(client.get(f"/speakers/{keep.id}"))
    assert "Records merged into this one" in page and "Same person, misspelt." in page


def test_an_unknown_or_foreign_speaker_page_is_not_found(new_client, world):
    foreign = new_speaker(world.actor("b_events_officer"))
    client = signed_in(new_client, world, "prevent_lead")
    for path in (f"/speakers/{foreign.id}", f"/speakers/{uuid.uuid4()}", "/speakers/nonsense"):
        response = client.get(path)
        assert response.status_code == 404
        assert "Quillfeather" not in text_of(response)
