"""The log's read side (`audit.queries`) answers from the records each entry names, indexed
beside it in `audit_entry_resources`, never by matching text in the entries' JSON."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import actions, queries
from audit import services as audit
from audit.models import AuditEntry, AuditEntryResource
from core.db import db
from core.security import Actor

OWNER = str(uuid.uuid4())


def _client(org: str) -> Actor:
    return Actor(kind="client", id=str(uuid.uuid4()), org_id=org)


def _disclose(org: str, record_type: str, ids: list[str], outcome: str = "granted") -> None:
    audit.record(
        _client(org),
        actions.DISCLOSURE,
        outcome,
        reason=None if outcome == "granted" else "no_agreement",
        resource_type=record_type,
        resource_ids=ids,
        resource_org=OWNER,
    )


def test_recipients_are_the_organisations_a_record_was_disclosed_to(app):
    record, other = str(uuid.uuid4()), str(uuid.uuid4())
    first, second, refused = (str(uuid.uuid4()) for _ in range(3))
    _disclose(first, "speaker", [record, other])
    _disclose(second, "speaker", [record])
    _disclose(refused, "speaker", [record], outcome="denied")
    _disclose(refused, "event", [record])  # the same id as another kind of record
    found = queries.recipients_of("speaker", [record, other])
    assert found == {record: {first, second}, other: {first}}
    assert [e.actor_org for e in queries.refusals_naming("speaker", [record], OWNER)] == [refused]


def test_an_id_is_matched_whole_not_as_part_of_another(app):
    record = str(uuid.uuid4())
    reader = str(uuid.uuid4())
    _disclose(reader, "speaker", [record + "-suffix", "prefix-" + record])
    assert queries.recipients_of("speaker", [record]) == {record: set()}


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(min_size=1, max_size=60).filter(lambda s: "\x00" not in s), max_size=6))
def test_each_entry_indexes_exactly_the_records_it_names(app, ids):
    written = audit.record(
        Actor.system("test"), "test.indexed", "granted", resource_type="speaker", resource_ids=ids
    )
    entry = db.session.get(AuditEntry, written.seq)
    indexed = db.session.scalars(
        sa.select(AuditEntryResource.resource_id).where(AuditEntryResource.entry_seq == written.seq)
    ).all()
    assert sorted(indexed) == sorted(set(json.loads(entry.resource_ids or "[]")))
    assert sorted(set(indexed)) == sorted(set(ids))


def test_the_index_is_append_only(app):
    written = audit.record(
        Actor.system("test"), "test.indexed", "granted", resource_type="speaker", resource_ids=["x"]
    )
    with pytest.raises(sa.exc.DatabaseError) as excinfo, db.session.begin_nested():
        db.session.execute(
            sa.text("DELETE FROM audit_entry_resources WHERE entry_seq = :seq"),
            {"seq": written.seq},
        )
    assert "append-only" in str(excinfo.value.orig)
