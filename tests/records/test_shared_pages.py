"""Pages of partners' records through agreements: the cross-organisation speaker search (with
and without a purpose, existence-only hits, counts and pages, the CSV of a page), a partner's
speaker and event as disclosed, the purpose question, refusals that look like absence, the
inbox with mark-as-read, and the permission matrix over roles and organisations."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import timedelta

import pytest

from core.db import db, utcnow
from hub.records.models import (
    AdvisoryRating,
    Distribution,
    Rating,
)
from hub.records.speakers import assertions
from partners import notifications
from partners.models import InboxMessage
from tests.agreement_factories import rule
from tests.records.worlds import (
    MATRIX,
    OTHER_PURPOSE,
    PURPOSE,
    READER_ROLES,
    SPEAKER_LEVELS,
    SharingWorld,
    add_region,
    entries,
    expected_status,
    main_of,
    new_partner_speaker,
    new_partner_statement,
    page_text,
    page_text_of,
    signed_in,
    speaker_path,
)


@pytest.fixture
def world(sharing_world) -> SharingWorld:
    return sharing_world


# --- search -----------------------------------------------------------------------------


def test_search_with_a_purpose_finds_the_partner_record_as_disclosed(world, new_client):
    client = signed_in(new_client, world)
    response = client.get(f"/shared/speakers?q=Ember+Quilfether&purpose={PURPOSE}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    text = page_text(response)
    assert "1 result for" in text
    # The record's link carries the search, so that its Back link returns to it.
    assert (
        f'href="/shared/speakers/{world.speaker.id}?purpose={PURPOSE}&amp;q=Ember+Quilfether"'
        in body
    )
    assert "Ember Quillfeather" in text and "Fellwater University" in text
    assert "TEST-DSA-1 v1" in text
    assert "E••• Q•••" in text  # the alias, masked
    assert "Embre" not in text and "Lanternwick" not in text


def test_search_without_a_purpose_searches_only_own_records_and_says_so(world, new_client):
    mine = new_partner_speaker(world.actor("recipient"), "Ember Quillfield")
    client = signed_in(new_client, world)
    response = client.get("/shared/speakers?q=Ember+Quillfeather")
    text = page_text(response)
    assert response.status_code == 200
    assert "Only your own organisation's records were searched" in text
    assert "1 result for" in text
    assert f'href="/speakers/{mine.id}"' in response.get_data(as_text=True)
    assert str(world.speaker.id) not in response.get_data(as_text=True)
    assert entries("disclosure") == []


def test_own_records_link_to_their_own_page_beside_partner_hits(world, new_client):
    mine = new_partner_speaker(world.actor("recipient"), "Ember Quillfeather")
    client = signed_in(new_client, world)
    body = client.get(f"/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}").get_data(
        as_text=True
    )
    assert f'href="/speakers/{mine.id}"' in body
    assert f'href="/shared/speakers/{world.speaker.id}?purpose={PURPOSE}&amp;q=Ember' in body
    assert "2 results for" in page_text_of(body)


def test_existence_only_hit_names_the_holder_and_whom_to_contact(
    make_org, make_person, make_agreement, new_client
):
    world = SharingWorld(
        {"owner": make_org(name="Fellwater University"), "recipient": make_org()}, make_person
    )
    world.speaker = new_partner_speaker(world.actor("owner"), "Ember Quillfeather")
    make_agreement(
        [world.orgs["owner"], world.orgs["recipient"]],
        [rule(world.orgs["owner"], world.orgs["recipient"], "speaker", existence_only=True)],
        kind="one_way",
    )
    client = signed_in(new_client, world)
    response = client.get(f"/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}")
    text = page_text(response)
    contact = world.orgs["owner"].dp_contact_email
    assert f"Fellwater University holds a record — contact {contact}" in text
    assert "Embre" not in text and "lantern" not in text
    assert f"/shared/speakers/{world.speaker.id}" not in response.get_data(as_text=True)


def test_an_unknown_purpose_is_asked_again_and_the_refusal_audited(world, new_client):
    client = signed_in(new_client, world)
    response = client.get("/shared/speakers?q=Ember&purpose=curiosity")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "govuk-error-summary" in body
    assert "Choose the purpose of your search from the list." in page_text(response)
    [refusal] = entries("speaker.search", "denied")
    assert refusal.reason == "purpose_unknown"


def test_a_purpose_no_agreement_names_finds_nothing_and_counts_nothing(world, new_client):
    client = signed_in(new_client, world)
    response = client.get(f"/shared/speakers?q=Ember+Quillfeather&purpose={OTHER_PURPOSE}")
    assert "0 results for" in page_text(response)
    assert str(world.speaker.id) not in response.get_data(as_text=True)


def test_a_name_the_schedule_withholds_finds_nothing(
    make_org, make_person, make_agreement, new_client
):
    world = SharingWorld({"owner": make_org(), "recipient": make_org()}, make_person)
    world.speaker = new_partner_speaker(world.actor("owner"), "Ember Quillfeather")
    make_agreement(
        [world.orgs["owner"], world.orgs["recipient"]],
        [rule(world.orgs["owner"], world.orgs["recipient"], "speaker", {"topics": "full"})],
        kind="one_way",
    )
    client = signed_in(new_client, world)
    response = client.get(f"/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}")
    assert "0 results for" in page_text(response)
    assert "No speaker records match" in page_text(response)


def test_results_come_in_pages_and_the_count_is_the_total_seen(
    make_org, make_person, make_agreement, new_client
):
    world = SharingWorld({"owner": make_org(), "recipient": make_org()}, make_person)
    officer = world.actor("owner")
    for n in range(23):
        new_partner_speaker(officer, f"Ember Quillfeather {chr(65 + n)}{chr(97 + n)}", aliases=[])
    # Internal records are never shared and never counted.
    for n in range(3):
        new_partner_speaker(
            officer, f"Ember Quillfeather Z{chr(97 + n)}", aliases=[], distribution="internal"
        )
    make_agreement(
        [world.orgs["owner"], world.orgs["recipient"]],
        [rule(world.orgs["owner"], world.orgs["recipient"], "speaker", {"display_name": "full"})],
        kind="one_way",
    )
    client = signed_in(new_client, world)
    first = client.get(f"/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}")
    assert "23 results for" in page_text(first)
    assert "Page 1 of 2" in page_text(first)
    assert first.get_data(as_text=True).count('href="/shared/speakers/') == 20
    second = client.get(f"/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}&page=2")
    assert second.get_data(as_text=True).count('href="/shared/speakers/') == 3
    assert "Page 2 of 2" in page_text(second)
    # Only the pages shown were disclosed.
    assert len(entries("disclosure", "granted")) == 23


def test_a_page_of_results_downloads_as_csv_with_the_same_minimisation(world, new_client):
    client = signed_in(new_client, world)
    response = client.get(f"/shared/speakers.csv?q=Ember+Quillfeather&purpose={PURPOSE}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    [row] = rows
    assert row["Name as shared"] == "Ember Quillfeather"
    assert row["Held by"] == "Fellwater University"
    assert row["Shared under agreement"] == "TEST-DSA-1" and row["Agreement version"] == "1"
    assert row["Other names"] == "E••• Q•••"
    assert row["Affiliations"] == ""
    assert row["Topics"].startswith("psn:")
    body = response.get_data(as_text=True)
    assert "lantern-making" not in body and "Lanternwick Society" not in body
    assert row["Sources"] == "•••"  # masked: nothing of the address
    assert "lanternwick.example" not in body


# --- a partner's speaker ----------------------------------------------------------------


def test_partner_speaker_page_shows_only_disclosed_fields_labelled(world, new_client):
    client = signed_in(new_client, world)
    response = client.get(speaker_path(world))
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    text = page_text(response)
    assert "Ember Quillfeather" in text
    assert "Speaker record held by Fellwater University" in text
    assert (
        "Shared with you under agreement TEST-DSA-1 v1 for purpose "
        + "Due diligence on an external speaker before an invitation"
    ) in text
    assert "E••• Q•••" in text and "masked" in text  # aliases
    assert "psn:" in text and "pseudonymised" in text  # topics
    assert "lanternwick.example" not in text  # sources, masked: not even the site
    assert "Lanternwick Society" not in text and "Trustee" not in text  # withheld
    assert "Embre" not in text and "tidal astronomy" not in text
    # The statement: kind and source in full, text masked, date to the month.
    assert "Fact" in text and "Fair programme" in text
    assert "S••• a••• t•••" in text and "lantern fair" not in text
    assert "fair.example" not in text  # source address withheld
    stated = world.statement.stated_on
    assert f"{stated:%B %Y}" in text and "generalised" in text
    # Its appearance links to the partner event page for the same purpose.
    assert f'href="/shared/events/{world.event.id}?purpose={PURPOSE}"' in body
    assert "Lanterns and tides" in text


def test_opening_a_partner_speaker_is_audited_per_record_with_field_names(world, new_client):
    client = signed_in(new_client, world)
    client.get(speaker_path(world))
    granted = entries("disclosure", "granted")
    kinds = {e.resource_type for e in granted}
    assert kinds == {"speaker", "assertion", "event"}
    speaker_entry = next(e for e in granted if e.resource_type == "speaker")
    assert json.loads(speaker_entry.fields) == sorted(SPEAKER_LEVELS)
    assert speaker_entry.purpose == PURPOSE
    assert b"Ember" not in speaker_entry.leaf


@pytest.mark.parametrize("purpose", [None, "", "curiosity"])
def test_a_missing_or_unknown_purpose_asks_for_one(world, new_client, purpose):
    client = signed_in(new_client, world)
    path = f"/shared/speakers/{world.speaker.id}"
    if purpose is not None:
        path += f"?purpose={purpose}"
    response = client.get(path)
    body = response.get_data(as_text=True)
    text = page_text(response)
    # Arriving without a purpose is a question; an error only once it is answered wrongly.
    assert response.status_code == (200 if purpose is None else 400)
    assert ("govuk-error-summary" in body) == (purpose is not None)
    assert "Why do you need to see this record?" in text
    assert '<select class="govuk-select' in body and 'name="purpose"' in body
    assert "Ember" not in text
    [refusal] = entries("disclosure", "denied")
    assert refusal.reason == ("purpose_unknown" if purpose else "purpose_missing")


def test_the_inbox_link_without_a_purpose_leads_to_the_question_not_an_error(world, new_client):
    client = signed_in(new_client, world)
    client.get(speaker_path(world))
    assertions.correct_assertion(
        world.actor("owner"),
        world.statement,
        {"text": "Spoke at the Northshire lantern fair in 2024.", "reason": "Wrong year"},
    )
    [message] = corrections(world)
    response = client.get(message.link)
    assert response.status_code == 200
    assert "Why do you need to see this record?" in page_text(response)
    assert "govuk-error-summary" not in response.get_data(as_text=True)


def test_without_an_agreement_a_partner_speaker_looks_absent_and_the_refusal_is_kept(
    world, new_client
):
    client = signed_in(new_client, world, org="outsider")
    response = client.get(speaker_path(world))
    assert response.status_code == 404
    text = page_text(response)
    assert "Ember" not in text and "Fellwater" not in text
    missing = client.get(f"/shared/speakers/{uuid.uuid4()}?purpose={PURPOSE}")
    malformed = client.get(f"/shared/speakers/not-an-id?purpose={PURPOSE}")
    assert missing.status_code == malformed.status_code == 404
    # Word for word the same page as a record that does not exist.
    assert main_of(missing) == main_of(response) == main_of(malformed)
    [refusal] = entries("disclosure", "denied")
    assert refusal.reason == "no_agreement"
    assert refusal.resource_ids == f'["{world.speaker.id}"]'


def test_the_agreements_purpose_matters_for_the_record_page(world, new_client):
    client = signed_in(new_client, world)
    assert client.get(speaker_path(world, OTHER_PURPOSE)).status_code == 404


def test_suspension_ends_access_at_once(world, new_client):
    from agreements import services as agreements

    client = signed_in(new_client, world)
    assert client.get(speaker_path(world)).status_code == 200
    agreements.suspend(world.actor("owner", "dpo"), world.agreement, "Review")
    assert client.get(speaker_path(world)).status_code == 404
    response = client.get(f"/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}")
    assert "0 results for" in page_text(response)


def test_an_internal_statement_is_never_shown(world, new_client):
    new_partner_statement(
        world.actor("owner"), world.speaker, text="Kept inside Fellwater.", distribution="internal"
    )
    client = signed_in(new_client, world)
    text = page_text(client.get(speaker_path(world)))
    assert "Statement 1" in text and "Statement 2" not in text


def test_own_record_through_the_shared_address_goes_to_its_own_page(world, new_client):
    client = signed_in(new_client, world, org="owner")
    response = client.get(speaker_path(world))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/speakers/{world.speaker.id}")
    assert entries("disclosure") == []


# --- a partner's event ------------------------------------------------------------------


def test_partner_event_page_shows_the_event_and_decision_as_disclosed(world, new_client):
    client = signed_in(new_client, world)
    response = client.get(f"/shared/events/{world.event.id}?purpose={PURPOSE}")
    assert response.status_code == 200
    text = page_text(response)
    assert "Lanterns and tides" in text and "Event held by Fellwater University" in text
    assert f"{world.event.starts_at:%B %Y}" in text and "generalised" in text
    assert "101-250 (a band)" in text  # expected size 137, banded
    assert "Approved with conditions" in text
    assert "Shared with you under agreement TEST-DSA-1 v1" in text
    assert "Brindlewood" not in text and "glowing finale" not in text  # withheld
    assert "Lantern Society of Fellwater" not in text
    assert "Quorate panel" not in text and "Stewards at each exit" not in text
    body = response.get_data(as_text=True)
    assert f'href="/shared/speakers/{world.speaker.id}?purpose={PURPOSE}"' in body


def test_partner_event_without_agreement_or_purpose(world, new_client):
    outsider = signed_in(new_client, world, org="outsider")
    refused = outsider.get(f"/shared/events/{world.event.id}?purpose={PURPOSE}")
    missing = outsider.get(f"/shared/events/{uuid.uuid4()}?purpose={PURPOSE}")
    assert refused.status_code == missing.status_code == 404
    assert main_of(refused) == main_of(missing)
    recipient = signed_in(new_client, world)
    response = recipient.get(f"/shared/events/{world.event.id}")
    assert response.status_code == 200  # a question, not yet an error
    assert "Why do you need to see this record?" in page_text(response)


# --- permission matrix ------------------------------------------------------------------


@pytest.mark.parametrize(("org", "role"), MATRIX)
def test_permission_matrix_for_partner_record_pages(
    world, new_client, make_org, make_agreement, org, role
):
    if org == "region":
        add_region(world, make_org, make_agreement)
    client = signed_in(new_client, world, org=org, role=role)
    speaker = client.get(speaker_path(world))
    assert speaker.status_code == expected_status(org, role)
    event = client.get(f"/shared/events/{world.event.id}?purpose={PURPOSE}")
    assert event.status_code == expected_status(org, role)
    search = client.get(f"/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}")
    assert search.status_code == (200 if role in READER_ROLES else 403)
    if role in READER_ROLES:
        shows_partner = f"/shared/speakers/{world.speaker.id}" in search.get_data(as_text=True)
        assert shows_partner == (org in {"recipient", "region"})
    else:
        refusals = entries("disclosure", "denied") + entries("speaker.search", "denied")
        assert refusals and {e.reason for e in refusals} == {"role_required"}
        assert entries("disclosure", "granted") == []


@pytest.mark.parametrize("path", ["/shared/speakers", "/shared/inbox", "/shared/subject-access"])
def test_pages_need_a_signed_in_person(client, path):
    response = client.get(path)
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


# --- inbox ------------------------------------------------------------------------------


def corrections(world: SharingWorld) -> list[InboxMessage]:
    return [
        m for m in notifications.inbox(world.actor("recipient")) if m.kind == "assertion.corrected"
    ]


def _correction(world: SharingWorld) -> None:
    assertions.correct_assertion(
        world.actor("owner"),
        world.statement,
        {"text": "Spoke at the Northshire lantern fair in 2024.", "reason": "Wrong year"},
    )


def test_the_inbox_lists_corrections_and_marks_them_read(world, new_client):
    client = signed_in(new_client, world)
    client.get(speaker_path(world))
    _correction(world)
    response = client.get("/shared/inbox")
    text = page_text(response)
    assert "A statement shared with you about a speaker was corrected" in text
    [message] = corrections(world)
    marked = client.submit("/shared/inbox", {}, action=f"/shared/inbox/{message.id}/read")
    assert marked.status_code == 302
    db.session.expire_all()
    assert db.session.get(InboxMessage, message.id).read_at is not None
    assert f'action="/shared/inbox/{message.id}/read"' not in client.get("/shared/inbox").get_data(
        as_text=True
    )


def test_marking_read_needs_the_csrf_token_and_ones_own_message(world, new_client):
    client = signed_in(new_client, world)
    client.get(speaker_path(world))
    _correction(world)
    [message] = corrections(world)
    assert client.post(f"/shared/inbox/{message.id}/read").status_code == 400
    outsider = signed_in(new_client, world, org="outsider")
    refused = outsider.submit("/shared/inbox", {}, action=f"/shared/inbox/{message.id}/read")
    assert refused.status_code == 404
    db.session.expire_all()
    assert db.session.get(InboxMessage, message.id).read_at is None


def test_mark_all_read(world, new_client):
    for n in range(3):
        notifications.notify(world.orgs["recipient"].id, "agreement.suspended", f"Notice {n}")
    client = signed_in(new_client, world)
    unread = len(notifications.inbox(world.actor("recipient"), unread_only=True))
    assert unread >= 3
    assert f"{unread} unread messages" in page_text(client.get("/shared/inbox"))
    client.submit("/shared/inbox", {}, action="/shared/inbox/read")
    assert "0 unread messages" in page_text(client.get("/shared/inbox"))


def test_an_empty_inbox_says_so(world, new_client):
    client = signed_in(new_client, world, org="outsider")
    assert "There are no messages for your organisation." in page_text(client.get("/shared/inbox"))


# --- more of what hangs off a speaker ---------------------------------------------------


def test_an_existence_only_speaker_still_shows_what_other_schedules_give(
    make_org, make_person, make_agreement, new_client
):
    world = SharingWorld(
        {"owner": make_org(name="Fellwater University"), "recipient": make_org()}, make_person
    )
    world.speaker = new_partner_speaker(world.actor("owner"), "Ember Quillfeather")
    world.statement = new_partner_statement(world.actor("owner"), world.speaker)
    owner, recipient = world.orgs["owner"], world.orgs["recipient"]
    make_agreement(
        [owner, recipient],
        [
            rule(owner, recipient, "speaker", existence_only=True),
            rule(owner, recipient, "assertion", {"kind": "full", "status": "full"}),
        ],
        kind="one_way",
    )
    client = signed_in(new_client, world)
    text = page_text(client.get(speaker_path(world)))
    assert "Speaker (name not shared)" in text
    assert f"Fellwater University holds a record — contact {owner.dp_contact_email}" in text
    assert "Statement 1" in text and "Fact" in text and "Active" in text
    assert "Ember" not in text and "lantern" not in text


def test_police_ratings_are_shown_under_the_police_agreement(
    world, make_org, make_agreement, new_client
):
    police = make_org(kind="police_prevent", name="Northshire Police Prevent")
    today = utcnow().date()
    db.session.add(
        AdvisoryRating(
            speaker_id=world.speaker.id,
            owner_org_id=police.id,
            distribution=Distribution.SHAREABLE,
            rating=Rating.AMBER,
            rationale="Proceed with an independent chair.",
            issued_on=today,
            expires_on=today + timedelta(days=200),
        )
    )
    db.session.flush()
    recipient = world.orgs["recipient"]
    make_agreement(
        [police, recipient],
        [
            rule(
                police,
                recipient,
                "advisory_rating",
                {"rating": "full", "rationale": "masked", "issued_on": "generalised"},
            )
        ],
        kind="one_way",
        reference="POLICE-DSA-1",
    )
    client = signed_in(new_client, world)
    text = page_text(client.get(speaker_path(world)))
    assert "Advisory rating 1" in text and "Amber" in text
    assert "P••• w••• a•••" in text and "independent chair" not in text
    assert f"{today:%B %Y}" in text
    assert "Shared with you under agreement POLICE-DSA-1 v1" in text
    assert "Shared with you under agreement TEST-DSA-1 v1" in text
