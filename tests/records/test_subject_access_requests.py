"""The register of subject access requests: the ICO's due date, recording, finding the speaker,
closing, who may do each, the DPO's queue, and the reference kept out of the audit log."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from audit.models import AuditEntry
from core.db import db
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.records.events.services import local_today
from hub.records.models import SubjectAccessStatus
from hub.records.subject_access import requests as register
from hub.records.working_days import is_working_day
from tests.conftest import actor_of

REFERENCE = "SAR-2026-0147 Quillfeather"


@pytest.mark.parametrize(
    ("received", "due"),
    [
        (date(2027, 3, 3), date(2027, 4, 5)),  # 3 April 2027 is a Saturday: the next working day
        (date(2029, 1, 31), date(2029, 2, 28)),  # no 31 February: the last day of the month
        (date(2028, 1, 31), date(2028, 2, 29)),  # a leap year
        (date(2026, 12, 15), date(2027, 1, 15)),  # into the next year
        (date(2027, 11, 25), date(2027, 12, 29)),  # 25 Dec: past Christmas and Boxing Day
    ],
)
def test_the_answer_is_due_one_calendar_month_later_on_a_working_day(received, due):
    assert register.due_date(received) == due


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 12, 31)))
def test_the_due_date_is_a_working_day_about_a_month_on(received):
    due = register.due_date(received)
    assert is_working_day(due)
    assert 28 <= (due - received).days <= 31 + 4  # a month, plus at most a long weekend


@pytest.fixture
def dpo(make_org, make_person):
    return make_person(make_org(), ["dpo"])


def _record(dpo, received: date | None = None, reference: str = REFERENCE):
    received = received or local_today()
    return register.record_request(
        actor_of(dpo), {"reference": reference, "received_on": received.isoformat()}
    )


def test_recording_a_request_sets_its_due_date_and_audits_without_the_reference(dpo):
    item = _record(dpo, date(2026, 11, 2))
    assert item.due_on == date(2026, 12, 2) and item.status == SubjectAccessStatus.OPEN
    entry = db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "subject_access.request.record")
    )
    assert entry is not None and json.loads(entry.resource_ids) == [str(item.id)]
    assert b"Quillfeather" not in entry.leaf and b"SAR-2026" not in entry.leaf


def test_a_request_needs_a_reference_and_a_past_date_in_field_order(dpo):
    with pytest.raises(ValidationFailed) as caught:
        register.record_request(actor_of(dpo), {})
    assert list(caught.value.errors) == ["received_on", "reference"]
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    with pytest.raises(ValidationFailed) as caught:
        register.record_request(actor_of(dpo), {"reference": "x", "received_on": tomorrow})
    assert caught.value.errors == {
        "received_on": ["The date the request arrived must be today or in the past."]
    }


@pytest.mark.parametrize("role", ["events_officer", "prevent_lead", "org_admin", "auditor"])
def test_only_a_dpo_records_requests(make_org, make_person, role):
    someone = make_person(make_org(), [role])
    with pytest.raises(PermissionDenied):
        _record(someone)


def test_another_organisations_request_is_not_found(dpo, make_org, make_person):
    item = _record(dpo)
    other = make_person(make_org(), ["dpo"])
    with pytest.raises(NotFound):
        register.get_request(actor_of(other), str(item.id), "subject_access.request.read")
    assert register.list_requests(actor_of(other)) == []


def test_closing_a_request(dpo):
    item = _record(dpo)
    with pytest.raises(ValidationFailed) as caught:
        register.close_request(actor_of(dpo), item, {})
    assert caught.value.errors == {"outcome": ["Choose how the request ended."]}
    register.close_request(actor_of(dpo), item, {"outcome": "answered"})
    assert item.status == SubjectAccessStatus.ANSWERED and item.closed_at is not None
    with pytest.raises(Conflict):
        register.close_request(actor_of(dpo), item, {"outcome": "withdrawn"})
    assert register.list_requests(actor_of(dpo), open_only=True) == []


def test_the_dpo_finds_the_speaker_links_it_and_is_offered_the_pack(
    new_client, make_org, make_person, make_speaker
):
    org = make_org()
    officer = make_person(org, ["events_officer"])
    dpo = make_person(org, ["dpo"])
    speaker = make_speaker(by=officer, name="Dr Wren Halloway")
    item = _record(dpo)
    client = new_client()
    client.sign_in(dpo)
    page = client.get(f"/subject-access/requests/{item.id}?q=Halloway").get_data(as_text=True)
    assert "Dr Wren Halloway" in page and "This is the person" in page
    response = client.submit(
        f"/subject-access/requests/{item.id}/speaker", {"speaker_id": str(speaker.id)}
    )
    assert response.status_code == 302
    page = client.get(f"/subject-access/requests/{item.id}").get_data(as_text=True)
    assert f'href="/shared/subject-access/{speaker.id}"' in page  # the pack
    db.session.refresh(item)
    assert item.speaker_id == speaker.id


def test_the_dpo_records_a_request_on_the_page_and_sees_it_waiting(new_client, dpo):
    client = new_client()
    client.sign_in(dpo)
    empty = client.submit("/subject-access/requests/new", {})
    assert empty.status_code == 422
    html = empty.get_data(as_text=True)
    assert html.index('href="#received_on"') < html.index('href="#reference"')
    today = local_today()
    response = client.submit(
        "/subject-access/requests/new",
        {
            "reference": REFERENCE,
            "received_on-day": str(today.day),
            "received_on-month": str(today.month),
            "received_on-year": str(today.year),
        },
    )
    assert response.status_code == 302
    dashboard = client.get("/").get_data(as_text=True)
    assert "Subject access requests to answer" in dashboard and REFERENCE in dashboard
    assert "Answer by" in dashboard


def test_other_roles_are_refused_the_register_pages(new_client, make_org, make_person):
    client = new_client()
    client.sign_in(make_person(make_org(), ["events_officer"]))
    assert client.get("/subject-access/requests").status_code == 403
    assert client.get("/subject-access/requests/new").status_code == 403
