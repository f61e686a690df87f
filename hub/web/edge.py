"""The edge: one commit per request, after the answer is built, and answers to creating API
requests kept by their `Idempotency-Key`. Views, API endpoints and services never commit.

A page's view renders its answer and `commit_request` commits once, after it returns.

An API view changes things and returns what the answer is made of; flask-smorest turns that
into the response in the same transaction (so every related row it reads is the one just
written), and only then does `commit_api_request` commit, once: `HubFlask.dispatch_request`
calls it as the last step of dispatching, so an error in the commit reaches the error
handlers like any other. An error before the commit rolls everything back and says nothing
was changed; an error in the commit itself says the hub could not confirm it
(hub.web.errors).

A POST or PATCH may carry `Idempotency-Key` (IETF draft httpapi-idempotency-key-header): the
answer is kept with the change, in the same transaction, and a retry with the same key and the
same request gets that answer again (`Idempotent-Replayed: true`) instead of a second record.
The same key with a different request is refused (422); keys are the caller's own and last a
day.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, g, request
from sqlalchemy.orm import Session

from audit.services import actor_reference
from core.db import Retry, allow_retry, db, forbid_retry, settle, utcnow, wrote
from core.errors import HubError, ValidationFailed
from core.request import current_actor
from core.security import ActorKind
from hub.web.input import HubRequest
from hub.web.models import IdempotentRequest

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
METHODS = frozenset({"POST", "PATCH"})
LIFETIME = timedelta(hours=24)
MAX_KEY = 255


class KeyReused(HubError):
    """An Idempotency-Key sent again with a different request."""

    status = 422
    slug = "idempotency-key-reused"
    title = "This Idempotency-Key was used for another request"


def _is_api() -> bool:
    return request.path.startswith("/api/") and not request.path.startswith("/api/openapi")


def _fingerprint() -> str:
    rule = request.url_rule.rule if request.url_rule is not None else request.path
    digest = hashlib.sha256()
    for part in (request.method, rule, request.query_string.decode("latin-1")):
        digest.update(part.encode() + b"\x1f")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _owner() -> str | None:
    actor = current_actor()
    return actor_reference(actor) if actor.kind in {ActorKind.PERSON, ActorKind.CLIENT} else None


def _stored(owner: str, key: str) -> IdempotentRequest | None:
    return db.session.scalar(
        sa.select(IdempotentRequest).where(
            IdempotentRequest.owner == owner,
            IdempotentRequest.key == key,
            IdempotentRequest.created_at > utcnow() - LIFETIME,
        )
    )


def _replay(stored: IdempotentRequest) -> Response:
    response = Response(stored.body, status=stored.status, content_type=stored.content_type)
    if stored.location:
        response.headers["Location"] = stored.location
    response.headers[REPLAYED] = "true"
    return response


def replay_idempotent_request() -> Response | None:
    """Before a POST or PATCH with an Idempotency-Key: the first answer, if there was one."""
    if request.method not in METHODS or not _is_api():
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    key = key.strip().strip('"')  # the draft sends it as a quoted string
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise ValidationFailed(
            f"The {HEADER} header must be 1 to {MAX_KEY} printable characters.",
            errors={HEADER: ["Send a unique value, such as a UUID, for each new request."]},
        )
    owner = _owner()
    if owner is None:
        return None  # not signed in: the request is refused anyway
    g.idempotency = (owner, key, _fingerprint())
    stored = _stored(owner, key)
    if stored is None:
        return None
    if stored.fingerprint != g.idempotency[2]:
        raise KeyReused(
            f"The {HEADER} you sent was used for a different request in the last day. Send a "
            "new key for a new request.",
            reason="idempotency_key_reused",
        )
    g.pop("idempotency")
    return _replay(stored)


def commit_request() -> None:
    """After a page (or any other non-API view) returned: commit the request's one
    transaction if it wrote anything, whatever the page's status (a read-only page just ends
    its transaction at teardown). A refusal the page answered itself was already
    rolled back and audited (`audit.refusals.keep_refusal`); what the page did after it, such
    as counting a failed sign-in towards the lockout, stands."""
    session = db.session()
    if wrote(session):
        session.commit()


def commit_api_request(response: Response) -> Response:
    """After an API view and its serialisation: keep the answer under its Idempotency-Key
    (if any), then commit the request's one transaction."""
    if not _is_api() or response.status_code >= 400:
        return response
    idempotency = g.pop("idempotency", None)
    if idempotency is not None and 200 <= response.status_code < 300:
        owner, key, fingerprint = idempotency
        db.session.execute(
            sa.delete(IdempotentRequest).where(
                IdempotentRequest.owner == owner,
                IdempotentRequest.created_at <= utcnow() - LIFETIME,
            )
        )
        db.session.add(
            IdempotentRequest(
                owner=owner,
                key=key,
                fingerprint=fingerprint,
                status=response.status_code,
                body=response.get_data(),
                content_type=response.content_type or "application/json",
                location=response.headers.get("Location"),
            )
        )
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # The same key was committed by a request that ran alongside this one: this request's
        # change is undone, and the answer is the one that won.
        db.session.rollback()
        if idempotency is None:
            raise
        stored = _stored(idempotency[0], idempotency[1])
        if stored is None or stored.fingerprint != idempotency[2]:
            raise
        return _replay(stored)
    return response


def _retryable() -> bool:
    """Requests that may be made twice: the API's and the authorization server's. They keep
    nothing of their own outside the database (no cookie session, no flashed message) before
    they commit, so an attempt thrown away leaves no trace."""
    return _is_api() or request.blueprint == "oauth"


class HubFlask(Flask):
    """The hub's Flask: an API request's view, its serialisation and its one commit are
    dispatched together; forms arrive with their date inputs joined (`hub.web.input`); a
    retryable request whose first attempt assumed what was not so is made again."""

    request_class = HubRequest

    def full_dispatch_request(self) -> Response:
        """Hooks, view, commit and answer; for a retryable request, a first attempt that may
        assume (`core.db.allow_retry`: its policy, that a single-use id is unspent) and defer
        the reads that confirm it to its next round trip. What it deferred is settled before it
        commits or answers; if a check fails (`core.db.Retry`), the attempt's transaction and
        answer are thrown away and the request is made again, assuming nothing."""
        if not _retryable():
            return super().full_dispatch_request()
        before = dict(vars(g))
        session = db.session()
        try:
            return self._attempt(session)
        except Retry as retry:
            log.info("request %s %s made again: %s", request.method, request.path, retry)
            session.rollback()
            vars(g).clear()
            vars(g).update(before)
            return super().full_dispatch_request()

    def _attempt(self, session: Session) -> Response:
        allow_retry(session)
        try:
            response = super().full_dispatch_request()
            try:
                settle(session)  # what it assumed is confirmed before it answers
            except Exception as exc:
                # The confirmation failed as any statement can (the database away): answered
                # as that failure would be (503), not with what it was to confirm.
                response = self.finalize_request(self.handle_user_exception(exc))
        finally:
            forbid_retry(session)
        return response

    def dispatch_request(self) -> Any:
        answer = super().dispatch_request()
        if not _is_api():
            commit_request()
            return answer
        return commit_api_request(self.make_response(answer))


def init_app(app: Any) -> None:
    """Register the edge's hooks."""
    app.before_request(replay_idempotent_request)
