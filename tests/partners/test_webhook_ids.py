"""Webhook payloads name records by the ids the recipient's schedule gave it (issue 17, item 5):
a statement's speaker as the pseudonym the recipient's own API read returned where its schedule
pseudonymises statements' speaker, no speaker id where it withholds it, the id where it gives
it in full; delivered to a real HTTP endpoint on loopback."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from core.db import utcnow
from hub.records.speakers import assertions
from hub.records.speakers import services as speakers
from partners import notifications, webhooks
from tests.agreement_factories import rule
from tests.conftest import actor_of
from tests.factories import new_statement

PURPOSE = "speaker_due_diligence"
EVENTS = ["assertion.corrected", "assertion.disputed", "speaker.corrected"]
#: What each recipient's schedule gives of a statement's `speaker` field.
SPEAKER_LEVELS = {"coded": "pseudonymised", "hidden": None, "plain": "full"}


@pytest.fixture
def endpoint() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A partner system's endpoint: a real HTTP server on loopback collecting the bodies."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append(json.loads(body))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hub-events", received
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def scene(make_org, make_person, make_agreement, new_client, endpoint):
    """An owner sharing one speaker and a statement about them with three partners, whose
    schedules give the statement's speaker pseudonymised, not at all, and in full; each has
    read the speaker through the API and subscribed the endpoint."""
    url, _received = endpoint
    owner = make_org(kind="university")
    officer = make_person(owner, ["events_officer", "prevent_lead"])
    speaker = speakers.create_speaker(
        actor_of(officer), {"display_name": "Ember Quillfeather", "distribution": "shareable"}
    )
    statement = new_statement(
        actor_of(officer),
        speaker,
        text="Spoke at the Northshire lantern fair in 2025.",
        distribution="shareable",
    )
    orgs, reads, people = {}, {}, {}
    for n, (who, level) in enumerate(SPEAKER_LEVELS.items()):
        org = orgs[who] = make_org(kind="university")
        statement_levels = {"text": "full", "status": "full"}
        if level:
            statement_levels["speaker"] = level
        make_agreement(
            [owner, org],
            [
                rule(owner, org, "speaker", {"display_name": "full"}),
                rule(owner, org, "assertion", statement_levels),
            ],
            kind="one_way",
            reference=f"DSA-IDS-{n}",
        )
        webhooks.subscribe(
            actor_of(make_person(org, ["org_admin"])), org, {"url": url, "events": EVENTS}
        )
        client = new_client()
        people[who] = make_person(org, ["events_officer"])
        client.sign_in(people[who])
        response = client.api("GET", f"/api/v1/shared/speakers/{speaker.id}?purpose={PURPOSE}")
        assert response.status_code == 200, response.get_data(as_text=True)
        reads[who] = response.json
    return {
        "officer": officer,
        "speaker": speaker,
        "statement": statement,
        "orgs": orgs,
        "people": people,
        "reads": reads,
    }


def _delivered(endpoint, event_type: str) -> dict[str, dict[str, Any]]:
    """The payloads of `event_type` delivered, by recipient organisation id."""
    run = webhooks.deliver_due(utcnow())
    assert run.failed == 0 and run.retrying == 0
    _url, received = endpoint
    return {p["organisation"]: p for p in received if p["type"] == event_type}


def _org(scene, who: str) -> str:
    return str(scene["orgs"][who].id)


def test_the_reads_show_the_statements_speaker_as_each_schedule_gives_it(scene):
    statement_of = {who: read["statements"][0]["data"] for who, read in scene["reads"].items()}
    assert statement_of["coded"]["speaker"][0].startswith("psn:")
    assert "speaker" not in statement_of["hidden"]
    assert statement_of["plain"]["speaker"] == [str(scene["speaker"].id)]


@pytest.mark.parametrize("how", ["corrected", "disputed"])
def test_a_statement_webhook_names_the_speaker_as_the_recipients_read_did(scene, endpoint, how):
    officer, statement = actor_of(scene["officer"]), scene["statement"]
    if how == "corrected":
        assertions.correct_assertion(
            officer,
            statement,
            {"text": "Spoke at the Northshire lantern fair in 2024.", "reason": "Wrong year"},
        )
    else:
        assertions.change_assertion_status(
            officer, statement, {"status": "disputed", "reason": "The speaker contests it"}
        )
    payloads = _delivered(endpoint, f"assertion.{how}")
    assert set(payloads) == {_org(scene, who) for who in SPEAKER_LEVELS}
    reads = scene["reads"]
    coded = payloads[_org(scene, "coded")]["data"]
    assert coded["speaker_id"] == reads["coded"]["statements"][0]["data"]["speaker"][0]
    assert coded["speaker_id"].startswith("psn:")
    hidden = payloads[_org(scene, "hidden")]["data"]
    assert "speaker_id" not in hidden
    plain = payloads[_org(scene, "plain")]["data"]
    assert plain["speaker_id"] == str(scene["speaker"].id)
    for data in (coded, hidden, plain):
        assert data["assertion_id"] == str(statement.id)
    raw = str(scene["speaker"].id)
    for who in ("coded", "hidden"):
        assert raw not in json.dumps(payloads[_org(scene, who)])


def test_the_pseudonym_is_the_recipients_own(scene, endpoint):
    """Two recipients' pseudonyms of one speaker are unrelated (one key per agreement)."""
    assertions.correct_assertion(
        actor_of(scene["officer"]),
        scene["statement"],
        {"text": "Spoke at the Northshire lantern fair in 2024.", "reason": "Wrong year"},
    )
    payloads = _delivered(endpoint, "assertion.corrected")
    coded = payloads[_org(scene, "coded")]["data"]["speaker_id"]
    assert coded not in {
        p["data"].get("speaker_id") for o, p in payloads.items() if o != _org(scene, "coded")
    }


def test_a_speaker_correction_names_the_record_by_the_id_its_read_returned(scene, endpoint):
    speakers.update_speaker(
        actor_of(scene["officer"]), scene["speaker"], {"display_name": "Ember Quill-Vane"}
    )
    payloads = _delivered(endpoint, "speaker.corrected")
    assert set(payloads) == {_org(scene, who) for who in SPEAKER_LEVELS}
    for who, payload in ((w, payloads[_org(scene, w)]) for w in SPEAKER_LEVELS):
        assert payload["data"] == {
            "speaker_id": scene["reads"][who]["speaker"]["id"],
            "fields": ["display_name"],
        }


def test_the_inbox_link_leads_to_the_speaker_page_the_recipient_was_given(scene):
    assertions.correct_assertion(
        actor_of(scene["officer"]),
        scene["statement"],
        {"text": "Spoke at the Northshire lantern fair in 2024.", "reason": "Wrong year"},
    )
    for who in SPEAKER_LEVELS:
        [message] = [
            m
            for m in notifications.inbox(actor_of(scene["people"][who]))
            if m.kind == "assertion.corrected"
        ]
        # The speaker's page, by the id the speaker record's own disclosure gave the recipient.
        assert message.link == f"/shared/speakers/{scene['reads'][who]['speaker']['id']}"


def test_a_caller_that_names_no_speaker_sends_none(make_org, make_person, endpoint):
    """Nothing is read out of the inbox link any more: only what the caller gives travels."""
    url, received = endpoint
    org = make_org()
    webhooks.subscribe(
        actor_of(make_person(org, ["org_admin"])), org, {"url": url, "events": EVENTS}
    )
    notifications.notify(
        org.id,
        "assertion.corrected",
        "A statement shared with you about a speaker was corrected",
        link="/shared/speakers/6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e",
        data={"assertion_id": "a"},
    )
    webhooks.deliver_due(utcnow())
    [payload] = received
    assert payload["data"] == {"assertion_id": "a"}
