"""`flask --app wsgi federation ...`: register peer hubs, show the keys to give them, witness."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from audit import log
from core.cli import CliInputError, translate_errors, unit_of_work
from core.security import Actor
from hub.federation import services, witnessing
from hub.federation.models import PeerHub

federation_group = AppGroup("federation", help="Peer hubs: federated search and witnessing.")


def _operator() -> Actor:
    return Actor.system("cli")


def _read_jwks(path: Path | None) -> dict | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise CliInputError(f"{path} is not JSON: {exc}") from exc


@federation_group.command("add-peer")
@click.option("--name", required=True, help="The peer hub's name, e.g. 'Southmoor Prevent hub'.")
@click.option("--slug", required=True, help="A short name for the peer here, e.g. southmoor-hub.")
@click.option("--url", "base_url", required=True, help="The peer's base URL (its OAuth issuer).")
@click.option("--log-key", required=True, help="The peer's audit verifier key.")
@click.option("--region", required=True)
@click.option("--dp-contact-name", required=True)
@click.option("--dp-contact-email", required=True)
@click.option("--client-id", help="Our client id at the peer, once it has registered us.")
@click.option(
    "--peer-jwks",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The peer's public JWKS, to register its client here.",
)
@click.option("--witness-key", help="The peer's witness verifier key, to accept its cosignatures.")
@unit_of_work
def add_peer(
    name: str,
    slug: str,
    base_url: str,
    log_key: str,
    region: str,
    dp_contact_name: str,
    dp_contact_email: str,
    client_id: str | None,
    peer_jwks: Path | None,
    witness_key: str | None,
) -> None:
    """Register another regional hub as a peer (and, given its JWKS, its client here); print
    what to give its operator, with the client id registered for it."""
    jwks = _read_jwks(peer_jwks)
    operator = _operator()
    peer = services.add_peer(
        operator,
        {
            "name": name,
            "slug": slug,
            "base_url": base_url,
            "log_key": log_key,
            "region": region,
            "dp_contact_name": dp_contact_name,
            "dp_contact_email": dp_contact_email,
            "client_id": client_id,
            "witness_key": witness_key,
        },
    )
    # The peer's client is registered here (not by add_peer) so that its id can be printed:
    # the peer's operator needs it, and it was shown nowhere else.
    client = services.register_peer_client(operator, peer, jwks) if jwks is not None else None
    click.echo(f"Registered peer hub {peer.organisation.name} ({peer.organisation.slug}).")
    _print_keys(peer, client.client_id if client is not None else None)


def _print_keys(peer: PeerHub, client_id: str | None = None) -> None:
    """What the peer's operator needs from us: the client id we registered for the peer (when
    we just did: its `--client-id` for this hub), our JWKS, our log and witness keys."""
    click.echo("Give the peer's operator:")
    if client_id:
        click.echo(
            f"  the client id we registered for it here (its --client-id for us): {client_id}"
        )
    click.echo("  our public JWKS (register it as our client there):")
    click.echo(json.dumps(services.public_jwks(peer)))
    click.echo(f"  our audit verifier key: {log.verifier_key()}")
    click.echo(f"  our witness verifier key: {witnessing.witness_verifier_key()}")


@federation_group.command("show-keys")
@click.option("--peer", "slug", required=True)
@translate_errors
def show_keys(slug: str) -> None:
    """Print the keys this hub gives a peer (our JWKS for it, our log and witness keys)."""
    _print_keys(services.get_peer(_operator(), slug))


@federation_group.command("register-peer-client")
@click.option("--peer", "slug", required=True)
@click.option("--jwks", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@unit_of_work
def register_peer_client(slug: str, jwks: Path) -> None:
    """Register the peer's system as a client here; print the client id to give the peer."""
    peer = services.get_peer(_operator(), slug)
    client = services.register_peer_client(_operator(), peer, _read_jwks(jwks))
    click.echo(client.client_id)


@federation_group.command("register-peer-witness")
@click.option("--peer", "slug", required=True)
@click.option("--key", "vkey", required=True, help="The peer's witness verifier key.")
@unit_of_work
def register_peer_witness(slug: str, vkey: str) -> None:
    """Accept the peer's cosignatures of this hub's checkpoints."""
    peer = services.get_peer(_operator(), slug)
    services.register_peer_witness(_operator(), peer, vkey)
    click.echo(f"Registered the witness key of {peer.organisation.name}.")


@federation_group.command("update-peer")
@click.option("--peer", "slug", required=True)
@click.option("--client-id", help="Our client id at the peer.")
@click.option("--url", "base_url", help="The peer's new base URL.")
@click.option("--log-key", help="The peer's (rotated) audit verifier key, same origin.")
@click.option("--status", type=click.Choice(["active", "suspended"]))
@unit_of_work
def update_peer(
    slug: str, client_id: str | None, base_url: str | None, log_key: str | None, status: str | None
) -> None:
    """Change what this hub knows of a peer, or suspend (and reinstate) it."""
    peer = services.get_peer(_operator(), slug)
    services.update_peer(
        _operator(),
        peer,
        {"client_id": client_id, "base_url": base_url, "log_key": log_key, "status": status},
    )
    click.echo(f"Updated peer hub {peer.organisation.slug}.")


@federation_group.command("rotate-key")
@click.option("--peer", "slug", required=True)
@unit_of_work
def rotate_key(slug: str) -> None:
    """A new key pair for calling the peer; print the JWKS to register there."""
    peer = services.rotate_key(_operator(), services.get_peer(_operator(), slug))
    click.echo(json.dumps(services.public_jwks(peer)))


@federation_group.command("approve-agreement")
@click.option("--peer", "slug", required=True)
@click.option("--agreement", "agreement_id", required=True)
@unit_of_work
def approve_agreement(slug: str, agreement_id: str) -> None:
    """Record the peer's approval of a proposed agreement (its signatory signed at the peer)."""
    peer = services.get_peer(_operator(), slug)
    agreement = services.approve_agreement_for_peer(_operator(), peer, agreement_id)
    click.echo(
        f"Recorded {peer.organisation.name}'s approval; the agreement is now "
        f"{agreement.status.value}."
    )


@federation_group.command("list-peers")
@click.option("--json", "as_json", is_flag=True)
@translate_errors
def list_peers(as_json: bool) -> None:
    """The registered peer hubs and their witnessing state."""
    rows = [
        {
            "slug": p.organisation.slug,
            "name": p.organisation.name,
            "url": p.base_url,
            "status": p.status.value,
            "client_id": p.client_id,
            "log_origin": p.log_origin,
            "witnessed_size": p.witnessed_size,
            "last_witness": p.last_witness_outcome,
        }
        for p in services.list_peers(_operator())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['slug']}\t{row['status']}\t{row['url']}\tclient={row['client_id'] or '-'}"
            f"\twitnessed={row['witnessed_size'] if row['witnessed_size'] is not None else '-'}"
            f"\t{row['last_witness'] or ''}"
        )


@federation_group.command("witness-peers")
@unit_of_work
def witness_peers() -> None:
    """Cosign every active peer's checkpoint (run from cron or a systemd timer); exit 3 if any
    peer was refused as inconsistent, 1 if one could not be reached."""
    reports = witnessing.witness_peers(_operator())
    for report in reports:
        click.echo(report.line(), err=report.outcome != "cosigned")
    if any(r.outcome == "refused" for r in reports):
        sys.exit(3)
    if any(r.outcome == "unreachable" for r in reports):
        sys.exit(1)


@federation_group.command("witness-key")
def witness_key() -> None:
    """Print this hub's witness verifier key (peers register it to accept our cosignatures)."""
    click.echo(witnessing.witness_verifier_key())
