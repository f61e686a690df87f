"""What a caller types never reaches the audit log, whose leaves are hashed into the Merkle tree
and can never be erased: an unknown client id at the token endpoint is stored as a keyed
pseudonym, the on-behalf-of header as a keyed pseudonym (its value kept in an ordinary,
erasable table for the partner's DPO), a path by its route template, an unknown purpose as a
code. Each case writes a name and a date of birth and then looks for them in every leaf and
every column of every entry written.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from audit import services as audit
from audit.models import AuditEntry, OnBehalfOfLabel
from core.db import db
from tests.oauth_helpers import assertion, bearer_token, new_key, register_partner

NAME = "Zebediah Quillfeather"
BORN = "1970-01-31"
WRITTEN = f"{NAME} {BORN}"
PURPOSE = "speaker_due_diligence"
TEXT_COLUMNS = (
    "actor",
    "actor_org",
    "on_behalf_of",
    "action",
    "outcome",
    "reason",
    "resource_type",
    "resource_ids",
    "resource_org",
    "agreement_id",
    "purpose",
    "fields",
    "request_id",
    "details",
)


def _last_seq() -> int:
    return db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0


def _entries_after(seq: int) -> list[AuditEntry]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.seq > seq)))


def _assert_no_trace(entries: list[AuditEntry]) -> None:
    assert entries, "nothing was audited"
    needles = [NAME, BORN, "Zebediah", "Quillfeather"]
    for entry in entries:
        leaf = entry.leaf.decode("utf-8")
        for needle in needles:
            assert needle not in leaf, (needle, leaf)
            assert quote(needle) not in leaf, (needle, leaf)
            for column in TEXT_COLUMNS:
                value = getattr(entry, column) or ""
                assert needle not in str(value), (needle, column, value)


@pytest.fixture
def partner(make_org, make_person, client):
    """A university's partner system holding every scope it may, and a token for it."""
    organisation = make_org()
    oauth_client, key = register_partner(
        organisation,
        make_person(organisation, ["org_admin"]),
        "speakers:read speakers:write events:read agreements:read audit:read",
    )
    return oauth_client, key, bearer_token(client, oauth_client.client_id, key)


# --- the token endpoint -----------------------------------------------------------------------


def _basic(username: str) -> dict[str, str]:
    raw = f"{username}:not-a-secret".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.mark.parametrize("where", ["form", "basic", "assertion"])
def test_an_unknown_client_id_is_audited_as_a_pseudonym(client, where):
    before = _last_seq()
    form: dict[str, str] = {"grant_type": "client_credentials"}
    headers: dict[str, str] = {}
    if where == "form":
        form["client_id"] = WRITTEN
    elif where == "basic":
        headers = _basic(WRITTEN)
    else:
        form |= {
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(WRITTEN, new_key()),
        }
    response = client.post("/oauth/token", data=form, headers=headers)
    assert response.status_code in (400, 401)
    entries = _entries_after(before)
    _assert_no_trace(entries)
    [refusal] = [e for e in entries if e.action == "oauth.token"]
    [reference] = json.loads(refusal.resource_ids)
    assert reference.startswith("unregistered:")
    # The same claim is the same pseudonym: a DPO can still count the attempts.
    again = _last_seq()
    client.post("/oauth/token", data=form, headers=headers)
    [second] = [e for e in _entries_after(again) if e.action == "oauth.token"]
    assert json.loads(second.resource_ids) == [reference]


def test_a_registered_client_id_is_audited_as_itself(client, partner):
    oauth_client, _key, _token = partner
    before = _last_seq()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=_basic(oauth_client.client_id),
    )
    assert response.status_code in (400, 401)
    [refusal] = [e for e in _entries_after(before) if e.action == "oauth.token"]
    assert json.loads(refusal.resource_ids) == [oauth_client.client_id]


# --- the API --------------------------------------------------------------------------------


def _api(client, path: str, token: str, **headers: str) -> Any:
    return client.get(
        path, headers={"Authorization": f"Bearer {token}", "Hub-Purpose": PURPOSE, **headers}
    )


def test_on_behalf_of_is_audited_as_a_pseudonym_and_kept_apart_erasably(client, partner):
    oauth_client, _key, token = partner
    before = _last_seq()
    response = _api(
        client, "/api/v1/shared/speakers?q=Ember", token, **{"Hub-On-Behalf-Of": WRITTEN}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    entries = _entries_after(before)
    _assert_no_trace(entries)
    pseudonyms = {e.on_behalf_of for e in entries}
    expected = audit.on_behalf_of_pseudonym(str(oauth_client.organisation_id), WRITTEN)
    assert pseudonyms == {expected}
    # What it stands for is kept outside the log, for the partner's DPO, and can be erased.
    label = db.session.get(OnBehalfOfLabel, expected)
    assert label.label == WRITTEN
    assert label.organisation_id == str(oauth_client.organisation_id)
    db.session.delete(label)
    db.session.flush()
    assert db.session.get(OnBehalfOfLabel, expected) is None


def test_the_same_staff_identifier_of_two_partners_is_two_pseudonyms(app_ctx):
    assert audit.on_behalf_of_pseudonym("org-a", "staff-1") != audit.on_behalf_of_pseudonym(
        "org-b", "staff-1"
    )


def test_the_partners_dpo_reads_back_who_a_call_was_for(
    client, partner, make_person, new_client, make_org
):
    oauth_client, _key, token = partner
    before = _last_seq()
    _api(client, "/api/v1/shared/speakers?q=Ember", token, **{"Hub-On-Behalf-Of": "staff-4711"})
    [entry] = [e for e in _entries_after(before) if e.on_behalf_of]
    own_dpo = new_client()
    own_dpo.sign_in(make_person(oauth_client.organisation, ["dpo"]))
    page = own_dpo.get(f"/audit/entries/{entry.seq}").get_data(as_text=True)
    assert "staff-4711" in page and entry.on_behalf_of in page


#: Refusals at the edge of calls whose path carries a name: (method, route, how the call is
#: made: the token's scopes, and which of the purpose and on-behalf-of headers it sends).
PATH_REFUSALS = [
    ("GET", "/api/v1/speakers/<speaker_id>", "speakers:read", "no purpose", 400),
    ("GET", "/api/v1/shared/speakers/<speaker_id>", "speakers:read", "no on-behalf-of", 400),
    ("GET", "/api/v1/shared/events/<event_id>", "speakers:read", "all headers", 403),
    ("GET", "/api/v1/speakers/<speaker_id>/assertions", "events:read", "all headers", 403),
    ("POST", "/api/v1/events/<event_id>/decisions", "events:write", "all headers", 403),
    ("GET", "/api/v1/agreements/<agreement_id>", "not a token", "all headers", 401),
]


@pytest.mark.parametrize(
    ("method", "route", "scopes", "headers", "status"),
    PATH_REFUSALS,
    ids=[f"{m} {r} {h}" for m, r, _s, h, _ in PATH_REFUSALS],
)
def test_a_path_is_audited_by_its_route_never_as_sent(
    client, make_org, make_person, method, route, scopes, headers, status
):
    if scopes == "not a token":
        token = "not-a-token"
    else:
        organisation = make_org()
        oauth_client, key = register_partner(
            organisation, make_person(organisation, ["org_admin"]), scopes
        )
        token = bearer_token(client, oauth_client.client_id, key)
    sent = {"Authorization": f"Bearer {token}"}
    if headers != "no purpose":
        sent["Hub-Purpose"] = PURPOSE
    if headers != "no on-behalf-of":
        sent["Hub-On-Behalf-Of"] = "staff-1"
    path = re.sub(r"<\w+>", quote(WRITTEN), route)
    before = _last_seq()
    response = client.client.open(path, method=method, headers=sent, json={})
    assert response.status_code == status, response.get_data(as_text=True)
    entries = _entries_after(before)
    _assert_no_trace(entries)
    [refusal] = [e for e in entries if e.outcome == "denied"]
    assert json.loads(refusal.details)["path"] == route


def test_an_unknown_purpose_is_audited_as_a_code(client, partner):
    _oauth_client, _key, token = partner
    before = _last_seq()
    response = client.get(
        "/api/v1/speakers",
        headers={"Authorization": f"Bearer {token}", "Hub-Purpose": WRITTEN},
    )
    assert response.status_code == 400
    entries = _entries_after(before)
    _assert_no_trace(entries)
    assert {e.purpose for e in entries} == {audit.UNKNOWN_PURPOSE}
