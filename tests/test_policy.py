"""Policy served from each worker's cache, exact to change (issue 16): a suspension, a
revocation, a key rotation or an agreement's suspension made through one worker is obeyed by
the very next request on another; a change that is rolled back, or not yet committed, is never
served; and every policy table's writes, however made, name a new generation."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import sqlalchemy as sa
from joserfc import jws

from tests.hosts import ASSERTION_TYPE, Hub, two_hubs, warm
from tests.oauth_helpers import assertion
from tests.sql import statements_run


@pytest.fixture
def hubs(database_server, tmp_path):
    """Two workers (as two hosts would be) on one database (`tests.hosts.two_hubs`)."""
    yield from two_hubs(database_server, tmp_path)


def _in(hub: Hub, change: Any) -> Any:
    """Run `change()` in a transaction of `hub` and commit it."""
    from core.db import db

    with hub.app.app_context():
        result = change()
        db.session.commit()
        return result


def _client(client_id: str) -> Any:
    from core.db import db
    from partners.models import OAuthClient

    return db.session.scalar(sa.select(OAuthClient).where(OAuthClient.client_id == client_id))


def _admin_of(client: Any) -> Any:
    from core.security import Actor

    return Actor.system("policy-test")


def _suspend_the_agreement() -> None:
    """The one agreement's suspension by a party's data protection officer."""
    from agreements import lifecycle
    from agreements.models import Agreement
    from core.db import db
    from partners import signin
    from partners.models import Person, PersonRole

    agreement = db.session.scalars(sa.select(Agreement)).one()
    dpo = db.session.scalars(
        sa.select(Person)
        .join(PersonRole)
        .where(
            Person.organisation_id == agreement.parties[0].organisation_id,
            PersonRole.role == "dpo",
        )
    ).first()
    assert dpo is not None
    lifecycle.suspend(signin.actor_for(dpo), agreement, "Checking a complaint")


def test_a_client_suspended_on_one_worker_is_refused_by_the_next_request_on_another(hubs):
    from partners.models import Status
    from partners.oauth import clients

    a, b, speaker_id, client_id, key = hubs
    token = warm(b, client_id, key, speaker_id)
    _in(a, lambda: clients.set_status(_admin_of(None), _client(client_id), Status.SUSPENDED))

    refused = b.read(token, speaker_id)
    assert refused.status_code == 401
    assert "suspended" in refused.get_json()["detail"]
    assert b.token(client_id, key).status_code in {400, 401}

    _in(a, lambda: clients.set_status(_admin_of(None), _client(client_id), Status.ACTIVE))
    # Reinstated: new tokens work at once on the other worker; the old one never again.
    assert b.read(token, speaker_id).status_code == 401
    assert warm(b, client_id, key, speaker_id)


def test_a_token_revoked_on_one_worker_is_refused_by_the_next_request_on_another(hubs):
    a, b, speaker_id, client_id, key = hubs
    token = warm(b, client_id, key, speaker_id)
    revoked = a.http.post(
        "/oauth/revoke",
        data={
            "token": token,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion(client_id, key),
        },
    )
    assert revoked.status_code == 200, revoked.get_data(as_text=True)

    refused = b.read(token, speaker_id)
    assert refused.status_code == 401
    assert "revoked" in refused.get_json()["detail"]


def test_a_signing_key_rotated_on_one_worker_signs_the_next_token_on_another(hubs):
    from partners import signing_keys

    a, b, speaker_id, client_id, key = hubs
    old_token = warm(b, client_id, key, speaker_id)
    new_kid = _in(a, lambda: signing_keys.create_key().kid)

    issued = b.token(client_id, key).get_json()["access_token"]
    assert jws.extract_compact(issued.encode()).protected["kid"] == new_kid
    # Both verify on the other worker: the old key stays published until its tokens expire.
    assert b.read(issued, speaker_id).status_code == 200
    assert b.read(old_token, speaker_id).status_code == 200


def test_a_signing_key_withdrawn_on_one_worker_stops_its_tokens_on_another_that_verified_them(
    hubs,
):
    """A worker remembers the tokens whose signatures it checked, by the key ids it checked
    them against: once a key is no longer published (withdrawn, or retired longer than a token
    lives), its tokens are refused by the next request, though their signatures were good."""
    from datetime import UTC, datetime, timedelta

    from core.db import db
    from partners import signing_keys
    from partners.models import TokenSigningKey

    a, b, speaker_id, client_id, key = hubs
    token = warm(b, client_id, key, speaker_id)
    assert b.read(token, speaker_id).status_code == 200  # checked, and remembered

    def withdraw() -> None:
        signing_keys.create_key()
        old = jws.extract_compact(token.encode()).protected["kid"]
        db.session.execute(
            sa.update(TokenSigningKey)
            .where(TokenSigningKey.kid == old)
            .values(retired_at=datetime.now(UTC) - timedelta(days=1))
        )

    _in(a, withdraw)
    refused = b.read(token, speaker_id)
    assert refused.status_code == 401
    assert "not valid" in refused.get_json()["detail"]
    assert b.read(warm(b, client_id, key, speaker_id), speaker_id).status_code == 200


def test_a_token_verified_before_is_refused_once_it_expires(hubs, monkeypatch):
    """Expiry is checked on every request, remembered signature or not."""
    from partners.oauth import server

    _a, b, speaker_id, client_id, key = hubs
    token = warm(b, client_id, key, speaker_id)
    assert b.read(token, speaker_id).status_code == 200
    expires = json.loads(jws.extract_compact(token.encode()).payload)["exp"]
    monkeypatch.setattr(server.time, "time", lambda: expires + 1)
    refused = b.read(token, speaker_id)
    assert refused.status_code == 401
    assert "expired" in refused.get_json()["detail"]


def test_an_agreement_suspended_on_one_worker_stops_sharing_on_the_next_request_on_another(
    hubs,
):
    a, b, speaker_id, client_id, key = hubs
    token = warm(b, client_id, key, speaker_id)

    _in(a, _suspend_the_agreement)
    assert b.read(token, speaker_id).status_code == 404


def test_the_purpose_list_follows_the_sharing_paths_cached_covers(hubs):
    """A page's purpose list is read from the covers the sharing path caches (one rule): on
    another worker it empties with the agreement's suspension, and once warm it asks the
    database for no agreement."""
    from agreements.models import Agreement
    from agreements.services import purposes_for
    from core.db import db
    from core.security import Actor, ActorKind
    from tests.hosts import PURPOSE

    a, b, _speaker_id, _client_id, _key = hubs

    def recipient() -> Actor:
        agreement = db.session.scalars(sa.select(Agreement)).one()
        org = agreement.content["data_schedule"][0]["recipient"]
        return Actor(ActorKind.PERSON, id=None, org_id=org)

    with b.app.app_context():
        actor = recipient()
        assert purposes_for(actor) == [PURPOSE]
        db.session.commit()
    with statements_run(b.app.extensions["hub_db_engine"]) as statements, b.app.app_context():
        assert purposes_for(actor) == [PURPOSE]
        db.session.commit()
    assert not [s for s in statements if "FROM agreements" in s]

    _in(a, _suspend_the_agreement)
    with b.app.app_context():
        assert purposes_for(actor) == []


def test_a_policy_change_rolled_back_is_never_served(hubs):
    """Worker B suspends the client and reads policy inside the transaction (it sees its own
    change), then rolls back: neither B nor A ever serves the suspension."""
    from core.db import db
    from partners.models import Status
    from partners.oauth import clients, standing

    a, b, speaker_id, client_id, key = hubs
    token = warm(b, client_id, key, speaker_id)
    with b.app.app_context():
        clients.set_status(_admin_of(None), _client(client_id), Status.SUSPENDED)
        assert not standing.client(client_id).is_active  # its own change, in its transaction
        db.session.rollback()
        assert standing.client(client_id).is_active
    assert b.read(token, speaker_id).status_code == 200
    assert a.read(token, speaker_id).status_code == 200


def test_a_savepoint_rolled_back_takes_its_policy_change_with_it(hubs):
    from core.db import db
    from partners.models import Status
    from partners.oauth import clients, standing

    _a, b, speaker_id, client_id, key = hubs
    warm(b, client_id, key, speaker_id)
    with b.app.app_context():
        assert standing.client(client_id).is_active
        savepoint = db.session.begin_nested()
        clients.set_status(_admin_of(None), _client(client_id), Status.SUSPENDED)
        assert not standing.client(client_id).is_active
        savepoint.rollback()
        assert standing.client(client_id).is_active
        db.session.rollback()


def test_a_change_not_yet_committed_is_not_served_to_another_worker(hubs, database_server):
    if database_server is None:
        pytest.skip("SQLite runs one writer at a time: the other worker's read would wait")
    from core.db import db
    from partners.models import Status
    from partners.oauth import clients

    a, b, speaker_id, client_id, key = hubs
    token = warm(b, client_id, key, speaker_id)
    changed, answered = threading.Event(), threading.Event()

    def suspend_and_wait() -> None:
        with a.app.app_context():
            clients.set_status(_admin_of(None), _client(client_id), Status.SUSPENDED)
            # Warm A's own cache inside the uncommitted transaction too.
            from partners.oauth import standing

            assert not standing.client(client_id).is_active
            changed.set()
            answered.wait(timeout=30)
            db.session.commit()

    writer = threading.Thread(target=suspend_and_wait)
    writer.start()
    try:
        assert changed.wait(timeout=30)
        assert b.read(token, speaker_id).status_code == 200
        assert a.read(token, speaker_id).status_code == 200
    finally:
        answered.set()
        writer.join(timeout=30)
    assert b.read(token, speaker_id).status_code == 401
    assert a.read(token, speaker_id).status_code == 401


def test_policy_is_read_once_per_request_from_the_cache(hubs):
    """Once warm, a shared read asks the database for policy once: the generation."""
    from core import policy

    _a, b, speaker_id, client_id, key = hubs
    token = warm(b, client_id, key, speaker_id)
    with statements_run(b.app.extensions["hub_db_engine"]) as statements:
        with b.app.app_context():
            loads = policy.cache().loads
        assert b.read(token, speaker_id).status_code == 200
        with b.app.app_context():
            assert policy.cache().loads == loads
    policy_tables = ("agreements", "oauth_clients", "organisations", "revoked_tokens")
    read = [s for s in statements if any(f"FROM {t}" in s for t in policy_tables)]
    assert read == []
    assert sum("FROM policy_generation" in s for s in statements) == 1


#: A write to each policy table, as an operator or a migration might make it (raw SQL).
RAW_WRITES = {
    "organisations": "UPDATE organisations SET region = region",
    "oauth_clients": "UPDATE oauth_clients SET name = name",
    "revoked_tokens": (
        "INSERT INTO revoked_tokens (jti, client_id, expires_at, revoked_at) "
        "VALUES ('j', 'c', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
    ),
    "token_signing_keys": "UPDATE token_signing_keys SET kid = kid",
    "agreements": "UPDATE agreements SET title = title",
    "agreement_parties": "UPDATE agreement_parties SET role = role",
    "agreement_purposes": "UPDATE agreement_purposes SET code = code",
    "agreement_keys": "UPDATE agreement_keys SET key_encrypted = key_encrypted",
}


def test_any_write_to_a_policy_table_names_a_new_generation(hubs):
    """However a policy table is written, the database itself replaces the generation's
    token; a rolled-back write restores it."""
    from core import policy
    from core.db import db

    a, b, speaker_id, client_id, key = hubs
    warm(b, client_id, key, speaker_id)  # a signing key exists
    assert set(RAW_WRITES) == policy.POLICY_TABLES
    with a.app.app_context():
        for table, change in RAW_WRITES.items():
            before = db.session.scalar(sa.text("SELECT token FROM policy_generation"))
            db.session.execute(sa.text(change))
            after = db.session.scalar(sa.text("SELECT token FROM policy_generation"))
            assert after != before, table
            db.session.rollback()
            assert db.session.scalar(sa.text("SELECT token FROM policy_generation")) == before


def test_every_policy_table_is_watched_by_the_database(hubs, database_server):
    from core import policy
    from core.db import db

    a, *_ = hubs
    with a.app.app_context():
        if database_server is None:
            query = (
                "SELECT DISTINCT tbl_name FROM sqlite_master "
                "WHERE type = 'trigger' AND name LIKE '%_policy_%'"
            )
        else:
            query = (
                "SELECT DISTINCT event_object_table FROM information_schema.triggers "
                "WHERE action_statement LIKE '%policy_generation_bump%'"
            )
        watched = set(db.session.scalars(sa.text(query)))
    assert watched == set(policy.POLICY_TABLES)


def test_the_policy_cache_holds_only_frozen_data(hubs):
    from dataclasses import FrozenInstanceError

    from partners.oauth import standing

    _a, b, _speaker_id, client_id, _key = hubs
    with b.app.app_context():
        found = standing.client(client_id)
        with pytest.raises(FrozenInstanceError):
            found.status = None  # type: ignore[misc]
