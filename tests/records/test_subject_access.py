"""Subject access packs: everything the organisation holds about a speaker (record, statements
with their history, ratings, appearances with outcomes, advisory requests), every disclosure
of it (when, to whom, under which agreement, which fields) and every refusal, an exemption note
per item, JSON and PDF exports, the generation audited; only the owner's DPO may make one."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from audit import services as audit
from audit.models import AuditEntry
from core.db import db, utcnow
from core.errors import NotFound, PermissionDenied, ValidationFailed
from hub.records.advisory import services as advisory
from hub.records.models import (
    AdvisoryRating,
    AdvisoryRequest,
    AdvisoryStatus,
    Distribution,
    Rating,
)
from hub.records.speakers import assertions
from hub.records.speakers import services as speakers
from hub.records.subject_access import documents as subject_access_documents
from hub.records.subject_access import services as subject_access
from tests.conftest import csrf_from
from tests.records.worlds import (
    ASSERTION_LEVELS,
    EVENT_LEVELS,
    PURPOSE,
    SPEAKER_LEVELS,
    entries,
    new_partner_speaker,
    page_text,
    signed_in,
    speaker_path,
)


@pytest.fixture
def world(sharing_world, make_org, new_client):
    """The sharing world, after the recipient opened the speaker's page (real disclosures), an
    outsider was refused, a statement was corrected, police rated the speaker at the owner's
    request."""
    world = sharing_world
    signed_in(new_client, world).get(speaker_path(world))
    signed_in(new_client, world, org="outsider").get(speaker_path(world))
    assertions.correct_assertion(
        world.actor("owner"),
        world.statement,
        {"text": "Spoke at the Northshire lantern fair in 2024.", "reason": "Wrong year"},
    )
    police = make_org(kind="police_prevent", name="Northshire Police Prevent")
    region = make_org(kind="regional_coordinator", name="Northshire Prevent Coordinator")
    world.orgs.update(police=police, region=region)
    # The police's rating and the answered request as stored, without the disclosures that
    # routing and answering record: each test below adds the disclosures it is about.
    today = utcnow().date()
    world.rating = AdvisoryRating(
        speaker_id=world.speaker.id,
        owner_org_id=police.id,
        distribution=Distribution.INTERNAL,
        rating=Rating.AMBER,
        rationale="Proceed with an independent chair.",
        issued_on=today,
        expires_on=today + timedelta(days=300),
    )
    db.session.add(world.rating)
    db.session.flush()
    world.request = AdvisoryRequest(
        requesting_org_id=world.orgs["owner"].id,
        coordinator_org_id=region.id,
        police_org_id=police.id,
        speaker_id=world.speaker.id,
        question="Is there anything we should know before the lantern talk?",
        status=AdvisoryStatus.ANSWERED,
        due_on=today + timedelta(days=10),
        rating_id=world.rating.id,
    )
    db.session.add(world.request)
    db.session.flush()
    return world


def dpo_pack(world, **kwargs):
    return subject_access.build_pack(world.actor("owner", "dpo"), str(world.speaker.id), **kwargs)


def default_notes(pack) -> dict[str, str]:
    return {subject_access.note_field(i): subject_access.DEFAULT_NOTE for i in pack.items}


# --- what the pack holds ----------------------------------------------------------------


def test_the_pack_holds_everything_held(world):
    pack = dpo_pack(world)
    [record] = pack.section("record")
    assert record.data["display_name"] == "Ember Quillfeather"
    assert record.data["aliases"] == [{"name": "Embre Quilfeather", "kind": "alias"}]
    assert record.data["affiliations"][0]["organisation_name"] == "Lanternwick Society"
    assert record.data["topics"] == ["lantern-making", "tidal astronomy"]
    [statement] = pack.section("statements")
    assert statement.data["text"] == "Spoke at the Northshire lantern fair in 2024."
    history = [(r["version"], r["status"], r["text"]) for r in statement.data["revisions"]]
    assert history[0][2].startswith("Spoke at the Northshire lantern fair about tidal")
    assert history[-1] == (2, "corrected", "Spoke at the Northshire lantern fair in 2024.")
    [rating] = pack.section("ratings")
    assert rating.data["issued_by"] == "Northshire Police Prevent"
    assert rating.data["rating"] == "amber"
    [appearance] = pack.section("appearances")
    assert appearance.data["title"] == "Lanterns and tides"
    assert appearance.data["outcome"] == "approved_with_conditions"
    assert appearance.data["decisions"][0]["rationale"].startswith("Quorate panel")
    [request] = pack.section("advisory")
    assert request.data["coordinator"] == "Northshire Prevent Coordinator"
    assert request.data["police"] == "Northshire Police Prevent"
    assert ("Northshire Police Prevent", world.orgs["police"].dp_contact_email) in (
        pack.other_controllers
    )


def test_every_disclosure_is_listed_with_recipient_agreement_and_fields(world):
    pack = dpo_pack(world)
    disclosures = pack.section("disclosures")
    by_type = {d.data["record_type"]: d.data for d in disclosures}
    assert set(by_type) == {"speaker", "assertion", "event"}
    for data in by_type.values():
        assert data["to"] == "Brackenmoor University"
        assert data["agreement"] == {
            "agreement_id": str(world.agreement.id),
            "reference": "TEST-DSA-1",
            "version": 1,
        }
        assert data["purpose"] == PURPOSE and data["how"] == "disclosure"
    assert by_type["speaker"]["fields"] == sorted(SPEAKER_LEVELS)
    assert by_type["assertion"]["fields"] == sorted(f for f in ASSERTION_LEVELS if f != "speaker")
    assert by_type["event"]["fields"] == sorted(EVENT_LEVELS)
    assert by_type["speaker"]["record_ids"] == [str(world.speaker.id)]
    assert pack.recipients == [("Brackenmoor University", world.orgs["recipient"].dp_contact_email)]


def test_refusals_about_the_record_are_listed(world):
    pack = dpo_pack(world)
    [refusal] = pack.section("refusals")
    assert refusal.data["by_organisation"] == "Thistledown College"
    assert refusal.data["reason"] == "no_agreement"
    assert refusal.data["action"] == "disclosure"


def test_only_this_controllers_disclosures_are_listed(world):
    # The police share their own rating with the coordinator: theirs to answer for.
    coordinator = world.actor("region", "coordinator")
    audit.record(
        coordinator,
        "disclosure",
        "granted",
        resource_type="advisory_rating",
        resource_ids=[str(world.rating.id)],
        resource_org=str(world.orgs["police"].id),
        subjects=[("speaker", str(world.speaker.id))],
    )
    pack = dpo_pack(world)
    assert {d.data["to"] for d in pack.section("disclosures")} == {"Brackenmoor University"}


def test_advisory_disclosures_to_coordinator_and_police_are_listed(world):
    advisory.get_request(world.actor("region", "coordinator"), world.request.id)
    pack = dpo_pack(world)
    seen = [d for d in pack.section("disclosures") if d.data["how"] == "advisory.read"]
    assert [d.data["to"] for d in seen] == ["Northshire Prevent Coordinator"]
    assert seen[0].data["agreement"] is None


def test_disclosures_of_a_record_merged_into_this_one_are_included(world, new_client):
    officer = world.actor("owner")
    twin = new_partner_speaker(officer, "Ember Quillfeather-Twin", aliases=[])
    signed_in(new_client, world, role="auditor").get(
        f"/shared/speakers/{twin.id}?purpose={PURPOSE}"
    )
    speakers.merge_speakers(
        world.actor("owner", "prevent_lead"), world.speaker, twin, "Same person"
    )
    pack = dpo_pack(world)
    ids = {i for d in pack.section("disclosures") for i in d.data["record_ids"]}
    assert str(twin.id) in ids and str(world.speaker.id) in ids
    assert pack.merged_ids == [str(twin.id)]


# --- who may make one -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["events_officer", "prevent_lead", "auditor", "org_admin"])
def test_only_a_dpo_makes_a_pack(world, role):
    with pytest.raises(PermissionDenied) as refused:
        subject_access.build_pack(world.actor("owner", role), str(world.speaker.id))
    assert refused.value.audit["action"] == "subject_access.prepare"


@pytest.mark.parametrize("org", ["recipient", "outsider"])
def test_another_organisations_dpo_cannot_pull_the_record(world, org):
    with pytest.raises(NotFound) as refused:
        subject_access.build_pack(world.actor(org, "dpo"), str(world.speaker.id))
    assert refused.value.audit["resource_ids"] == [str(world.speaker.id)]


@pytest.mark.parametrize(
    ("org", "role", "status"),
    [
        ("owner", "dpo", 200),
        ("owner", "events_officer", 403),
        ("owner", "auditor", 403),
        ("owner", "signatory", 403),
        ("recipient", "dpo", 404),
        ("outsider", "dpo", 404),
    ],
)
def test_pack_page_permissions(world, new_client, org, role, status):
    client = signed_in(new_client, world, org=org, role=role)
    index = client.get("/shared/subject-access?q=Ember")
    assert index.status_code == (200 if role == "dpo" else 403)
    response = client.get(f"/shared/subject-access/{world.speaker.id}")
    assert response.status_code == status
    if status == 404:
        assert "Ember" not in page_text(response)
        assert entries("subject_access.prepare", "denied")[-1].reason == "not_owner"
    if status == 403:
        assert entries("subject_access.search", "denied")[-1].reason == "role_required"


def test_a_hub_dpo_is_told_each_controller_answers_for_its_own(world, make_org, new_client):
    hub = make_org(kind="hub")
    world.orgs["hub"] = hub
    client = signed_in(new_client, world, org="hub", role="dpo")
    text = page_text(client.get("/shared/subject-access?q=Ember+Quillfeather"))
    assert "holds no speaker records" in text and "each answers for its own" in text
    assert "0 records for" in text
    assert client.get(f"/shared/subject-access/{world.speaker.id}").status_code == 404


# --- the pages and the exports ----------------------------------------------------------


def test_the_dpo_finds_the_speaker_and_sees_the_pack_with_a_note_per_item(world, new_client):
    client = signed_in(new_client, world, org="owner", role="dpo")
    found = client.get("/shared/subject-access?q=Ember+Quilfeather")
    assert f'href="/shared/subject-access/{world.speaker.id}"' in found.get_data(as_text=True)
    response = client.get(f"/shared/subject-access/{world.speaker.id}")
    body = response.get_data(as_text=True)
    text = page_text(response)
    pack = dpo_pack(world)
    assert body.count("<textarea") == len(pack.items)
    assert body.count(subject_access.DEFAULT_NOTE + "</textarea>") == len(pack.items)
    assert "Disclosure to Brackenmoor University" in text
    assert "TEST-DSA-1 version 1" in text
    # Among the recipients the person can be directed to:
    assert f"Brackenmoor University \N{EN DASH} {world.orgs['recipient'].dp_contact_email}" in text
    assert "Each organisation is the controller of its own records" in page_text(
        client.get("/shared/subject-access")
    )


def _generate(client, world, notes: dict[str, str], export_format: str):
    page = client.get(f"/shared/subject-access/{world.speaker.id}")
    token = csrf_from(page.get_data(as_text=True))
    return client.post(
        f"/shared/subject-access/{world.speaker.id}",
        data={"csrf_token": token, "format": export_format, **notes},
    )


def test_the_json_pack_carries_each_items_note_and_its_generation_is_audited(world, new_client):
    pack = dpo_pack(world)
    notes = default_notes(pack)
    statement = pack.section("statements")[0]
    notes[subject_access.note_field(statement)] = "Schedule 2 para 2 (crime): source withheld"
    client = signed_in(new_client, world, org="owner", role="dpo")
    response = _generate(client, world, notes, "json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert "attachment" in response.headers["Content-Disposition"]
    body = json.loads(response.get_data(as_text=True))["subject_access_pack"]
    assert body["controller"]["name"] == "Fellwater University"
    [item] = body["sections"]["statements"]
    assert item["exemption_note"] == "Schedule 2 para 2 (crime): source withheld"
    assert all(
        i["exemption_note"] == subject_access.DEFAULT_NOTE for i in body["sections"]["disclosures"]
    )
    assert {d["data"]["to"] for d in body["sections"]["disclosures"]} == {"Brackenmoor University"}
    assert body["recipients"][0]["name"] == "Brackenmoor University"
    [entry] = entries("subject_access.generate", "granted")
    assert json.loads(entry.resource_ids)[0] == str(world.speaker.id)
    details = json.loads(entry.details)
    assert details["format"] == "json" and details["exemptions"] == 1
    assert details["items"] == len(pack.items) and details["disclosures"] == 3
    assert entry.resource_org == str(world.orgs["owner"].id)
    assert b"Schedule 2" not in entry.leaf and b"Ember" not in entry.leaf
    assert (
        db.session.scalar(
            sa.text("SELECT count(*) FROM audit_entry_subjects WHERE entry_seq = :s"),
            {"s": entry.seq},
        )
        == 1
    )


def test_the_pdf_pack_reads_and_survives_text_outside_latin1(world, new_client):
    speakers.update_speaker(
        world.actor("owner"),
        world.speaker,
        {"aliases": [{"name": "Ember Quiľl 火羽", "kind": "transliteration"}]},
    )
    pack = dpo_pack(world)
    notes = default_notes(pack)
    notes[subject_access.note_field(pack.items[0])] = "None — disclosed in full “as held”"
    client = signed_in(new_client, world, org="owner", role="dpo")
    response = _generate(client, world, notes, "pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = " ".join(
        page.extract_text() for page in PdfReader(io.BytesIO(response.get_data())).pages
    )
    text = " ".join(text.split())
    assert "Subject access pack" in text and "Ember Quillfeather" in text
    assert "Brackenmoor University" in text and "TEST-DSA-1 version 1" in text
    assert 'None - disclosed in full "as held"' in text
    # Outside Latin-1: accents dropped, other characters replaced (the JSON keeps them).
    assert "Ember Quill ?" in text
    [entry] = entries("subject_access.generate", "granted")
    assert json.loads(entry.details)["format"] == "pdf"


def test_a_missing_note_is_shown_in_the_error_summary_and_nothing_is_generated(world, new_client):
    pack = dpo_pack(world)
    notes = default_notes(pack)
    refusal = pack.section("refusals")[0]
    notes[subject_access.note_field(refusal)] = ""
    client = signed_in(new_client, world, org="owner", role="dpo")
    response = _generate(client, world, notes, "pdf")
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "govuk-error-summary" in body
    assert f'href="#{subject_access.note_field(refusal)}"' in body
    assert "Enter the exemption note for refused" in page_text(response)
    assert entries("subject_access.generate", "granted") == []


def test_an_unknown_format_is_refused(world):
    pack = dpo_pack(world)
    with pytest.raises(ValidationFailed) as refused:
        subject_access_documents.generate(
            world.actor("owner", "dpo"), str(world.speaker.id), default_notes(pack), "docx"
        )
    assert "format" in refused.value.errors


def test_generating_without_the_csrf_token_is_refused(world, new_client):
    client = signed_in(new_client, world, org="owner", role="dpo")
    response = client.post(
        f"/shared/subject-access/{world.speaker.id}",
        data={"format": "json", **default_notes(dpo_pack(world))},
    )
    assert response.status_code == 400
    assert entries("subject_access.generate", "granted") == []
    assert db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(AuditEntry.action == "request.csrf")
    )
