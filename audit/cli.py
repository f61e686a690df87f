"""`flask --app wsgi audit ...`: integrate, checkpoints, proofs, entries, verify, witness."""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path

import click
from flask.cli import AppGroup

from audit import log, notes
from audit import services as audit
from audit import verify as verification
from audit import witness as witnesses
from hub.core.cli import CliInputError, translate_errors
from hub.core.db import db, utcnow
from hub.core.security import Actor

audit_group = AppGroup("audit", help="The verifiable audit log.")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _require_size(size: int) -> None:
    current = log.tree_size(db.session())
    if size > current:
        raise CliInputError(f"the log holds {current} entries, not {size}")


@audit_group.command("integrate")
@click.option(
    "--follow",
    is_flag=True,
    help="Keep integrating until stopped (a dedicated "
    "integrator process; see HUB_AUDIT_INTEGRATE_AFTER_COMMIT).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=0.5,
    show_default=True,
    help="Seconds between rounds with --follow.",
)
def integrate(follow: bool, interval: float) -> None:
    """Give every pending entry its index, and sign a checkpoint if the tree grew."""
    while True:
        head = log.integrate_now(force_checkpoint=not follow)
        assert head is not None
        if not follow:
            click.echo(json.dumps({"size": head.size, "root": _b64(head.root)}))
            return
        time.sleep(interval)


@audit_group.command("checkpoint")
def checkpoint() -> None:
    """Print the latest signed checkpoint (integrating first)."""
    log.integrate_now(force_checkpoint=True)
    latest = log.latest_checkpoint(db.session())
    if latest is None:
        latest = log.sign_checkpoint(db.session(), log.tree_head(db.session()), force=True)
        db.session.commit()
    click.echo(latest.note, nl=False)


@audit_group.command("verifier-key")
def verifier_key() -> None:
    """Print the signed-note verifier key partners pin to check checkpoints."""
    click.echo(log.verifier_key())


@audit_group.group("proof")
def proof() -> None:
    """Inclusion and consistency proofs (JSON)."""


@proof.command("inclusion")
@click.option("--index", type=click.IntRange(min=0), required=True)
@click.option("--size", type=click.IntRange(min=1), required=True)
def proof_inclusion(index: int, size: int) -> None:
    """The inclusion proof of entry INDEX in the tree of SIZE entries."""
    if index >= size:
        raise CliInputError("--index must be less than --size")
    _require_size(size)
    leaf_hash, hashes = log.inclusion_proof(db.session(), index, size)
    click.echo(
        json.dumps(
            {
                "index": index,
                "size": size,
                "leaf_hash": _b64(leaf_hash),
                "hashes": [_b64(h) for h in hashes],
            }
        )
    )


@proof.command("consistency")
@click.option("--old", type=click.IntRange(min=1), required=True)
@click.option("--new", type=click.IntRange(min=1), required=True)
def proof_consistency(old: int, new: int) -> None:
    """The proof that the tree of NEW entries extends the tree of OLD entries."""
    if old > new:
        raise CliInputError("--old must not be greater than --new")
    _require_size(new)
    hashes = log.consistency_proof(db.session(), old, new)
    click.echo(json.dumps({"old": old, "new": new, "hashes": [_b64(h) for h in hashes]}))


@audit_group.command("entries")
@click.option("--start", type=click.IntRange(min=0), required=True)
@click.option("--end", type=click.IntRange(min=1), required=True)
def entries(start: int, end: int) -> None:
    """Entries with indexes in [START, END), one JSON object per line (reading is audited)."""
    if end <= start:
        raise CliInputError("--end must be greater than --start")
    rows = audit.read_entries(Actor.system("cli"), start, end)
    db.session.commit()
    for idx, entry in rows:
        click.echo(
            json.dumps(
                {"index": idx, "leaf": _b64(entry.leaf), "entry": audit.parse_leaf(entry.leaf)},
                sort_keys=True,
            )
        )


@audit_group.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A signed checkpoint kept outside the database (e.g. from a witness).",
)
@click.option("--key", "key", help="Verifier key to trust (default: this hub's own).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def verify(checkpoint_file: Path | None, key: str | None, as_json: bool) -> None:
    """Recompute and cross-check the whole log; exit 0 only if everything holds."""
    started = utcnow()
    external = checkpoint_file.read_text() if checkpoint_file else None
    report = verification.verify(
        db.session(), key or log.verifier_key(), external_checkpoint=external
    )
    db.session.rollback()
    try:
        verification.record_verification(db.session(), report, started, "cli")
        db.session.commit()
    except Exception:  # a tampered database may refuse the write; the verdict still stands
        db.session.rollback()
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else report.summary())
    sys.exit(0 if report.ok else 1)


@audit_group.command("witness")
@click.option("--hub", "hub_url", required=True, help="The hub's base URL.")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Where the witness keeps what it last cosigned.",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    required=True,
    help="The witness's signer key (see `audit witness-key`).",
)
@click.option("--log-key", help="The hub's verifier key to pin (default: fetched on first use).")
def witness(hub_url: str, state_path: Path, key_path: Path, log_key: str | None) -> None:
    """Fetch the hub's checkpoint, check it extends what was cosigned before, cosign, post."""
    try:
        click.echo(witnesses.run_witness(hub_url, state_path, key_path, log_key=log_key))
    except witnesses.WitnessRefusal as exc:
        click.echo(f"REFUSED: {exc}", err=True)
        sys.exit(3)
    except (OSError, ValueError) as exc:
        click.echo(f"witness could not complete: {exc}", err=True)
        sys.exit(1)


@audit_group.command("witness-key")
@click.option("--name", required=True, help="The witness's name, e.g. witness.ravensmoor.example")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def witness_key(name: str, out: Path) -> None:
    """Make a witness signer key in OUT and print the verifier key to register with the hub."""
    if out.exists():
        raise CliInputError(f"{out} exists; refusing to overwrite a key")
    try:
        key = notes.make_cosigner_key(name)
    except notes.NoteError as exc:
        raise CliInputError(str(exc)) from exc
    out.touch(mode=0o600)
    out.write_text(key + "\n")
    click.echo(notes.verifier_key_from_signer(key))


@audit_group.command("register-witness")
@click.option("--org", "org_id", required=True, help="The organisation's id.")
@click.option("--key", "vkey", required=True, help="The witness's verifier key.")
@translate_errors
def register_witness(org_id: str, vkey: str) -> None:
    """Register a partner's witness key."""
    witness_row = witnesses.register_witness(db.session(), Actor.system("cli"), org_id, vkey)
    db.session.commit()
    click.echo(f"Registered witness {witness_row.name} ({witness_row.id})")
