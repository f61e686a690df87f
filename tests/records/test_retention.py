"""Retention: `hub purge` erases speakers and anonymises events past their date, audits each
erasure, changes nothing in a dry run, and leaves the annual return's counts as they were."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import Base, db
from core.errors import PermissionDenied
from hub.records import retention
from hub.records.advisory import returns
from hub.records.advisory import services as advisory
from hub.records.events import assessments
from hub.records.events import services as events
from hub.records.models import (
    AdvisoryRating,
    AdvisoryRequest,
    Assertion,
    AssertionRevision,
    Decision,
    Event,
    MitigationConsidered,
    MitigationType,
    RecordStatus,
    Speaker,
    SpeakerAffiliation,
    SpeakerName,
    SpeakerSource,
    SpeakerTopic,
    TriageQuestion,
)
from tests.factories import all_no, past_decision
from tests.records.worlds import route

NAME = "Dr Ottoline Marrowgate"
ALIAS = "Ottie Marrowgate-Vane"
MARKERS = ("Marrowgate", "marrowgate", "Lanternwick Hall", "Corvin Ashgrove")
PAST = date(2020, 1, 1)


@pytest.fixture
def world(advisory_world, make_speaker, make_statement, make_event):
    """A speaker and an event past retention (with everything hanging off them), and a kept
    speaker and event; an answered advisory request about the erased speaker. Everything is
    recorded through the services; then the clock moves on past the two records' retention
    dates, and the decisions are dated in the 2025 academic year (see `past_decision`)."""
    world = advisory_world
    requester = world.people["requester"]
    officer = world.actor("requester")
    gone = make_speaker(
        by=requester,
        name=NAME,
        aliases=[ALIAS],
        affiliations=[{"organisation_name": "Marrowgate Trust"}],
        sources=[{"url": "https://example.org/marrowgate", "retrieved_on": "2025-01-02"}],
        topics=["lanterns"],
    )
    kept = make_speaker(by=requester, name="Professor Tobias Wrenfield")
    assertion = make_statement(
        gone,
        by=requester,
        text="Marrowgate spoke at Lanternwick Hall in 2024.",
        source="Lanternwick Hall programme",
        source_url="",
        stated_on="2024-05-01",
    )
    request = route(
        world,
        advisory.submit_request(
            officer, {"speaker_id": str(gone.id), "question": "Is Marrowgate known to you?"}
        ),
    )
    advisory.answer_request(
        world.actor("police"),
        request,
        {
            "rating": "amber",
            "rationale": "Marrowgate needs a chair.",
            "expires_on": advisory.local_today() + timedelta(days=30),
        },
    )
    old_event = make_event(
        by=requester,
        title="An evening with Marrowgate",
        venue_place="Lanternwick Hall",
        chair_name="Corvin Ashgrove",
        speakers=[kept],
    )
    unsure = TriageQuestion.UNLAWFUL_SPEECH
    assessments.save_self_assessment(
        officer,
        old_event,
        {
            **all_no(),
            unsure.value: "unsure",
            assessments.detail_key(unsure): "Marrowgate's earlier talk drew complaints",
        },
    )
    assessments.add_mitigation(
        officer,
        old_event,
        {"type": "independent_chair", "owner_name": "Corvin Ashgrove", "status": "agreed"},
    )
    events.change_status(
        officer, old_event, {"status": "submitted", "note": "Corvin Ashgrove asked"}
    )
    decision = past_decision(old_event, "rejected", date(2025, 10, 1), "prevent")
    decision.rationale = "Marrowgate could not be mitigated at Lanternwick Hall"
    decision.lawful_speech_finding = "Likely unlawful"
    decision.considered.append(
        MitigationConsidered(
            type=MitigationType.INDEPENDENT_CHAIR, why_insufficient="Corvin Ashgrove unavailable"
        )
    )
    kept_event = make_event(by=requester, title="Kept event", speakers=[kept])
    past_decision(kept_event, "approved", date(2025, 10, 2))
    # Past retention now (the services refuse a past date, rightly): the clock has moved on.
    gone.retention_until = PAST
    old_event.retention_until = PAST
    db.session.flush()
    world.gone, world.kept, world.old_event, world.kept_event = gone, kept, old_event, kept_event
    world.request, world.assertion = request, assertion
    return world


def _table_counts() -> dict[str, int]:
    counts = {}
    for table in Base.metadata.sorted_tables:
        counts[table.name] = db.session.scalar(sa.select(sa.func.count()).select_from(table))
    return counts


def _text_hits(markers=MARKERS) -> list[str]:
    """Every (table.column) whose text still holds one of the markers, FTS tables included."""
    hits = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if not isinstance(column.type, sa.String | sa.Text):
                continue
            for marker in markers:
                found = db.session.scalar(
                    sa.select(sa.func.count()).select_from(table).where(column.contains(marker))
                )
                if found:
                    hits.append(f"{table.name}.{column.name}")
    if db.session.get_bind().dialect.name == "sqlite":
        shadows = ("_data", "_idx", "_content", "_docsize", "_config")
        for (name,) in db.session.execute(
            sa.text("SELECT name FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'")
        ):
            if name.endswith(shadows):
                continue
            for row in db.session.execute(sa.text(f'SELECT * FROM "{name}"')):
                if any(m.lower() in str(cell).lower() for cell in row for m in markers):
                    hits.append(name)
    return hits


def _entries(action):
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def test_dry_run_reports_and_changes_nothing(world, system):
    before = _table_counts()
    audited = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    report = retention.purge(system, dry_run=True)
    assert (report.speakers, report.events) == (1, 1)
    assert report.counts["aliases"] == 1 and report.counts["ratings"] == 1
    assert report.counts["assertions_deleted"] == 1
    assert report.counts["speakers_unlinked_from_events"] == 1
    db.session.expire_all()
    assert _table_counts() == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audited
    assert db.session.get(Speaker, world.gone.id).display_name == NAME
    assert db.session.get(Event, world.old_event.id).erased_at is None


def test_erasure_removes_the_name_everywhere_including_search(world, system):
    assert _text_hits(), "the fixture should put the markers somewhere"
    retention.purge(system)
    assert _text_hits() == []
    speaker = db.session.get(Speaker, world.gone.id)
    assert speaker.status == RecordStatus.ERASED and speaker.display_name == "[erased]"
    for model in (SpeakerName, SpeakerAffiliation, SpeakerSource, SpeakerTopic, AdvisoryRating):
        assert not db.session.scalars(sa.select(model).where(model.speaker_id == speaker.id)).all()
    assert db.session.get(Assertion, world.assertion.id) is None
    assert not db.session.scalars(sa.select(AssertionRevision)).all()
    request = db.session.get(AdvisoryRequest, world.request.id)
    assert request.question == "[erased]" and request.rating_id is None
    # The kept speaker is untouched and still found in the search index.
    assert db.session.get(Speaker, world.kept.id).display_name == "Professor Tobias Wrenfield"
    assert db.session.scalars(
        sa.select(SpeakerName).where(SpeakerName.speaker_id == world.kept.id)
    ).all()


def test_events_are_anonymised_but_their_decision_still_counts(world, system):
    officer = world.actor("requester")
    before = returns.annual_return(officer, "academic", 2025)
    retention.purge(system)
    event = db.session.get(Event, world.old_event.id)
    assert event.title == "[erased]" and event.erased_at is not None
    assert (event.synopsis, event.organiser_name, event.venue_place, event.chair_name) == (
        "",
        "",
        "",
        "",
    )
    assert event.speakers == []
    decision = db.session.scalar(sa.select(Decision).where(Decision.event_id == event.id))
    assert (decision.outcome.value, decision.reason_category.value) == ("rejected", "prevent")
    assert decision.decided_on == date(2025, 10, 1)
    assert decision.rationale == "" and decision.lawful_speech_finding == ""
    assert decision.considered[0].why_insufficient == ""
    assert (
        event.assessment.answers[0].detail == ""
        and event.assessment.mitigations[0].owner_name == ""
    )
    assert db.session.get(Event, world.kept_event.id).title == "Kept event"
    after = returns.annual_return(officer, "academic", 2025)
    assert after == before
    assert after.rejected["prevent"] == 1 and after.approved == 1


def test_each_erasure_is_one_audit_entry_without_personal_values(world, system):
    retention.purge(system)
    [speaker_entry] = _entries("purge.speaker")
    [event_entry] = _entries("purge.event")
    assert json.loads(speaker_entry.resource_ids) == [str(world.gone.id)]
    assert speaker_entry.resource_org == str(world.orgs["uni"].id)
    assert json.loads(speaker_entry.details)["aliases"] == 1
    assert json.loads(event_entry.resource_ids) == [str(world.old_event.id)]
    for entry in (speaker_entry, event_entry):
        leaf = entry.leaf.decode()
        assert not any(marker in leaf for marker in MARKERS)


def test_a_second_purge_finds_nothing_more(world, system):
    retention.purge(system)
    again = retention.purge(system)
    assert (again.speakers, again.events) == (0, 0)


def test_an_assertion_something_else_refers_to_is_emptied_not_deleted(world, system, monkeypatch):
    monkeypatch.setattr(retention, "_referenced_elsewhere", lambda ids, table, skip: set(ids))
    retention.purge(system)
    assertion = db.session.get(Assertion, world.assertion.id)
    assert assertion.text == "[erased]" and assertion.source == "[erased]"
    assert [r.text for r in assertion.revisions] == ["[erased]"]
    assert _text_hits() == []


def test_only_the_operator_purges(world):
    with pytest.raises(PermissionDenied):
        retention.purge(world.actor("uni_lead"))


def test_the_command_reports_counts_and_exits_zero(world, cli):
    result = cli.invoke(args=["hub", "purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "speakers would be erased: 1" in result.output
    assert "events would be anonymised: 1" in result.output
    assert "Dry run: nothing was changed." in result.output
    assert db.session.get(Speaker, world.gone.id).display_name == NAME
    result = cli.invoke(args=["hub", "purge"])
    assert result.exit_code == 0, result.output
    assert "speakers were erased: 1" in result.output
    db.session.expire_all()
    assert db.session.get(Speaker, world.gone.id).display_name == "[erased]"
    assert _entries("purge.speaker")


def test_nothing_due_is_reported_as_zero(app, cli):
    result = cli.invoke(args=["hub", "purge"])
    assert result.exit_code == 0
    assert "speakers were erased: 0" in result.output


def test_a_record_is_kept_through_its_retention_date(world, system):
    world.gone.retention_until = date(2030, 1, 1)
    world.old_event.retention_until = date(2030, 1, 1)
    db.session.flush()
    assert retention.purge(system, dry_run=True, today=date(2030, 1, 1)).speakers == 0
    assert retention.purge(system, dry_run=True, today=date(2030, 1, 2)).speakers == 1
