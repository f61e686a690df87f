"""The permission matrix for every speaker page and API endpoint: each role at the speaker's
own university, the same roles at another university, a regional coordinator and a police
Prevent lead. Another organisation's speaker answers exactly like a missing one (404), and
every refusal is audited."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from hub.records.speakers import assertions
from tests.factories import assertion_data, date_fields, days, new_speaker, speaker_form
from tests.records.worlds import ROLES

OWN = {role: ("a", role) for role in ROLES}
OTHER = {f"b_{role}": ("b", role) for role in ROLES}
ACTORS = {
    **OWN,
    **OTHER,
    "coordinator": ("region", "coordinator"),
    "police_prevent_lead": ("police", "prevent_lead"),
}
READER_ROLES = {"events_officer", "prevent_lead", "dpo", "auditor", "org_admin"}
WRITER_ROLES = {"events_officer", "prevent_lead"}

READERS = {who for who, (org, role) in ACTORS.items() if org == "a" and role in READER_ROLES}
WRITERS = {who for who, (org, role) in ACTORS.items() if org == "a" and role in WRITER_ROLES}
#: Anyone with a records role lists and searches their own organisation's speakers.
LISTERS = {who for who, (_, role) in ACTORS.items() if role in READER_ROLES}
#: Events officers and Prevent leads record speakers in their own organisation.
CREATORS = {who for who, (_, role) in ACTORS.items() if role in WRITER_ROLES}
#: A data protection officer may dispute or withdraw a statement (rectification, objection).
STATUS_CHANGERS = WRITERS | {"dpo"}

STATEMENT_FORM = {
    "kind": "fact",
    "text": "Spoke at the Heritage Forum.",
    "source": "Forum programme",
    **date_fields("stated_on", -5),
    "confidence": "high",
    "special_category": "no",
    "criminal_offence": "no",
    **date_fields("review_by", 300),
}
API_STATEMENT = {
    "kind": "opinion",
    "text": "A careful speaker.",
    "source": "Our events team",
    "stated_on": days(-3),
    "confidence": "medium",
    "review_by": days(200),
}


@dataclass(frozen=True)
class Row:
    """One page or endpoint, and who may use it on university A's speaker."""

    method: str
    path: str
    data: Any
    allowed: frozenset[str]
    api: bool = False
    ok: int = 200

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def page(method: str, path: str, data: Any, allowed: set[str]) -> Row:
    return Row(
        method, "/speakers" + path, data, frozenset(allowed), ok=200 if method == "GET" else 302
    )


def api(method: str, path: str, data: Any, allowed: set[str], ok: int = 200) -> Row:
    return Row(method, "/api/v1/speakers" + path, data, frozenset(allowed), True, ok)


MATRIX = [
    page("GET", "/", None, LISTERS),
    page("GET", "/?q=Quillfeather", None, LISTERS),
    page("GET", "/new", None, CREATORS),
    page("POST", "/new", {**speaker_form(), "confirm_new": "yes"}, CREATORS),
    page("GET", "/{id}", None, READERS),
    page("GET", "/{id}/edit", None, WRITERS),
    page("POST", "/{id}/edit", speaker_form(display_name="Dr Ember Quillfeather"), WRITERS),
    page("GET", "/{id}/statements/new", None, WRITERS),
    page("POST", "/{id}/statements/new", STATEMENT_FORM, WRITERS),
    page("GET", "/{id}/statements/{aid}/status", None, STATUS_CHANGERS),
    page("POST", "/{id}/statements/{aid}/status", {"status": "disputed", "reason": "Contested."},
         STATUS_CHANGERS),
    page("GET", "/{id}/statements/{aid}/correct", None, WRITERS),
    page("POST", "/{id}/statements/{aid}/correct", {"text": "Chaired it.", "reason": "Re-read."},
         WRITERS),
    page("GET", "/{id}/statements/{aid}/edit", None, WRITERS),
    page("POST", "/{id}/statements/{aid}/edit",
         {"confidence": "low", "special_category": "no", "criminal_offence": "no",
          **date_fields("review_by", 100), "distribution": "internal"}, WRITERS),
    page("GET", "/{id}/merge", None, WRITERS),
    page("GET", "/{id}/merge?merge_id={mid}", None, WRITERS),
    page("POST", "/{id}/merge?merge_id={mid}", {"merge_id": "{mid}", "reason": "Same person."},
         WRITERS),
    api("GET", "", None, LISTERS),
    api("GET", "/search?q=Quillfeather", None, LISTERS),
    api("GET", "/duplicates?display_name=Ember+Quillfeather", None, LISTERS),
    api("POST", "", {"display_name": "Marigold Fenwick"}, CREATORS, 201),
    api("POST", "", {"display_name": "Bartholomew Ivyford"}, CREATORS, 201),
    api("GET", "/{id}", None, READERS),
    api("PATCH", "/{id}", {"topics": ["bridges"]}, WRITERS),
    api("POST", "/{id}/merge", {"merge_id": "{mid}", "reason": "Same person."}, WRITERS),
    api("GET", "/{id}/appearances", None, READERS),
    api("GET", "/{id}/ratings", None, READERS),
    api("GET", "/{id}/assertions", None, READERS),
    api("POST", "/{id}/assertions", API_STATEMENT, WRITERS, 201),
    api("GET", "/{id}/assertions/{aid}", None, READERS),
    api("PATCH", "/{id}/assertions/{aid}", {"confidence": "low"}, WRITERS),
    api("POST", "/{id}/assertions/{aid}/status", {"status": "disputed", "reason": "Contested."},
        STATUS_CHANGERS),
    api("POST", "/{id}/assertions/{aid}/correction", {"text": "Chaired it.", "reason": "Re-read."},
        WRITERS),
]  # fmt: skip


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


def _expected(row: Row, who: str) -> int:
    if who in row.allowed:
        return row.ok
    org, role = ACTORS[who]
    if "{id}" in row.path and role in READER_ROLES and org != "a":
        return 404  # another organisation's speaker: as if it did not exist
    return 403


@pytest.fixture
def orgs(make_org) -> dict[str, Any]:
    return {
        "a": make_org(kind="university"),
        "b": make_org(kind="university"),
        "region": make_org(kind="regional_coordinator"),
        "police": make_org(kind="police_prevent"),
    }


@pytest.mark.parametrize("who", list(ACTORS))
@pytest.mark.parametrize("row", MATRIX, ids=[row.id for row in MATRIX])
def test_permission_matrix(client, orgs, make_person, actor_of_person, who, row):
    officer = actor_of_person(make_person(orgs["a"], ["events_officer"]))
    speaker = new_speaker(officer)
    other = new_speaker(officer, "Ember Quilfeather", aliases=[])
    statement = assertions.create_assertion(officer, speaker, assertion_data())
    names = {"id": str(speaker.id), "mid": str(other.id), "aid": str(statement.id)}
    org, role = ACTORS[who]
    person = make_person(orgs[org], [role])
    path = row.path.format(**names)
    data = _fill(row.data, names)
    client.sign_in(person)
    before = db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0
    if row.api:
        response = client.api(row.method, path, json=data)
    elif row.method == "GET":
        response = client.get(path)
    else:
        response = client.submit("/account", data, action=path)

    expected = _expected(row, who)
    body = response.get_data(as_text=True)
    assert response.status_code == expected, body[:2000]
    if expected in (200, 302) and not row.api:
        assert "govuk-error-summary" not in body
        if expected == 302:
            assert "/sign-in" not in response.headers["Location"]
    if expected < 400:
        return
    assert "Quillfeather" not in body
    if row.api:
        assert response.mimetype == "application/problem+json"
    denied = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq > before, AuditEntry.outcome == "denied")
    ).all()
    assert denied, "refusal was not audited"
    assert denied[-1].actor == f"person:{person.id}"
    if expected == 404:
        assert denied[-1].reason == "not_owner"
        assert str(speaker.id) in denied[-1].resource_ids


@pytest.fixture
def actor_of_person():
    from tests.conftest import actor_of

    return actor_of


@pytest.mark.parametrize("api_call", [False, True])
def test_another_organisations_speaker_answers_like_a_missing_one(
    client, orgs, make_person, actor_of_person, api_call
):
    speaker = new_speaker(actor_of_person(make_person(orgs["a"], ["events_officer"])))
    client.sign_in(make_person(orgs["b"], ["prevent_lead"]))
    prefix = "/api/v1/speakers/" if api_call else "/speakers/"
    real = client.get(prefix + str(speaker.id))
    missing = client.get(prefix + str(uuid.uuid4()))
    assert real.status_code == missing.status_code == 404
    if api_call:
        real_problem, missing_problem = real.get_json(), missing.get_json()
        assert real_problem == missing_problem
    else:
        # CSRF tokens are signed with the time: compare the pages without them.
        def page(response):
            return re.sub(r'name="csrf_token" value="[^"]*"', "", response.get_data(as_text=True))

        assert page(real) == page(missing)


def test_search_never_returns_another_organisations_speaker(
    client, orgs, make_person, actor_of_person
):
    speaker = new_speaker(actor_of_person(make_person(orgs["a"], ["events_officer"])))
    client.sign_in(make_person(orgs["b"], ["prevent_lead"]))
    for path in (
        "/api/v1/speakers/search?q=Ember+Quillfeather",
        "/api/v1/speakers/duplicates?display_name=Ember+Quillfeather",
        "/api/v1/speakers",
    ):
        response = client.get(path)
        assert response.status_code == 200 and response.get_json() == []
    page = client.get("/speakers/?q=Quillfeather").get_data(as_text=True)
    assert str(speaker.id) not in page and "No speaker records match" in page


def test_anonymous_callers_are_sent_to_sign_in(client, orgs, make_person, actor_of_person):
    speaker = new_speaker(actor_of_person(make_person(orgs["a"], ["events_officer"])))
    assert client.get(f"/speakers/{speaker.id}").headers["Location"].startswith("/sign-in")
    response = client.get(f"/api/v1/speakers/{speaker.id}")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
