"""`flask --app wsgi audit ...`: integrate, checkpoints, proofs, entries, verify, backup-check,
witness."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from audit import log, notes
from audit import services as audit
from audit import verify as verification
from audit import witness as witnesses
from audit import witness_submission as submission
from audit.models import AuditPending
from core.cli import CliInputError, unit_of_work
from core.db import db, read_only, utcnow
from core.security import Actor

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
    """Give every pending entry its index, and sign a checkpoint if the tree grew.

    With --follow it keeps going through database outages: a round that fails on a dropped
    or refused connection is logged and retried with a growing pause (up to a minute), and
    the integrator never exits on such an error. A damaged tree (it will not sign over one)
    still stops it, loudly."""
    if not follow:
        head = log.integrate_now(force_checkpoint=True)
        assert head is not None
        click.echo(json.dumps({"size": head.size, "root": _b64(head.root)}))
        return
    log.follow(interval)


@audit_group.command("checkpoint")
@unit_of_work
def checkpoint() -> None:
    """Print the latest signed checkpoint (integrating first)."""
    log.integrate_now(force_checkpoint=True)
    latest = log.latest_checkpoint(db.session())
    if latest is None:
        latest = log.sign_checkpoint(db.session(), log.tree_head(db.session()), force=True)
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
@unit_of_work
def entries(start: int, end: int) -> None:
    """Entries with indexes in [START, END), one JSON object per line (reading is audited)."""
    if end <= start:
        raise CliInputError("--end must be greater than --start")
    rows = audit.read_entries(Actor.system("cli"), start, end)
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
    report = _verify_and_record(checkpoint_file, key, "cli")
    click.echo(json.dumps(report.as_json(), indent=2) if as_json else report.summary())
    sys.exit(0 if report.ok else 1)


def _verify_and_record(
    checkpoint_file: Path | None, key: str | None, triggered_by: str
) -> verification.Report:
    """Verify the whole log (against a checkpoint file if given) and keep the outcome."""
    started = utcnow()
    external = checkpoint_file.read_text() if checkpoint_file else None
    db.session.rollback()  # verifying reads only: it must not hold the write lock meanwhile
    report = verification.verify(
        read_only(db.session()), key or log.verifier_key(), external_checkpoint=external
    )
    db.session.rollback()
    try:
        verification.record_verification(db.session(), report, started, triggered_by)
        db.session.commit()
    except Exception:  # a tampered database may refuse the write; the verdict still stands
        db.session.rollback()
    return report


RESTORE_COMPLETE, RESTORE_ROLLED_BACK, RESTORE_DAMAGED = 0, 1, 2


@audit_group.command("backup-check")
@click.argument("checkpoint_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--key", "key", help="Verifier key to trust (default: this hub's own).")
def backup_check(checkpoint_file: Path, key: str | None) -> None:
    """Check a restored database against CHECKPOINT_FILE, a checkpoint saved before the backup.

    Exit 0: complete (it holds every entry the checkpoint signed, and the whole log verifies).
    Exit 1: rolled back (the backup is older than the checkpoint: entries are missing; what it
    holds verifies). Exit 2: damaged, or it cannot be checked (wrong key, bad arguments).
    Run it before the hub serves or integrates anything from the restored database.
    """
    report = _verify_and_record(checkpoint_file, key, "backup-check")
    verdict, lines = _restore_verdict(report, checkpoint_file)
    pending = db.session.scalar(sa.select(sa.func.count()).select_from(AuditPending))
    db.session.rollback()
    if pending and verdict != RESTORE_DAMAGED:
        lines.append(
            f"{pending} more entries were written but not yet integrated when the backup was"
            " taken; the integrator adds them when the hub starts."
        )
    click.echo("\n".join(lines))
    sys.exit(verdict)


def _restore_verdict(report: verification.Report, checkpoint_file: Path) -> tuple[int, list[str]]:
    """Say in plain words what a verification against a saved checkpoint means for a restore."""
    if not report.external_checked:
        return RESTORE_DAMAGED, [
            f"CANNOT CHECK: {checkpoint_file} is not a checkpoint signed with the hub's key.",
            "Restore the hub's signing key (HUB_AUDIT_SIGNING_KEY or instance/audit-log.signer)"
            " before checking, or give the key the checkpoint was signed with (--key).",
            report.summary(),
        ]
    missing = report.missing_from_external
    # When entries are missing, verify reports exactly that as one problem; anything else
    # is damage.
    damage = len(report.problems) - (1 if missing else 0)
    if damage:
        return RESTORE_DAMAGED, [
            "DAMAGED: the restored audit log does not verify; do not serve from it.",
            report.summary(),
        ]
    if missing:
        return RESTORE_ROLLED_BACK, [
            f"ROLLED BACK: the restored log holds {report.tree_size} entries, but the checkpoint"
            f" signed {report.external_size}: this backup is older than the checkpoint and"
            f" {missing} entries are missing.",
            "What it does hold verifies. Witnesses that cosigned the newer checkpoint will refuse"
            " this log; see docs/operations.md before serving from it.",
        ]
    return RESTORE_COMPLETE, [
        f"COMPLETE: the restored log holds all {report.external_size} entries the checkpoint"
        f" signed ({report.tree_size} in all), and every entry, subtree and"
        f" {report.checkpoints} stored checkpoints verify.",
    ]


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
@click.option(
    "--submission-prefix",
    help="Where the witness takes C2SP tlog-witness add-checkpoint requests, e.g. "
    "https://witness.example/ (the hub then submits its checkpoints to it).",
)
@unit_of_work
def register_witness(org_id: str, vkey: str, submission_prefix: str | None) -> None:
    """Register a partner's (or a public) witness key."""
    witness_row = witnesses.register_witness(db.session(), Actor.system("cli"), org_id, vkey)
    if submission_prefix:
        submission.set_submission_prefix(
            db.session(), Actor.system("cli"), witness_row.name, submission_prefix
        )
    click.echo(f"Registered witness {witness_row.name} ({witness_row.id})")


@audit_group.command("set-witness-prefix")
@click.option("--name", required=True, help="The witness's name (its key's name).")
@click.option("--submission-prefix", help="Its add-checkpoint prefix; leave out to clear it.")
@unit_of_work
def set_witness_prefix(name: str, submission_prefix: str | None) -> None:
    """Say where a registered witness takes the hub's checkpoints (C2SP tlog-witness)."""
    row = submission.set_submission_prefix(
        db.session(), Actor.system("cli"), name, submission_prefix
    )
    click.echo(f"{row.name}: " + (row.submission_prefix or "not submitted to"))


@audit_group.command("submit-to-witnesses")
@unit_of_work
def submit_to_witnesses() -> None:
    """Submit the latest checkpoint to every witness with a submission prefix (peer hubs'
    witnesses included) and keep their cosignatures; exit 3 if a witness refused it or has
    cosigned more of the log than it holds, 1 if one could not be reached."""
    log.integrate_now(force_checkpoint=True)
    results = submission.submit_to_witnesses(db.session(), Actor.system("cli"))
    for result in results:
        click.echo(result.line(), err=result.outcome != "cosigned")
    if not results:
        click.echo("No witness has a submission prefix (audit set-witness-prefix).", err=True)
    if any(r.outcome in {"refused", "ahead"} for r in results):
        sys.exit(3)
    if any(r.outcome == "unreachable" for r in results):
        sys.exit(1)


@audit_group.command("revoke-witness")
@click.option("--name", required=True, help="The witness's name (its key's name).")
@unit_of_work
def revoke_witness(name: str) -> None:
    """Revoke a witness key: its cosignatures stop counting towards a witnessed checkpoint."""
    witness_row = witnesses.revoke_witness(db.session(), Actor.system("cli"), name)
    click.echo(f"Revoked witness {witness_row.name} ({witness_row.id})")
