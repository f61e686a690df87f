"""The C2SP tlog-witness protocol (c2sp.org/tlog-witness): the `add-checkpoint` request, its
answers, and the witness's checks, for both sides of it.

A log POSTs `<submission prefix>/add-checkpoint` with a body of an `old <size>` line, the
base64 hashes of an RFC 6962 consistency proof from that size (one per line, at most 63), an
empty line, and its signed checkpoint note. The witness answers, in the spec's order: 400 for
a malformed body (or an old size beyond the checkpoint's), 404 for a log it does not witness,
403 when no trusted key of the log signed the checkpoint (or one that matches fails), 409 with
`Content-Type: text/x.tlog.size` and the size it last cosigned when `old` is not that size,
422 when the checkpoint is not consistent with that size (a bad proof, two roots for one size,
a proof from size 0, a size-0 checkpoint without the empty tree's root); otherwise it records
the checkpoint and answers 200 with its cosignature line(s).

This module holds only the protocol, with no database: `check` is the decision, made on what
the caller read under its own lock; the peer hubs' witness (hub.federation.witnessing) and
the hub's own submissions to witnesses (audit.witness_submission) use it.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from audit import merkle, notes

ADD_CHECKPOINT = "add-checkpoint"
#: The media type of a 409 answer's body: the size the witness last cosigned, then a newline.
SIZE_MEDIA_TYPE = "text/x.tlog.size"
#: "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES = 63
#: Far above 63 proof lines and a checkpoint with the 100 signatures notes.py accepts.
MAX_BODY_BYTES = 64 * 1024

_OLD_LINE = re.compile(r"old (0|[1-9][0-9]{0,19})", re.ASCII)
_SIZE_BODY = re.compile(r"(0|[1-9][0-9]{0,19})\n", re.ASCII)

# Reason codes for the audit log (never the caller's words) and the status the spec gives each.
MALFORMED = "malformed_request"
UNKNOWN_LOG = "unknown_log"
BAD_SIGNATURE = "checkpoint_signature"
OLD_SIZE_TOO_LARGE = "old_size_beyond_checkpoint"
OLD_SIZE_MISMATCH = "old_size_mismatch"
INCONSISTENT = "inconsistent_checkpoint"
STATUS = {
    MALFORMED: 400,
    OLD_SIZE_TOO_LARGE: 400,
    UNKNOWN_LOG: 404,
    BAD_SIGNATURE: 403,
    OLD_SIZE_MISMATCH: 409,
    INCONSISTENT: 422,
}


class Refusal(Exception):
    """The witness will not cosign. `reason` is a code from this module; `detail` says why in
    words made here (sizes and origins only, never the request's text); `known_size` is what
    a 409 answer carries."""

    def __init__(self, reason: str, detail: str, *, known_size: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.known_size = known_size

    @property
    def status(self) -> int:
        return STATUS[self.reason]

    @property
    def shows_misbehaviour(self) -> bool:
        """A checkpoint the log really signed that contradicts what the witness cosigned: the
        spec's 422 after the signature verified. Other refusals say nothing about the log (a
        malformed or stale request, an impostor), so they never mark it as refused."""
        return self.reason == INCONSISTENT


@dataclass(frozen=True)
class AddCheckpoint:
    """A parsed add-checkpoint request; `note` is not yet verified."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str
    text: str
    checkpoint: notes.Checkpoint


@dataclass(frozen=True)
class Recorded:
    """What a witness last cosigned for a log (size 0, the empty tree's root, if nothing)."""

    size: int = 0
    root: bytes = merkle.EMPTY_ROOT


# --- the request -------------------------------------------------------------------------------


def format_request(old_size: int, proof: Sequence[bytes], note: str) -> str:
    """The add-checkpoint body: `old <size>`, the proof's hashes in base64, an empty line, the
    signed checkpoint note."""
    if old_size < 0:
        raise ValueError(f"old size {old_size} is negative")
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"a consistency proof of {len(proof)} hashes is longer than 63")
    lines = [f"old {old_size}", *(base64.b64encode(h).decode() for h in proof)]
    return "\n".join(lines) + "\n\n" + note


def parse_request(body: bytes | str) -> AddCheckpoint:
    """Parse an add-checkpoint body strictly; raise Refusal(MALFORMED) on anything else."""
    if isinstance(body, bytes):
        if len(body) > MAX_BODY_BYTES:
            raise Refusal(MALFORMED, f"the request is larger than {MAX_BODY_BYTES} bytes")
        try:
            body = body.decode()
        except UnicodeDecodeError:
            raise Refusal(MALFORMED, "the request is not UTF-8") from None
    # Proof lines are never empty, so the first empty line ends them.
    head, blank, note = body.partition("\n\n")
    if not blank:
        raise Refusal(MALFORMED, "the request has no empty line before the checkpoint")
    lines = head.split("\n")
    old = _OLD_LINE.fullmatch(lines[0])
    if old is None:
        raise Refusal(MALFORMED, "the request must start with 'old <size>' (a canonical decimal)")
    old_size = int(old.group(1))
    if old_size > notes.MAX_TREE_SIZE:
        raise Refusal(MALFORMED, "the old size is out of range")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise Refusal(MALFORMED, f"the request has more than {MAX_PROOF_LINES} proof lines")
    proof = tuple(proof_hash(n, line) for n, line in enumerate(lines[1:], start=1))
    try:
        text, _signatures = notes.split_note(note)
        checkpoint = notes.parse_checkpoint(text)
    except notes.NoteError as exc:
        raise Refusal(MALFORMED, f"the checkpoint is not a signed checkpoint note: {exc}") from exc
    return AddCheckpoint(old_size, proof, note, text, checkpoint)


def proof_hash(number: int, line: str) -> bytes:
    """Proof line `number` as the hash it encodes; Refusal(MALFORMED) if it is not one."""
    try:
        value = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError):
        raise Refusal(MALFORMED, f"proof line {number} is not base64") from None
    if len(value) != merkle.HASH_SIZE or base64.b64encode(value).decode() != line:
        raise Refusal(MALFORMED, f"proof line {number} is not one base64 SHA-256 hash")
    return value


# --- the answers -------------------------------------------------------------------------------


def format_size(size: int) -> str:
    """A 409 answer's body."""
    return f"{size}\n"


def parse_size(body: bytes | str) -> int:
    """The size in a 409 answer's body (`<decimal>\\n`); ValueError if it is not one."""
    text = body.decode(errors="replace") if isinstance(body, bytes) else body
    found = _SIZE_BODY.fullmatch(text)
    if found is None or int(found.group(1)) > notes.MAX_TREE_SIZE:
        raise ValueError("the witness's 409 answer is not a tree size")
    return int(found.group(1))


def cosign(text: str, signer: notes.Signer | str, timestamp: int | None = None) -> str:
    """The 200 answer's body: this witness's cosignature line over checkpoint `text`. The
    timestamp is now (the spec forbids zero)."""
    return notes.cosign_checkpoint(
        text, signer, int(time.time()) if timestamp is None else timestamp
    )


def cosignature_lines(body: str) -> list[str]:
    """The signature lines of a 200 answer (each `— <name> <base64>`); ValueError otherwise."""
    if not body.endswith("\n") or not body.strip():
        raise ValueError("the witness's answer is not signature lines ending in a newline")
    lines = body[:-1].split("\n")
    if len(lines) > notes.MAX_SIGNATURES:
        raise ValueError(f"the witness answered more than {notes.MAX_SIGNATURES} lines")
    for line in lines:
        try:
            notes.parse_signature_line(line)
        except notes.NoteError as exc:
            raise ValueError(f"the witness's answer holds a malformed line: {exc}") from exc
    return [line + "\n" for line in lines]


# --- the witness's decision --------------------------------------------------------------------


def check(request: AddCheckpoint, log_key: str | None, recorded: Recorded) -> str:
    """Decide as the spec says whether to cosign `request`, given the key trusted for its
    origin (None: a log this witness does not witness) and what it last cosigned of that log
    (read under the caller's lock, which it holds until it has stored the new state). Returns
    the checkpoint note with only the log's verified signature lines, to keep; raises Refusal.
    """
    checkpoint = request.checkpoint
    if log_key is None:
        raise Refusal(UNKNOWN_LOG, f"this witness does not witness the log {checkpoint.origin!r}")
    try:
        _text, verified = notes.open_note(request.note, [log_key])
    except notes.NoteError as exc:
        raise Refusal(
            BAD_SIGNATURE, f"the checkpoint does not verify with the log's key: {exc}"
        ) from exc
    old, size = request.old_size, checkpoint.size
    if old > size:
        raise Refusal(
            OLD_SIZE_TOO_LARGE, f"the old size {old} is larger than the checkpoint's size {size}"
        )
    if old != recorded.size:
        raise Refusal(
            OLD_SIZE_MISMATCH,
            f"this witness last cosigned size {recorded.size} of the log, not {old}",
            known_size=recorded.size,
        )
    if size == 0 and checkpoint.root != merkle.EMPTY_ROOT:
        raise Refusal(INCONSISTENT, "a checkpoint of size 0 must have the empty tree's root")
    if old == 0 and request.proof:
        raise Refusal(INCONSISTENT, "a consistency proof from size 0 must be empty")
    if old == size and request.proof:
        raise Refusal(INCONSISTENT, "a consistency proof between equal sizes must be empty")
    if old == size and checkpoint.root != recorded.root:
        raise Refusal(INCONSISTENT, f"the log shows two different roots for size {size}")
    if 0 < old < size:
        try:
            merkle.verify_consistency(old, size, recorded.root, checkpoint.root, request.proof)
        except merkle.ProofError as exc:
            raise Refusal(
                INCONSISTENT,
                f"the log's tree of size {size} is not consistent with the size {old} this "
                f"witness cosigned before: {exc}",
            ) from exc
    names = {(s.name, s.key_id) for s in verified}
    lines = request.note[len(request.text) + 1 :].splitlines(keepends=True)
    kept = [line for line in lines if notes.parse_signature_line(line)[:2] in names]
    return request.text + "\n" + "".join(kept)
