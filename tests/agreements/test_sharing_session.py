"""One sharing session per transaction (`agreements.services.sharing`): the purpose checked
and the agreements in force loaded once for every total, search and disclosure of a request,
and forgotten the moment an agreement changes."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy import event

from agreements import services as agreements
from agreements.policy import ShareableRecord
from core.db import db
from tests.agreement_factories import rule
from tests.conftest import actor_of

PURPOSE = "speaker_due_diligence"
NAME_ONLY = {"display_name": "full"}


def speaker_record(owner) -> ShareableRecord:
    record_id = str(uuid.uuid4())
    values = {"display_name": "Ember Quillfeather", "aliases": [], "topics": []}
    return ShareableRecord("speaker", record_id, str(owner.id), "shareable", values)


@pytest.fixture
def covers_loaded(app):
    """How many times the agreements in force were read (the query joins agreement_purposes)."""
    engine = db.session().get_bind()
    seen: list[str] = []

    def note(_conn, _cursor, statement, *_args) -> None:
        if "agreement_purposes" in statement and "agreement_parties" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    yield seen
    event.remove(engine, "before_cursor_execute", note)


def test_a_request_loads_the_agreements_in_force_once(
    make_org, make_person, make_agreement, covers_loaded
):
    provider, recipient = make_org(), make_org()
    actor = replace(actor_of(make_person(recipient, ["events_officer"])), purpose=PURPOSE)
    make_agreement(
        [provider, recipient], [rule(provider, recipient, "speaker", NAME_ONLY)], kind="one_way"
    )
    records = [speaker_record(provider) for _ in range(3)]
    covers_loaded.clear()
    assert agreements.providers_for(actor, "speaker", PURPOSE) == {str(provider.id)}
    assert len(agreements.would_disclose(actor, records, PURPOSE)) == 3
    assert len(agreements.disclose(actor, records, PURPOSE)) == 3
    agreements.disclose_one(actor, records[0], PURPOSE)
    assert len(covers_loaded) == 1


def test_a_suspension_in_the_same_transaction_is_seen_at_once(
    make_org, make_person, make_agreement
):
    provider, recipient = make_org(), make_org()
    actor = replace(actor_of(make_person(recipient, ["events_officer"])), purpose=PURPOSE)
    agreement, signatories = make_agreement(
        [provider, recipient], [rule(provider, recipient, "speaker", NAME_ONLY)], kind="one_way"
    )
    record = speaker_record(provider)
    assert agreements.would_disclose(actor, [record], PURPOSE) == {record.id}
    dpo = actor_of(signatories[0])  # a signatory and DPO of the provider
    agreements.suspend(dpo, agreement, "Checking a complaint.")
    assert agreements.would_disclose(actor, [record], PURPOSE) == set()
    assert agreements.disclose(actor, [record], PURPOSE) == []
