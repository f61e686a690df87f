"""Permission matrix: every events page and endpoint, for every role at the host university, at
another university, at the coordinator and at a police Prevent team.

Another organisation's event answers exactly like a missing one (404) and the refusal is
audited; readers cannot write; only Prevent leads review and escalate; only the named senior
officer decides a designated event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from hub.records.events import assessments, decisions
from hub.records.events import services as events
from tests.conftest import page_html
from tests.factories import REVIEW, all_no, event_data
from tests.records.worlds import EventWorld, advance

ACTORS = [
    "events_officer",
    "prevent_lead",
    "dpo",
    "auditor",
    "org_admin",
    "senior_officer",
    "b_events_officer",
    "b_prevent_lead",
    "coordinator",
    "police_prevent_lead",
]
READERS = {"events_officer", "prevent_lead", "dpo", "auditor", "org_admin"}
WRITERS = {"events_officer", "prevent_lead"}
LEAD = {"prevent_lead"}
OFFICER = {"senior_officer"}
HOSTS = WRITERS | {"b_events_officer", "b_prevent_lead"}
LISTERS = READERS | {"b_events_officer", "b_prevent_lead"}
#: Stages at which the senior officer has been named (and so may see the event).
NAMED_STAGES = {"escalated", "decided", "appealed", "ended"}


def _today() -> dict[str, str]:
    today = events.local_today()
    return {
        "decided_on-day": str(today.day),
        "decided_on-month": str(today.month),
        "decided_on-year": str(today.year),
    }


DECISION_FORM = {"outcome": "approved", "rationale": "Lawful and low risk.", **_today()}
ESCALATION = {"senior_officer_id": "{officer}", "escalation_reason": "A large public audience."}
MITIGATION = {"type": "recording", "owner_name": "AV team", "status": "agreed"}


@dataclass(frozen=True)
class Row:
    """One page or endpoint: who may use it on an event at `stage`."""

    method: str
    path: str
    stage: str | None
    data: Any
    allowed: frozenset[str]
    api: bool = False
    ok: int = 200

    @property
    def id(self) -> str:
        return f"{self.method} {self.path} [{self.stage}]"


def page(method, path, stage, data, allowed) -> Row:
    return Row(method, path, stage, data, frozenset(allowed), ok=200 if method == "GET" else 302)


def api(method, path, stage, data, allowed, ok=200) -> Row:
    return Row(method, "/api/v1/events" + path, stage, data, frozenset(allowed), True, ok)


MATRIX = [
    page("GET", "/events/", None, None, LISTERS),
    page("GET", "/events/new", None, None, HOSTS),
    page("POST", "/events/new", None, {**event_data(), "action": "save"}, HOSTS),
    page("GET", "/events/{id}", "draft", None, READERS),
    page("GET", "/events/{id}", "escalated", None, READERS | OFFICER),
    page("GET", "/events/{id}/edit", "draft", None, WRITERS),
    page("POST", "/events/{id}/edit", "draft", {**event_data(), "action": "save"}, WRITERS),
    page("POST", "/events/{id}/status", "assessed", {"status": "submitted"}, WRITERS),
    page("POST", "/events/{id}/status", "submitted", {"status": "under_review"}, LEAD),
    page("POST", "/events/{id}/status", "draft", {"status": "withdrawn"}, WRITERS),
    page("GET", "/events/{id}/assessment", "draft", None, READERS),
    page("GET", "/events/{id}/assessment/self", "draft", None, WRITERS),
    page("POST", "/events/{id}/assessment/self", "draft", all_no(), WRITERS),
    page("GET", "/events/{id}/assessment/review", "submitted", None, LEAD),
    page("POST", "/events/{id}/assessment/review", "submitted", REVIEW, LEAD),
    page("GET", "/events/{id}/assessment/escalation", "under_review", None, LEAD),
    page("POST", "/events/{id}/assessment/escalation", "under_review", ESCALATION, LEAD),
    page("GET", "/events/{id}/assessment/mitigations", "draft", None, READERS),
    page("GET", "/events/{id}/assessment/mitigations/new", "draft", None, WRITERS),
    page("POST", "/events/{id}/assessment/mitigations/new", "draft", MITIGATION, WRITERS),
    page("GET", "/events/{id}/assessment/mitigations/{mid}", "mitigated", None, WRITERS),
    page("POST", "/events/{id}/assessment/mitigations/{mid}", "mitigated", MITIGATION, WRITERS),
    page("POST", "/events/{id}/assessment/mitigations/{mid}/remove", "mitigated", {}, WRITERS),
    page("GET", "/events/{id}/decision", "under_review", None, LEAD),
    page("POST", "/events/{id}/decision", "under_review", DECISION_FORM, LEAD),
    page("GET", "/events/{id}/decision", "escalated", None, OFFICER),
    page("POST", "/events/{id}/decision", "escalated", DECISION_FORM, OFFICER),
    page("GET", "/events/{id}/appeal", "decided", None, WRITERS),
    page("POST", "/events/{id}/appeal", "decided", {"grounds": "Disproportionate."}, WRITERS),
    page("GET", "/events/{id}/appeals/{aid}", "appealed", None, LEAD),
    page(
        "POST",
        "/events/{id}/appeals/{aid}",
        "appealed",
        {"appeal_outcome": "upheld", "rationale": "The decision stands."},
        LEAD,
    ),
    page("GET", "/events/{id}/report", "ended", None, WRITERS),
    page("POST", "/events/{id}/report", "ended", {"conditions_held": "yes"}, WRITERS),
    api("GET", "", None, None, LISTERS),
    api("POST", "", None, {**event_data(), "branded_or_funded": True, "expected_size": 50,
                           "recorded": False, "streamed": False}, HOSTS, 201),
    api("GET", "/{id}", "draft", None, READERS),
    api("GET", "/{id}", "escalated", None, READERS | OFFICER),
    api("PATCH", "/{id}", "draft", {"title": "Renamed"}, WRITERS),
    api("GET", "/{id}/status", "draft", None, READERS),
    api("POST", "/{id}/status", "assessed", {"status": "submitted"}, WRITERS),
    api("POST", "/{id}/status", "submitted", {"status": "under_review"}, LEAD),
    api("POST", "/{id}/status", "under_review", {"status": "withdrawn"}, WRITERS),
    api("GET", "/{id}/assessment", "draft", None, READERS),
    api("PUT", "/{id}/assessment/self-assessment", "draft", all_no(), WRITERS),
    api("PUT", "/{id}/assessment/local-review", "submitted",
        {"likelihood": 2, "impact": 3, "review_notes": "Fine."}, LEAD),
    api("GET", "/{id}/assessment/escalation", "under_review", None, LEAD),
    api("POST", "/{id}/assessment/escalation", "under_review", ESCALATION, LEAD),
    api("GET", "/{id}/assessment/mitigations", "draft", None, READERS),
    api("POST", "/{id}/assessment/mitigations", "draft", MITIGATION, WRITERS, 201),
    api("PATCH", "/{id}/assessment/mitigations/{mid}", "mitigated", {"status": "in_place"},
        WRITERS),
    api("DELETE", "/{id}/assessment/mitigations/{mid}", "mitigated", None, WRITERS, 204),
    api("GET", "/{id}/decisions", "decided", None, READERS | OFFICER),
    api("POST", "/{id}/decisions", "under_review",
        {"outcome": "approved", "rationale": "Fine.", "decided_on": "{today}"}, LEAD, 201),
    api("POST", "/{id}/decisions", "escalated",
        {"outcome": "approved", "rationale": "Fine.", "decided_on": "{today}"}, OFFICER, 201),
    api("POST", "/{id}/appeals", "decided", {"grounds": "Disproportionate."}, WRITERS, 201),
    api("POST", "/{id}/appeals/{aid}/decision", "appealed",
        {"appeal_outcome": "upheld", "rationale": "It stands."}, LEAD),
    api("POST", "/{id}/report", "ended", {"conditions_held": "yes"}, WRITERS, 201),
]  # fmt: skip


def _stage(world: EventWorld, stage: str | None) -> dict[str, str]:
    """Make university A's event for a row; returns the placeholders for its path."""
    if stage is None:
        return {}
    base = {"mitigated": "draft", "appealed": "decided", "ended": "decided"}.get(stage, stage)
    event = advance(world, base)
    ids = {"id": str(event.id)}
    if stage == "mitigated":
        item = assessments.add_mitigation(world.actor("events_officer"), event, MITIGATION)
        ids["mid"] = str(item.id)
    if stage == "appealed":
        appeal = decisions.lodge_appeal(world.actor("events_officer"), event, {"grounds": "G"})
        ids["aid"] = str(appeal.id)
    if stage == "ended":
        event.starts_at = datetime.now(UTC) - timedelta(days=2)
        event.ends_at = datetime.now(UTC) - timedelta(days=2, hours=-2)
    db.session.flush()
    return ids


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
    visible = READERS | (OFFICER if row.stage in NAMED_STAGES else set())
    if "{id}" in row.path and who not in visible:
        return 404
    return 403


@pytest.fixture
def world(event_world) -> EventWorld:
    return event_world


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("row", MATRIX, ids=[row.id for row in MATRIX])
def test_permission_matrix(client, world, who, row):
    names = _stage(world, row.stage)
    names.update(
        officer=str(world.people["senior_officer"].id), today=events.local_today().isoformat()
    )
    path = row.path.format(**names)
    data = _fill(row.data, names)
    client.sign_in(world.people[who])
    before = db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0
    if row.api:
        response = client.api(row.method, path, json=data)
    elif row.method == "GET":
        response = client.get(path)
    else:
        response = client.submit("/account", data, action=path)

    expected = _expected(row, who)
    body = response.get_data(as_text=True)
    assert response.status_code == expected, body[:1500]
    if expected in (200, 302) and not row.api:
        assert "govuk-error-summary" not in body
        if expected == 302:
            assert "/sign-in" not in response.headers["Location"]
    if expected < 400:
        return
    if row.api:
        assert response.mimetype == "application/problem+json"
    denied = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq > before, AuditEntry.outcome == "denied")
    ).all()
    assert denied, "refusal was not audited"
    assert denied[-1].actor == f"person:{world.people[who].id}"
    if expected == 404:
        assert denied[-1].reason == "not_owner"
        assert names["id"] in denied[-1].resource_ids


@pytest.mark.parametrize("api_call", [False, True])
def test_another_organisations_event_answers_like_a_missing_one(client, world, api_call):
    event = advance(world, "draft")
    client.sign_in(world.people["b_prevent_lead"])
    prefix = "/api/v1/events/" if api_call else "/events/"
    real = client.get(prefix + str(event.id))
    missing = client.get(prefix + str(uuid.uuid4()))
    assert real.status_code == missing.status_code == 404
    if api_call:
        assert real.get_json() == missing.get_json()
    else:
        assert page_html(real) == page_html(missing)
    assert event.title not in real.get_data(as_text=True)


def test_anonymous_callers_are_sent_to_sign_in(client, world):
    event = advance(world, "draft")
    assert client.get(f"/events/{event.id}").status_code == 302
    assert client.get("/events/").headers["Location"].startswith("/sign-in")
    response = client.api("GET", f"/api/v1/events/{event.id}")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_readers_cannot_see_write_controls(client, world):
    event = advance(world, "draft")
    client.sign_in(world.people["auditor"])
    page_html = client.get(f"/events/{event.id}").get_data(as_text=True)
    for control in ("Change event details", "Submit for review", "Withdraw event"):
        assert control not in page_html
