"""Permission matrix: every partners page and endpoint, for each kind of person and organisation.

Each refusal must be a 403 (page or problem document) and must leave a `denied` audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from partners.oauth.scopes import allowed_for
from tests.oauth_helpers import bearer_token, register_partner

ACTORS = [
    "hub_admin",
    "hub_dpo",
    "a_admin",
    "a_events",
    "a_dpo",
    "b_admin",
    "coordinator",
    "peer_client",
    "anonymous",
]
#: Signed in with a browser session (the others: a peer hub's partner system with a token, and
#: nobody at all).
PEOPLE = set(ACTORS) - {"peer_client", "anonymous"}


@dataclass
class World:
    orgs: dict
    people: dict
    peer_client: tuple


@pytest.fixture
def world(make_org, make_person) -> World:
    hub = make_org(kind="hub")
    a = make_org(kind="university")
    b = make_org(kind="university")
    region = make_org(kind="regional_coordinator")
    peer = make_org(kind="hub")  # another hub, a partner of this one through its client
    people = {
        "hub_admin": make_person(hub, ["org_admin"]),
        "hub_dpo": make_person(hub, ["dpo"]),
        "a_admin": make_person(a, ["org_admin"]),
        "a_events": make_person(a, ["events_officer"]),
        "a_dpo": make_person(a, ["dpo"]),
        "a_second_admin": make_person(a, ["org_admin"]),
        "b_admin": make_person(b, ["org_admin"]),
        "coordinator": make_person(region, ["coordinator"]),
    }
    peer_client = register_partner(
        peer, make_person(peer, ["org_admin"]), " ".join(sorted(allowed_for("hub")))
    )
    return World(orgs={"hub": hub, "a": a, "b": b}, people=people, peer_client=peer_client)


def _call(client, world, method, path, data=None, api=False, token=None):
    path = path.format(a=world.orgs["a"].slug, target=world.people["a_events"].id)
    if token is not None:
        headers = {"Authorization": f"Bearer {token}", "Hub-Purpose": "speaker_due_diligence"}
        return client.api(method, path, json=data, headers=headers)
    if api:
        return client.api(method, path, json=data)
    if method == "GET":
        return client.get(path)
    return client.submit("/account", data or {}, action=path)


# (method, path, form or JSON data, who may, is API)
MATRIX = [
    ("GET", "/organisations", None, PEOPLE, False),
    ("GET", "/organisations/new", None, {"hub_admin"}, False),
    (
        "POST",
        "/organisations/new",
        {
            "name": "Z",
            "slug": "zz-new",
            "kind": "university",
            "region": "R",
            "dp_contact_name": "D",
            "dp_contact_email": "d@z.example",
        },
        {"hub_admin"},
        False,
    ),
    ("GET", "/organisations/{a}", None, PEOPLE, False),
    ("GET", "/organisations/{a}/edit", None, {"hub_admin"}, False),
    ("POST", "/organisations/{a}/status", {"status": "suspended"}, {"hub_admin"}, False),
    ("GET", "/organisations/{a}/people/new", None, {"hub_admin", "a_admin"}, False),
    (
        "POST",
        "/organisations/{a}/people/new",
        {"name": "N", "email": "n@a.example", "roles": "dpo"},
        {"hub_admin", "a_admin"},
        False,
    ),
    ("GET", "/people/{target}/edit", None, {"hub_admin", "a_admin"}, False),
    ("POST", "/people/{target}/status", {"status": "suspended"}, {"hub_admin", "a_admin"}, False),
    ("POST", "/people/{target}/enrolment-link", {}, {"hub_admin", "a_admin"}, False),
    ("GET", "/api/v1/organisations", None, PEOPLE | {"peer_client"}, True),
    ("GET", "/api/v1/organisations/{a}", None, PEOPLE | {"peer_client"}, True),
    (
        "POST",
        "/api/v1/organisations",
        {
            "name": "Z",
            "slug": "zz-api",
            "kind": "university",
            "region": "R",
            "dp_contact_name": "D",
            "dp_contact_email": "d@z.example",
        },
        {"hub_admin"},
        True,
    ),
    ("GET", "/api/v1/me", None, PEOPLE | {"peer_client"}, True),
]


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize(
    ("method", "path", "data", "allowed", "api"), MATRIX, ids=[f"{m} {p}" for m, p, *_ in MATRIX]
)
def test_permission_matrix(client, world, who, method, path, data, allowed, api):
    token, actor = None, None
    if who == "peer_client":
        oauth_client, key = world.peer_client
        token = bearer_token(client, oauth_client.client_id, key)
        actor = f"client:{oauth_client.client_id}"
        if not api:  # a token is no sign-in to the pages
            who = "anonymous"
    elif who != "anonymous":
        client.sign_in(world.people[who])
        actor = f"person:{world.people[who].id}"
    if who == "anonymous" and method == "POST" and not api:
        pytest.skip("anonymous form posts are covered by the CSRF and sign-in tests")
    before = db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0
    response = _call(client, world, method, path, data, api, token)
    if who in allowed:
        assert response.status_code in (200, 201, 302), response.get_data(as_text=True)[:500]
        if response.status_code == 302:
            assert "/sign-in" not in response.headers["Location"]
        return
    if who == "anonymous":
        assert response.status_code == (401 if api else 302)
        return
    assert response.status_code == 403
    if api:
        assert response.mimetype == "application/problem+json"
    denied = db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.seq > before, AuditEntry.outcome == "denied")
    ).all()
    assert denied, "refusal was not audited"
    assert denied[-1].actor == actor


def test_people_list_is_hidden_from_other_organisations(client, world):
    client.sign_in(world.people["b_admin"])
    html = client.get(f"/organisations/{world.orgs['a'].slug}").get_data(as_text=True)
    assert world.people["a_events"].email not in html
    client.sign_out()
    client.sign_in(world.people["a_dpo"])
    html = client.get(f"/organisations/{world.orgs['a'].slug}").get_data(as_text=True)
    assert world.people["a_events"].email in html
    assert "Add a person" not in html  # seen, not managed


def test_org_admin_adds_a_person_and_gets_a_link(client, world):
    client.sign_in(world.people["a_admin"])
    response = client.submit(
        f"/organisations/{world.orgs['a'].slug}/people/new",
        {"name": "Nia Newcomer", "email": "nia@a.example", "roles": ["events_officer", "dpo"]},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "/enrol/" in html
    entry = db.session.scalar(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "person.create")
        .order_by(AuditEntry.seq.desc())
    )
    assert entry.actor == f"person:{world.people['a_admin'].id}"


def test_person_form_errors_use_the_error_summary(client, world):
    client.sign_in(world.people["a_admin"])
    response = client.submit(
        f"/organisations/{world.orgs['a'].slug}/people/new", {"name": "", "email": "not-an-email"}
    )
    html = response.get_data(as_text=True)
    assert "govuk-error-summary" in html
    assert 'href="#email"' in html and 'href="#roles"' in html and 'href="#name"' in html
