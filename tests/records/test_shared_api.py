"""The shared-records API: search, a partner's speaker, event and decision, each disclosed for a
stated purpose (query parameter or `Hub-Purpose` header, the header winning) and carrying the
agreement it was disclosed under; 400 problems for a missing or unknown purpose, 404 for a
record no agreement discloses; the permission matrix over roles and organisations."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.records.worlds import (
    MATRIX,
    OTHER_PURPOSE,
    PURPOSE,
    READER_ROLES,
    add_region,
    entries,
    expected_status,
    signed_in,
)
from tests.sql import statements_run


@pytest.fixture
def world(sharing_world):
    return sharing_world


@pytest.fixture
def api(world, new_client):
    return signed_in(new_client, world)


def _under(world) -> dict:
    return {
        "agreement_id": str(world.agreement.id),
        "reference": "TEST-DSA-1",
        "version": 1,
    }


def _is_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert problem["type"].endswith("/" + slug) and problem["status"] == status
    return problem


# --- search -----------------------------------------------------------------------------


def test_search_returns_partner_hits_minimised_with_the_agreement(world, api):
    response = api.api("GET", f"/api/v1/shared/speakers?q=Ember+Quilfether&purpose={PURPOSE}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 1 and body["purpose"] == PURPOSE
    [hit] = body["results"]
    assert hit["id"] == str(world.speaker.id) and hit["own"] is False
    assert hit["owner"] == "Fellwater University"
    assert hit["disclosed_under"] == _under(world)
    assert hit["data"]["display_name"] == "Ember Quillfeather"
    assert hit["data"]["aliases"] == ["E••• Q•••"]
    assert "affiliations" not in hit["data"]
    assert "Lanternwick Society" not in response.get_data(as_text=True)


def test_a_partner_hit_carries_a_rank_never_a_score(world, api):
    """A similarity score computed against a masked alias would let a searcher confirm the
    alias letter by letter: the exact alias and a near miss must answer alike."""
    answers = []
    for query in ("Embre+Quilfeather", "Embre+Quilfeathex", "Embra+Quilfeathex"):
        body = api.api("GET", f"/api/v1/shared/speakers?q={query}&purpose={PURPOSE}").get_json()
        [hit] = [r for r in body["results"] if r["id"] == str(world.speaker.id)]
        assert hit["score"] is None and hit["rank"] == 1
        assert hit["data"]["aliases"] == ["E••• Q•••"]
        answers.append(body)
    assert answers[0] == answers[1] == answers[2]


def test_the_purpose_may_come_as_a_header_which_wins(world, api):
    by_header = api.api(
        "GET",
        "/api/v1/shared/speakers?q=Ember+Quillfeather&purpose=curiosity",
        headers={"Hub-Purpose": PURPOSE},
    )
    assert by_header.status_code == 200 and by_header.get_json()["total"] == 1
    wrong_header = api.api(
        "GET",
        f"/api/v1/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}",
        headers={"Hub-Purpose": "curiosity"},
    )
    _is_problem(wrong_header, 400, "purpose-refused")
    other = api.api(
        "GET",
        f"/api/v1/shared/speakers/{world.speaker.id}?purpose={PURPOSE}",
        headers={"Hub-Purpose": OTHER_PURPOSE},
    )
    assert other.status_code == 404  # the header's purpose is used, and no agreement names it


@pytest.mark.parametrize("query", ["", "&purpose=", "&purpose=curiosity"])
def test_search_without_a_known_purpose_is_a_400_problem_and_audited(api, query):
    response = api.api("GET", f"/api/v1/shared/speakers?q=Ember{query}")
    problem = _is_problem(response, 400, "purpose-refused")
    assert "purpose" in problem["detail"]
    [refusal] = entries("speaker.search", "denied")
    assert refusal.reason == ("purpose_unknown" if "curiosity" in query else "purpose_missing")


def test_search_counts_only_what_may_be_seen(world, new_client):
    outsider = signed_in(new_client, world, org="outsider")
    body = outsider.api(
        "GET", f"/api/v1/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}"
    ).get_json()
    assert body == {"total": 0, "purpose": PURPOSE, "results": []}


def test_search_pages(world, api):
    body = api.api(
        "GET", f"/api/v1/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}&offset=1"
    ).get_json()
    assert body["total"] == 1 and body["results"] == []
    bad = api.api("GET", f"/api/v1/shared/speakers?q=E&purpose={PURPOSE}&limit=0")
    _is_problem(bad, 422, "validation-failed")


# --- one record -------------------------------------------------------------------------


def test_partner_speaker_with_statements_and_appearances(world, api):
    response = api.api("GET", f"/api/v1/shared/speakers/{world.speaker.id}?purpose={PURPOSE}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["owner"] == "Fellwater University"
    speaker = body["speaker"]
    assert speaker["record_type"] == "speaker" and speaker["id"] == str(world.speaker.id)
    assert speaker["disclosed_under"] == _under(world)
    assert set(speaker["data"]) == {"display_name", "aliases", "topics", "sources", "appearances"}
    assert speaker["data"]["appearances"] == [str(world.event.id)]
    [statement] = body["statements"]
    assert statement["disclosed_under"] == _under(world)
    assert statement["data"]["text"].startswith("S•••")
    assert len(statement["data"]["stated_on"]) == 7
    assert "source_url" not in statement["data"]
    [appearance] = body["appearances"]
    assert appearance["id"] == str(world.event.id)
    assert appearance["data"]["title"] == "Lanterns and tides"
    assert body["ratings"] == []
    text = json.dumps(body, ensure_ascii=False)
    assert "lantern fair" not in text and "Brindlewood" not in text


def test_a_speakers_appearances_are_read_in_one_statement_in_order(world, api, app):
    """However many events a disclosure reveals, they are read together (one statement, not
    one per event), listed in the disclosure's order, and an erased one is left out."""

    from core.db import db, utcnow
    from tests.records.worlds import decided_partner_event

    officer, lead = world.actor("owner"), world.actor("owner", "prevent_lead")
    more = [
        decided_partner_event(officer, lead, world.speaker, title=f"Tides {n}")[0] for n in range(3)
    ]
    more[1].erased_at = utcnow()
    db.session.commit()
    path = f"/api/v1/shared/speakers/{world.speaker.id}?purpose={PURPOSE}"
    api.api("GET", path)  # warm: the worker's policy is this world's (`core.policy`)
    with statements_run(app.extensions["hub_db_engine"]) as statements:
        response = api.api("GET", path)
    reads = [s for s in statements if "FROM events" in s]
    body = response.get_json()
    listed = body["speaker"]["data"]["appearances"]
    shown = [a["id"] for a in body["appearances"]]
    assert str(more[1].id) not in shown
    assert shown == [i for i in listed if i != str(more[1].id)]
    assert len(shown) == 3
    assert len(reads) == 1


def test_a_speaker_and_what_it_leads_to_go_to_the_log_in_one_statement(world, api, app):
    """The speaker's disclosure and its statement's and appearance's are written together
    (the speaker's was a statement of its own), in that order."""
    import sqlalchemy as sa

    from audit.models import AuditEntry
    from core.db import db

    path = f"/api/v1/shared/speakers/{world.speaker.id}?purpose={PURPOSE}"
    api.api("GET", path)  # warm: the worker's policy is this world's (`core.policy`)
    with statements_run(app.extensions["hub_db_engine"]) as statements:
        response = api.api("GET", path)
    assert response.status_code == 200
    entries = db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "disclosure")
        .order_by(AuditEntry.seq.desc())
        .limit(3)
    ).all()[::-1]
    assert [e.resource_type for e in entries] == ["speaker", "assertion", "event"]
    if db.dialect == "postgresql":
        assert sum("INSERT INTO audit_entries" in s for s in statements) == 1


def test_partner_event_and_its_decision(world, api):
    body = api.api("GET", f"/api/v1/shared/events/{world.event.id}?purpose={PURPOSE}").get_json()
    assert body["event"]["data"]["expected_size"] == "101-250"
    assert "synopsis" not in body["event"]["data"]
    [decision] = body["decisions"]
    assert decision["id"] == str(world.decision.id)
    assert decision["data"]["outcome"] == "approved_with_conditions"
    assert "rationale" not in decision["data"]
    assert decision["disclosed_under"] == _under(world)


def test_partner_decision_by_id(world, api):
    response = api.api(
        "GET",
        f"/api/v1/shared/decisions/{world.decision.id}",
        headers={"Hub-Purpose": PURPOSE},
    )
    assert response.status_code == 200
    body = response.get_json()
    assert body["record_type"] == "decision" and body["disclosed_under"] == _under(world)
    assert set(body["data"]) == {"outcome", "decided_on", "event"}


@pytest.mark.parametrize("kind", ["speakers", "events", "decisions"])
@pytest.mark.parametrize("purpose", [None, "curiosity"])
def test_one_record_without_a_known_purpose_is_a_400_problem(world, api, kind, purpose):
    record = {"speakers": world.speaker, "events": world.event, "decisions": world.decision}[kind]
    path = f"/api/v1/shared/{kind}/{record.id}" + (f"?purpose={purpose}" if purpose else "")
    problem = _is_problem(api.api("GET", path), 400, "purpose-refused")
    assert "Ember" not in json.dumps(problem)


@pytest.mark.parametrize("kind", ["speakers", "events", "decisions"])
def test_no_agreement_is_a_404_problem_like_a_missing_record_and_the_refusal_kept(
    world, new_client, kind
):
    record = {"speakers": world.speaker, "events": world.event, "decisions": world.decision}[kind]
    outsider = signed_in(new_client, world, org="outsider")
    refused = outsider.api("GET", f"/api/v1/shared/{kind}/{record.id}?purpose={PURPOSE}")
    missing = outsider.api("GET", f"/api/v1/shared/{kind}/{uuid.uuid4()}?purpose={PURPOSE}")
    first = _is_problem(refused, 404, "not-found")
    second = _is_problem(missing, 404, "not-found")
    assert first == second  # word for word: a refusal must not say the record exists
    assert "Ember" not in json.dumps(first) and "Fellwater" not in json.dumps(first)
    [refusal] = entries("disclosure", "denied")
    assert refusal.reason == "no_agreement"


def test_a_malformed_id_is_not_found(api):
    response = api.api("GET", f"/api/v1/shared/speakers/not-an-id?purpose={PURPOSE}")
    _is_problem(response, 404, "not-found")


# --- permission matrix ------------------------------------------------------------------


@pytest.mark.parametrize(("org", "role"), MATRIX)
def test_permission_matrix_for_the_shared_api(
    world, new_client, make_org, make_agreement, org, role
):
    if org == "region":
        add_region(world, make_org, make_agreement)
    client = signed_in(new_client, world, org=org, role=role)
    expected = expected_status(org, role)
    if expected == 302:
        expected = 200  # the owner's own record, complete, with no agreement
    speaker = client.api("GET", f"/api/v1/shared/speakers/{world.speaker.id}?purpose={PURPOSE}")
    assert speaker.status_code == expected
    if expected == 200:
        under = speaker.get_json()["speaker"]["disclosed_under"]
        assert (under is None) == (org == "owner")
    event = client.api("GET", f"/api/v1/shared/events/{world.event.id}?purpose={PURPOSE}")
    assert event.status_code == expected
    search = client.api("GET", f"/api/v1/shared/speakers?q=Ember+Quillfeather&purpose={PURPOSE}")
    assert search.status_code == (200 if role in READER_ROLES else 403)
    if role in READER_ROLES:
        ids = {hit["id"] for hit in search.get_json()["results"]}
        assert (str(world.speaker.id) in ids) == (org != "outsider")


def test_the_api_needs_a_signed_in_caller(world, client):
    response = client.api("GET", f"/api/v1/shared/speakers/{world.speaker.id}?purpose={PURPOSE}")
    _is_problem(response, 401, "not-authenticated")


def test_openapi_documents_every_endpoint_with_a_summary_and_the_purpose_header(client):
    spec = client.get("/api/openapi.json").get_json()
    for path in (
        "/api/v1/shared/speakers",
        "/api/v1/shared/speakers/{speaker_id}",
        "/api/v1/shared/events/{event_id}",
        "/api/v1/shared/decisions/{decision_id}",
    ):
        operation = spec["paths"][path]["get"]
        assert operation["summary"]
        names = {(p["in"], p["name"]) for p in operation["parameters"]}
        assert ("header", "Hub-Purpose") in names and ("query", "purpose") in names
        assert {"200", "400", "403"} <= set(operation["responses"])
