"""One speaker finder and one duplicate check wherever a speaker is named (issue 14, item 4):
the event form finds what `/speakers/?q=` finds, and a speaker typed into the event form (page
or API) is asked about like one added on `/speakers/new`: "Is it one of these?"."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import db
from hub.records.events import services as events
from hub.records.models import Event, Speaker
from hub.records.speakers import search
from hub.records.speakers import services as speakers
from hub.records.speakers.schemas import DuplicateMatchSchema
from tests.factories import event_data
from tests.records.worlds import EventWorld


@pytest.fixture
def world(event_world) -> EventWorld:
    return event_world


@pytest.fixture
def wrenfield(world):
    """A recorded speaker the examples in the issue name another way."""
    return speakers.create_speaker(
        world.actor("events_officer"),
        {"display_name": "Professor Tobias Wrenfield", "aliases": ["Toby Wrenfield"]},
    )


def signed_in(new_client, world: EventWorld, who: str = "events_officer"):
    client = new_client()
    client.sign_in(world.people[who])
    return client


def html_of(response) -> str:
    return response.get_data(as_text=True)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


# --- one finder -------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["Wrenfeld Tobias", "Toby Wrenfeld", "wrenfield"])
def test_the_event_forms_finder_finds_what_the_speakers_search_finds(
    new_client, world, wrenfield, query
):
    """The event form's finder used to need every word as a substring of a name, so it
    missed the misspelt and reordered names that /speakers/?q= finds."""
    client = signed_in(new_client, world)
    listing = html_of(client.get("/speakers/", query_string={"q": query}))
    assert f"/speakers/{wrenfield.id}" in listing
    form = {**event_data(), "speaker_query": query, "action": "find"}
    page = html_of(client.submit("/events/new", form))
    assert "1 speaker found for" in page
    assert f'value="{wrenfield.id}"' in page


# --- one duplicate check: the event form ------------------------------------------------


def test_a_likely_duplicate_typed_into_the_event_form_is_asked_about_first(
    new_client, world, wrenfield
):
    client = signed_in(new_client, world)
    form = {**event_data(), "new_speakers": "Toby Wrenfeld", "action": "save"}
    response = client.submit("/events/new", form)
    page = html_of(response)
    assert response.status_code == 200
    assert "Is it one of these?" in page
    assert f'name="duplicate_choice-0" type="radio" value="{wrenfield.id}"' in page
    assert 'name="duplicate_name-0" value="Toby Wrenfeld"' in page
    assert "Error:" not in page.split("</title>")[0]  # a question, not an error
    # Nothing was saved: no event, no speaker.
    assert count(Event) == 0 and count(Speaker) == 1

    # The organiser picks the existing record: the event names it, and no speaker is made.
    answered = {
        **form,
        "duplicate_name-0": "Toby Wrenfeld",
        "duplicate_choice-0": str(wrenfield.id),
    }
    response = client.submit("/events/new", answered)
    assert response.status_code == 302, html_of(response)[:3000]
    event = db.session.scalar(sa.select(Event))
    assert [link.speaker_id for link in event.speakers] == [wrenfield.id]
    assert count(Speaker) == 1


def test_the_organiser_can_confirm_a_new_person_with_a_similar_name(new_client, world, wrenfield):
    client = signed_in(new_client, world)
    form = {
        **event_data(),
        "new_speakers": "Toby Wrenfeld\nDr Isolde Marchbank",
        "action": "save",
        "duplicate_name-0": "Toby Wrenfeld",
        "duplicate_choice-0": "new",
    }
    response = client.submit("/events/new", form)
    assert response.status_code == 302, html_of(response)[:3000]
    names = set(db.session.scalars(sa.select(Speaker.display_name)))
    assert names == {"Professor Tobias Wrenfield", "Toby Wrenfeld", "Dr Isolde Marchbank"}


def test_a_question_left_unanswered_is_asked_again_with_an_error(new_client, world, wrenfield):
    client = signed_in(new_client, world)
    form = {
        **event_data(),
        "new_speakers": "Wrenfeld Tobias",
        "action": "save",
        "duplicate_name-0": "Wrenfeld Tobias",
    }
    page = html_of(client.submit("/events/new", form))
    assert "govuk-error-summary" in page
    assert (
        '<a href="#duplicate_choice-0">Choose whether &#39;Wrenfeld Tobias&#39; is one of the '
        "speakers found, or a new speaker.</a>"
    ) in page
    assert 'id="duplicate_choice-0"' in page
    assert count(Event) == 0 and count(Speaker) == 1


def test_the_change_form_asks_too(new_client, world, wrenfield):
    event = events.create_event(world.actor("events_officer"), event_data())
    client = signed_in(new_client, world)
    form = {**event_data(), "new_speakers": "Wrenfeld Tobias", "action": "save"}
    page = html_of(client.submit(f"/events/{event.id}/edit", form))
    assert "Is it one of these?" in page
    assert count(Speaker) == 1


# --- the same check through the services and the API ------------------------------------


def test_the_events_service_refuses_a_likely_duplicate_unless_confirmed(world, wrenfield):
    actor = world.actor("events_officer")
    with pytest.raises(speakers.LikelyDuplicates) as refused:
        events.create_event(actor, event_data(new_speakers="Wrenfeld Tobias"))
    assert [m.speaker_id for m in refused.value.found["Wrenfeld Tobias"]] == [wrenfield.id]
    assert count(Event) == 0 and count(Speaker) == 1
    event = events.create_event(
        actor,
        event_data(new_speakers="Wrenfeld Tobias", confirm_new_speakers=["wrenfeld tobias"]),
    )
    assert {link.speaker.display_name for link in event.speakers} == {"Wrenfeld Tobias"}


def test_the_events_api_answers_409_with_the_candidates(new_client, world, wrenfield):
    client = signed_in(new_client, world)
    body = {**event_data(), "tags": ["debate"], "new_speakers": ["Toby Wrenfeld"]}
    for key in ("branded_or_funded", "recorded", "streamed"):
        body[key] = body[key] == "yes"
    body["expected_size"] = int(body["expected_size"])
    response = client.api("POST", "/api/v1/events", json=body)
    assert response.status_code == 409, response.get_json()
    problem = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert [(d["speaker_id"], d["for_name"]) for d in problem["duplicates"]] == [
        (str(wrenfield.id), "Toby Wrenfeld")
    ]
    assert count(Event) == 0
    confirmed = client.api(
        "POST", "/api/v1/events", json={**body, "confirm_new_speakers": ["Toby Wrenfeld"]}
    )
    assert confirmed.status_code == 201, confirmed.get_json()
    assert count(Speaker) == 2


def test_the_speaker_form_and_the_api_ask_the_same_check(new_client, world, wrenfield):
    client = signed_in(new_client, world)
    page = html_of(
        client.submit(
            "/speakers/new", {"display_name": "Wrenfeld Tobias", "distribution": "internal"}
        )
    )
    assert "Is it one of these?" in page and f"/speakers/{wrenfield.id}" in page
    api = client.api("POST", "/api/v1/speakers", json={"display_name": "Wrenfeld Tobias"})
    assert api.status_code == 409
    assert [d["speaker_id"] for d in api.get_json()["duplicates"]] == [str(wrenfield.id)]
    assert count(Speaker) == 1


def test_a_409s_duplicates_say_what_the_api_documents_and_no_more(new_client, world, wrenfield):
    """Each likely duplicate carries the fields `DuplicateMatchSchema` documents (schemathesis
    found undocumented ones: the owner, always the caller, and an agreement, never one)."""
    client = signed_in(new_client, world)
    api = client.api("POST", "/api/v1/speakers", json={"display_name": "Wrenfeld Tobias"})
    documented = set(DuplicateMatchSchema().fields)
    assert api.status_code == 409
    assert all(set(d) == documented for d in api.get_json()["duplicates"])


def test_the_duplicate_check_asks_the_one_finder(world, wrenfield, monkeypatch):
    """The duplicate check is the finder with a higher bar, not a search of its own."""
    asked: list[str] = []
    finder = search.search_speakers

    def spy(actor, query, *args, **kwargs):
        asked.append(query)
        return finder(actor, query, *args, **kwargs)

    monkeypatch.setattr(search, "search_speakers", spy)
    found = speakers.likely_duplicates(world.actor("events_officer"), "Toby Wrenfeld", ["T. W."])
    assert [m.speaker_id for m in found] == [wrenfield.id]
    assert asked == ["Toby Wrenfeld", "T. W."]
