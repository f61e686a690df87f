"""Partners' speakers and events, seen only through agreements (issue 5, items 6 and 7)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from agreements import services as agreements
from audit.models import AuditEntry
from core.db import db
from core.errors import NotFound
from hub.records.sharing import services as shared
from hub.records.speakers import assertions, search
from partners.models import InboxMessage
from tests.agreement_factories import rule
from tests.conftest import actor_of
from tests.factories import days

PURPOSE = "speaker_due_diligence"


@dataclass
class World:
    """An owner university sharing with a reader university, and an outsider."""

    owner: Any
    reader_org: Any
    outsider_org: Any
    owner_officer: Any
    reader: Any
    outsider: Any
    make_speaker: Any
    make_statement: Any

    def speaker(self, name, aliases=(), **extra):
        return self.make_speaker(
            by=self.owner_officer,
            name=name,
            aliases=list(aliases),
            **{"topics": ["lantern-making"], "distribution": "shareable", **extra},
        )

    def statement(self, speaker, text="Spoke at the Northshire lantern fair in 2025."):
        return self.make_statement(
            speaker,
            by=self.owner_officer,
            text=text,
            source="Fair programme",
            source_url="",
            stated_on=days(-30),
            distribution="shareable",
            review_by=days(300),
        )


@pytest.fixture
def world(make_org, make_person, make_speaker, make_statement) -> World:
    owner, reader_org, outsider_org = make_org(), make_org(), make_org()
    return World(
        owner,
        reader_org,
        outsider_org,
        owner_officer=make_person(owner, ["events_officer"]),
        reader=make_person(reader_org, ["events_officer"]),
        outsider=make_person(outsider_org, ["events_officer"]),
        make_speaker=make_speaker,
        make_statement=make_statement,
    )


def _agree(make_agreement, world, speaker_fields, *, assertion_fields=None, existence=False):
    schedule = [
        rule(world.owner, world.reader_org, "speaker", speaker_fields, existence_only=existence)
    ]
    if assertion_fields:
        schedule.append(rule(world.owner, world.reader_org, "assertion", assertion_fields))
    return make_agreement([world.owner, world.reader_org], schedule, kind="one_way")


def test_partner_speaker_found_by_misspelt_name_and_minimised(world, make_agreement):
    world.speaker("Ember Quillfeather", ["Embre Quilfeather"])
    _agree(make_agreement, world, {"display_name": "full", "topics": "masked"})
    page = shared.search_speakers(actor_of(world.reader), "Ember Quilfether", PURPOSE)
    assert page.total == 1
    [hit] = page.results
    assert not hit.own and hit.data["display_name"] == "Ember Quillfeather"
    assert hit.data["topics"] == ["l•••"]
    assert "aliases" not in hit.data
    assert hit.disclosed_under["reference"] == "TEST-DSA-1"


def test_without_a_purpose_only_own_records_are_searched(world, make_agreement):
    world.speaker("Ember Quillfeather")
    _agree(make_agreement, world, {"display_name": "full"})
    page = shared.search_speakers(actor_of(world.reader), "Ember Quillfeather", None)
    assert page.total == 0 and page.results == []


def test_unknown_purpose_is_refused(world):
    with pytest.raises(agreements.PurposeRefused):
        shared.search_speakers(actor_of(world.reader), "Ember", "curiosity")


def test_no_agreement_means_no_hits_and_no_count(world, make_agreement):
    world.speaker("Ember Quillfeather")
    _agree(make_agreement, world, {"display_name": "full"})
    page = shared.search_speakers(actor_of(world.outsider), "Ember Quillfeather", PURPOSE)
    assert page.total == 0 and page.results == []


def test_a_name_the_schedule_withholds_finds_nothing(world, make_agreement):
    world.speaker("Ember Quillfeather", ["Tobias Wrenfield-Quill"])
    _agree(make_agreement, world, {"topics": "full", "display_name": "pseudonymised"})
    page = shared.search_speakers(actor_of(world.reader), "Tobias Wrenfield", PURPOSE)
    assert page.total == 0  # matched only by an alias, which is withheld
    found = shared.search_speakers(actor_of(world.reader), "Ember Quillfeather", PURPOSE)
    assert found.total == 1 and found.results[0].data["display_name"].startswith("psn:")


def test_existence_only_hit_names_whom_to_contact(world, make_agreement):
    world.speaker("Ember Quillfeather")
    _agree(make_agreement, world, None, existence=True)
    [hit] = shared.search_speakers(actor_of(world.reader), "Ember Quillfeather", PURPOSE).results
    assert hit.existence_only
    assert hit.data == {"owner": world.owner.name, "contact": world.owner.dp_contact_email}


def test_only_the_page_shown_is_disclosed_and_audited(world, make_agreement):
    for n in range(5):
        world.speaker(f"Ember Quillfeather {chr(65 + n)}n")
    _agree(make_agreement, world, {"display_name": "full"})
    before = db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "disclosure")
    )
    page = shared.search_speakers(actor_of(world.reader), "Ember Quillfeather", PURPOSE, limit=2)
    after = db.session.scalar(
        sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "disclosure")
    )
    assert page.total == 5 and len(page.results) == 2
    assert after - before == 2


def test_shared_speaker_view_discloses_statements_by_their_own_schedule(world, make_agreement):
    speaker = world.speaker("Ember Quillfeather")
    world.statement(speaker)
    _agree(
        make_agreement,
        world,
        {"display_name": "full"},
        assertion_fields={"kind": "full", "text": "masked", "stated_on": "generalised"},
    )
    view = shared.shared_speaker(actor_of(world.reader), str(speaker.id), PURPOSE)
    assert view.speaker.data["display_name"] == "Ember Quillfeather"
    [statement] = view.assertions
    assert statement.data["text"].startswith("S•••")
    assert len(statement.data["stated_on"]) == 7  # a month, YYYY-MM
    assert "lantern fair" not in json.dumps(statement.data)


def test_shared_speaker_without_agreement_looks_absent(world):
    speaker = world.speaker("Ember Quillfeather")
    with pytest.raises(NotFound):
        shared.shared_speaker(actor_of(world.outsider), str(speaker.id), PURPOSE)


def test_suspension_stops_the_next_query(world, make_agreement, make_person):
    speaker = world.speaker("Ember Quillfeather")
    agreement, _ = _agree(make_agreement, world, {"display_name": "full"})
    assert shared.shared_speaker(actor_of(world.reader), str(speaker.id), PURPOSE)
    agreements.suspend(actor_of(make_person(world.owner, ["dpo"])), agreement, "Review")
    with pytest.raises(NotFound):
        shared.shared_speaker(actor_of(world.reader), str(speaker.id), PURPOSE)
    assert shared.search_speakers(actor_of(world.reader), "Ember Quillfeather", PURPOSE).total == 0


def test_a_correction_reaches_every_recipient(world, make_agreement):
    speaker = world.speaker("Ember Quillfeather")
    statement = world.statement(speaker)
    _agree(make_agreement, world, {"display_name": "full"}, assertion_fields={"text": "full"})
    shared.shared_speaker(actor_of(world.reader), str(speaker.id), PURPOSE)
    assertions.correct_assertion(
        actor_of(world.owner_officer),
        statement,
        {"text": "Spoke at the Northshire lantern fair in 2024.", "reason": "Wrong year"},
    )
    messages = db.session.scalars(
        sa.select(InboxMessage).where(InboxMessage.organisation_id == world.reader_org.id)
    ).all()
    assert any(m.kind == "assertion.corrected" for m in messages)
    outsider_messages = db.session.scalars(
        sa.select(InboxMessage).where(InboxMessage.organisation_id == world.outsider_org.id)
    ).all()
    assert outsider_messages == []


# --- own and partners' names found together (issue 15, item 5) ---------------------------


@pytest.fixture
def candidate_statements(app):
    """The candidate statements each search sends (those that read the name search index)."""
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if (
            "speaker_name_key_array" in statement
            or "speaker_names_fts" in statement
            or ("speaker_names.sorted_tokens %" in statement)
        ):
            seen.append(statement)

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    yield seen
    sa.event.remove(engine, "before_cursor_execute", count)


def test_own_and_partner_names_are_found_in_one_statement(
    world, make_agreement, candidate_statements
):
    """The asker's own speakers and every provider's are found by one statement per candidate
    stage, and a strong match ends the search there: before, the asker's own names were
    searched on their own (with its looser stages, as the partner's name is not the asker's),
    then the partners'."""
    world.speaker("Ember Quillfeather")
    world.make_speaker(by=world.reader, name="Ember Quillfeather", distribution="shareable")
    world.make_speaker(by=world.reader, name="Tobias Ashdown")
    _agree(make_agreement, world, {"display_name": "full"})
    candidate_statements.clear()
    page = shared.search_speakers(actor_of(world.reader), "Ember Quillfeather", PURPOSE)
    assert [r.own for r in page.results] == [True, False]
    assert len(candidate_statements) == 1


def test_looser_stages_run_only_while_nothing_strong_is_found(
    world, make_agreement, candidate_statements
):
    """A name that shares only a given name with the query is looked for only when nothing
    strong was found: it is then offered, low down, as the closest there is."""
    world.speaker("Ember Ashdown")
    _agree(make_agreement, world, {"display_name": "full"})
    reader = actor_of(world.reader)
    assert shared.search_speakers(reader, "Ember Quillfeather", PURPOSE).total == 1
    assert len(candidate_statements) > 1
    world.speaker("Ember Quillfeather")
    candidate_statements.clear()
    page = shared.search_speakers(reader, "Ember Quillfeather", PURPOSE)
    assert [r.data["display_name"] for r in page.results] == ["Ember Quillfeather"]
    assert len(candidate_statements) == 1


def test_among_equally_close_names_the_askers_own_come_first(world, make_agreement, monkeypatch):
    """Own and partners' names share one candidate budget; where it is full of names equally
    close to the query, the asker's own are kept."""
    for _ in range(3):
        world.speaker("Ember Quillfeather")
    mine = world.make_speaker(by=world.reader, name="Ember Quillfeather")
    _agree(make_agreement, world, {"display_name": "full"})
    monkeypatch.setattr(search, "CANDIDATES", 2)
    page = shared.search_speakers(actor_of(world.reader), "Ember Quillfeather", PURPOSE)
    assert page.results[0].own and page.results[0].speaker_id == str(mine.id)
    assert page.total == 2


def test_a_search_writes_its_audit_entries_in_one_statement(world, make_agreement):
    """The page's disclosures and the search's own entry (its count of results) go to the log
    together, in one statement, the search's last."""
    for n in range(3):
        world.speaker(f"Ember Quillfeather {chr(65 + n)}n")
    _agree(make_agreement, world, {"display_name": "full"})
    writes: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if "INSERT INTO audit_entries" in statement:
            writes.append(statement)

    engine = db.session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        page = shared.search_speakers(actor_of(world.reader), "Ember Quillfeather", PURPOSE)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert page.total == 3
    entries = db.session.scalars(
        sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(4)
    ).all()[::-1]
    assert [e.action for e in entries] == ["disclosure"] * 3 + ["speaker.search"]
    assert json.loads(entries[-1].details)["results"] == 3
    if db.session.get_bind().dialect.name == "postgresql":
        assert len(writes) == 1
