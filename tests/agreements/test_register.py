"""Register and accountability: disclosure statistics counted from the audit log, and the
Article 30 record of processing (CSV and JSON) for an organisation."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from agreements import lifecycle, register
from agreements import services as agreements
from agreements.policy import ShareableRecord
from audit.models import AuditEntry
from core.db import db, utcnow
from core.errors import PermissionDenied
from tests.agreements.conftest import agreement_data, rule
from tests.conftest import actor_of

PURPOSE = "speaker_due_diligence"


def speaker(owner, name="Dr Ember Quillfeather") -> ShareableRecord:
    record_id = str(uuid.uuid4())
    return ShareableRecord(
        "speaker",
        record_id,
        str(owner.id),
        "shareable",
        {"display_name": name, "aliases": [], "topics": ["astronomy"]},
        subjects=(("speaker", record_id),),
    )


def assessment(owner) -> ShareableRecord:
    return ShareableRecord(
        "assessment", str(uuid.uuid4()), str(owner.id), "shareable", {"rating": "low"}
    )


@pytest.fixture
def orgs(make_org):
    return (
        make_org(name="Northgate University"),
        make_org(name="Southmoor University"),
        make_org(name="Eastfell College"),
    )


@pytest.fixture
def reciprocal(orgs, make_agreement):
    a, b, _c = orgs
    agreement, signatories = make_agreement(
        [a, b],
        [
            rule(a, b, "speaker", {"display_name": "full", "topics": "pseudonymised"}),
            rule(b, a, "speaker", {"display_name": "full"}),
            rule(b, a, "assessment", existence_only=True),
        ],
        reference="STATS-1",
    )
    return agreement, signatories


# --- statistics -------------------------------------------------------------------------


def test_statistics_count_disclosures_by_recipient_record_type_and_month(
    orgs, reciprocal, make_agreement, make_person
):
    a, b, c = orgs
    agreement, _ = reciprocal
    other, _ = make_agreement(
        [a, c], [rule(a, c, "speaker", {"display_name": "full"})], kind="one_way", reference="X-1"
    )
    reader_b = actor_of(make_person(b, ["events_officer"]))
    reader_a = actor_of(make_person(a, ["events_officer"]))
    reader_c = actor_of(make_person(c, ["events_officer"]))
    assert len(agreements.disclose(reader_b, [speaker(a) for _ in range(3)], PURPOSE)) == 3
    assert len(agreements.disclose(reader_a, [speaker(b), assessment(b)], PURPOSE)) == 2
    agreements.disclose(reader_c, [speaker(a)], PURPOSE)  # under the other agreement
    # Refused: a purpose the agreement does not name, and a record kept internal.
    assert agreements.disclose(reader_b, [speaker(a)], "event_risk_assessment") == []
    internal = ShareableRecord("speaker", str(uuid.uuid4()), str(a.id), "internal", {})
    assert agreements.disclose(reader_b, [internal], PURPOSE) == []
    # Refused between parties that are not in this agreement's schedule: not counted here.
    agreements.disclose(reader_c, [speaker(b)], PURPOSE)

    stats = register.disclosure_statistics(agreement)
    assert stats.total == 5
    assert stats.existence_only == 1
    assert stats.by_recipient == [("Southmoor University", 3), ("Northgate University", 2)]
    assert stats.by_record_type == [("Speaker", 4), ("Risk assessment", 1)]
    assert stats.by_month == [(utcnow().strftime("%Y-%m"), 5)]
    assert stats.refusals == 2
    assert dict(stats.refusals_by_reason) == {
        "No agreement in force covered the record and purpose": 1,
        "The owner keeps the record internal": 1,
    }
    assert register.disclosure_statistics(other).total == 1


def test_statistics_count_a_refusal_made_in_the_same_millisecond_as_now(
    orgs, reciprocal, make_person
):
    """Counting up to `now` includes what happened at `now` (a fast machine records a refusal
    and asks for the statistics within one millisecond)."""
    a, b, _c = orgs
    agreement, _ = reciprocal
    reader_b = actor_of(make_person(b, ["events_officer"]))
    internal = ShareableRecord("speaker", str(uuid.uuid4()), str(a.id), "internal", {})
    assert agreements.disclose(reader_b, [internal], PURPOSE) == []
    refused_at = db.session.scalar(
        sa.select(AuditEntry.time_ms)
        .where(AuditEntry.outcome == "denied")
        .order_by(AuditEntry.seq.desc())
        .limit(1)
    )
    now = datetime.fromtimestamp(refused_at / 1000, UTC)
    assert register.disclosure_statistics(agreement, now).refusals == 1


@pytest.mark.parametrize(
    ("moment", "month"),
    [
        # 00:30 on 1 July in UK summer time is still June in UTC.
        (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), "2026-06"),
        (datetime(2026, 7, 1, 0, 0, tzinfo=UTC), "2026-07"),
        (datetime(2027, 12, 31, 23, 59, 59, 999000, tzinfo=UTC), "2027-12"),
    ],
)
def test_months_are_utc_months_on_either_engine(app, moment, month):
    milliseconds = sa.literal(int(moment.timestamp() * 1000), sa.BigInteger)
    assert db.session.scalar(sa.select(register.month_expression(milliseconds))) == month


def test_statistics_are_on_the_agreement_page(client, orgs, reciprocal, make_person):
    a, b, _c = orgs
    agreement, (signatory_a, _) = reciprocal
    reader_b = actor_of(make_person(b, ["events_officer"]))
    agreements.disclose(reader_b, [speaker(a), speaker(a)], PURPOSE)
    client.sign_in(signatory_a)
    html = client.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    table = re.search(r'id="statistics-recipient".*?</table>', html, re.S).group(0)
    assert "Southmoor University" in table and ">2<" in table
    assert "Quillfeather" not in html  # counts only, never what was disclosed


# --- Article 30 record of processing ----------------------------------------------------


@pytest.fixture
def record_keeping(orgs, party, make_agreement):
    """Northgate is party to an active agreement, a draft and a suspended one; Southmoor and
    Eastfell have one of their own."""
    a, b, c = orgs
    active, signatories = make_agreement(
        [a, b],
        [
            rule(a, b, "speaker", {"display_name": "full", "topics": "pseudonymised"}),
            rule(b, a, "decision", {"outcome": "full", "rationale": "masked"}),
            rule(b, a, "assessment", existence_only=True),
        ],
        reference="ROP-1",
        purposes=["speaker_due_diligence", "event_risk_assessment"],
    )
    make_agreement(
        [a, c], [rule(a, c, "speaker", {"display_name": "full"})], kind="one_way",
        reference="ROP-DRAFT", approve=False,
    )  # fmt: skip
    suspended, _ = make_agreement(
        [c, a], [rule(c, a, "event", {"title": "full"})], kind="one_way", reference="ROP-2"
    )
    lifecycle.suspend(actor_of(signatories[0]), suspended, "Under review.")
    make_agreement(
        [b, c], [rule(b, c, "speaker", {"display_name": "full"})], kind="one_way",
        reference="ROP-ELSEWHERE",
    )  # fmt: skip
    return active, suspended


def test_record_of_processing_lists_each_agreement_the_organisation_is_party_to(
    orgs, record_keeping, make_person
):
    a, _b, _c = orgs
    active, _suspended = record_keeping
    dpo = actor_of(make_person(a, ["dpo"]))
    records = register.processing_record(dpo)
    assert [(r["reference"], r["state"]) for r in records] == [
        ("ROP-1", "active"),
        ("ROP-2", "suspended"),
    ]
    first = records[0]
    assert first["agreement_id"] == str(active.id)
    assert first["our_role"] == "controller"
    assert [p["code"] for p in first["purposes"]] == [
        "event_risk_assessment",
        "speaker_due_diligence",
    ]
    assert first["categories_of_individuals"] == "Test text for categories_of_individuals."
    # Topics (given) can be special category; a decision's rationale (received) is opinion.
    assert first["categories_of_data"] == ["Special category", "Personal", "Opinion"]
    assert first["record_types_disclosed"] == ["Speaker"]
    assert first["recipients"] == ["Southmoor University"]
    assert first["record_types_received"] == ["Risk assessment (existence only)", "Decision"]
    assert first["received_from"] == ["Southmoor University"]
    assert first["retention"] == "Test text for retention."
    assert first["security_measures"] == "Test text for security_measures."
    assert first["lawful_basis"]["article_6"].startswith("Art. 6")
    second = records[1]
    assert second["recipients"] == [] and second["received_from"] == ["Eastfell College"]
    exported = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "agreement.record_of_processing")
    ).all()
    assert exported[-1].outcome == "granted" and exported[-1].resource_org == str(a.id)


@pytest.mark.parametrize("role", ["events_officer", "signatory", "prevent_lead"])
def test_record_of_processing_is_for_dpos_administrators_and_auditors(orgs, make_person, role):
    with pytest.raises(PermissionDenied) as excinfo:
        register.processing_record(actor_of(make_person(orgs[0], [role])))
    assert excinfo.value.audit["action"] == "agreement.record_of_processing"


def test_record_of_processing_csv_and_json_downloads(client, orgs, record_keeping, make_person):
    client.sign_in(make_person(orgs[0], ["auditor"]))
    response = client.get("/agreements/record-of-processing.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["reference"] for row in rows] == ["ROP-1", "ROP-2"]
    assert rows[0]["recipients"] == "Southmoor University"
    assert rows[0]["categories_of_data"] == "Special category; Personal; Opinion"
    assert "UK GDPR Article 6 lawful basis: Art. 6(1)(e)" in rows[0]["lawful_basis"]
    assert rows[0]["parties"] == (
        "Northgate University (controller); Southmoor University (controller)"
    )
    response = client.get("/agreements/record-of-processing.json")
    body = json.loads(response.get_data(as_text=True))
    assert body["organisation"] == "Northgate University"
    assert [r["reference"] for r in body["record_of_processing"]] == ["ROP-1", "ROP-2"]
    api = client.api("GET", "/api/v1/agreements/record-of-processing").get_json()
    assert [r["reference"] for r in api] == ["ROP-1", "ROP-2"]


def test_record_of_processing_csv_cannot_run_as_a_spreadsheet_formula(
    client, orgs, party, make_person
):
    a, b, _c = orgs
    (pa, signatory_a), (pb, signatory_b) = party(a), party(b)
    data = agreement_data([pa, pb], [rule(a, b, "speaker", {"display_name": "full"})],
                          kind="one_way", reference="ROP-CSV")  # fmt: skip
    data["retention"] = '=HYPERLINK("https://evil.example","click")'
    agreement = agreements.create_draft(actor_of(signatory_a), data)
    agreements.propose(actor_of(signatory_a), agreement)
    for signatory in (signatory_a, signatory_b):
        agreements.approve(actor_of(signatory), agreement, content_hash=agreement.content_hash,
                           reauthenticated_at=utcnow())  # fmt: skip
    client.sign_in(make_person(a, ["dpo"]))
    rows = list(csv.DictReader(io.StringIO(
        client.get("/agreements/record-of-processing.csv").get_data(as_text=True)
    )))  # fmt: skip
    assert rows[0]["retention"].startswith("'=HYPERLINK")


def test_record_of_processing_refused_on_the_page_is_a_403(client, orgs, make_person):
    client.sign_in(make_person(orgs[0], ["events_officer"]))
    assert client.get("/agreements/record-of-processing.csv").status_code == 403
    assert client.api("GET", "/api/v1/agreements/record-of-processing").status_code == 403
    denied = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "agreement.record_of_processing", AuditEntry.outcome == "denied"
        )
    ).all()
    assert len(denied) == 2
