"""The demo's agreements: they seed through the lifecycle, at several states, with the active
reciprocal agreement between two universities and the one-way police agreement."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from agreements import lifecycle, permissions
from agreements import services as agreements
from agreements.models import Agreement, AgreementType, EffectiveState
from agreements.policy import ShareableRecord
from audit import log
from core.db import db, utcnow
from hub import demo
from partners.models import Organisation, Person
from tests.conftest import actor_of


@pytest.fixture
def seeded(app):
    demo.seed_demo(password="demo-password-for-tests")
    db.session.flush()


def _org(slug: str) -> Organisation:
    return db.session.scalar(sa.select(Organisation).where(Organisation.slug == slug))


def _person(email: str) -> Person:
    return db.session.scalar(sa.select(Person).where(Person.email == email))


def _by_reference(reference: str) -> Agreement:
    return db.session.scalar(sa.select(Agreement).where(Agreement.reference == reference))


def _between(*slugs: str) -> list[Agreement]:
    wanted = {str(_org(slug).id) for slug in slugs}
    return [
        a
        for a in db.session.scalars(sa.select(Agreement))
        if permissions.party_org_ids(a) == wanted
    ]


def test_agreements_at_several_states(seeded):
    now = utcnow()
    states = {a.state_at(now) for a in db.session.scalars(sa.select(Agreement))}
    assert {
        EffectiveState.ACTIVE,
        EffectiveState.DRAFT,
        EffectiveState.PROPOSED,
        EffectiveState.SUSPENDED,
        EffectiveState.EXPIRED,
    } <= states


def test_an_active_reciprocal_agreement_between_two_universities(seeded):
    [agreement] = [
        a
        for a in _between("university-of-northshire", "ravensmoor-university")
        if a.state_at(utcnow()) == EffectiveState.ACTIVE
    ]
    assert agreement.type == AgreementType.RECIPROCAL
    assert agreement.purpose_codes == ["event_risk_assessment", "speaker_due_diligence"]
    schedule = agreement.content["data_schedule"]
    uon, rav = str(_org("university-of-northshire").id), str(_org("ravensmoor-university").id)
    given = {(e["provider"], e["record_type"]): e for e in schedule}
    assert {(uon, "speaker"), (rav, "speaker"), (uon, "event"), (rav, "event")} <= set(given)
    # Different fields at different levels each way: some masked, pseudonymised, withheld.
    uon_speaker, rav_speaker = given[(uon, "speaker")]["fields"], given[(rav, "speaker")]["fields"]
    assert uon_speaker != rav_speaker
    assert "masked" in uon_speaker.values() and "pseudonymised" in uon_speaker.values()
    assert "masked" in rav_speaker.values()
    assert "appearances" not in uon_speaker and "topics" not in rav_speaker  # withheld
    assert given[(rav, "assessment")]["level"] == "existence_only"
    # Approved by each university's named signatory, and signed by the hub.
    assert {str(p.approved_by_id) for p in agreement.parties} == {
        str(_person("signatory@uni-northshire.example").id),
        str(_person("prevent@ravensmoor.example").id),
    }
    document = lifecycle.signed_document(agreement)
    assert lifecycle.verify_signed_document(document, log.verifier_key()).startswith("OK")


def test_a_one_way_police_agreement_to_the_coordinator(seeded):
    [agreement] = _between("northshire-police-prevent", "northshire-coordinator")
    assert agreement.type == AgreementType.ONE_WAY
    assert agreement.state_at(utcnow()) == EffectiveState.ACTIVE
    police = str(_org("northshire-police-prevent").id)
    assert {e["provider"] for e in agreement.content["data_schedule"]} == {police}
    ratings = next(
        e for e in agreement.content["data_schedule"] if e["record_type"] == "advisory_rating"
    )
    assert ratings["fields"]["rating"] == "full"
    assert "rationale" not in ratings["fields"]  # the police's reasoning stays with them
    assert agreement.content["lawful_basis"]["dpa_part_3"].startswith("DPA 2018 Part 3")


def test_the_active_university_agreement_discloses_what_its_schedule_says(seeded):
    uon = _org("university-of-northshire")
    reader = actor_of(_person("events@ravensmoor.example"))
    record = ShareableRecord(
        "speaker",
        "00000000-0000-4000-8000-000000000001",
        str(uon.id),
        "shareable",
        {
            "display_name": "Dr Ember Quillfeather",
            "affiliations": ["Fellside Institute for Lantern Studies (Senior Fellow)"],
            "topics": ["folk history"],
            "appearances": ["00000000-0000-4000-8000-000000000002"],
        },
    )
    [seen] = agreements.disclose(reader, [record], "speaker_due_diligence")
    assert seen.data["display_name"] == "Dr Ember Quillfeather"
    [affiliation] = seen.data["affiliations"]
    assert affiliation.startswith("F••• I•••") and "Fellside" not in affiliation
    assert seen.data["topics"][0].startswith("psn:")
    assert "appearances" not in seen.data
    assert seen.disclosed_under["reference"] == "NSH-DSA-2026-01"


def test_the_suspended_and_proposed_agreements(seeded):
    suspended = _by_reference("NSH-DSA-2025-07")
    assert suspended.state_at(utcnow()) == EffectiveState.SUSPENDED
    assert suspended.suspended_by_id == _person("dpo@uni-northshire.example").id
    proposed = _by_reference("NSH-DSA-2026-04")
    approvals = {str(p.organisation_id): p.approved_hash for p in proposed.parties}
    assert approvals[str(_org("northshire-coordinator").id)] == proposed.content_hash
    assert approvals[str(_org("northshire-council").id)] is None  # awaiting the council


def test_the_register_page_shows_the_demo_agreements(seeded, client):
    client.sign_in(_person("signatory@uni-northshire.example"), "demo-password-for-tests")
    page = client.get("/agreements/").get_data(as_text=True)
    for reference in ("NSH-DSA-2026-01", "NSH-DSA-2026-03", "NSH-DSA-2025-07"):
        assert reference in page
    assert "NSH-DSA-2026-02" not in page  # not a party to the police agreement


def test_the_police_review_falls_due_on_the_coordinators_dashboard(seeded):
    due = lifecycle.due_reviews(actor_of(_person("coordinator@northshire-region.example")))
    assert [a.reference for a, _what in due] == ["NSH-DSA-2026-02"]
