"""Bulk import: a progress bar, a report naming row and column, and all rows or none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry, AuditEntrySubject
from audit.services import subject_pseudonym
from core.db import db
from hub.records import imports
from hub.records.models import (
    Event,
    EventStatus,
    RecordStatus,
    Speaker,
    SpeakerAlias,
    SpeakerName,
)
from hub.records.speakers import search

SPEAKERS_CSV = """display_name,aliases,distribution,retention_until,topics
Dr Ember Quillfeather,E. Quillfeather;Ember Q. Vane,internal,2031-07-31,lanterns;Poetry
Professor Tobias Wrenfield,,,,
"Harlow, Professor Ines",Ines Harlow,shareable,,history
"""

EVENTS_HEADER = (
    "title,synopsis,organiser_type,organiser_name,starts_at,ends_at,venue_kind,venue_place,audience,"
    "expected_size,branded_or_funded,speakers\n"
)


@pytest.fixture
def org(make_org):
    return make_org(kind="university")


def _write(tmp_path: Path, text: str | bytes, name: str = "file.csv") -> str:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return str(path)


def _count(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def _import(cli, kind, path, org, *extra):
    return cli.invoke(args=["hub", "import", kind, path, "--org", org.slug, *extra])


# --- speakers -----------------------------------------------------------------------------


def test_speakers_are_imported_with_aliases_topics_and_search_rows(cli, org, tmp_path):
    result = _import(cli, "speakers", _write(tmp_path, SPEAKERS_CSV), org)
    assert result.exit_code == 0, result.output
    assert "Importing speakers" in result.output
    assert f"Imported 3 speakers into {org.name}." in result.output
    ember = db.session.scalar(sa.select(Speaker).where(Speaker.display_name.like("Dr Ember%")))
    assert ember.owner_org_id == org.id and ember.status == RecordStatus.ACTIVE
    assert ember.distribution.value == "internal"
    assert ember.retention_until.isoformat() == "2031-07-31"
    assert sorted(a.name for a in ember.aliases) == ["E. Quillfeather", "Ember Q. Vane"]
    assert sorted(t.topic for t in ember.topics) == ["Poetry", "lanterns"]
    harlow = db.session.scalar(sa.select(Speaker).where(Speaker.display_name.like("Harlow%")))
    assert harlow.display_name == "Harlow, Professor Ines"
    assert harlow.distribution.value == "shareable"


def test_imported_search_rows_are_those_the_search_index_writes(cli, org, tmp_path):
    assert _import(cli, "speakers", _write(tmp_path, SPEAKERS_CSV), org).exit_code == 0
    for speaker in db.session.scalars(sa.select(Speaker).where(Speaker.owner_org_id == org.id)):
        imported = _name_rows(speaker)
        search.index_speaker(speaker)
        assert imported == _name_rows(speaker) and imported


def _name_rows(speaker):
    return sorted(
        (r.name, r.normalised, r.sorted_tokens, r.owner_org_id)
        for r in db.session.scalars(
            sa.select(SpeakerName).where(SpeakerName.speaker_id == speaker.id)
        )
    )


def test_every_imported_speaker_is_named_in_exactly_one_audit_entry(cli, org, tmp_path):
    assert _import(cli, "speakers", _write(tmp_path, SPEAKERS_CSV), org).exit_code == 0
    ids = {str(i) for i in db.session.scalars(sa.select(Speaker.id))}
    entries = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == "speaker.import")
    ).all()
    named = [i for e in entries for i in json.loads(e.resource_ids)]
    assert sorted(named) == sorted(ids)
    assert all(e.resource_org == str(org.id) for e in entries)
    for speaker_id in ids:
        pseudonym = subject_pseudonym("speaker", speaker_id)
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEntrySubject)
                .where(AuditEntrySubject.pseudonym == pseudonym)
            )
            == 1
        )
    assert not any("Quillfeather" in e.leaf.decode() for e in entries)


def test_one_bad_row_saves_nothing_and_the_report_names_row_and_column(cli, org, tmp_path):
    text = SPEAKERS_CSV + "Ms Ivy Loam,,,2031-02-30,\n,,,,\nMr Oren Pike,,everyone,,\n"
    before = (_count(Speaker), _count(SpeakerAlias), _count(SpeakerName), _count(AuditEntry))
    result = _import(cli, "speakers", _write(tmp_path, text), org)
    assert result.exit_code == 2
    assert "Nothing was imported: 2 problems in file.csv." in result.output
    assert (
        "row 5, column retention_until: The date to keep this record until must be a real date"
        in result.output
    )
    assert (
        "row 7, column distribution: Choose how far this record may be shared from: "
        "internal, shareable." in result.output
    )
    after = (_count(Speaker), _count(SpeakerAlias), _count(SpeakerName), _count(AuditEntry))
    assert after == before


def test_a_missing_name_and_a_past_retention_date_are_reported(cli, org, tmp_path):
    text = "display_name,retention_until\n,2031-01-01\nDr Ash Fenwick,2001-01-01\n"
    result = _import(cli, "speakers", _write(tmp_path, text), org)
    assert result.exit_code == 2
    assert "row 2, column display_name: Enter the speaker's name." in result.output
    assert (
        "row 3, column retention_until: The date to keep this record until must be in the future."
        in result.output
    )
    assert _count(Speaker) == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("name,aliases\nDr A,\n", "The header has unknown column(s): name."),
        ("aliases,topics\nx,y\n", "The header is missing the column(s): display_name."),
        ("display_name,display_name\nA,B\n", "The column 'display_name' appears twice."),
        ("", "The file is empty: it has no header row."),
        ("display_name\n", "The file has a header but no rows."),
        ("display_name,aliases\nDr A\n", "row 2: This row has 1 values but the header has 2"),
        ('display_name,aliases\n"Dr A,x\n', "is not valid CSV"),
        (b"display_name\nDr Jos\xe9 N\xfa\xf1ez\n", "The file is not UTF-8 text"),
        (b"display_name\nA\x00B\n", "NUL characters"),
    ],
    ids=["unknown-column", "missing-column", "duplicate-column", "empty", "no-rows",
         "short-row", "open-quote", "latin-1", "nul"],
)  # fmt: skip
def test_malformed_files_get_a_specific_message(cli, org, tmp_path, content, message):
    result = _import(cli, "speakers", _write(tmp_path, content), org)
    assert result.exit_code == 2
    assert message in result.output
    assert _count(Speaker) == 0


def test_a_utf8_byte_order_mark_and_blank_lines_are_fine(cli, org, tmp_path):
    text = "\ufeffdisplay_name\nDr José Núñez\n\n,\nProfessor Tobias Wrenfield\n"
    result = _import(cli, "speakers", _write(tmp_path, text), org)
    assert result.exit_code == 0, result.output
    assert _count(Speaker) == 2


def test_an_oversize_file_is_refused_unread(cli, org, tmp_path):
    path = tmp_path / "big.csv"
    with path.open("wb") as handle:
        handle.truncate(imports.MAX_BYTES + 1)  # sparse: nothing to read, just its size
    result = _import(cli, "speakers", str(path), org)
    assert result.exit_code == 2
    assert "the import takes files of up to 20 MB" in result.output


def test_an_unknown_organisation_is_an_input_error(cli, tmp_path):
    result = cli.invoke(
        args=["hub", "import", "speakers", _write(tmp_path, SPEAKERS_CSV), "--org", "nope"]
    )
    assert result.exit_code == 2
    assert "There is no organisation 'nope'." in result.output


def test_import_as_a_named_person_records_them_as_creator(
    cli, org, make_org, make_person, tmp_path
):
    person = make_person(org, ["events_officer"])
    result = _import(cli, "speakers", _write(tmp_path, SPEAKERS_CSV), org, "--as", person.email)
    assert result.exit_code == 0, result.output
    assert set(db.session.scalars(sa.select(Speaker.created_by_id))) == {person.id}
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "speaker.import"))
    assert entry.actor == f"person:{person.id}"
    outsider = make_person(make_org(kind="university"), ["events_officer"])
    result = _import(cli, "speakers", _write(tmp_path, SPEAKERS_CSV), org, "--as", outsider.email)
    assert result.exit_code == 2
    assert "is not a person of" in result.output


def test_the_help_documents_the_columns(cli):
    result = cli.invoke(args=["hub", "import", "speakers", "--help"])
    for column in imports.SPEAKERS.columns:
        assert column in result.output
    result = cli.invoke(args=["hub", "import", "events", "--help"])
    for column in imports.EVENTS.columns:
        assert column in result.output


# --- events -------------------------------------------------------------------------------


def _event_row(title="Lanterns and Liberty", speakers="Dr Ember Quillfeather", **overrides):
    values = {
        "title": title,
        "synopsis": "A talk and questions.",
        "organiser_type": "society",
        "organiser_name": "Lantern Society",
        "starts_at": "2027-03-03T18:00",
        "ends_at": "2027-03-03T20:00",
        "venue_kind": "on_campus",
        "venue_place": "Hall 3",
        "audience": "internal",
        "expected_size": "80",
        "branded_or_funded": "no",
        "speakers": speakers,
    }
    values.update(overrides)
    return ",".join(f'"{v}"' for v in values.values()) + "\n"


@pytest.fixture
def with_speakers(cli, org, tmp_path):
    assert _import(cli, "speakers", _write(tmp_path, SPEAKERS_CSV, "s.csv"), org).exit_code == 0


def test_events_are_imported_as_drafts_linked_to_speakers(cli, org, tmp_path, with_speakers):
    text = EVENTS_HEADER + _event_row() + _event_row(
        "Two voices", "Dr Ember Quillfeather; Harlow, Professor Ines", venue_kind="online",
        venue_place="",
    )  # fmt: skip
    result = _import(cli, "events", _write(tmp_path, text), org)
    assert result.exit_code == 0, result.output
    assert "Imported 2 events" in result.output
    two = db.session.scalar(sa.select(Event).where(Event.title == "Two voices"))
    assert two.status == EventStatus.DRAFT and two.owner_org_id == org.id
    assert sorted(link.speaker.display_name for link in two.speakers) == [
        "Dr Ember Quillfeather",
        "Harlow, Professor Ines",
    ]
    assert [c.to_status for c in two.status_changes] == [EventStatus.DRAFT]
    assert two.starts_at.hour == 18  # 18:00 in March is UTC+0 in the UK


def test_an_unknown_speaker_or_bad_event_row_saves_no_event(cli, org, tmp_path, with_speakers):
    text = (
        EVENTS_HEADER
        + _event_row()
        + _event_row("Ghost", "Dr Nobody Known")
        + _event_row("Backwards", ends_at="2027-03-03T17:00")
        + _event_row("Unsized", expected_size="lots")
    )
    result = _import(cli, "events", _write(tmp_path, text), org)
    assert result.exit_code == 2, result.output
    assert "row 3, column speakers: There is no speaker called 'Dr Nobody Known'" in result.output
    assert "row 4, column ends_at: The end must be after the start." in result.output
    assert "row 5, column expected_size:" in result.output
    assert _count(Event) == 0


def test_an_ambiguous_speaker_name_is_refused(cli, org, tmp_path, with_speakers):
    again = "display_name,confirm_new\nDr Ember Quillfeather,yes\n"
    assert _import(cli, "speakers", _write(tmp_path, again), org).exit_code == 0
    result = _import(cli, "events", _write(tmp_path, EVENTS_HEADER + _event_row(), "e.csv"), org)
    assert result.exit_code == 2
    assert (
        "2 speakers in your organisation's records are called 'Dr Ember Quillfeather'"
        in result.output
    )


def test_events_need_a_university_or_students_union(cli, make_org, tmp_path):
    police = make_org(kind="police_prevent")
    result = _import(
        cli, "events", _write(tmp_path, EVENTS_HEADER + _event_row(speakers="")), police
    )
    assert result.exit_code == 1
    assert "university or students' union" in result.output


# --- the one duplicate check and the one finder (issue 14, item 4) ------------------------


def test_a_row_that_is_likely_a_duplicate_is_reported_not_created(cli, org, tmp_path):
    assert _import(cli, "speakers", _write(tmp_path, SPEAKERS_CSV, "s.csv"), org).exit_code == 0
    before = _count(Speaker)
    text = (
        "display_name,aliases,confirm_new\n"
        "Wrenfeld Tobias,,\n"  # reordered and misspelt: Professor Tobias Wrenfield
        "Marigold Penhallow,,\n"  # nobody like her
        "Toby Wrenfeld,,yes\n"  # the row says this is a new person
    )
    result = _import(cli, "speakers", _write(tmp_path, text), org)
    assert result.exit_code == 0, result.output
    assert "Imported 2 speakers" in result.output
    assert "1 row was not imported: the speaker is likely already recorded." in result.output
    wrenfield = db.session.scalar(
        sa.select(Speaker).where(Speaker.display_name == "Professor Tobias Wrenfield")
    )
    assert (
        "row 2: 'Wrenfeld Tobias' is likely already recorded as "
        f"Professor Tobias Wrenfield ({wrenfield.id}" in result.output
    )
    assert _count(Speaker) == before + 2
    names = set(db.session.scalars(sa.select(Speaker.display_name)))
    assert "Wrenfeld Tobias" not in names
    assert {"Marigold Penhallow", "Toby Wrenfeld"} <= names


def test_the_import_result_lists_the_duplicates_with_their_candidates(org, make_person):
    from hub.records.speakers import services as speakers

    person = make_person(org, ["events_officer"])
    actor = imports.import_actor(org, person)
    kept = speakers.create_speaker(
        actor, {"display_name": "Professor Tobias Wrenfield", "aliases": ["Toby Wrenfield"]}
    )
    parsed = imports.parse(b"display_name\nToby Wrenfeld\nIsolde Marchbank\n", imports.SPEAKERS)
    result = imports.import_speakers(actor, parsed)
    assert result.created == 1
    assert [(row.row, row.name) for row in result.duplicates] == [(2, "Toby Wrenfeld")]
    assert [m.speaker_id for m in result.duplicates[0].matches] == [kept.id]


def test_an_event_speaker_named_unlike_the_record_is_reported_with_the_record(
    cli, org, tmp_path, with_speakers
):
    """The events import finds speakers with the one finder: a misspelt or reordered name is
    not silently linked, nor reported as unknown, but named with the record it is like."""
    text = EVENTS_HEADER + _event_row(speakers="Wrenfeld Tobias") + _event_row(
        "By alias", speakers="ines harlow"
    )  # fmt: skip
    result = _import(cli, "events", _write(tmp_path, text), org)
    assert result.exit_code == 2, result.output
    assert (
        "row 2, column speakers: There is no speaker called 'Wrenfeld Tobias' in your "
        "organisation's records, but there is 'Professor Tobias Wrenfield'" in result.output
    )
    assert "row 3" not in result.output  # an alias, in any case, is the record's name
    assert _count(Event) == 0
