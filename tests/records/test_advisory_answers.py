"""The police's answer to an advisory request reaches each party only as far as its basis goes:
the police see their rating in full; the coordinator sees what the police-to-coordinator
agreement's schedule gives it for the advisory request purpose (through `disclose()`); the
institution that asked sees the rating and its dates, never the rationale (the advisory answer
basis). Every surface is checked, and the property is tried over random schedules."""

from __future__ import annotations

import html
import io
import json
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from agreements.fields import FIELDS, Level
from audit.models import AuditEntry
from core.db import db
from hub.records.advisory import services as advisory
from hub.records.speakers import services as speakers
from hub.records.subject_access import services as subject_access
from tests.agreement_factories import rule
from tests.conftest import actor_of

RATIONALE = "Qxr the speaker's talks drew organised counter-protests"
PURPOSE = "advisory_request"


@pytest.fixture
def region(make_org, make_person):
    """An institution, its regional coordinator and a police Prevent team, one person each."""
    uni = make_org(kind="university")
    coordinator_org = make_org(kind="regional_coordinator")
    police_org = make_org(kind="police_prevent")
    people = {
        "asker": make_person(uni, ["events_officer", "prevent_lead"]),
        "dpo": make_person(uni, ["dpo"]),
        "coordinator": make_person(coordinator_org, ["coordinator"]),
        "police": make_person(police_org, ["prevent_lead"]),
    }
    speaker = speakers.create_speaker(
        actor_of(people["asker"]), {"display_name": "Dr Ember Quillfeather"}
    )
    return {"uni": uni, "coordinator": coordinator_org, "police": police_org}, people, speaker


def _police_agreement(make_agreement, orgs, fields: dict[str, str]):
    """The police team gives the coordinator advisory ratings at `fields`, for advisory
    requests."""
    agreement, _ = make_agreement(
        [orgs["police"], orgs["coordinator"]],
        [rule(orgs["police"], orgs["coordinator"], "advisory_rating", fields)],
        kind="one_way",
        purposes=[PURPOSE],
        reference=f"POL-{uuid.uuid4().hex[:8]}",
    )
    return agreement


def _answered(region_value):
    orgs, people, speaker = region_value
    request = advisory.submit_request(
        actor_of(people["asker"]), {"speaker_id": str(speaker.id), "question": "Anything known?"}
    )
    advisory.route_request(
        actor_of(people["coordinator"]),
        request,
        {"police_org_id": str(orgs["police"].id), "routing_note": "For your view."},
    )
    advisory.answer_request(
        actor_of(people["police"]),
        request,
        {
            "rating": "amber",
            "rationale": RATIONALE,
            "expires_on": (advisory.local_today() + timedelta(days=90)).isoformat(),
        },
    )
    return request


def _text(response) -> str:
    if response.mimetype == "application/pdf":
        reader = PdfReader(io.BytesIO(response.get_data()))
        return " ".join(page.extract_text() or "" for page in reader.pages)
    return html.unescape(response.get_data(as_text=True))


def _signed_in(new_client, person):
    client = new_client()
    client.sign_in(person)
    return client


def test_the_coordinator_sees_only_what_the_police_agreement_gives(
    region, make_agreement, new_client
):
    orgs, people, _ = region
    agreement = _police_agreement(
        make_agreement, orgs, {"speaker": "full", "rating": "full", "expires_on": "full"}
    )
    request = _answered(region)
    coordinator = _signed_in(new_client, people["coordinator"])
    page = _text(coordinator.get(f"/advisory/{request.id}"))
    assert "Amber" in page and RATIONALE not in page
    body = coordinator.api("GET", f"/api/v1/advisory/requests/{request.id}").get_json()
    assert body["rating"]["rating"] == "amber"
    assert body["rating"]["rationale"] is None and body["rating"]["issued_on"] is None
    assert body["rating"]["basis"] == agreement.reference
    assert RATIONALE not in json.dumps(body)
    # The coordinator's sight of the rating is a disclosure under the agreement, audited with
    # the fields it gave and never the rationale.
    entry = db.session.scalars(
        sa.select(AuditEntry)
        .where(
            AuditEntry.action == "disclosure",
            AuditEntry.resource_type == "advisory_rating",
            AuditEntry.actor == f"person:{people['coordinator'].id}",
        )
        .order_by(AuditEntry.seq.desc())
    ).first()
    assert entry.agreement_id == str(agreement.id)
    assert "rationale" not in json.loads(entry.fields)
    assert "rating" in json.loads(entry.fields)


def test_without_an_agreement_the_coordinator_is_told_the_rating_is_not_given(region, new_client):
    _, people, _ = region
    request = _answered(region)
    coordinator = _signed_in(new_client, people["coordinator"])
    page = _text(coordinator.get(f"/advisory/{request.id}"))
    assert "no data-sharing agreement in force gives your organisation its rating" in page
    assert "Amber" not in page and RATIONALE not in page
    body = coordinator.api("GET", f"/api/v1/advisory/requests/{request.id}").get_json()
    assert body["rating"] is None and body["rating_withheld"] is True


def test_the_institution_that_asked_gets_the_rating_never_the_rationale(region, new_client):
    _, people, speaker = region
    request = _answered(region)
    asker = _signed_in(new_client, people["asker"])
    surfaces = [
        asker.get(f"/advisory/{request.id}"),
        asker.api("GET", f"/api/v1/advisory/requests/{request.id}"),
        asker.api("GET", "/api/v1/advisory/requests"),
        asker.get(f"/speakers/{speaker.id}"),
        asker.api("GET", f"/api/v1/speakers/{speaker.id}/ratings"),
        asker.api("GET", f"/api/v1/speakers/{speaker.id}"),
    ]
    for response in surfaces:
        assert response.status_code == 200, response.request.path
        text = _text(response)
        assert RATIONALE not in text, response.request.path
    [rating] = asker.api("GET", f"/api/v1/speakers/{speaker.id}/ratings").get_json()
    assert rating["rating"] == "amber" and rating["rationale"] is None
    assert rating["basis"] == "advisory_answer"
    # Each sight is audited as a disclosure on the named basis, naming the fields given.
    entries = db.session.scalars(
        sa.select(AuditEntry).where(
            AuditEntry.action == "disclosure",
            AuditEntry.resource_type == "advisory_rating",
            AuditEntry.actor == f"person:{people['asker'].id}",
        )
    ).all()
    assert entries
    for entry in entries:
        assert json.loads(entry.details)["basis"] == "advisory_answer"
        assert json.loads(entry.fields) == ["expires_on", "issued_on", "rating"]
        assert entry.resource_org == str(request.police_org_id)


def test_the_subject_access_pack_holds_the_answer_not_the_polices_rationale(region, new_client):
    _, people, speaker = region
    _answered(region)
    dpo = _signed_in(new_client, people["dpo"])
    page = dpo.get(f"/shared/subject-access/{speaker.id}")
    assert "Amber" in _text(page) and RATIONALE not in _text(page)
    for export_format in ("json", "pdf"):
        pack = subject_access.build_pack(actor_of(people["dpo"]), str(speaker.id))
        notes = {subject_access.note_field(i): subject_access.DEFAULT_NOTE for i in pack.items}
        response = dpo.submit(
            f"/shared/subject-access/{speaker.id}", {"format": export_format, **notes}
        )
        assert response.status_code == 200, _text(response)[:500]
        assert RATIONALE not in _text(response)
        assert "amber" in _text(response).lower()


def test_the_police_see_their_own_rationale(region, new_client):
    _, people, _ = region
    request = _answered(region)
    police = _signed_in(new_client, people["police"])
    assert RATIONALE in _text(police.get(f"/advisory/{request.id}"))
    body = police.api("GET", f"/api/v1/advisory/requests/{request.id}").get_json()
    assert body["rating"]["rationale"] == RATIONALE


_LEVELS = {
    name: st.sampled_from(sorted(FIELDS["advisory_rating"][name].levels))
    for name in FIELDS["advisory_rating"]
}


@pytest.fixture
def readers(region, new_client):
    """The coordinator and the institution that asks, each signed in once for every example."""
    _, people, _ = region
    return _signed_in(new_client, people["coordinator"]), _signed_in(new_client, people["asker"])


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(levels=st.fixed_dictionaries(_LEVELS))
def test_no_withheld_or_masked_rationale_reaches_the_coordinator_or_the_institution(
    region, readers, make_agreement, levels
):
    """For any police-to-coordinator schedule of advisory ratings, the rationale reaches the
    coordinator only where the schedule gives it in full, and never reaches the institution."""
    orgs, _, _ = region
    coordinator, asker = readers
    nested = db.session.begin_nested()
    try:
        given_fields = {k: v.value for k, v in levels.items() if v != Level.WITHHELD}
        if given_fields:
            _police_agreement(make_agreement, orgs, given_fields)
        request = _answered(region)
        seen_by_coordinator = _text(coordinator.get(f"/advisory/{request.id}")) + _text(
            coordinator.api("GET", f"/api/v1/advisory/requests/{request.id}")
        )
        seen_by_asker = _text(asker.get(f"/advisory/{request.id}")) + _text(
            asker.api("GET", f"/api/v1/advisory/requests/{request.id}")
        )
        assert RATIONALE not in seen_by_asker
        if levels["rationale"] == Level.FULL and levels["rating"] != Level.WITHHELD:
            assert RATIONALE in seen_by_coordinator  # not vacuous
        else:
            assert RATIONALE not in seen_by_coordinator, levels
    finally:
        nested.rollback()
