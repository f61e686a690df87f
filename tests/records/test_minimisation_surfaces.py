"""The minimisation property over every surface a recipient can reach (issue 5): for random data
schedules and random records, no withheld value, and no unmasked value of a field at a masked
or pseudonymised level, appears anywhere the recipient can look: the search page, its CSV and
the search API (with their counts), the partner speaker and event pages and their API, the
decision API, error pages and problem documents (wrong, unknown or missing purpose, no such
record), the inbox, and the agreement's register exports and documents the recipient can
download (record of processing CSV/JSON, the agreement document as HTML and PDF).

The recipient signs in once; each example builds its agreement and records inside a savepoint
and rolls them back, as the disclose-level property in tests/agreements/test_disclose.py does.
Every generated value of a field starts with that field's own anchor (a capital Q and two
lower-case letters, which neither a mask nor a hex pseudonym can produce), so a value legitimately
shown in one field cannot be mistaken for a leak of another.
"""

from __future__ import annotations

import html
import io
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from agreements.fields import EXISTENCE_ONLY, FIELDS, Level, Shape
from core.db import db
from hub.records import shareable
from hub.records.models import EventSpeaker
from tests.agreement_factories import rule
from tests.conftest import actor_of
from tests.factories import stored_decision, stored_event
from tests.records.worlds import (
    OTHER_PURPOSE,
    PURPOSE,
    new_partner_speaker,
    new_partner_statement,
)

HIDDEN = {Level.WITHHELD, Level.MASKED, Level.PSEUDONYMISED}
TEXT_SHAPES = {Shape.TEXT, Shape.TEXT_LIST, Shape.URL_LIST}

_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzéñ'-", min_size=2, max_size=9).filter(
    lambda w: any(c.isalpha() for c in w)
)
_host_word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=3, max_size=9)


def _anchor(record_type: str, name: str) -> str:
    # Distinct per (record type, field): Q + two lower-case letters.
    letters = "abcdefghijklmnopqrstuvwxyz"
    index = sorted(f"{t}.{f}" for t, fields in FIELDS.items() for f in fields).index(
        f"{record_type}.{name}"
    )
    return "Q" + letters[index // 26] + letters[index % 26]


def _text(record_type: str, name: str):
    anchor = _anchor(record_type, name)
    return st.builds(
        lambda words: anchor + " " + " ".join(words), st.lists(_word, min_size=1, max_size=3)
    )


def _url(record_type: str, name: str):
    anchor = _anchor(record_type, name)
    return st.builds(
        lambda host, path: f"https://{anchor.lower()}{host}.example/{anchor}/{path}",
        _host_word,
        _host_word,
    )


def _level(record_type: str, name: str):
    spec = FIELDS[record_type][name]
    if spec.shape in TEXT_SHAPES:
        return st.sampled_from(
            [Level.FULL, Level.MASKED, Level.PSEUDONYMISED, Level.WITHHELD, Level.WITHHELD]
        )
    return st.sampled_from(sorted(spec.levels))


@st.composite
def schedules(draw) -> dict[str, Any]:
    """Levels for every field of speakers, statements, events and decisions; sometimes the
    speaker at existence level only; a type none of whose fields is given is not shared."""
    chosen: dict[str, Any] = {}
    for record_type in ("speaker", "assertion", "event", "decision"):
        chosen[record_type] = {
            name: draw(_level(record_type, name)) for name in FIELDS[record_type]
        }
    for record_type, fields in chosen.items():
        if all(level == Level.WITHHELD for level in fields.values()):
            chosen[record_type] = None  # nothing to give: the type is left out of the schedule
    if draw(st.integers(0, 5)) == 0 or all(v is None for v in chosen.values()):
        chosen["speaker"] = EXISTENCE_ONLY
    return chosen


@st.composite
def speaker_values(draw) -> dict[str, Any]:
    """What the owner records about one speaker (and a statement about them)."""
    return {
        "display_name": draw(_text("speaker", "display_name")),
        "aliases": draw(st.lists(_text("speaker", "aliases"), min_size=1, max_size=2)),
        "affiliation": (
            draw(_text("speaker", "affiliations")),
            draw(_text("speaker", "affiliations")).replace(
                _anchor("speaker", "affiliations"), "Qrl", 1
            ),
        ),
        "topics": draw(st.lists(_text("speaker", "topics"), min_size=1, max_size=2)),
        "source": draw(_url("speaker", "sources")),
        "statement_text": draw(_text("assertion", "text")),
        "statement_source": draw(_text("assertion", "source")),
        "statement_url": draw(_url("assertion", "source_url")),
    }


@st.composite
def event_values(draw) -> dict[str, Any]:
    """What the owner records about an event and its decision."""
    return {
        "title": draw(_text("event", "title")),
        "synopsis": draw(_text("event", "synopsis")),
        "organiser_name": draw(_text("event", "organiser_name")),
        "venue_place": draw(_text("event", "venue_place")),
        "tags": draw(st.lists(_text("event", "tags"), min_size=1, max_size=2)),
        "rationale": draw(_text("decision", "rationale")),
        "conditions": draw(_text("decision", "conditions")),
        "lawful_speech_finding": draw(_text("decision", "lawful_speech_finding")),
    }


@pytest.fixture
def scene(make_org, make_person, new_client):
    """An owner and a recipient; the recipient's person signed in once for every example."""
    owner = make_org(kind="university", name="Fellwater University")
    recipient = make_org(kind="university", name="Brackenmoor University")
    officer = actor_of(make_person(owner, ["events_officer"]))
    reader = make_person(recipient, ["events_officer", "dpo"])
    client = new_client()
    client.sign_in(reader)
    return owner, recipient, officer, client


def _schedule(owner, recipient, levels: dict[str, Any]) -> list[dict[str, Any]]:
    entries = []
    for record_type, fields in levels.items():
        if fields is None:
            continue
        if fields == EXISTENCE_ONLY:
            entries.append(rule(owner, recipient, record_type, existence_only=True))
        else:
            given = {k: v.value for k, v in fields.items() if v != Level.WITHHELD}
            entries.append(rule(owner, recipient, record_type, given))
    return entries


def _hidden_values(record_type: str, levels: Any, values: dict[str, Any]) -> list[str]:
    """The values of `values` (field -> value or list) the recipient must never see."""
    hidden = []
    for name, value in values.items():
        level = Level.WITHHELD if levels in (None, EXISTENCE_ONLY) else levels[name]
        if level in HIDDEN and FIELDS[record_type][name].shape in TEXT_SHAPES:
            hidden += [v for v in (value if isinstance(value, list) else [value]) if v]
    return hidden


class Surfaces:
    """Everything fetched, as the text a person or program would read."""

    def __init__(self, client) -> None:
        self.client = client
        self.texts: list[str] = []

    def _read(self, response) -> Any:
        data = response.get_data()
        if response.mimetype == "application/pdf":
            reader = PdfReader(io.BytesIO(data))
            self.texts.append(" ".join(page.extract_text() or "" for page in reader.pages))
            return None
        text = data.decode()
        if response.mimetype in {"application/json", "application/problem+json"}:
            parsed = json.loads(text)
            # Re-dumped without escapes, so that "é" is searched as itself, not as \\u00e9.
            self.texts.append(json.dumps(parsed, ensure_ascii=False))
            return parsed
        self.texts.append(html.unescape(text))
        return None

    def page(self, path: str) -> Any:
        return self._read(self.client.get(path))

    def api(self, path: str, **kwargs: Any) -> Any:
        return self._read(self.client.api("GET", path, **kwargs))

    @property
    def everything(self) -> str:
        return "\n".join(self.texts)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    levels=schedules(),
    people=st.lists(speaker_values(), min_size=1, max_size=2),
    happening=event_values(),
)
def test_nothing_withheld_or_unmasked_reaches_any_surface(
    scene, make_agreement, levels, people, happening
):
    owner, recipient, officer, client = scene
    nested = db.session.begin_nested()
    try:
        speakers_made = []
        hidden: list[str] = []
        for values in people:
            speaker = new_partner_speaker(
                officer,
                values["display_name"],
                aliases=[{"name": a, "kind": "alias"} for a in values["aliases"]],
                affiliations=[
                    {
                        "organisation_name": values["affiliation"][0],
                        "role": values["affiliation"][1],
                    }
                ],
                topics=values["topics"],
                sources=[{"url": values["source"], "title": "", "retrieved_on": "2025-01-02"}],
            )
            statement = new_partner_statement(
                officer,
                speaker,
                text=values["statement_text"],
                source=values["statement_source"],
                source_url=values["statement_url"],
            )
            speakers_made.append(speaker)
            held = dict(shareable.speaker(speaker).values)
            hidden += _hidden_values("speaker", levels["speaker"], held)
            if levels["speaker"] in (None, EXISTENCE_ONLY) or (
                levels["speaker"]["affiliations"] in HIDDEN
            ):
                hidden += list(values["affiliation"])  # each part, as typed
            hidden += _hidden_values(
                "assertion", levels["assertion"], dict(shareable.assertion(statement).values)
            )
        event = stored_event(
            owner,
            speakers_made[0],
            title=happening["title"],
            synopsis=happening["synopsis"],
            organiser_name=happening["organiser_name"],
            venue_place=happening["venue_place"],
            tags=happening["tags"],
        )
        for extra in speakers_made[1:]:
            db.session.add(EventSpeaker(event_id=event.id, speaker_id=extra.id))
        db.session.flush()
        decision = stored_decision(
            event,
            rationale=happening["rationale"],
            conditions=happening["conditions"],
            lawful_speech_finding=happening["lawful_speech_finding"],
        )
        hidden += _hidden_values("event", levels["event"], dict(shareable.event(event).values))
        hidden += _hidden_values(
            "decision", levels["decision"], dict(shareable.decision(decision).values)
        )
        agreement, _ = make_agreement(
            [owner, recipient],
            _schedule(owner, recipient, levels),
            kind="one_way",
            reference=f"P-{uuid.uuid4().hex[:8]}",
        )

        seen = Surfaces(client)
        for speaker, values in zip(speakers_made, people, strict=True):
            for name in (values["display_name"], values["aliases"][0]):
                # Searched upper-cased: the page echoes the query, which must not count as
                # the recipient seeing the value it typed.
                query = name.upper().replace(" ", "+")
                seen.page(f"/shared/speakers?q={query}&purpose={PURPOSE}")
                seen.page(f"/shared/speakers.csv?q={query}&purpose={PURPOSE}")
                body = seen.api(f"/api/v1/shared/speakers?q={query}&purpose={PURPOSE}")
                # Counts: only what is listed (a withheld name finds nothing).
                assert body["total"] == len(body["results"])
                # A withheld name (or a type not shared at all) finds nothing, not even a count.
                speaker_levels = levels["speaker"]
                name_withheld = (
                    speaker_levels not in (None, EXISTENCE_ONLY)
                    and name == values["display_name"]
                    and speaker_levels["display_name"] == Level.WITHHELD
                )
                if speaker_levels is None or name_withheld:
                    assert str(speaker.id) not in {r["id"] for r in body["results"]}
            sid = speaker.id
            seen.page(f"/shared/speakers/{sid}?purpose={PURPOSE}")
            seen.api(f"/api/v1/shared/speakers/{sid}", headers={"Hub-Purpose": PURPOSE})
            # Error surfaces: a purpose no agreement names, an unknown one, none at all.
            seen.page(f"/shared/speakers/{sid}?purpose={OTHER_PURPOSE}")
            seen.page(f"/shared/speakers/{sid}?purpose=curiosity")
            seen.page(f"/shared/speakers/{sid}")
            seen.api(f"/api/v1/shared/speakers/{sid}?purpose=curiosity")
            refused = seen.api(f"/api/v1/shared/speakers/{sid}?purpose={OTHER_PURPOSE}")
            # A refusal answers word for word like a record that does not exist.
            assert refused == seen.api(f"/api/v1/shared/speakers/{uuid.uuid4()}?purpose={PURPOSE}")
        seen.page(f"/shared/events/{event.id}?purpose={PURPOSE}")
        seen.page(f"/shared/events/{event.id}")
        seen.api(f"/api/v1/shared/events/{event.id}?purpose={PURPOSE}")
        seen.api(f"/api/v1/shared/decisions/{decision.id}?purpose={PURPOSE}")
        seen.api(f"/api/v1/shared/decisions/{decision.id}?purpose={OTHER_PURPOSE}")
        seen.page("/shared/speakers?q=QZZ&purpose=curiosity")
        seen.page("/shared/inbox")
        # The agreement's own register exports and documents (no record values belong there).
        for path in (
            "/agreements/record-of-processing.csv",
            "/agreements/record-of-processing.json",
            f"/agreements/{agreement.id}",
            f"/agreements/{agreement.id}/document.html",
            f"/agreements/{agreement.id}/document.pdf",
        ):
            seen.page(path)
        seen.api(f"/api/v1/agreements/{agreement.id}/statistics")

        everything = seen.everything
        for value in hidden:
            assert value not in everything, (value, levels)
        # The property is not vacuous: what is given in full does show.
        for values in people:
            if levels["speaker"] not in (None, EXISTENCE_ONLY) and (
                levels["speaker"]["display_name"] == Level.FULL
            ):
                assert values["display_name"] in everything
    finally:
        nested.rollback()
