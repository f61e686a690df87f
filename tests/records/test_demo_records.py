"""The demo's records: they seed without error and show every part of the workflow."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core.db import db
from hub import demo
from hub.records.advisory import returns
from hub.records.advisory import services as advisory
from hub.records.demo import SPEAKERS
from hub.records.models import (
    AdvisoryRating,
    AdvisoryRequest,
    AdvisoryStatus,
    Assertion,
    AssertionKind,
    AssertionStatus,
    Decision,
    Event,
    EventStatus,
    MitigationStatus,
    Outcome,
    Speaker,
    SpeakerSource,
    StageStatus,
)
from partners.models import Organisation, Person
from tests.conftest import actor_of


@pytest.fixture
def seeded(app):
    demo.seed_demo(password="demo-password-for-tests")
    db.session.flush()


def _person(email):
    return db.session.scalar(sa.select(Person).where(Person.email == email))


def test_there_is_an_event_at_every_status(seeded):
    statuses = set(db.session.scalars(sa.select(Event.status)))
    assert statuses == set(EventStatus)


def test_every_outcome_is_decided_and_the_rejection_has_its_guardrail(seeded):
    outcomes = {d.outcome for d in db.session.scalars(sa.select(Decision))}
    assert outcomes == set(Outcome)
    [rejection] = db.session.scalars(
        sa.select(Decision).where(Decision.outcome == Outcome.REJECTED)
    ).all()
    assert rejection.lawful_speech_finding and rejection.reason_category is not None
    assert len(rejection.considered) >= 2
    assert all(item.why_insufficient for item in rejection.considered)


def test_every_host_institution_has_events_with_their_history(seeded):
    hosts = db.session.scalars(
        sa.select(Organisation).where(Organisation.kind.in_(["university", "students_union"]))
    ).all()
    assert len(hosts) == 4
    for org in hosts:
        owned = db.session.scalars(sa.select(Event).where(Event.owner_org_id == org.id)).all()
        assert owned, org.slug
        for event in owned:
            assert event.status_changes[0].to_status == EventStatus.DRAFT
            assert event.status_changes[-1].to_status == event.status


def test_assessments_are_at_different_stages_with_mitigations(seeded):
    events = db.session.scalars(sa.select(Event)).all()
    stages = {
        (e.assessment.self_assessment, e.assessment.local_review, e.assessment.escalation)
        for e in events
    }
    assert (StageStatus.NOT_STARTED, StageStatus.NOT_STARTED, StageStatus.NOT_NEEDED) in stages
    assert (StageStatus.COMPLETED, StageStatus.NOT_STARTED, StageStatus.NOT_NEEDED) in stages
    assert (StageStatus.COMPLETED, StageStatus.COMPLETED, StageStatus.COMPLETED) in stages
    mitigation_states = {m.status for e in events for m in e.assessment.mitigations}
    assert {MitigationStatus.AGREED, MitigationStatus.PROPOSED} <= mitigation_states


def test_assertions_of_fact_and_opinion_one_disputed_with_history(seeded):
    assertions = db.session.scalars(sa.select(Assertion)).all()
    assert {a.kind for a in assertions} == {AssertionKind.FACT, AssertionKind.OPINION}
    [disputed] = [a for a in assertions if a.status == AssertionStatus.DISPUTED]
    assert [r.status for r in disputed.revisions] == [
        AssertionStatus.ACTIVE,
        AssertionStatus.DISPUTED,
    ]


def test_an_expired_and_a_current_rating(seeded):
    today = advisory.local_today()
    ratings = db.session.scalars(sa.select(AdvisoryRating)).all()
    assert any(r.expires_on < today for r in ratings)
    assert any(r.expires_on > today for r in ratings)


def test_advisory_requests_in_flight_and_overdue_reach_the_dashboards(seeded):
    statuses = {r.status for r in db.session.scalars(sa.select(AdvisoryRequest))}
    assert {AdvisoryStatus.ROUTED, AdvisoryStatus.SUBMITTED, AdvisoryStatus.ANSWERED} <= statuses
    police = actor_of(_person("prevent@northshire-police.example"))
    assert [r.status for r in advisory.open_for(police)] == [AdvisoryStatus.ROUTED]
    coordinator = actor_of(_person("coordinator@northshire-region.example"))
    assert len(advisory.overdue_for(coordinator)) == 1
    assert len(advisory.overdue_for(actor_of(_person("events@ravensmoor.example")))) == 1
    assert advisory.overdue_for(actor_of(_person("events@uni-northshire.example"))) == []


def test_the_regional_return_counts_the_demo_decisions(seeded):
    coordinator = actor_of(_person("coordinator@northshire-region.example"))
    basis, year = returns.read_args(None, None, advisory.local_today())
    result = returns.annual_return(coordinator, basis, year)
    assert not result.suppressed and result.institutions == 4
    assert (result.approved, result.approved_with_conditions, result.postponed) == (2, 1, 1)
    assert result.rejected["health_and_safety"] == 1


def test_demo_speakers_are_the_invented_ones(seeded):
    names = set(db.session.scalars(sa.select(Speaker.display_name)))
    assert names == {s.name for _, entries in SPEAKERS.values() for s in entries}
    urls = db.session.scalars(sa.select(SpeakerSource.url)).all()
    assert urls and all(".example/" in url for url in urls)
