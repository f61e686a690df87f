"""The permission matrix for every agreement page and API endpoint: each role at a party
university, a party regional coordinator, the same roles at an organisation that is not a
party, and the hub's auditor. A non-party's request for the agreement answers exactly like a
request for a missing one (404), and every refusal is audited."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from agreements import lifecycle, permissions
from audit.models import AuditEntry
from core.db import db, utcnow
from tests.agreements.conftest import agreement_data, rule
from tests.conftest import TEST_PASSWORD, actor_of

CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]+"')
ACTORS = {
    # Party organisations: university "a" and regional coordinator "c".
    "org_admin": ("a", "org_admin"),
    "dpo": ("a", "dpo"),
    "signatory": ("a", "signatory"),  # the signatory the agreement names for "a"
    "events_officer": ("a", "events_officer"),
    "coordinator": ("c", "coordinator"),
    "coordinator_dpo": ("c", "dpo"),  # a party's DPO, but not the party that suspended
    # Not parties: university "b" and another regional coordinator "d".
    "other_org_admin": ("b", "org_admin"),
    "other_dpo": ("b", "dpo"),
    "other_signatory": ("b", "signatory"),
    "other_events_officer": ("b", "events_officer"),
    "other_coordinator": ("d", "coordinator"),
    "hub_auditor": ("hub", "auditor"),
    "hub_dpo": ("hub", "dpo"),  # the hub operator's DPO
}
EVERYONE = frozenset(ACTORS)
PARTY = frozenset(who for who, (org, _) in ACTORS.items() if org in {"a", "c"})
VIEWERS = PARTY | {"hub_auditor", "hub_dpo"}
DRAFTER_ROLES = set(permissions.DRAFTER_ROLES)
DRAFTERS = frozenset(who for who, (_, role) in ACTORS.items() if role in DRAFTER_ROLES)
PARTY_DRAFTERS = DRAFTERS & PARTY
NAMED_SIGNATORY = frozenset({"signatory"})
PARTY_DPO = frozenset({"dpo", "coordinator_dpo"})
#: Only the suspending party's DPO (university "a" suspended) or the hub operator's lifts it.
SUSPENDING_DPO = frozenset({"dpo", "hub_dpo"})
PARTY_SIGNATORY = frozenset({"signatory"})
RECORD_KEEPERS = frozenset(
    who for who, (_, role) in ACTORS.items() if role in {"dpo", "org_admin", "auditor"}
)


@dataclass(frozen=True)
class Row:
    """One page or endpoint, the state the agreement is in, and who may use it."""

    method: str
    path: str
    state: str
    allowed: frozenset[str]
    data: Any = None
    api: bool = False
    ok: int = 200
    refused: int = 403  # for those allowed to see the agreement but not to do this

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} ({self.state})"


def page(method, path, state, allowed, data=None, ok=None) -> Row:
    return Row(method, "/agreements" + path, state, frozenset(allowed), data,
               ok=ok or (200 if method == "GET" else 302))  # fmt: skip


def api(method, path, state, allowed, data=None, ok=200) -> Row:
    return Row(method, "/api/v1/agreements" + path, state, frozenset(allowed), data, True, ok)


REASON = {"reason": "A disclosure is under review."}
REFRESH = {"action": "refresh"}
APPROVAL = {"content_hash": "{hash}", "password": TEST_PASSWORD}

MATRIX = [
    page("GET", "/", "approved", EVERYONE),
    page("GET", "/{id}", "approved", VIEWERS),
    page("GET", "/{id}", "draft", VIEWERS),
    page("GET", "/new", "approved", DRAFTERS),
    page("POST", "/new", "approved", DRAFTERS, REFRESH, ok=200),
    page("GET", "/{id}/edit", "draft", PARTY_DRAFTERS),
    page("POST", "/{id}/edit", "draft", PARTY_DRAFTERS, REFRESH, ok=200),
    page("POST", "/{id}/propose", "draft", PARTY_DRAFTERS),
    page("GET", "/{id}/approve", "proposed", NAMED_SIGNATORY),
    page("POST", "/{id}/approve", "proposed", NAMED_SIGNATORY, APPROVAL),
    page("GET", "/{id}/suspend", "approved", PARTY_DPO),
    page("POST", "/{id}/suspend", "approved", PARTY_DPO, REASON),
    page("POST", "/{id}/resume", "suspended", SUSPENDING_DPO),
    page("GET", "/{id}/terminate", "approved", PARTY_SIGNATORY),
    page("POST", "/{id}/terminate", "approved", PARTY_SIGNATORY, REASON),
    page("POST", "/{id}/amend", "approved", PARTY_DRAFTERS),
    page("GET", "/{id}/signed.json", "approved", VIEWERS),
    page("GET", "/{id}/document.html", "approved", VIEWERS),
    page("GET", "/{id}/document.pdf", "approved", VIEWERS),
    page("GET", "/record-of-processing.csv", "approved", RECORD_KEEPERS),
    page("GET", "/record-of-processing.json", "approved", RECORD_KEEPERS),
    api("GET", "", "approved", EVERYONE),
    # An empty draft: those who may draft are told what is missing, the others are refused.
    api("POST", "", "approved", DRAFTERS, {"title": "An incomplete draft"}, ok=422),
    api("GET", "/{id}", "approved", VIEWERS),
    api("PUT", "/{id}", "draft", PARTY_DRAFTERS, "{content}"),
    api("POST", "/{id}/propose", "draft", PARTY_DRAFTERS),
    api("POST", "/{id}/suspend", "approved", PARTY_DPO, REASON),
    api("POST", "/{id}/resume", "suspended", SUSPENDING_DPO),
    api("POST", "/{id}/terminate", "approved", PARTY_SIGNATORY, REASON),
    api("POST", "/{id}/amend", "approved", PARTY_DRAFTERS, ok=201),
    api("GET", "/{id}/signed", "approved", VIEWERS),
    api("GET", "/{id}/statistics", "approved", VIEWERS),
    api("GET", "/record-of-processing", "approved", RECORD_KEEPERS),
]


@pytest.fixture
def orgs(make_org) -> dict[str, Any]:
    return {
        "a": make_org(kind="university", name="Party University"),
        "b": make_org(kind="university", name="Outsider University"),
        "c": make_org(kind="regional_coordinator", name="Party Coordinator"),
        "d": make_org(kind="regional_coordinator", name="Outsider Coordinator"),
        "hub": make_org(kind="hub", name="Hub Operator"),
    }


def _party(org, signatory) -> dict[str, str]:
    return {
        "organisation_id": str(org.id),
        "role": "controller",
        "designated_person": "Designated Person",
        "signatory_id": str(signatory.id),
    }


def make_agreement_in(state: str, orgs, signatory_a, signatory_c, dpo_a):
    """The agreement between "a" and "c", brought to `state` through the lifecycle."""
    a, c = orgs["a"], orgs["c"]
    data = agreement_data(
        [_party(a, signatory_a), _party(c, signatory_c)],
        [
            rule(a, c, "speaker", {"display_name": "full"}),
            rule(c, a, "speaker", {"display_name": "full", "aliases": "masked"}),
        ],
        reference=f"MATRIX-{uuid.uuid4().hex[:8]}",
    )
    agreement = lifecycle.create_draft(actor_of(signatory_a), data)
    if state == "draft":
        return agreement
    lifecycle.propose(actor_of(signatory_a), agreement)
    if state == "proposed":
        return agreement
    for signatory in (signatory_a, signatory_c):
        lifecycle.approve(
            actor_of(signatory),
            agreement,
            content_hash=agreement.content_hash,
            reauthenticated_at=utcnow(),
        )
    if state == "suspended":
        lifecycle.suspend(actor_of(dpo_a), agreement, "Review.")
    return agreement


def _expected(row: Row, who: str) -> int:
    if who in row.allowed:
        return row.ok
    if "{id}" in row.path and who not in VIEWERS:
        return 404  # not a party: as if the agreement did not exist
    return row.refused


def _fill(value: Any, names: dict[str, Any]) -> Any:
    if isinstance(value, str):
        if value == "{content}":
            return names["content"]
        return value.format(**names) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


@pytest.mark.parametrize("who", list(ACTORS))
@pytest.mark.parametrize("row", MATRIX, ids=[row.id for row in MATRIX])
def test_permission_matrix(client, orgs, make_person, who, row):
    signatory_a = None
    org, role = ACTORS[who]
    if who == "signatory":
        person = signatory_a = make_person(orgs["a"], ["signatory"])
    else:
        person = make_person(orgs[org], [role])
        signatory_a = make_person(orgs["a"], ["signatory"])
    signatory_c = make_person(orgs["c"], ["signatory"])
    dpo_a = make_person(orgs["a"], ["dpo"])
    agreement = make_agreement_in(row.state, orgs, signatory_a, signatory_c, dpo_a)
    content = {k: v for k, v in agreement.content.items() if k != "reference"}
    content["title"] = "A changed title"
    names = {"id": str(agreement.id), "hash": agreement.content_hash or "", "content": content}
    path = row.path.format(**names)
    data = _fill(row.data, names)
    client.sign_in(person)
    before = db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0
    if row.api:
        response = client.api(row.method, path, json=data)
    elif row.method == "GET":
        response = client.get(path)
    else:
        response = client.submit("/account", data or {}, action=path)

    expected = _expected(row, who)
    body = response.get_data(as_text=True) if not path.endswith(".pdf") else ""
    assert response.status_code == expected, body[:2000]
    if expected in (200, 302) and not row.api and response.mimetype == "text/html":
        assert "govuk-error-summary" not in body
        if expected == 302:
            assert "/sign-in" not in response.headers["Location"]
    if expected < 400 or expected == 422:
        return
    if row.api:
        assert response.mimetype == "application/problem+json"
    if expected == 404:
        assert agreement.reference not in body and agreement.title not in body
    denied = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq > before, AuditEntry.outcome == "denied")
    ).all()
    assert denied, "refusal was not audited"
    assert denied[-1].actor == f"person:{person.id}"
    if expected == 404:
        assert denied[-1].reason == "not_party"
        assert str(agreement.id) in denied[-1].resource_ids


@pytest.mark.parametrize("api_call", [False, True])
def test_a_non_partys_agreement_answers_like_a_missing_one(client, orgs, make_person, api_call):
    agreement = make_agreement_in(
        "approved",
        orgs,
        make_person(orgs["a"], ["signatory"]),
        make_person(orgs["c"], ["signatory"]),
        make_person(orgs["a"], ["dpo"]),
    )
    client.sign_in(make_person(orgs["b"], ["dpo"]))
    prefix = "/api/v1/agreements/" if api_call else "/agreements/"
    real = client.get(prefix + str(agreement.id))
    missing = client.get(prefix + str(uuid.uuid4()))
    assert real.status_code == missing.status_code == 404
    if api_call:
        assert real.get_json() == missing.get_json()
    else:
        # The CSRF token of the sign-out form is signed with the time: not part of the answer.
        def without_token(response):
            return CSRF_VALUE.sub("", response.get_data(as_text=True))

        assert without_token(real) == without_token(missing)


def test_a_non_party_sees_nothing_in_the_register(client, orgs, make_person):
    agreement = make_agreement_in(
        "approved",
        orgs,
        make_person(orgs["a"], ["signatory"]),
        make_person(orgs["c"], ["signatory"]),
        make_person(orgs["a"], ["dpo"]),
    )
    client.sign_in(make_person(orgs["b"], ["org_admin"]))
    assert agreement.reference not in client.get("/agreements/").get_data(as_text=True)
    assert client.api("GET", "/api/v1/agreements").get_json() == []


def test_anonymous_callers_are_sent_to_sign_in(client, orgs, make_person):
    agreement = make_agreement_in(
        "approved",
        orgs,
        make_person(orgs["a"], ["signatory"]),
        make_person(orgs["c"], ["signatory"]),
        make_person(orgs["a"], ["dpo"]),
    )
    for path in ("/agreements/", f"/agreements/{agreement.id}", "/agreements/new"):
        assert client.get(path).headers["Location"].startswith("/sign-in")
    response = client.get(f"/api/v1/agreements/{agreement.id}")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"


def test_a_party_cannot_approve_for_another(client, orgs, make_person):
    """The coordinator's signatory approves for the coordinator only: the university's part
    stays unapproved, and the agreement is not in force."""
    signatory_a, signatory_c = (
        make_person(orgs["a"], ["signatory"]),
        make_person(orgs["c"], ["signatory"]),
    )
    agreement = make_agreement_in(
        "proposed", orgs, signatory_a, signatory_c, make_person(orgs["a"], ["dpo"])
    )
    client.sign_in(signatory_c)
    response = client.submit(
        f"/agreements/{agreement.id}/approve",
        {"content_hash": agreement.content_hash, "password": TEST_PASSWORD},
    )
    assert response.status_code == 302
    db.session.expire_all()
    approvals = {str(p.organisation_id): p.approved_hash for p in agreement.parties}
    assert approvals == {str(orgs["a"].id): None, str(orgs["c"].id): agreement.content_hash}
    assert agreement.status.value == "proposed"
    # Asking again is refused: the coordinator has nothing left to approve.
    assert client.get(f"/agreements/{agreement.id}/approve").status_code == 409
