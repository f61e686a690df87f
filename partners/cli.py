"""`flask --app wsgi partners ...`: scripted provisioning of organisations and people."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from core.cli import translate_errors
from core.db import db, transaction, utcnow
from core.security import Actor
from partners import services, webhooks
from partners import signing_keys as keys
from partners.models import OrganisationKind, Role
from partners.oauth import clients

partners_group = AppGroup("partners", help="Manage organisations and people.")


@partners_group.command("create-org")
@click.option("--name", required=True, help="Full name, e.g. 'University of Northshire'.")
@click.option("--slug", required=True, help="Short name used in web addresses.")
@click.option("--kind", required=True, type=click.Choice([k.value for k in OrganisationKind]))
@click.option("--region", required=True)
@click.option("--dp-contact-name", required=True, help="Designated data protection contact.")
@click.option("--dp-contact-email", required=True)
@translate_errors
def create_org(
    name: str, slug: str, kind: str, region: str, dp_contact_name: str, dp_contact_email: str
) -> None:
    """Add an organisation to the directory."""
    with transaction():
        organisation = services.create_organisation(
            _operator(),
            {
                "name": name,
                "slug": slug,
                "kind": kind,
                "region": region,
                "dp_contact_name": dp_contact_name,
                "dp_contact_email": dp_contact_email,
            },
        )
    click.echo(f"Created organisation {organisation.slug} ({organisation.id})")


@partners_group.command("create-person")
@click.option("--org", "org_slug", required=True, help="The organisation's slug.")
@click.option("--name", required=True)
@click.option("--email", required=True)
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="Repeat for several roles.",
)
@translate_errors
def create_person(org_slug: str, name: str, email: str, roles: tuple[str, ...]) -> None:
    """Add a person and print their one-time enrolment link (valid for 7 days)."""
    with transaction():
        organisation = services.get_organisation(org_slug)
        new = services.create_person(
            _operator(), organisation, {"name": name, "email": email, "roles": list(roles)}
        )
    base = current_app.config["HUB_SETTINGS"].base_url.rstrip("/")
    click.echo(f"Created {new.person.email} in {organisation.slug} with roles {', '.join(roles)}")
    click.echo(f"One-time enrolment link (7 days): {base}/enrol/{new.enrolment_token}")


def _operator() -> Actor:
    """The CLI runs with the operator's authority: it is the hub's own administrator."""
    return Actor.system("cli")


@partners_group.command("add-client")
@click.option("--org", "org_slug", required=True, help="The organisation's slug.")
@click.option("--name", required=True, help="What the partner system is called.")
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file with the client's public keys (JWKS).",
)
@click.option("--jwks-uri", help="Or: where the client publishes its keys (https).")
@click.option("--scopes", required=True, help='Space-separated, e.g. "speakers:read events:read".')
@click.option("--dpop", is_flag=True, help="Bind the client's tokens to its DPoP key.")
@translate_errors
def add_client(
    org_slug: str, name: str, jwks_file: Path | None, jwks_uri: str | None, scopes: str, dpop: bool
) -> None:
    """Register a partner system (private_key_jwt) and print its client_id."""
    with transaction():
        organisation = services.get_organisation(org_slug)
        client, _secret = clients.register_client(
            _operator(),
            organisation,
            {
                "name": name,
                "jwks": jwks_file.read_text() if jwks_file else None,
                "jwks_uri": jwks_uri,
                "scopes": scopes.split(),
                "dpop_bound": dpop,
            },
        )
    click.echo(client.client_id)


@partners_group.command("rotate-token-key")
def rotate_token_key() -> None:
    """Start signing access tokens with a new key (the old one stays published until its
    tokens have expired)."""
    with transaction():
        row = keys.create_key()
    click.echo(f"Now signing access tokens with key {row.kid}")


@partners_group.command("deliver-webhooks")
@click.option("--follow", is_flag=True, help="Keep running, sending deliveries as they fall due.")
@click.option(
    "--interval", default=10.0, show_default=True, help="Seconds between passes with --follow."
)
def deliver_webhooks(follow: bool, interval: float) -> None:
    """Send the webhook deliveries that are due (retries back off: 1m, 5m, 30m, 2h, 12h)."""
    while True:
        run = webhooks.deliver_due(utcnow())
        if run.attempted or run.cancelled or not follow:
            click.echo(
                f"Delivered {run.delivered}, retrying {run.retrying}, failed {run.failed}, "
                f"cancelled {run.cancelled}"
            )
        db.session.remove()
        if not follow:
            return
        time.sleep(interval)
