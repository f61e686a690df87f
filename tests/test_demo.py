"""The demo region: fictional organisations of every kind, people in every role, all can sign in."""

from __future__ import annotations

import html

import pyotp
import pytest
import sqlalchemy as sa

from core.db import db
from hub import demo
from partners.models import Organisation, OrganisationKind, Person, Role
from tests.conftest import csrf_from


@pytest.fixture
def seeded(app):
    password, accounts = demo.seed_demo(password="demo-password-for-tests")
    db.session.flush()
    return password, accounts


def test_demo_has_every_kind_and_every_role(seeded):
    kinds = set(db.session.scalars(sa.select(Organisation.kind)))
    assert kinds == set(OrganisationKind)
    roles = set()
    for person in db.session.scalars(sa.select(Person)):
        roles |= person.roles
    assert roles == {r.value for r in Role}
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Organisation)
            .where(Organisation.kind == OrganisationKind.UNIVERSITY)
        )
        == 3
    )


def test_demo_uses_reserved_example_domains_only(seeded):
    for email in db.session.scalars(sa.select(Person.email)):
        assert email.endswith(".example")


@pytest.mark.parametrize("index", range(len(demo.PEOPLE)))
def test_every_demo_account_can_sign_in(seeded, new_client, index):
    password, accounts = seeded
    account = accounts[index]
    client = new_client()
    page = client.get("/sign-in").get_data(as_text=True)
    response = client.post(
        "/sign-in",
        data={"csrf_token": csrf_from(page), "email": account.email, "password": password},
    )
    assert response.headers["Location"].startswith("/sign-in/code")
    response = client.submit("/sign-in/code", {"code": pyotp.TOTP(account.totp_secret).now()})
    assert response.status_code == 302
    page = html.unescape(client.get("/").get_data(as_text=True))
    assert account.organisation in page


def test_seed_demo_command_refuses_a_hub_with_data(cli, make_org):
    make_org()
    result = cli.invoke(args=["hub", "seed-demo"])
    assert result.exit_code == 2
    result = cli.invoke(args=["hub", "seed-demo", "--if-empty"])
    assert result.exit_code == 0 and "not seeded" in result.output


def test_credentials_text_lists_every_account(seeded):
    password, accounts = seeded
    text = demo.credentials_text("http://127.0.0.1:8000", password, accounts)
    assert password in text and demo.DEMO_BANNER in text
    for account in accounts:
        assert account.email in text and account.totp_secret in text


def test_demo_credentials_follow_the_address_the_hub_is_served_on(app, cli, seeded):
    """`make run PORT=...` after an earlier run on another port: the kept details, and what is
    printed, name the address served now; the audit log's origin is printed as it is."""
    password, accounts = seeded
    settings = app.config["HUB_SETTINGS"]
    demo.write_credentials(
        settings.instance_path, demo.credentials_text("http://127.0.0.1:8000", password, accounts)
    )
    settings.base_url = "http://127.0.0.1:8123"
    try:
        result = cli.invoke(args=["hub", "demo-credentials"])
    finally:
        settings.base_url = "http://127.0.0.1:8000"
    assert result.exit_code == 0, result.output
    assert "Open http://127.0.0.1:8123/ and sign in" in result.output
    assert "Audit log origin: " in result.output
    kept = demo.credentials_path(settings.instance_path).read_text()
    assert "http://127.0.0.1:8123/" in kept and "8000" not in kept
    assert password in kept and all(a.email in kept for a in accounts)


def test_demo_credentials_say_when_there_are_none(app, cli):
    demo.credentials_path(app.config["HUB_SETTINGS"].instance_path).unlink(missing_ok=True)
    result = cli.invoke(args=["hub", "demo-credentials"])
    assert result.exit_code == 0 and "make seed" in result.output
