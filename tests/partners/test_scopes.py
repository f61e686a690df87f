"""Scopes per resource: every API operation a partner token can reach needs its own scope,
declared once beside it (`core.access.require_scope`), which both refuses tokens lacking it
and writes the operation's OpenAPI security requirement. People signed in with a browser session
are judged by their roles, as before.

The tables below are the specification: the HTTP matrix proves each operation refuses a token
holding every scope but its own and accepts a token holding only its own; the completeness test
proves the tables name every operation the app has; the OpenAPI test proves the document says
exactly what is enforced.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from audit.models import AuditEntry
from core.access import declared_access
from core.db import db
from partners.oauth.scopes import SCOPES, allowed_for
from tests.oauth_helpers import bearer_token, register_partner

PURPOSE = "speaker_due_diligence"

#: (method, route, the scopes of which a token needs one)
SCOPED: list[tuple[str, str, tuple[str, ...]]] = [
    ("GET", "/api/v1/advisory/requests", ("events:read", "advisory:respond")),
    ("POST", "/api/v1/advisory/requests", ("events:write",)),
    ("GET", "/api/v1/advisory/requests/<request_id>", ("events:read", "advisory:respond")),
    ("POST", "/api/v1/advisory/requests/<request_id>/answer", ("advisory:respond",)),
    ("POST", "/api/v1/advisory/requests/<request_id>/withdraw", ("events:write",)),
    ("GET", "/api/v1/agreements", ("agreements:read",)),
    ("GET", "/api/v1/agreements/<agreement_id>", ("agreements:read",)),
    ("GET", "/api/v1/agreements/<agreement_id>/signed", ("agreements:read",)),
    ("GET", "/api/v1/agreements/<agreement_id>/statistics", ("agreements:read",)),
    ("GET", "/api/v1/agreements/record-of-processing", ("agreements:read",)),
    ("GET", "/api/v1/audit/entries", ("audit:read",)),
    ("GET", "/api/v1/audit/entries/<int:index>/receipt", ("audit:verify",)),
    ("GET", "/api/v1/audit/proof/inclusion", ("audit:verify",)),
    ("GET", "/api/v1/events", ("events:read",)),
    ("POST", "/api/v1/events", ("events:write",)),
    ("GET", "/api/v1/events/<event_id>", ("events:read",)),
    ("PATCH", "/api/v1/events/<event_id>", ("events:write",)),
    ("GET", "/api/v1/events/<event_id>/assessment", ("events:read",)),
    ("GET", "/api/v1/events/<event_id>/assessment/escalation", ("events:read",)),
    ("POST", "/api/v1/events/<event_id>/assessment/escalation", ("assessments:write",)),
    ("PUT", "/api/v1/events/<event_id>/assessment/local-review", ("assessments:write",)),
    ("GET", "/api/v1/events/<event_id>/assessment/mitigations", ("events:read",)),
    ("POST", "/api/v1/events/<event_id>/assessment/mitigations", ("assessments:write",)),
    (
        "DELETE",
        "/api/v1/events/<event_id>/assessment/mitigations/<int:mitigation_id>",
        ("assessments:write",),
    ),
    (
        "PATCH",
        "/api/v1/events/<event_id>/assessment/mitigations/<int:mitigation_id>",
        ("assessments:write",),
    ),
    ("PUT", "/api/v1/events/<event_id>/assessment/self-assessment", ("events:write",)),
    ("GET", "/api/v1/events/<event_id>/decisions", ("events:read",)),
    ("POST", "/api/v1/events/<event_id>/report", ("events:write",)),
    ("GET", "/api/v1/events/<event_id>/status", ("events:read",)),
    ("POST", "/api/v1/events/<event_id>/status", ("events:write",)),
    ("GET", "/api/v1/notifications", ("notifications:read",)),
    ("POST", "/api/v1/notifications/<int:message_id>/read", ("notifications:read",)),
    ("POST", "/api/v1/notifications/read", ("notifications:read",)),
    ("GET", "/api/v1/shared/decisions/<decision_id>", ("events:read",)),
    ("GET", "/api/v1/shared/events/<event_id>", ("events:read",)),
    ("GET", "/api/v1/shared/speakers", ("speakers:read",)),
    ("GET", "/api/v1/shared/speakers/<speaker_id>", ("speakers:read",)),
    ("GET", "/api/v1/speakers", ("speakers:read",)),
    ("POST", "/api/v1/speakers", ("speakers:write",)),
    ("GET", "/api/v1/speakers/<speaker_id>", ("speakers:read",)),
    ("PATCH", "/api/v1/speakers/<speaker_id>", ("speakers:write",)),
    ("GET", "/api/v1/speakers/<speaker_id>/appearances", ("speakers:read",)),
    ("GET", "/api/v1/speakers/<speaker_id>/assertions", ("speakers:read",)),
    ("POST", "/api/v1/speakers/<speaker_id>/assertions", ("speakers:write",)),
    ("GET", "/api/v1/speakers/<speaker_id>/assertions/<assertion_id>", ("speakers:read",)),
    ("PATCH", "/api/v1/speakers/<speaker_id>/assertions/<assertion_id>", ("speakers:write",)),
    (
        "POST",
        "/api/v1/speakers/<speaker_id>/assertions/<assertion_id>/correction",
        ("speakers:write",),
    ),
    (
        "POST",
        "/api/v1/speakers/<speaker_id>/assertions/<assertion_id>/status",
        ("speakers:write",),
    ),
    ("POST", "/api/v1/speakers/<speaker_id>/merge", ("speakers:write",)),
    ("GET", "/api/v1/speakers/<speaker_id>/ratings", ("speakers:read",)),
    ("GET", "/api/v1/speakers/duplicates", ("speakers:read",)),
    ("GET", "/api/v1/speakers/search", ("speakers:read",)),
    ("GET", "/api/v1/webhooks", ("notifications:read",)),
    ("GET", "/api/v1/webhooks/<uuid:subscription_id>", ("notifications:read",)),
    ("GET", "/api/v1/webhooks/<uuid:subscription_id>/deliveries", ("notifications:read",)),
    ("GET", "/api/v1/webhooks/deliveries", ("notifications:read",)),
]
#: Any valid token: the caller's own identity and the partner directory.
ANY_TOKEN = [
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/organisations"),
    ("GET", "/api/v1/organisations/<slug>"),
]
#: No credentials: what the log's witnesses need.
PUBLIC = [
    ("GET", "/api/v1/audit/checkpoint"),
    ("GET", "/api/v1/audit/verifier-key"),
    ("GET", "/api/v1/audit/proof/consistency"),
    ("POST", "/api/v1/audit/cosignatures"),
    ("GET", "/api/v1/audit/checkpoint/witnessed"),
    ("GET", "/api/v1/audit/witness-policy"),
    # This hub as a witness of its peers' logs (C2SP tlog-witness: the signature is the proof).
    ("POST", "/api/v1/witness/add-checkpoint"),
    ("GET", "/api/v1/witness/<string:origin_hash>/checkpoint"),
]
#: No scope covers these: people signed in only, a token is refused whatever it holds.
PEOPLE_ONLY = [
    ("GET", "/api/v1/actions/<action_id>"),
    ("POST", "/api/v1/actions/<action_id>/updates"),
    ("GET", "/api/v1/advisory/annual-return"),
    ("POST", "/api/v1/advisory/requests/<request_id>/decline"),
    ("POST", "/api/v1/advisory/requests/<request_id>/route"),
    ("POST", "/api/v1/agreements"),
    ("PUT", "/api/v1/agreements/<agreement_id>"),
    ("POST", "/api/v1/agreements/<agreement_id>/amend"),
    ("POST", "/api/v1/agreements/<agreement_id>/propose"),
    ("POST", "/api/v1/agreements/<agreement_id>/resume"),
    ("POST", "/api/v1/agreements/<agreement_id>/suspend"),
    ("POST", "/api/v1/agreements/<agreement_id>/terminate"),
    ("POST", "/api/v1/events/<event_id>/appeals"),
    ("POST", "/api/v1/events/<event_id>/appeals/<int:appeal_id>/decision"),
    ("POST", "/api/v1/events/<event_id>/decisions"),
    ("GET", "/api/v1/federation/speakers"),
    ("GET", "/api/v1/groups"),
    ("POST", "/api/v1/groups"),
    ("GET", "/api/v1/groups/<group_id>"),
    ("PUT", "/api/v1/groups/<group_id>"),
    ("GET", "/api/v1/groups/<group_id>/actions"),
    ("POST", "/api/v1/groups/<group_id>/attendees"),
    ("DELETE", "/api/v1/groups/<group_id>/attendees/<person_id>"),
    ("PUT", "/api/v1/groups/<group_id>/convenor"),
    ("POST", "/api/v1/groups/<group_id>/invitations"),
    ("GET", "/api/v1/groups/<group_id>/meetings"),
    ("POST", "/api/v1/groups/<group_id>/meetings"),
    ("DELETE", "/api/v1/groups/<group_id>/members/<org_id>"),
    ("DELETE", "/api/v1/groups/<group_id>/membership"),
    ("POST", "/api/v1/groups/<group_id>/membership"),
    ("GET", "/api/v1/meetings/<meeting_id>"),
    ("PUT", "/api/v1/meetings/<meeting_id>"),
    ("POST", "/api/v1/meetings/<meeting_id>/actions"),
    ("POST", "/api/v1/meetings/<meeting_id>/agenda"),
    ("PUT", "/api/v1/meetings/<meeting_id>/attendance"),
    ("POST", "/api/v1/meetings/<meeting_id>/decisions"),
    ("GET", "/api/v1/meetings/<meeting_id>/feedback"),
    ("POST", "/api/v1/meetings/<meeting_id>/feedback"),
    ("POST", "/api/v1/meetings/<meeting_id>/minutes"),
    ("PUT", "/api/v1/meetings/<meeting_id>/minutes"),
    ("POST", "/api/v1/meetings/<meeting_id>/minutes/amendments"),
    ("POST", "/api/v1/organisations"),
    ("GET", "/api/v1/region/dashboard"),
    ("POST", "/api/v1/webhooks"),
    ("DELETE", "/api/v1/webhooks/<uuid:subscription_id>"),
]

#: The kinds of organisation a test client may belong to (between them they hold every scope).
KINDS = ("university", "police_prevent")


def _kind_holding(scopes: set[str]) -> str:
    return next(kind for kind in KINDS if scopes <= allowed_for(kind))


def _all_but(needed: tuple[str, ...]) -> tuple[str, set[str]]:
    """The organisation kind whose clients can hold the most scopes other than `needed`, and
    those scopes."""
    kind = max(KINDS, key=lambda k: len(allowed_for(k) - set(needed)))
    return kind, set(allowed_for(kind)) - set(needed)


def _path(route: str) -> str:
    """A concrete path for a route: ids that name nothing."""

    def fill(match: re.Match[str]) -> str:
        converter, name = match.group(1), match.group(2)
        if converter == "int":
            return "1"
        return "no-such-org" if name == "slug" else str(uuid.uuid4())

    return re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)


@pytest.fixture
def token_for(make_org, make_person, client):
    """A bearer token from the real token endpoint for a new client of a new organisation of
    `kind` holding exactly `scopes`; returns (client_id, token)."""

    def factory(kind: str, scopes: set[str]) -> tuple[str, str]:
        organisation = make_org(kind=kind)
        admin = make_person(organisation, ["org_admin"])
        oauth_client, key = register_partner(organisation, admin, " ".join(sorted(scopes)))
        return oauth_client.client_id, bearer_token(client, oauth_client.client_id, key)

    return factory


def _call(client, method: str, route: str, token: str) -> Any:
    headers = {
        "Authorization": f"Bearer {token}",
        "Hub-Purpose": PURPOSE,
        "Hub-On-Behalf-Of": "staff-4711",
    }
    body = {} if method in {"POST", "PUT", "PATCH"} else None
    return client.client.open(_path(route), method=method, headers=headers, json=body)


def _last_seq() -> int:
    return db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0


def _scope_refusals(after: int, client_id: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.seq > after,
                AuditEntry.actor == f"client:{client_id}",
                AuditEntry.action == "api.access",
                AuditEntry.outcome == "denied",
                AuditEntry.reason == "insufficient_scope",
            )
        )
    )


def _assert_refused(response: Any, client_id: str, before: int, method: str, route: str) -> None:
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    refusals = _scope_refusals(before, client_id)
    assert len(refusals) == 1, "the refusal was not audited (once)"
    details = json.loads(refusals[0].details)
    assert (details["method"], details["path"]) == (method, route)


CASES = [
    pytest.param(method, route, needed, held, id=f"{method} {route} holding {held or 'all but'}")
    for method, route, needed in SCOPED
    for held in (None, *needed)
]


@pytest.mark.parametrize(("method", "route", "needed", "held"), CASES)
def test_each_operation_needs_its_own_scope(client, token_for, method, route, needed, held):
    if held is None:  # every scope an organisation's client can hold, except the needed ones
        client_id, token = token_for(*_all_but(needed))
    else:  # only the needed scope
        client_id, token = token_for(_kind_holding({held}), {held})
    before = _last_seq()
    response = _call(client, method, route, token)
    challenge = response.headers.get("WWW-Authenticate", "")
    if held is None:
        _assert_refused(response, client_id, before, method, route)
        assert challenge == f'Bearer error="insufficient_scope", scope="{" ".join(needed)}"'
        assert all(scope in response.json["detail"] for scope in needed)
        return
    assert response.status_code != 401, response.get_data(as_text=True)
    assert "insufficient_scope" not in challenge
    assert not _scope_refusals(before, client_id)


@pytest.mark.parametrize(("method", "route"), PEOPLE_ONLY, ids=[f"{m} {r}" for m, r in PEOPLE_ONLY])
def test_a_token_never_reaches_an_operation_no_scope_covers(client, token_for, method, route):
    client_id, token = token_for("university", set(allowed_for("university")))
    before = _last_seq()
    response = _call(client, method, route, token)
    _assert_refused(response, client_id, before, method, route)
    assert response.headers["WWW-Authenticate"] == 'Bearer error="insufficient_scope"'


@pytest.mark.parametrize("scope", sorted(SCOPES))
def test_any_token_reads_its_own_identity_and_the_directory(client, token_for, scope):
    _client_id, token = token_for(_kind_holding({scope}), {scope})
    for _method, route in ANY_TOKEN:
        response = _call(client, "GET", route, token)
        assert response.status_code in (200, 404), response.get_data(as_text=True)
    assert _call(client, "GET", "/api/v1/me", token).json["scopes"] == [scope]


@pytest.mark.parametrize(
    ("method", "route", "body", "held", "status"),
    [
        ("POST", "/api/v1/speakers", {"display_name": "Dr Ember Quill"}, "events:write", 403),
        ("POST", "/api/v1/speakers", {"display_name": "Dr Ember Quill"}, "speakers:write", 201),
        ("GET", "/api/v1/speakers", None, "events:read", 403),
        ("GET", "/api/v1/speakers", None, "speakers:read", 200),
        ("GET", "/api/v1/events", None, "speakers:read", 403),
        ("GET", "/api/v1/events", None, "events:read", 200),
    ],
)
def test_a_scope_for_one_resource_does_not_open_another(
    client, token_for, method, route, body, held, status
):
    _client_id, token = token_for("university", {held})
    headers = {"Authorization": f"Bearer {token}", "Hub-Purpose": PURPOSE}
    response = client.client.open(route, method=method, headers=headers, json=body)
    assert response.status_code == status, response.get_data(as_text=True)


def test_people_signed_in_use_the_api_by_their_roles_not_scopes(client, make_org, make_person):
    officer = make_person(make_org(), ["events_officer"])
    client.sign_in(officer)
    created = client.api("POST", "/api/v1/speakers", json={"display_name": "Dr Ember Quill"})
    assert created.status_code == 201, created.get_data(as_text=True)
    assert client.api("GET", "/api/v1/speakers").status_code == 200
    assert client.api("GET", "/api/v1/events").status_code == 200
    assert client.api("GET", "/api/v1/agreements").status_code == 200


def _operations(app: Flask) -> dict[tuple[str, str], Any]:
    """Every operation under /api/v1 and what its view declares (None: nothing)."""
    found = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(set(rule.methods or ()) - {"HEAD", "OPTIONS"}):
            found[(method, rule.rule)] = declared_access(view, method)
    return found


def test_the_tables_name_every_operation_with_what_it_declares(app):
    declared = _operations(app)
    expected = {(m, r): ("scopes", needed) for m, r, needed in SCOPED}
    expected |= {operation: ("scopes", ()) for operation in ANY_TOKEN}
    expected |= {operation: ("public", ()) for operation in PUBLIC}
    expected |= {operation: ("people", ()) for operation in PEOPLE_ONLY}
    actual = {
        operation: (
            "people" if access is None else "public" if access.public else "scopes",
            () if access is None else access.scopes,
        )
        for operation, access in declared.items()
    }
    assert actual == expected
    assert {scope for _m, _r, needed in SCOPED for scope in needed} <= set(SCOPES)


def test_the_openapi_security_of_each_operation_is_what_its_decorator_enforces(app, client):
    document = client.get("/api/openapi.json").json
    assert set(document["components"]["securitySchemes"]) == {"oauth2", "DPoP", "session"}
    for (method, route), access in _operations(app).items():
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        operation = document["paths"][path][method.lower()]
        security = operation["security"]
        if access is None:
            assert security == [{"session": []}], (method, route)
            continue
        assert security == access.security(), (method, route)
        if access.public:
            assert security == [], (method, route)
            continue
        for scheme in ("oauth2", "DPoP"):
            named = [scope for requirement in security for scope in requirement.get(scheme, [])]
            assert tuple(named) == access.scopes, (method, route, scheme)
        assert {"session": []} in security
