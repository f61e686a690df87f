"""The hub as a log asking witnesses to cosign its checkpoints (C2SP tlog-witness, client side).

For each registered witness with a submission prefix, `submit_to_witnesses` POSTs
`<prefix>/add-checkpoint` with `old` the size that witness last cosigned here (0 at first), the
consistency proof from there to the hub's latest checkpoint, and the checkpoint. A 200 answer's
cosignature lines are verified with the witness's registered key and stored like any other
cosignature (audit.witness.accept_cosignatures). On 409 the witness says which size it last
cosigned (a cosignature lost on the way back, or state from before a restore): the hub tries
once more from that size. Any other refusal (403, 404, 422, ...) is audited and reported; a
witness that has cosigned more of the log than the hub now holds is reported loudly (the log
was restored from a backup older than that cosignature: see docs/operations.md).

Any witness that speaks the protocol can be used: the public witness network's (litewitness,
the transparency-dev `witness`), or another hub (hub.federation.witnessing serves it). The
witness must already trust this hub's origin and verifier key (`audit verifier-key`).
Witnesses registered without a prefix may still get one from the layers above the log (a peer
hub's witness answers under the peer's base URL): those register a source with
`add_prefix_source` at start-up, since `audit` may not import them.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Session

from audit import log, notes, permissions, tlog_witness
from audit import services as audit
from audit import witness as witnesses
from audit.actions import AUDIT_COSIGNATURE, AUDIT_WITNESS_REGISTER
from audit.models import AuditCheckpoint, AuditCosignature, AuditWitness
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.security import Actor

logger = logging.getLogger(__name__)

EXTENSION = "audit_witness_prefix_sources"
TIMEOUT_SECONDS = 10.0
MAX_ANSWER_BYTES = 64 * 1024
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}

#: Given nothing (it reads the app's session), submission prefixes by witness id.
PrefixSource = Callable[[], Mapping[int, str]]

# Reason codes for a witness's answers (the audit log never holds the witness's own words).
REASON_BY_STATUS = {
    400: "witness_bad_request",
    403: "witness_signature_refused",
    404: "witness_unknown_log",
    409: "witness_size_conflict",
    422: "witness_inconsistent",
}


def add_prefix_source(app: Flask, source: PrefixSource) -> None:
    """Let a higher layer say where witnesses without a prefix of their own take submissions."""
    sources = app.extensions.setdefault(EXTENSION, [])
    if source not in sources:
        sources.append(source)


def check_prefix(value: str) -> str:
    """A submission prefix as the spec names it (the URL before `/add-checkpoint`): https, or
    http on loopback (tests, a witness beside the hub); a trailing `/add-checkpoint` or `/` is
    taken off. ValueError otherwise."""
    prefix = value.strip().removesuffix("/" + tlog_witness.ADD_CHECKPOINT).rstrip("/")
    parts = check_url(prefix)
    if parts.query or parts.fragment:
        raise ValueError("give the witness's submission prefix: a URL without a query")
    if len(prefix) > 2000:
        raise ValueError("the submission prefix is longer than 2000 characters")
    return prefix


def check_url(url: str) -> urllib.parse.SplitResult:
    """An https URL, or http on loopback; ValueError otherwise (so that no file: or other
    scheme ever reaches urllib)."""
    parts = urllib.parse.urlsplit(url)
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    ):
        raise ValueError("a witness must be reached over https")
    return parts


def set_submission_prefix(
    session: Session, actor: Actor, witness_name: str, prefix: str | None
) -> AuditWitness:
    """Say where a registered witness takes add-checkpoint requests (None: nowhere; the
    hub's checkpoints then reach it only if it fetches them)."""
    witness = session.scalar(sa.select(AuditWitness).where(AuditWitness.name == witness_name))
    if witness is None:
        raise NotFound(f"There is no witness named '{witness_name}'.")
    if not permissions.can_manage_witness(actor, str(witness.organisation_id)):
        raise PermissionDenied(
            "Only the organisation's administrators can say where its witness is.",
            audit={
                "action": AUDIT_WITNESS_REGISTER,
                "resource_type": "audit_witness",
                "resource_ids": [str(witness.id)],
            },
        )
    if prefix is not None:
        try:
            prefix = check_prefix(prefix)
        except ValueError as exc:
            raise ValidationFailed(
                f"That is not a witness submission prefix: {exc}",
                errors={"submission_prefix": [str(exc)]},
            ) from exc
    witness.submission_prefix = prefix
    session.flush()
    audit.record(
        actor,
        AUDIT_WITNESS_REGISTER,
        "granted",
        resource_type="audit_witness",
        resource_ids=[str(witness.id)],
        resource_org=str(witness.organisation_id),
        changed=["submission_prefix"],
    )
    return witness


@dataclass
class Submission:
    """One witness's answer: `cosigned`, `refused` (it said no, or its answer did not verify),
    `ahead` (it cosigned more of the log than the hub holds) or `unreachable`."""

    witness: str
    outcome: str
    size: int | None
    detail: str = ""

    def line(self) -> str:
        size = f" at size {self.size}" if self.size is not None else ""
        return f"{self.witness}: {self.outcome}{size}" + (
            f" ({self.detail})" if self.detail else ""
        )


def submission_targets(session: Session) -> list[tuple[AuditWitness, str]]:
    """Every unrevoked witness with somewhere to submit to, by name: its own prefix, else what
    a registered source gives for it."""
    derived: dict[int, str] = {}
    for source in current_app.extensions.get(EXTENSION, []):
        derived.update(source())
    rows = session.scalars(
        sa.select(AuditWitness).where(AuditWitness.revoked_at.is_(None)).order_by(AuditWitness.name)
    )
    targets = []
    for witness in rows:
        prefix = witness.submission_prefix or derived.get(witness.id)
        if prefix:
            targets.append((witness, prefix))
    return targets


def submit_to_witnesses(
    session: Session, actor: Actor, *, timeout: float = TIMEOUT_SECONDS
) -> list[Submission]:
    """Submit the latest checkpoint to every witness with a submission prefix (each outcome
    flushed and audited; the caller commits)."""
    checkpoint = log.latest_checkpoint(session)
    if checkpoint is None:
        checkpoint = log.sign_checkpoint(session, log.tree_head(session), force=True)
    assert checkpoint is not None
    return [
        submit(session, actor, witness, prefix, checkpoint, timeout=timeout)
        for witness, prefix in submission_targets(session)
    ]


def last_cosigned_size(session: Session, witness: AuditWitness) -> int:
    """The largest tree size this witness has cosigned here (0 if none): the `old` it expects."""
    size = session.scalar(
        sa.select(sa.func.max(AuditCheckpoint.size))
        .join(AuditCosignature, AuditCosignature.checkpoint_id == AuditCheckpoint.id)
        .where(AuditCosignature.witness_id == witness.id)
    )
    return int(size or 0)


def submit(
    session: Session,
    actor: Actor,
    witness: AuditWitness,
    prefix: str,
    checkpoint: AuditCheckpoint,
    *,
    timeout: float = TIMEOUT_SECONDS,
) -> Submission:
    """One add-checkpoint exchange with one witness (and one retry after a 409)."""
    old = last_cosigned_size(session, witness)
    refs = {
        "resource_type": "audit_witness",
        "resource_ids": [str(witness.id)],
        "resource_org": str(witness.organisation_id),
        "witness": witness.name,
        "tree_size": checkpoint.size,
    }
    url = prefix.rstrip("/") + "/" + tlog_witness.ADD_CHECKPOINT
    for attempt in (1, 2):
        if old > checkpoint.size:
            detail = (
                f"the witness cosigned {old} entries of this log, but its latest checkpoint "
                f"holds {checkpoint.size}: was the log restored from an older backup?"
            )
            audit.record(actor, AUDIT_COSIGNATURE, "failed", reason="witness_ahead", **refs)
            logger.error("witness %s: %s", witness.name, detail)
            return Submission(witness.name, "ahead", old, detail)
        proof = log.consistency_proof(session, old, checkpoint.size) if old else []
        body = tlog_witness.format_request(old, proof, checkpoint.note)
        try:
            status, media_type, answer = post(url, body, timeout)
        except (OSError, ValueError) as exc:
            detail = f"{type(exc).__name__}: {exc}"[:500]
            audit.record(actor, AUDIT_COSIGNATURE, "failed", reason="witness_unreachable", **refs)
            return Submission(witness.name, "unreachable", None, detail)
        if status == 409 and attempt == 1:
            try:
                old = tlog_witness.parse_size(answer)
            except ValueError:
                break
            if media_type != tlog_witness.SIZE_MEDIA_TYPE:
                break
            continue
        if status == 200:
            return _accept(session, actor, witness, checkpoint, answer, refs)
        break
    reason = REASON_BY_STATUS.get(status, "witness_refused")
    audit.record(actor, AUDIT_COSIGNATURE, "denied", reason=reason, status=status, **refs)
    logger.warning("witness %s refused checkpoint %d (%d)", witness.name, checkpoint.size, status)
    return Submission(witness.name, "refused", old, f"the witness answered {status}")


def _accept(
    session: Session,
    actor: Actor,
    witness: AuditWitness,
    checkpoint: AuditCheckpoint,
    answer: str,
    refs: dict,
) -> Submission:
    """Keep the witness's cosignature from a 200 answer, once it verifies with its key; lines by
    other keys are ignored, as the spec says."""
    verifier = notes.parse_verifier_key(witness.verifier_key)
    try:
        lines = [
            line
            for line in tlog_witness.cosignature_lines(answer)
            if notes.parse_signature_line(line)[:2] == (verifier.name, verifier.key_id)
        ]
    except ValueError:
        lines = []
    if not lines:
        audit.record(actor, AUDIT_COSIGNATURE, "denied", reason="witness_answer_malformed", **refs)
        return Submission(witness.name, "refused", None, "no cosignature by its key in the answer")
    text = notes.split_note(checkpoint.note)[0]
    try:
        for line in lines:
            notes.verify_cosignature(text, line, verifier)
    except notes.NoteError as exc:
        audit.record(
            actor, AUDIT_COSIGNATURE, "denied", reason="cosignature_does_not_verify", **refs
        )
        return Submission(witness.name, "refused", None, f"its cosignature does not verify: {exc}")
    witnesses.accept_cosignatures(session, actor, checkpoint.note + "".join(lines))
    return Submission(witness.name, "cosigned", checkpoint.size)


# --- HTTP --------------------------------------------------------------------------------------


def post(url: str, body: str, timeout: float) -> tuple[int, str, str]:
    """POST a text body; the status, media type and (at most 64 KiB of) the answer."""
    check_url(url)
    request = urllib.request.Request(  # noqa: S310
        url,
        data=body.encode(),
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8", "Accept": "text/plain, */*"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return _answer(response.status, response.headers, response.read(MAX_ANSWER_BYTES))
    except urllib.error.HTTPError as exc:
        with exc:
            return _answer(exc.code, exc.headers, exc.read(MAX_ANSWER_BYTES))


def get(url: str, timeout: float) -> str:
    """GET a text document (a checkpoint, a proof) from an https (or loopback) URL."""
    check_url(url)
    request = urllib.request.Request(url, headers={"Accept": "text/plain, application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        return response.read(4 * MAX_ANSWER_BYTES).decode()


def _answer(status: int, headers: Mapping[str, str], data: bytes) -> tuple[int, str, str]:
    media_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    return status, media_type, data.decode(errors="replace")
