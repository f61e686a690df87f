"""An email domain belongs to one organisation: its identity provider may claim the domains its
own addresses show are its own; every other claim is refused (and audited) or needs the hub's
operator, and the database lets only one of two simultaneous claims win."""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from audit.models import AuditEntry
from core import migrations
from core.db import db, utcnow
from core.errors import ValidationFailed
from core.security import Actor
from partners import services as partners_services
from partners.identity import services
from partners.identity.models import IdentityProviderDomain
from tests.conftest import app_config, close_app, dispose_database, fresh_database_url
from tests.partners.identity.conftest import last_seq

HOME = "fellwater.example"  # the domain Fellwater's people and contact use


def _settings(issuer: str, domains: str) -> dict[str, str]:
    return {
        "issuer": issuer,
        "client_id": "prevent-hub",
        "client_auth_method": "client_secret_basic",
        "client_secret": "s3cret-value-from-the-provider",
        "allowed_domains": domains,
        "scopes": "openid email profile",
        "role_policy": "hub",
        "enabled": "yes",
    }


@pytest.fixture
def world(make_org, make_person):
    hub = make_org(kind="hub")
    fellwater = make_org(kind="university", dp_contact_email=f"dpo@{HOME}")
    rival = make_org(kind="university", dp_contact_email="dpo@rival.example")
    return {
        "fellwater": fellwater,
        "rival": rival,
        "operator": make_person(hub, ["org_admin"]),
        "fellwater_admin": make_person(fellwater, ["org_admin"], email=f"admin@{HOME}"),
        "rival_admin": make_person(rival, ["org_admin"], email="admin@rival.example"),
    }


def _configure(client, org, domains: str, issuer: str | None = None):
    path = f"/organisations/{org.slug}/identity-provider"
    issuer = issuer or f"https://login.{org.slug}.example/v2.0"
    return client.submit(path, _settings(issuer, domains))


def _refused(response, *messages: str) -> None:
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200, body[:2000]
    assert "govuk-error-summary" in body and 'href="#allowed_domains"' in body
    assert 'id="allowed_domains-error"' in body
    for message in messages:
        assert message in body


def _denials(after: int) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry)
            .where(
                AuditEntry.seq > after,
                AuditEntry.action == "identity_provider.configure",
                AuditEntry.outcome == "denied",
            )
            .order_by(AuditEntry.seq)
        )
    )


def test_a_domain_another_organisations_provider_claimed_is_refused(client, new_client, world):
    client.sign_in(world["fellwater_admin"])
    assert _configure(client, world["fellwater"], HOME).status_code == 302

    rival = new_client()
    rival.sign_in(world["rival_admin"])
    before = last_seq()
    response = _configure(rival, world["rival"], f"rival.example\n{HOME}")

    _refused(response, f"{HOME} is already used by another organisation's identity provider")
    assert services.get_provider(world["rival"]) is None
    [denied] = _denials(before)
    assert denied.reason == "domain_claimed"
    assert json.loads(denied.details)["refused_domains"] == {HOME: "domain_claimed"}
    # Fellwater's people are still sent to Fellwater's provider, and only there.
    assert services.provider_for_email(f"staff@{HOME}").organisation_id == world["fellwater"].id


def test_a_domain_other_organisations_people_use_is_refused(client, world, make_person):
    # Rival's administrator adds someone at Fellwater's domain to Rival, then claims it.
    make_person(world["rival"], ["events_officer"], email=f"plant@{HOME}")
    client.sign_in(world["rival_admin"])
    before = last_seq()

    response = _configure(client, world["rival"], HOME)

    _refused(response, f"People in another organisation have email addresses at {HOME}")
    assert services.get_provider(world["rival"]) is None
    assert [d.reason for d in _denials(before)] == ["domain_used_elsewhere"]


def test_a_domain_the_organisation_does_not_use_needs_the_hub_operator(client, new_client, world):
    client.sign_in(world["rival_admin"])
    before = last_seq()
    response = _configure(client, world["rival"], "rival.example\nnewly-bought.example")

    _refused(
        response,
        "No one in " + world["rival"].name + " has an email address at newly-bought.example",
        "Ask the hub's operator",
    )
    assert services.get_provider(world["rival"]) is None
    [denied] = _denials(before)
    assert denied.reason == "domain_not_evidenced"
    assert json.loads(denied.details)["refused_domains"] == {
        "newly-bought.example": "domain_not_evidenced"
    }

    operator = new_client()
    operator.sign_in(world["operator"])
    assert (
        _configure(operator, world["rival"], "rival.example\nnewly-bought.example").status_code
        == 302
    )
    assert services.get_provider(world["rival"]).domain_list == [
        "newly-bought.example",
        "rival.example",
    ]
    # Rival's administrator can change other settings and keep the domain the operator gave.
    response = client.submit(
        f"/organisations/{world['rival'].slug}/identity-provider",
        {
            **_settings(
                services.get_provider(world["rival"]).issuer, "rival.example newly-bought.example"
            ),
            "scopes": "openid email",
        },
    )
    assert response.status_code == 302


def test_the_organisations_own_addresses_are_evidence(client, world, make_person):
    make_person(world["fellwater"], ["dpo"], email=f"dpo.team@staff.{HOME}")
    client.sign_in(world["fellwater_admin"])
    # HOME: its people and its data protection contact; staff.HOME: one of its people.
    assert _configure(client, world["fellwater"], f"{HOME}\nstaff.{HOME}").status_code == 302
    assert services.get_provider(world["fellwater"]).domain_list == [HOME, f"staff.{HOME}"]


def test_even_the_hub_operator_cannot_give_one_domain_to_two_organisations(app_ctx, world):
    operator = Actor.system("test")
    services.configure_provider(
        operator, world["fellwater"], _settings("https://login.fellwater.example", HOME)
    )
    with pytest.raises(ValidationFailed) as refused:
        services.configure_provider(
            operator, world["rival"], _settings("https://login.rival.example", HOME)
        )
    assert refused.value.reason == "domain_claimed"
    assert refused.value.audit["action"] == "identity_provider.configure"


def test_the_database_keeps_one_owner_per_domain(app_ctx, world):
    operator = Actor.system("test")
    fellwater = services.configure_provider(
        operator, world["fellwater"], _settings("https://login.fellwater.example", HOME)
    )
    rival = services.configure_provider(
        operator, world["rival"], _settings("https://login.rival.example", "rival.example")
    )
    assert fellwater.domain_list == [HOME]
    with pytest.raises(IntegrityError):
        _claim_directly(HOME, rival.id)


def _claim_directly(domain: str, provider_id: Any) -> None:
    """Insert a claim past the service, as a second writer racing the first would."""
    with db.session.begin_nested():
        db.session.execute(
            sa.insert(IdentityProviderDomain).values(
                domain=domain, provider_id=provider_id, claimed_at=utcnow()
            )
        )


# --- two claims at once -----------------------------------------------------------------


@pytest.fixture
def committed_hub(database_server: str | None, tmp_path: Path) -> Iterator[Flask]:
    """A migrated database of its own, with two organisations committed."""
    from hub.app import create_app

    if database_server is None:
        pytest.skip("concurrent transactions are PostgreSQL's; SQLite runs one writer at a time")
    url = fresh_database_url(database_server, tmp_path, "domain_race")
    app = create_app(app_config(url, tmp_path / "instance", audit_integrate_after_commit=False))
    try:
        with app.app_context():
            migrations.upgrade(url)
        with app.test_request_context():
            for slug in ("first-claimant", "second-claimant"):
                partners_services.create_organisation(
                    Actor.system("test"),
                    {
                        "name": slug.replace("-", " ").title(),
                        "slug": slug,
                        "kind": "university",
                        "region": "Testshire",
                        "dp_contact_name": "Test Contact",
                        "dp_contact_email": f"dpo@{slug}.example",
                    },
                )
            db.session.commit()
        yield app
    finally:
        db.session.remove()
        close_app(app)
        dispose_database(database_server, url)


@pytest.mark.postgresql_only
@pytest.mark.slow
def test_two_claims_of_one_domain_at_once_cannot_both_win(committed_hub: Flask):
    barrier = threading.Barrier(2)

    def claim(slug: str) -> Any:
        with committed_hub.test_request_context():
            org = partners_services.get_organisation(slug)
            data = _settings(f"https://login.{slug}.example", HOME)
            db.session.commit()  # both start from the same committed state
            barrier.wait()
            try:
                services.configure_provider(Actor.system("test"), org, data)
                db.session.commit()
            except ValidationFailed as exc:
                db.session.rollback()
                return exc.reason
            return "claimed"

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(claim, ["first-claimant", "second-claimant"]))

    assert sorted(outcomes) == ["claimed", "domain_claimed"], outcomes
    with committed_hub.app_context():
        owners = db.session.scalars(
            sa.select(IdentityProviderDomain.provider_id).where(
                IdentityProviderDomain.domain == HOME
            )
        ).all()
        assert len(owners) == 1
