"""A partner's record a person can read (issue 14, item 6): the key to the levels, the fields
withheld under the agreement, whom to contact at the holding organisation, pseudonyms as short
stable labels with the full codes to hand, masked addresses without their host, Back to the
search with its words, and a purpose the agreement does not cover answered in words that are
the same whether the record exists or not."""

from __future__ import annotations

import re
import uuid

import pytest

from agreements.fields import LEVEL_MEANINGS, Level
from tests.records.worlds import (
    OTHER_PURPOSE,
    PURPOSE,
    SharingWorld,
    entries,
    new_partner_speaker,
    page_text,
    signed_in,
    speaker_path,
)


@pytest.fixture
def world(sharing_world) -> SharingWorld:
    return sharing_world


def _main_html(response) -> str:
    body = response.get_data(as_text=True)
    return body[body.index("<main") : body.index("</main>")]


def _section(text: str, heading: str, end: str) -> str:
    """The page text from `heading` up to `end`."""
    start = text.index(heading)
    return text[start : text.index(end, start)]


# --- what the record page says about what is shown ----------------------------------------


@pytest.mark.parametrize("kind", ["speaker", "event"])
def test_the_record_has_a_key_to_the_levels_in_the_agreements_words(world, new_client, kind):
    client = signed_in(new_client, world)
    record_id = world.speaker.id if kind == "speaker" else world.event.id
    text = page_text(client.get(f"/shared/{kind}s/{record_id}?purpose={PURPOSE}"))
    key = _section(text, "What masked, pseudonymised and generalised mean", "Who to contact")
    for level in (Level.MASKED, Level.PSEUDONYMISED, Level.GENERALISED):
        assert LEVEL_MEANINGS[level.value][:40].lower() in key.lower(), level
    assert "Topic A" in key  # how pseudonyms are shown here


def test_the_fields_withheld_under_the_agreement_are_listed_by_name(world, new_client):
    client = signed_in(new_client, world)
    text = page_text(client.get(speaker_path(world)))
    # The speaker: affiliations are not in the schedule.
    shared = _section(text, "What is shared", "What masked")
    assert "Withheld under this agreement Public affiliations and roles" in shared
    # The statement: source address, confidence, review-by date and the flags are not either.
    statement = _section(text, "Statement 1", "Shared with you under")
    withheld = statement[statement.index("Withheld under this agreement") :]
    for label in ("Source address", "Confidence", "Review-by date"):
        assert label in withheld
    assert "Statement" not in withheld.replace("Statement 1", "")  # the (masked) text is shared
    event = page_text(client.get(f"/shared/events/{world.event.id}?purpose={PURPOSE}"))
    shared = _section(event, "What is shared", "Decision")
    for label in ("Synopsis", "Organiser", "Venue"):
        assert label in shared[shared.index("Withheld under this agreement") :]


def test_the_holding_organisations_contact_is_shown(world, new_client):
    client = signed_in(new_client, world)
    owner = world.orgs["owner"]
    response = client.get(speaker_path(world))
    text = page_text(response)
    contact = _section(text, "Who to contact at Fellwater University", "Statements")
    # The agreement's designated person for the holder, and the holder's data protection contact.
    assert "Designated person under TEST-DSA-1 Designated Person" in contact
    assert owner.dp_contact_name in contact and owner.dp_contact_email in contact
    assert f'href="mailto:{owner.dp_contact_email}"' in response.get_data(as_text=True)


# --- pseudonyms and masked addresses ---------------------------------------------------------


def _topics_row(response) -> str:
    main = _main_html(response)
    start = main.index(">Topics<")
    return main[start : main.index("</dd>", main.index("</details>", start))]


def test_pseudonyms_are_short_labels_with_the_full_codes_to_hand(world, new_client):
    client = signed_in(new_client, world)
    response = client.get(speaker_path(world))
    row = _topics_row(response)
    codes = re.findall(r"psn:[0-9a-f]{24}", row)
    assert len(codes) == 2
    # Lettered in the order of the codes, each label beside its full code in the details.
    first, second = sorted(codes)
    assert re.search(rf"Topic A: <code>{first}</code>", row)
    assert re.search(rf"Topic B: <code>{second}</code>", row)
    assert "<details" in row and "Full pseudonyms" in row
    # Outside the details only the labels show.
    visible = row[: row.index("<details")]
    assert "Topic A" in visible and "Topic B" in visible and "psn:" not in visible
    assert "lantern-making" not in response.get_data(as_text=True)


def test_labels_are_stable_for_the_same_values_in_any_order(world, new_client):
    """The same topics entered in the other order (on another of the owner's speakers) get the
    same pseudonyms and so the same labels; the same record shows the same labels each time."""
    again = new_partner_speaker(
        world.actor("owner"),
        "Ember Quillfeather-Vane",
        topics=["tidal astronomy", "lantern-making"],
    )
    client = signed_in(new_client, world)
    first = _topics_row(client.get(speaker_path(world)))
    assert _topics_row(client.get(speaker_path(world))) == first
    other = _topics_row(client.get(f"/shared/speakers/{again.id}?purpose={PURPOSE}"))
    label_code = re.compile(r"(Topic [A-Z]): <code>(psn:[0-9a-f]+)</code>")
    assert label_code.findall(other) == label_code.findall(first)


def test_a_masked_address_shows_no_host(world, new_client):
    client = signed_in(new_client, world)
    response = client.get(speaker_path(world))
    body = response.get_data(as_text=True)
    assert "lanternwick.example" not in body
    sources = _section(page_text(response), "Public sources", "Withheld")
    assert "••• masked" in sources


# --- Back returns to the search -------------------------------------------------------------


def test_back_returns_to_the_search_with_its_words(world, new_client):
    client = signed_in(new_client, world)
    search = client.get(f"/shared/speakers?q=Ember+Quilfether&purpose={PURPOSE}")
    link = re.search(r'href="(/shared/speakers/[^"]+)"', search.get_data(as_text=True))
    record = client.get(link.group(1).replace("&amp;", "&"))
    assert record.status_code == 200
    back = (
        f'href="/shared/speakers?purpose={PURPOSE}&amp;q=Ember+Quilfether" '
        'class="govuk-back-link">Back to the search'
    )
    assert back in record.get_data(as_text=True)
    # The event it links to carries the search too, and so does its Back link.
    event = re.search(r'href="(/shared/events/[^"]+)"', record.get_data(as_text=True)).group(1)
    assert "q=Ember+Quilfether" in event
    assert back in client.get(event.replace("&amp;", "&")).get_data(as_text=True)


def test_back_keeps_the_page_of_results(world, new_client):
    client = signed_in(new_client, world)
    record = client.get(f"{speaker_path(world)}&q=Ember&page=3").get_data(as_text=True)
    assert f'href="/shared/speakers?purpose={PURPOSE}&amp;q=Ember&amp;page=3"' in record


def test_without_a_search_back_goes_to_the_search_page(world, new_client):
    client = signed_in(new_client, world)
    record = client.get(speaker_path(world)).get_data(as_text=True)
    assert f'href="/shared/speakers?purpose={PURPOSE}" class="govuk-back-link">Back<' in record


# --- the purpose ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["speaker", "event"])
def test_a_purpose_the_agreement_does_not_cover_is_said_in_words_alike_for_a_missing_record(
    world, new_client, kind
):
    """Event risk assessment is a purpose the hub knows but the world's agreement does not name:
    the record that exists and one that does not get word for word the same page."""
    client = signed_in(new_client, world)
    real = str(world.speaker.id if kind == "speaker" else world.event.id)
    missing = str(uuid.uuid4())
    refused = client.get(f"/shared/{kind}s/{real}?purpose={OTHER_PURPOSE}&q=Ember")
    absent = client.get(f"/shared/{kind}s/{missing}?purpose={OTHER_PURPOSE}&q=Ember")
    assert refused.status_code == absent.status_code == 404
    assert _main_html(refused).replace(real, "ID") == _main_html(absent).replace(missing, "ID")
    text = page_text(refused)
    assert "There is no such record that you may see for this purpose" in text
    assert "Either no such record exists, or it is not shared with your organisation" in text
    assert "Assessing the risk of an event with external speakers" in text
    assert "Ember Quillfeather" not in text and "Lanterns and tides" not in text
    # The refusal of the real record is kept with its reason.
    [refusal] = [e for e in entries("disclosure", "denied") if real in e.resource_ids]
    assert refusal.reason == "no_agreement"


def test_the_refusal_offers_the_other_purposes_the_viewers_agreements_name(world, new_client):
    client = signed_in(new_client, world)
    response = client.get(f"/shared/speakers/{world.speaker.id}?purpose={OTHER_PURPOSE}&q=Ember")
    body = _main_html(response)
    options = re.findall(r'<option value="([^"]*)"', body)
    assert options == ["", PURPOSE]
    assert '<input type="hidden" name="q" value="Ember">' in body


@pytest.mark.parametrize("path", ["/shared/speakers/{id}", "/shared/speakers?q=Ember"])
def test_the_purpose_list_offers_only_the_purposes_the_viewers_agreements_name(
    world, new_client, make_agreement, path
):
    from tests.agreement_factories import rule

    recipient, outsider = world.orgs["recipient"], world.orgs["outsider"]
    # An agreement that names case review, but gives the recipient nothing: not offered.
    make_agreement(
        [recipient, outsider],
        [rule(recipient, outsider, "speaker", {"display_name": "full"})],
        kind="one_way",
        reference="TEST-DSA-9",
        purposes=["working_group_case_review"],
    )
    client = signed_in(new_client, world)
    body = _main_html(client.get(path.format(id=world.speaker.id)))
    options = re.findall(r'<option value="([^"]*)"', body)
    assert options == ["", PURPOSE]


def test_without_any_agreement_there_is_no_purpose_to_choose(world, new_client):
    client = signed_in(new_client, world, org="outsider")
    response = client.get(f"/shared/speakers/{world.speaker.id}")
    assert response.status_code == 200
    body = _main_html(response)
    assert "<select" not in body
    assert "no data-sharing agreement in force that shares partners' records" in page_text(response)


def test_no_error_shows_before_the_person_answers(world, new_client):
    client = signed_in(new_client, world)
    asked = client.get(f"/shared/speakers/{world.speaker.id}?q=Ember")
    assert asked.status_code == 200
    body = asked.get_data(as_text=True)
    assert "govuk-error-summary" not in body and "govuk-error-message" not in body
    assert "<title>Why do you need" in body
    assert '<input type="hidden" name="q" value="Ember">' in body  # Back survives the answer
    answered = client.get(f"/shared/speakers/{world.speaker.id}?purpose=&q=Ember")
    assert answered.status_code == 400
    assert "govuk-error-summary" in answered.get_data(as_text=True)
    assert "Choose why you need to see this record." in page_text(answered)


# --- the API gives the same ---------------------------------------------------------------------


def test_the_api_names_the_contact_and_masks_addresses_without_their_host(world, new_client):
    api = signed_in(new_client, world)
    response = api.api("GET", f"/api/v1/shared/speakers/{world.speaker.id}?purpose={PURPOSE}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["speaker"]["data"]["sources"] == ["•••"]
    assert "lanternwick.example" not in response.get_data(as_text=True)
    owner = world.orgs["owner"]
    assert body["contact"] == {
        "organisation": "Fellwater University",
        "agreement_reference": "TEST-DSA-1",
        "designated_person": "Designated Person",
        "dp_contact_name": owner.dp_contact_name,
        "dp_contact_email": owner.dp_contact_email,
    }
