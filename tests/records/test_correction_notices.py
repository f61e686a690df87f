"""Corrections of shared speaker fields reach every organisation that received the field, and
no one else (issue 17, item 4): told in the inbox and by webhook which fields changed (labels
and codes, never a value), audited with the count and the field names, and shown to the owner
as "told N organisations" on the page and in the API's answer. Erasure at the end of retention
is told to everyone who received the record."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agreements.policy import mask_text
from core.db import db, utcnow
from hub.records import retention
from hub.records.models import Speaker
from hub.records.sharing import services as shared
from hub.records.speakers import assertions
from hub.records.speakers import services as speakers
from partners import webhooks
from partners.models import InboxMessage, Organisation, WebhookDelivery
from tests.agreement_factories import rule
from tests.conftest import actor_of, audit_entries, last_seq
from tests.factories import date_fields, days, new_statement

PURPOSE = "speaker_due_diligence"
NAME = "Ember Quillfeather"
ALIAS = "Embre Quilfeather"
NEW_ALIAS = "Emberly Quill-Vane"


@dataclass
class World:
    """An owner university sharing one speaker under a separate agreement with each partner:
    `reader` (name and aliases in full, read the record), `idle` (the same agreement, never
    read it), `nameonly` (its schedule withholds aliases; read the record)."""

    owner: Organisation
    officer: Any
    speaker: Speaker
    orgs: dict[str, Organisation] = field(default_factory=dict)
    people: dict[str, Any] = field(default_factory=dict)

    def read(self, who: str) -> None:
        shared.shared_speaker(actor_of(self.people[who]), str(self.speaker.id), PURPOSE)


_references = iter(range(1_000_000))


def share(make_agreement, world: World, who: str, speaker_levels: dict[str, str], **more) -> None:
    """An agreement giving `who` the speaker at `speaker_levels` (and `more` record types)."""
    org = world.orgs[who]
    schedule = [rule(world.owner, org, "speaker", speaker_levels)]
    schedule += [rule(world.owner, org, kind, levels) for kind, levels in more.items()]
    make_agreement(
        [world.owner, org], schedule, kind="one_way", reference=f"DSA-CN-{next(_references)}"
    )


def partner(world: World, make_org, make_person, who: str) -> None:
    world.orgs[who] = make_org(kind="university")
    world.people[who] = make_person(world.orgs[who], ["events_officer"])


@pytest.fixture
def world(make_org, make_person, make_agreement) -> World:
    owner = make_org(kind="university")
    officer = make_person(owner, ["events_officer", "prevent_lead"])
    speaker = speakers.create_speaker(
        actor_of(officer),
        {
            "display_name": NAME,
            "aliases": [{"name": ALIAS, "kind": "alias"}],
            "topics": ["lantern-making"],
            "distribution": "shareable",
        },
    )
    w = World(owner, officer, speaker)
    for who in ("reader", "idle", "nameonly"):
        partner(w, make_org, make_person, who)
    share(make_agreement, w, "reader", {"display_name": "full", "aliases": "full"})
    share(make_agreement, w, "idle", {"display_name": "full", "aliases": "full"})
    share(make_agreement, w, "nameonly", {"display_name": "full"})
    w.read("reader")
    w.read("nameonly")
    return w


def messages(org: Organisation, kind: str = "speaker.corrected") -> list[InboxMessage]:
    return list(
        db.session.scalars(
            sa.select(InboxMessage)
            .where(InboxMessage.organisation_id == org.id, InboxMessage.kind == kind)
            .order_by(InboxMessage.id)
        )
    )


def told(world: World, kind: str = "speaker.corrected") -> set[str]:
    return {who for who, org in world.orgs.items() if messages(org, kind)}


def change(world: World, data: dict[str, Any]) -> speakers.Changed:
    return speakers.update_speaker(actor_of(world.officer), world.speaker, data)


# --- who is told -------------------------------------------------------------------------


def test_an_alias_correction_reaches_only_those_that_received_aliases(world):
    before = last_seq()
    changed = change(world, {"aliases": [{"name": NEW_ALIAS, "kind": "alias"}]})
    assert changed.fields == ("aliases",) and changed.told == 1
    # `idle` never read the record; `nameonly`'s schedule withholds aliases.
    assert told(world) == {"reader"}
    [message] = messages(world.orgs["reader"])
    assert message.title == "A speaker record shared with you was corrected"
    assert "Aliases and transliterations" in message.body
    for value in (ALIAS, NEW_ALIAS, NAME, "Embre", "Emberly"):
        assert value not in message.title + message.body + message.link
    assert message.link == f"/shared/speakers/{world.speaker.id}"
    [entry] = audit_entries("speaker.correction_notified", before)
    assert json.loads(entry.fields) == ["aliases"]
    details = json.loads(entry.details)
    assert details["recipients"] == 1 and details["change"] == "corrected"
    assert details["organisations"] == [str(world.orgs["reader"].id)]
    assert entry.resource_ids == f'["{world.speaker.id}"]'
    for value in (ALIAS, NEW_ALIAS, NAME):
        assert value not in entry.leaf.decode()


def test_a_name_correction_reaches_everyone_that_read_the_name(world):
    changed = change(world, {"display_name": "Ember Quillfeather-Vane"})
    assert changed.told == 2
    assert told(world) == {"reader", "nameonly"}
    for who in ("reader", "nameonly"):
        [message] = messages(world.orgs[who])
        assert "What changed: Name." in message.body
        assert "Quillfeather" not in message.body


def test_each_recipient_is_told_only_the_fields_it_received(world):
    change(
        world,
        {"display_name": "Ember Quillfeather-Vane", "aliases": [{"name": NEW_ALIAS}]},
    )
    [to_reader] = messages(world.orgs["reader"])
    [to_nameonly] = messages(world.orgs["nameonly"])
    assert "Name, Aliases and transliterations" in to_reader.body
    assert "Aliases" not in to_nameonly.body and "Name" in to_nameonly.body


def test_fields_no_agreement_shares_and_unchanged_saves_tell_nobody(world):
    before = last_seq()
    assert change(world, {"topics": ["tidal astronomy"]}).told == 0  # no schedule gives topics
    assert change(world, {"retention_until": days(900)}).told == 0  # never shared
    assert not change(world, {"display_name": NAME})  # nothing changed
    assert told(world) == set()
    assert audit_entries("speaker.correction_notified", before) == []


def test_a_recipient_is_told_when_it_reads_the_record_later_only_of_what_it_then_held(world):
    change(world, {"display_name": "Ember Quillfeather-Vane"})
    assert "idle" not in told(world)
    world.read("idle")
    change(world, {"display_name": NAME})
    assert len(messages(world.orgs["idle"])) == 1


def test_a_masked_or_pseudonymised_copy_is_told_only_if_what_it_holds_changes(
    world, make_org, make_person, make_agreement
):
    for who, level in (("masked", "masked"), ("coded", "pseudonymised")):
        partner(world, make_org, make_person, who)
        share(make_agreement, world, who, {"display_name": level})
        world.read(who)
    # The same initials, the same pseudonym (pseudonyms ignore case): only full copies change.
    change(world, {"display_name": "EMBER QUILLFEATHER"})
    assert told(world) == {"reader", "nameonly"}
    change(world, {"display_name": "Emma Quillfeather"})  # the same initials again
    assert told(world) == {"reader", "nameonly", "coded"}
    assert [len(messages(world.orgs[w])) for w in ("reader", "coded")] == [2, 1]
    change(world, {"display_name": "Ada Vane"})
    assert told(world) == {"reader", "nameonly", "coded", "masked"}


# The invariant behind the cases above, over any two names and every level: an organisation
# is told of a name change exactly when its copy of the name reads differently, and the notice
# holds neither name.
WORDS = ["Ember", "ember", "EMBER", "Emma", "Quill", "quill", "Vane", "Ada", "\u00d6", "O\u0308"]
names = st.lists(st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
LEVELS = ("full", "masked", "pseudonymised", "withheld")


def _reads_differently(level: str, old: str, new: str) -> bool:
    def key(name: str) -> str:
        return unicodedata.normalize("NFKC", name).casefold().strip()

    return {
        "full": old != new,
        "masked": mask_text(old) != mask_text(new),
        "pseudonymised": key(old) != key(new),
        "withheld": False,
    }[level]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(old=names, new=names)
def test_told_exactly_when_the_copy_of_the_name_changes(
    world, make_org, make_person, make_agreement, old, new
):
    if "full" not in world.orgs:
        for level in LEVELS:
            partner(world, make_org, make_person, level)
            levels = {"topics": "full"} if level == "withheld" else {"display_name": level}
            share(make_agreement, world, level, levels)
            world.read(level)
    change(world, {"display_name": old})
    counted = {who: len(messages(org)) for who, org in world.orgs.items()}
    changed = change(world, {"display_name": new})
    now_told = {who for who, org in world.orgs.items() if len(messages(org)) > counted[who]}
    expected = {level for level in LEVELS if _reads_differently(level, old, new)}
    if old != new:
        expected |= {"reader", "nameonly"}  # full copies too
    assert now_told == expected
    assert changed.told == len(now_told)
    for who in now_told:
        body = messages(world.orgs[who])[-1].body
        assert "What changed: Name." in body
        assert all(word not in body for word in WORDS if len(word) > 2)


# --- webhook and erasure ------------------------------------------------------------------


def test_the_webhook_names_the_fields_and_the_speaker_as_the_recipient_knows_it(world, make_person):
    reader_org = world.orgs["reader"]
    subscription = webhooks.subscribe(
        actor_of(make_person(reader_org, ["org_admin"])),
        reader_org,
        {"url": "http://127.0.0.1:9/hub-events", "events": ["speaker.corrected"]},
    )
    change(world, {"aliases": [{"name": NEW_ALIAS}], "display_name": "Ember Q. Vane"})
    [delivery] = db.session.scalars(
        sa.select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription.id)
    ).all()
    payload = json.loads(delivery.payload)
    assert payload["type"] == "speaker.corrected"
    # A speaker record names itself by its id in every disclosure: that is the id it knows.
    assert payload["data"] == {
        "speaker_id": str(world.speaker.id),
        "fields": ["aliases", "display_name"],
    }
    assert "Quill" not in delivery.payload and "Vane" not in delivery.payload


def test_an_erased_speaker_is_told_to_everyone_who_received_it(world, system):
    before = last_seq()
    world.speaker.retention_until = utcnow().date() - timedelta(days=3)
    db.session.flush()
    retention.purge(system)
    assert told(world, "speaker.erased") == {"reader", "nameonly"}
    [message] = messages(world.orgs["nameonly"], "speaker.erased")
    assert message.title == "A speaker record shared with you was erased"
    assert NAME not in message.body
    [entry] = audit_entries("speaker.erasure_notified", before)
    assert json.loads(entry.details)["recipients"] == 2


def test_a_dry_run_tells_nobody(world, system):
    world.speaker.retention_until = utcnow().date() - timedelta(days=3)
    db.session.flush()
    retention.purge(system, dry_run=True)
    assert told(world, "speaker.erased") == set()


# --- statements go the same way -------------------------------------------------------------


def test_a_statement_correction_skips_a_recipient_that_was_not_given_its_text(
    world, make_org, make_person, make_agreement
):
    statement = new_statement(
        actor_of(world.officer),
        world.speaker,
        text="Spoke at the Northshire lantern fair in 2025.",
        distribution="shareable",
    )
    for who, levels in (("texts", {"text": "full"}), ("kinds", {"kind": "full"})):
        partner(world, make_org, make_person, who)
        share(make_agreement, world, who, {"display_name": "full"}, assertion=levels)
        world.read(who)
    before = last_seq()
    assertions.correct_assertion(
        actor_of(world.officer),
        statement,
        {"text": "Spoke at the Northshire lantern fair in 2024.", "reason": "Wrong year"},
    )
    assert told(world, "assertion.corrected") == {"texts"}
    [message] = messages(world.orgs["texts"], "assertion.corrected")
    assert "What changed: Statement." in message.body and "Northshire" not in message.body
    [entry] = audit_entries("assertion.correction_notified", before)
    assert json.loads(entry.fields) == ["text"]
    # Withdrawal concerns the whole statement: everyone who received any of it is told.
    assertions.change_assertion_status(
        actor_of(world.officer), statement, {"status": "withdrawn", "reason": "Wrong person"}
    )
    assert told(world, "assertion.withdrawn") == {"texts", "kinds"}


# --- the owner sees whom it reached ----------------------------------------------------------


def test_the_edit_page_says_how_many_organisations_were_told(world, new_client):
    client = new_client()
    client.sign_in(world.officer)
    values = {
        "display_name": "Ember Quillfeather-Vane",
        "aliases-0-name": NEW_ALIAS,
        "aliases-0-kind": "alias",
        "topics": "lantern-making",
        "distribution": "shareable",
        **date_fields("retention_until", 400),
    }
    response = client.submit(f"/speakers/{world.speaker.id}/edit", values)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Told 2 organisations that had received the changed details." in page
    # Saving the same again tells no one, and says so.
    again = client.submit(f"/speakers/{world.speaker.id}/edit", values)
    assert "Nothing was changed." in client.get(again.headers["Location"]).get_data(as_text=True)


def test_the_api_answer_counts_the_organisations_told(world, new_client):
    client = new_client()
    client.sign_in(world.officer)
    response = client.api(
        "PATCH",
        f"/api/v1/speakers/{world.speaker.id}",
        json={"aliases": [{"name": NEW_ALIAS, "kind": "alias"}]},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.json
    assert body["organisations_told"] == 1 and body["changed"] == ["aliases"]
    assert body["id"] == str(world.speaker.id) and body["aliases"][0]["name"] == NEW_ALIAS
