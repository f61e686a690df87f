"""`flask --app wsgi agreements ...`: offline verification of signed agreements, reminders."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from agreements import lifecycle
from audit import log, notes
from core.cli import CliInputError, unit_of_work

agreements_group = AppGroup("agreements", help="Data-sharing agreements.")

#: What a signed agreement download must hold, and of which type.
DOCUMENT_KEYS: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "reference": str,
    "version": int,
    "content": dict,
    "content_hash": str,
    "signed_note": str,
}


def _read_document(path: Path) -> dict[str, Any]:
    """The signed agreement in `path`, or a clear message (exit 2) if it is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise CliInputError(f"{path} is not a text file: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise CliInputError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    if not isinstance(document, dict):
        raise CliInputError(f"{path} is not a signed agreement: expected a JSON object")
    problems = []
    for key, kind in DOCUMENT_KEYS.items():
        if key not in document:
            problems.append(f"'{key}' is missing")
        elif not isinstance(document[key], kind) or isinstance(document[key], bool):
            problems.append(f"'{key}' has the wrong type")
    if not problems and document["format"] != lifecycle.SIGNED_NOTE_HEADER:
        problems.append(f"'format' is not {lifecycle.SIGNED_NOTE_HEADER}")
    if problems:
        raise CliInputError(f"{path} is not a signed agreement: {'; '.join(problems)}")
    return document


@agreements_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key",
    "verifier_key",
    help="The hub's published verifier key (<name>+<key id>+<base64 key>), as served at "
    "/api/v1/audit/verifier-key. Default: this hub's own key.",
)
def verify(file: Path, verifier_key: str | None) -> None:
    """Check a downloaded signed agreement (JSON) offline against the hub's verifier key.

    Exit status 0: the content is exactly what the hub signed. 1: it is not (changed content,
    wrong key, bad signature). 2: the file or key is malformed.
    """
    document = _read_document(file)
    key = verifier_key or log.verifier_key()
    try:
        notes.parse_verifier_key(key)
    except notes.NoteError as exc:
        raise CliInputError(f"the verifier key is malformed: {exc}") from exc
    try:
        message = lifecycle.verify_signed_document(document, key)
    except ValueError as exc:
        click.echo(f"FAILED: {exc}.", err=True)
        sys.exit(1)
    click.echo(message)


@agreements_group.command("remind")
@unit_of_work
def remind() -> None:
    """Queue review and end-date reminders (30 days ahead) in the email outbox, once each."""
    queued = lifecycle.queue_review_reminders()
    click.echo(f"Queued {queued} review reminder{'' if queued == 1 else 's'}.")
