"""A retryable request assumes, and confirms in its next round trip (issue 16): the API's and
the authorization server's requests assume their worker's policy generation and that a
single-use id is unspent, send the reads that confirm both with the statement they make anyway
(`core.db.defer`), and are thrown away and made again, assuming nothing, when either was not
so. What the first attempt did leaves no trace: no audit entry, no spent id, no second count
against a rate limit."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import audit_entries, last_seq
from tests.hosts import ASSERTION_TYPE, Hub, rate_limited_hubs, two_hubs, warm
from tests.oauth_helpers import ISSUER, assertion, dpop_proof, new_key
from tests.sql import statements_run

MADE_AGAIN = "made again"


@pytest.fixture
def hubs(database_server, tmp_path):
    """Two workers on one database (`tests.hosts.two_hubs`), integrating the audit log only
    when asked (no statements of a thread beside the requests counted)."""
    yield from two_hubs(database_server, tmp_path, audit_integrate_after_commit=False)


def _form(client_id: str, key: Any) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "scope": "speakers:read",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion(client_id, key),
    }


def _bump_the_policy_generation(hub: Hub) -> None:
    """A write to a policy table that changes nothing a request asks (a new generation)."""
    from core.db import db

    with hub.app.app_context():
        db.session.execute(sa.text("UPDATE organisations SET region = region"))
        db.session.commit()


def _since(hub: Hub, action: str, seq: int) -> list[tuple[str, str]]:
    from core.db import db

    with hub.app.app_context():
        found = [(e.outcome, e.reason) for e in audit_entries(action, since=seq)]
        db.session.rollback()
        return found


def _last_seq(hub: Hub) -> int:
    with hub.app.app_context():
        return last_seq()


@pytest.fixture
def batches(monkeypatch) -> list[list[str]]:
    """The statements sent through the driver, one list per round trip (`core.db._send`)."""
    from core import db as core_db

    sent: list[list[str]] = []
    send = core_db._send

    def noted(session: Any, statements: list[tuple[str, Any]]) -> list[list]:
        sent.append([" ".join(sql.split())[:40] for sql, _parameters in statements])
        return send(session, statements)

    monkeypatch.setattr(core_db, "_send", noted)
    return sent


def test_a_warm_token_request_claims_and_confirms_its_policy_in_its_audit_writes_round_trip(
    hubs, database_server, batches
):
    if database_server is None:
        pytest.skip("SQLite has no round trips to save: nothing is deferred")
    _a, b, speaker_id, client_id, key = hubs
    warm(b, client_id, key, speaker_id)
    assert b.token(client_id, key).status_code == 200  # the signing key made by the first
    batches.clear()
    with statements_run(b.app.extensions["hub_db_engine"]) as statements:
        assert b.token(client_id, key).status_code == 200
    [sent] = batches  # one round trip before the commit
    assert sent[0].startswith("SELECT token FROM policy_generation")
    assert sent[1].startswith("INSERT INTO used_jtis")
    assert sent[2].startswith("WITH v AS")  # the audit entry
    assert len(statements) == 3  # nothing else, before or after


def test_a_warm_shared_read_sends_its_policy_read_with_the_speakers(hubs, database_server, batches):
    if database_server is None:
        pytest.skip("SQLite has no round trips to save: nothing is deferred")
    _a, b, speaker_id, client_id, key = hubs
    token = warm(b, client_id, key, speaker_id)
    batches.clear()
    with statements_run(b.app.extensions["hub_db_engine"]) as statements:
        assert b.read(token, speaker_id).status_code == 200
    # The speaker's read goes with the transaction's BEGIN and the policy read, the audit
    # entry on its own; nothing else before the commit.
    assert [[sql.split()[0] for sql in sent] for sent in batches] == [["SELECT"] * 2, ["WITH"]]
    assert batches[0][0].startswith("SELECT token FROM policy_generation")
    assert len(statements) == 3


def test_a_token_request_that_assumed_an_old_policy_is_made_again_and_counted_once(
    hubs, database_server, caplog
):
    a, b, speaker_id, client_id, key = hubs
    warm(b, client_id, key, speaker_id)
    _bump_the_policy_generation(a)
    seq = _last_seq(b)
    with caplog.at_level(logging.INFO, logger="hub.web.edge"):
        assert b.token(client_id, key).status_code == 200
    assert [outcome for outcome, _reason in _since(b, "oauth.token", seq)] == ["granted"]
    made_again = [r for r in caplog.records if MADE_AGAIN in r.getMessage()]
    # PostgreSQL's first attempt assumed the old generation; SQLite's read it first.
    assert len(made_again) == (1 if database_server else 0)


def test_a_refusal_made_from_an_old_policy_is_thrown_away(hubs):
    """B refuses a suspended client and caches that; reinstated on A, B's next request
    assumes the suspension, refuses, finds the policy changed before it answers, and is made
    again: it is granted, and only the first refusal is in the log."""
    from core.db import db
    from core.security import Actor
    from partners.models import OAuthClient, Status
    from partners.oauth import clients

    a, b, speaker_id, client_id, key = hubs
    warm(b, client_id, key, speaker_id)

    def set_status(status: Status) -> None:
        with a.app.app_context():
            client = db.session.scalar(
                sa.select(OAuthClient).where(OAuthClient.client_id == client_id)
            )
            clients.set_status(Actor.system("retry-test"), client, status)
            db.session.commit()

    set_status(Status.SUSPENDED)
    seq = _last_seq(b)
    assert b.token(client_id, key).status_code in {400, 401}
    set_status(Status.ACTIVE)
    assert b.token(client_id, key).status_code == 200
    outcomes = [outcome for outcome, _reason in _since(b, "oauth.token", seq)]
    assert outcomes == ["failed", "granted"] or outcomes == ["denied", "granted"]


def test_a_replayed_assertion_is_refused_and_its_first_attempt_leaves_no_grant(hubs):
    _a, b, speaker_id, client_id, key = hubs
    warm(b, client_id, key, speaker_id)
    form = _form(client_id, key)
    seq = _last_seq(b)
    assert b.http.post("/oauth/token", data=form).status_code == 200
    again = b.http.post("/oauth/token", data=form)
    assert again.status_code in {400, 401}
    assert again.get_json()["error"] == "invalid_client"
    found = _since(b, "oauth.token", seq)
    assert len(found) == 2
    assert found[0][0] == "granted" and found[1][0] != "granted"


def test_a_replayed_dpop_proof_of_a_retried_request_is_refused(hubs, database_server):
    """A proof's id is claimed like an assertion's: deferred, and found spent the second
    time (the first attempt thrown away, the second refused)."""
    _a, b, speaker_id, client_id, key = hubs
    warm(b, client_id, key, speaker_id)
    proof_key = new_key()
    proof = dpop_proof(proof_key, "POST", ISSUER + "/oauth/token")
    first = b.http.post("/oauth/token", data=_form(client_id, key), headers={"DPoP": proof})
    assert first.status_code == 200, first.get_data(as_text=True)
    again = b.http.post("/oauth/token", data=_form(client_id, key), headers={"DPoP": proof})
    assert again.status_code == 400
    assert again.get_json()["error"] == "invalid_dpop_proof"


def test_an_api_call_made_again_spends_one_call_of_its_budget(database_server, tmp_path, redis_url):
    with rate_limited_hubs(database_server, tmp_path, redis_url, "20 per minute") as hubs:
        a, b, speaker_id, client_id, key = hubs
        token = warm(b, client_id, key, speaker_id)
        before = int(b.read(token, speaker_id).headers["X-RateLimit-Remaining"])
        _bump_the_policy_generation(a)
        after = b.read(token, speaker_id)
        assert after.status_code == 200
        assert int(after.headers["X-RateLimit-Remaining"]) == before - 1


def test_nothing_deferred_outlives_its_request(hubs, database_server):
    """The session a request shares with its caller (tests run requests inside their app
    context) is left assuming nothing: what the caller runs next is not deferred."""
    from core import db as core_db
    from core import policy

    _a, b, speaker_id, client_id, key = hubs
    warm(b, client_id, key, speaker_id)
    with b.app.app_context():
        assert b.token(client_id, key).status_code == 200
        session = core_db.db.session()
        assert not core_db.retryable(session)
        assert policy.generation(session) is not None
        assert not session.info.get("hub_deferred")
        session.rollback()
