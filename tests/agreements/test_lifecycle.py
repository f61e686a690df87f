"""Agreements: drafting, proposal, approval by each party's signatory, suspension, expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from agreements import lifecycle
from agreements import services as agreements
from agreements.models import AgreementStatus, EffectiveState
from audit import log
from audit.models import AuditEntry
from core.db import db, utcnow
from core.errors import Conflict, PermissionDenied, ValidationFailed
from tests.agreements.conftest import agreement_data, rule
from tests.conftest import actor_of

NAME_ONLY = {"display_name": "full"}


def test_approved_by_every_signatory_becomes_active_and_signed(make_org, make_agreement):
    a, b = make_org(), make_org()
    agreement, _ = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)]
    )
    assert agreement.status == AgreementStatus.APPROVED
    assert agreement.state_at(utcnow()) == EffectiveState.ACTIVE
    document = lifecycle.signed_document(agreement)
    assert "OK" in lifecycle.verify_signed_document(document, log.verifier_key())


def test_signed_document_detects_a_changed_schedule(make_org, make_agreement):
    a, b = make_org(), make_org()
    agreement, _ = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)]
    )
    document = json.loads(json.dumps(lifecycle.signed_document(agreement)))
    document["content"]["data_schedule"][0]["fields"]["aliases"] = "full"
    with pytest.raises(ValueError, match="changed"):
        lifecycle.verify_signed_document(document, log.verifier_key())


def test_a_party_cannot_approve_for_another(make_org, make_agreement, make_person):
    a, b = make_org(), make_org()
    agreement, signatories = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)], approve=False
    )
    agreements.propose(actor_of(signatories[0]), agreement)
    outsider = make_person(make_org(), ["signatory"])
    other_signatory_of_a = make_person(a, ["signatory"])
    for actor in (outsider, other_signatory_of_a):
        with pytest.raises(PermissionDenied):
            agreements.approve(
                actor_of(actor),
                agreement,
                content_hash=agreement.content_hash,
                reauthenticated_at=datetime.now(UTC),
            )
    assert agreement.status == AgreementStatus.PROPOSED


def test_approval_needs_a_recent_sign_in_and_the_current_content(make_org, make_agreement):
    a, b = make_org(), make_org()
    agreement, signatories = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)], approve=False
    )
    agreements.propose(actor_of(signatories[0]), agreement)
    stale = datetime.now(UTC) - timedelta(minutes=6)
    with pytest.raises(PermissionDenied, match="last 5 minutes"):
        agreements.approve(
            actor_of(signatories[0]),
            agreement,
            content_hash=agreement.content_hash,
            reauthenticated_at=stale,
        )
    with pytest.raises(Conflict, match="changed"):
        agreements.approve(
            actor_of(signatories[0]),
            agreement,
            content_hash="0" * 64,
            reauthenticated_at=datetime.now(UTC),
        )


def test_proposed_content_is_frozen(make_org, make_agreement):
    a, b = make_org(), make_org()
    agreement, signatories = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)], approve=False
    )
    agreements.propose(actor_of(signatories[0]), agreement)
    with pytest.raises(Conflict):
        agreements.update_draft(actor_of(signatories[0]), agreement, dict(agreement.content))


def test_amendment_needs_approval_again_and_then_supersedes(make_org, make_agreement):
    a, b = make_org(), make_org()
    agreement, signatories = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)]
    )
    draft = agreements.amend(actor_of(signatories[0]), agreement)
    assert draft.version == 2 and draft.status == AgreementStatus.DRAFT
    assert agreement.status == AgreementStatus.APPROVED  # still in force meanwhile
    changed = dict(draft.content)
    changed["data_schedule"] = [
        rule(a, b, "speaker", {"display_name": "masked"}),
        rule(b, a, "speaker", NAME_ONLY),
    ]
    agreements.update_draft(actor_of(signatories[0]), draft, changed)
    agreements.propose(actor_of(signatories[0]), draft)
    assert draft.content_hash != agreement.content_hash
    agreements.approve(
        actor_of(signatories[0]),
        draft,
        content_hash=draft.content_hash,
        reauthenticated_at=datetime.now(UTC),
    )
    assert draft.status == AgreementStatus.PROPOSED  # one party is not enough
    agreements.approve(
        actor_of(signatories[1]),
        draft,
        content_hash=draft.content_hash,
        reauthenticated_at=datetime.now(UTC),
    )
    assert draft.status == AgreementStatus.APPROVED
    assert agreement.status == AgreementStatus.SUPERSEDED


def test_any_party_dpo_suspends_at_once(make_org, make_agreement, make_person):
    a, b = make_org(), make_org()
    agreement, _ = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)]
    )
    with pytest.raises(PermissionDenied):
        agreements.suspend(actor_of(make_person(a, ["events_officer"])), agreement, "x")
    with pytest.raises(ValidationFailed):
        agreements.suspend(actor_of(make_person(b, ["dpo"])), agreement, "  ")
    agreements.suspend(actor_of(make_person(b, ["dpo"])), agreement, "Breach under review")
    assert agreement.state_at(utcnow()) == EffectiveState.SUSPENDED


def test_only_the_suspending_partys_dpo_lifts_a_suspension(make_org, make_agreement, make_person):
    """Another party's DPO cannot overrule the party that stopped the sharing; the hub
    operator's DPO can, and the log says it was the operator."""
    a, b, hub = make_org(), make_org(), make_org(kind="hub")
    agreement, _ = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)]
    )
    agreements.suspend(actor_of(make_person(a, ["dpo"])), agreement, "Breach under review")
    with pytest.raises(PermissionDenied) as refused:
        agreements.resume(actor_of(make_person(b, ["dpo"])), agreement)
    assert refused.value.audit["action"] == "agreement.resume"
    assert agreement.status == AgreementStatus.SUSPENDED
    agreements.resume(actor_of(make_person(a, ["dpo"])), agreement)
    assert agreement.status == AgreementStatus.APPROVED

    agreements.suspend(actor_of(make_person(b, ["dpo"])), agreement, "Second review")
    operator_dpo = make_person(hub, ["dpo"])
    agreements.resume(actor_of(operator_dpo), agreement)
    entry = db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "agreement.resume")
        .order_by(AuditEntry.seq.desc())
    ).first()
    assert entry.actor == f"person:{operator_dpo.id}"
    assert json.loads(entry.details)["basis"] == "hub_operator"


def test_every_party_is_told_when_a_suspension_is_lifted(make_org, make_agreement, make_person):
    from partners.models import InboxMessage

    a, b = make_org(), make_org()
    agreement, _ = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)]
    )
    dpo = make_person(a, ["dpo"])
    agreements.suspend(actor_of(dpo), agreement, "Breach under review")
    agreements.resume(actor_of(dpo), agreement)
    told = db.session.scalars(
        sa.select(InboxMessage.organisation_id).where(InboxMessage.kind == "agreement.resumed")
    ).all()
    assert sorted(told) == sorted([a.id, b.id])


def test_expiry_is_the_clock_alone(make_org, make_agreement):
    a, b = make_org(), make_org()
    ends = utcnow() + timedelta(days=10)
    agreement, _ = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)], ends_at=ends
    )
    assert agreement.state_at(ends - timedelta(microseconds=1)) == EffectiveState.ACTIVE
    assert agreement.state_at(ends) == EffectiveState.EXPIRED
    assert (
        agreement.state_at(agreement.starts_at - timedelta(seconds=1)) == EffectiveState.NOT_STARTED
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"parties": []}, "parties"),
        ({"purposes": ["gossip"]}, "purposes"),
        ({"necessity": ""}, "necessity"),
        ({"dpia_reference": ""}, "dpia_reference"),
        ({"ends_at": "2000-01-01T00:00:00+00:00"}, "ends_at"),
        ({"lawful_basis": {}}, "lawful_basis.article_6"),
    ],
)
def test_incomplete_agreements_are_refused_with_the_field_named(make_org, party, change, field):
    a, b = make_org(), make_org()
    (pa, signatory), (pb, _) = party(a), party(b)
    data = agreement_data([pa, pb], [rule(a, b, "speaker", NAME_ONLY)], kind="one_way")
    data.update(change)
    with pytest.raises(ValidationFailed) as excinfo:
        agreements.create_draft(actor_of(signatory), data)
    assert field in excinfo.value.errors


def test_special_category_fields_need_article_9_and_schedule_1(make_org, party):
    a, b = make_org(), make_org()
    (pa, signatory), (pb, _) = party(a), party(b)
    data = agreement_data([pa, pb], [rule(a, b, "speaker", {"topics": "full"})], kind="one_way")
    data["lawful_basis"] = {"article_6": "public task"}
    with pytest.raises(ValidationFailed) as excinfo:
        agreements.create_draft(actor_of(signatory), data)
    assert "lawful_basis.article_9" in excinfo.value.errors


def test_one_way_agreement_has_one_provider(make_org, party):
    a, b = make_org(), make_org()
    (pa, signatory), (pb, _) = party(a), party(b)
    data = agreement_data(
        [pa, pb],
        [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)],
        kind="one_way",
    )
    with pytest.raises(ValidationFailed) as excinfo:
        agreements.create_draft(actor_of(signatory), data)
    assert "type" in excinfo.value.errors


def test_every_lifecycle_step_is_audited(make_org, make_agreement, make_person):
    a, b = make_org(), make_org()
    agreement, _ = make_agreement(
        [a, b], [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)]
    )
    agreements.suspend(actor_of(make_person(a, ["dpo"])), agreement, "Review")
    actions = set(
        db.session.scalars(
            sa.select(AuditEntry.action).where(AuditEntry.agreement_id == str(agreement.id))
        )
    )
    assert {
        "agreement.create",
        "agreement.propose",
        "agreement.approve",
        "agreement.activate",
        "agreement.suspend",
    } <= actions


def test_review_reminders_are_queued_once(make_org, make_agreement):
    a, b = make_org(), make_org()
    make_agreement(
        [a, b],
        [rule(a, b, "speaker", NAME_ONLY), rule(b, a, "speaker", NAME_ONLY)],
        ends_at=utcnow() + timedelta(days=20),
    )
    first = lifecycle.queue_review_reminders()
    assert first >= 2  # one per party contact (review and end dates both near)
    assert lifecycle.queue_review_reminders() == 0
