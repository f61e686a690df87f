"""Federated speaker search: this hub's own search (through its agreements), plus each active
peer hub's `GET /api/v1/shared/speakers`, called concurrently within a deadline.

Each hub applies its own agreements and writes its own audit entries: at a peer, this hub is an
OAuth client of an organisation of kind hub, and the peer's agreements decide the fields it
sees. The peers are called with the same `X-Request-Id` as the local request, so the entries on
both sides carry one request id. A peer that is slow or down is reported, never an error.

The search waits for the peers until the deadline (`HUB_FEDERATION_DEADLINE_SECONDS`); each
peer's entry says how long this hub waited for it (`elapsed_ms`: the time it took to answer or
fail, or, for a peer that did not answer in time, the time until this hub gave up). No request
is sent to a peer after the deadline, but the answer to one already sent is still listened for,
as long again: a peer that answers then has disclosed records (its own log says so) that this
hub never showed, so the answer is discarded and a second entry for that peer's call says so
(`federation.peer_search`, failed, `peer_late`, with the results it held and when it came),
written by the call's own thread in its own session once the answer is in.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from flask import Flask, current_app
from joserfc import jwt
from joserfc.jwk import OKPKey

from agreements import services as agreements
from audit import services as audit
from audit.actions import FEDERATION_PEER_SEARCH, FEDERATION_SEARCH
from core.db import db
from core.errors import PermissionDenied, ValidationFailed
from core.security import Actor, ActorKind
from hub.federation import services as peers
from hub.federation.models import PeerHub
from hub.records import permissions
from hub.records.sharing import services as shared

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_SCOPE = "speakers:read"  # noqa: S105 (a scope name, not a secret)
#: Refresh a cached access token this long before it expires.
TOKEN_MARGIN_SECONDS = 30
#: A peer's answer larger than this is refused (a page of results is a few kilobytes).
MAX_ANSWER_BYTES = 2 * 1024 * 1024

log = logging.getLogger(__name__)


class PeerCallError(Exception):
    """A peer hub could not be asked, or answered with an error; `status` classifies it."""

    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class PeerCall:
    """Everything a worker thread needs to call one peer (no database access off-thread)."""

    peer_id: str
    organisation_id: str
    name: str
    base_url: str
    client_id: str
    key: OKPKey


@dataclass
class PeerOutcome:
    """What one peer answered: `ok`, `slow` (past the deadline), `down` (unreachable) or
    `error` (it refused or answered with an error), with its results when `ok`."""

    peer_id: str
    organisation_id: str
    name: str
    status: str
    detail: str = ""
    total: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)
    elapsed_ms: int = 0

    @property
    def note(self) -> str:
        """The sentence the page shows for a peer that did not answer in full."""
        if self.status == "slow":
            return f"{self.name} did not answer within the time allowed; its results are missing."
        if self.status == "down":
            return f"{self.name} could not be reached; its results are missing."
        if self.status == "error":
            return f"{self.name} answered with an error ({self.detail}); its results are missing."
        return ""


@dataclass
class _Handoff:
    """Who has a peer's answer: the search, if it arrived before the search gave up on the
    peer, else the call's own thread (which records that it came late). Decided under the lock,
    so that an answer arriving as the deadline passes is neither shown nor lost."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answered: bool = False
    given_up: bool = False


@dataclass(frozen=True)
class _LateAudit:
    """What a call's thread needs to record a late answer (its own app context and session)."""

    app: Flask
    actor: Actor
    purpose: str
    on_behalf_of: str


@dataclass
class FederatedResult:
    """One speaker found here or at a peer hub, marked with the hub it came from."""

    origin: str  # "local" or the peer's organisation slug
    origin_name: str
    speaker_id: str
    owner: str
    rank: int  # the place its own hub gave it
    score: float | None  # own records only (see hub.records.sharing.services.SearchResult)
    own: bool
    existence_only: bool
    data: dict[str, Any]
    disclosed_under: dict[str, Any] | None

    @property
    def local(self) -> bool:
        return self.origin == "local"


@dataclass
class FederatedPage:
    """The merged results, the local total, and how each peer answered."""

    query: str
    purpose: str
    results: list[FederatedResult]
    local_total: int
    peers: list[PeerOutcome]
    request_id: str

    @property
    def notes(self) -> list[str]:
        return [p.note for p in self.peers if p.status != "ok"]


# --- tokens -------------------------------------------------------------------------------------

_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_guard = threading.Lock()


def _assertion(call: PeerCall) -> str:
    now = int(time.time())
    claims = {
        "iss": call.client_id,
        "sub": call.client_id,
        "aud": call.base_url,
        "iat": now,
        "exp": now + 60,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "EdDSA", "kid": call.key.kid}, claims, call.key, algorithms=["EdDSA"])


def _open(request: urllib.request.Request, timeout: float) -> tuple[int, bytes]:
    # Peer URLs are checked when registered (https, or http on loopback in development).
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(MAX_ANSWER_BYTES + 1)
    except TimeoutError as exc:
        raise PeerCallError("slow", "timed out") from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise PeerCallError("slow", "timed out") from exc
        raise PeerCallError("down", str(exc.reason)[:200]) from exc
    except OSError as exc:
        raise PeerCallError("down", str(exc)[:200]) from exc


def access_token(call: PeerCall, timeout: float, request_id: str | None = None) -> str:
    """A client_credentials token from the peer (private_key_jwt), cached until near expiry."""
    cache_key = (call.peer_id, call.client_id, call.key.kid or "")
    with _tokens_guard:
        cached = _tokens.get(cache_key)
        if cached and cached[1] - TOKEN_MARGIN_SECONDS > time.time():
            return cached[0]
    body = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "scope": TOKEN_SCOPE,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": _assertion(call),
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310
        call.base_url + "/oauth/token",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
            **({"X-Request-Id": request_id} if request_id else {}),
        },
    )
    started = time.time()
    status, raw = _open(request, timeout)
    if status != 200:
        raise PeerCallError("error", f"token request refused with status {status}")
    try:
        answer = json.loads(raw)
        token = str(answer["access_token"])
        expires_in = int(answer.get("expires_in", 60))
    except (ValueError, KeyError, TypeError) as exc:
        raise PeerCallError("error", "the token answer was not understood") from exc
    with _tokens_guard:
        _tokens[cache_key] = (token, started + expires_in)
    return token


def forget_tokens() -> None:
    """Drop cached tokens (after a key rotation, and in tests)."""
    with _tokens_guard:
        _tokens.clear()


# --- calling one peer ---------------------------------------------------------------------------


def _elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _search_peer(
    call: PeerCall,
    query: str,
    purpose: str,
    on_behalf_of: str,
    request_id: str,
    limit: int,
    deadline: float,
    listen_until: float,
    started: float,
) -> PeerOutcome:
    def remaining() -> float:
        """How long to wait for the answer to a request sent now; none is sent after the
        deadline (a late request would only make the peer disclose what nobody will see)."""
        now = time.monotonic()
        if now >= deadline:
            raise PeerCallError("slow", "the deadline passed")
        return listen_until - now

    token = access_token(call, remaining(), request_id)
    params = urllib.parse.urlencode({"q": query, "limit": limit})
    request = urllib.request.Request(  # noqa: S310
        f"{call.base_url}/api/v1/shared/speakers?{params}",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Hub-Purpose": purpose,
            "Hub-On-Behalf-Of": on_behalf_of,
            "X-Request-Id": request_id,
        },
    )
    status, raw = _open(request, remaining())
    if status == 401:
        forget_tokens()  # a revoked or rotated token: the next search asks for a new one
    if status != 200:
        raise PeerCallError("error", f"status {status}")
    try:
        answer = json.loads(raw)
        results = [r for r in answer["results"] if isinstance(r, dict)]
        total = int(answer.get("total", len(results)))
    except (ValueError, KeyError, TypeError) as exc:
        raise PeerCallError("error", "the answer was not understood") from exc
    return PeerOutcome(
        call.peer_id,
        call.organisation_id,
        call.name,
        "ok",
        total=total,
        results=results,
        elapsed_ms=_elapsed_ms(started),
    )


def _call_peer(
    call: PeerCall,
    search: Callable[[], PeerOutcome],
    handoff: _Handoff,
    late_audit: _LateAudit,
    started: float,
) -> PeerOutcome:
    """One peer's call (`search`), in its own thread: never raises (a failure is an outcome,
    with the time it took); an answer that comes after the search gave up is recorded here."""
    try:
        outcome = search()
    except PeerCallError as exc:
        outcome = _failed(call, exc.status, exc.detail, _elapsed_ms(started))
    except Exception as exc:  # any failure of one peer is that peer's outcome
        outcome = _failed(call, "error", type(exc).__name__, _elapsed_ms(started))
    with handoff.lock:
        handoff.answered = True
        late = handoff.given_up
    if late and outcome.status == "ok":
        _record_late_answer(late_audit, outcome)
    return outcome


def _failed(call: PeerCall, status: str, detail: str, elapsed_ms: int) -> PeerOutcome:
    return PeerOutcome(
        call.peer_id,
        call.organisation_id,
        call.name,
        status,
        detail=detail,
        elapsed_ms=elapsed_ms,
    )


def _record_late_answer(late: _LateAudit, outcome: PeerOutcome) -> None:
    """The peer answered after the search gave up on it: its answer is discarded, and this
    entry (beside the search's `peer_slow` one, with the same request id) says what it held, so
    that the peer's disclosure in its own log has its counterpart here. Written in an app
    context and session of its own (never the request's), committed at once."""
    with late.app.app_context():
        try:
            audit.record(
                late.actor,
                FEDERATION_PEER_SEARCH,
                "failed",
                reason="peer_late",
                resource_type="peer_hub",
                resource_ids=[outcome.peer_id],
                resource_org=outcome.organisation_id,
                purpose=late.purpose,
                results=len(outcome.results),
                total=outcome.total,
                elapsed_ms=outcome.elapsed_ms,
                peer_on_behalf_of=late.on_behalf_of,
            )
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("the late answer of peer hub %s could not be recorded", outcome.peer_id)
        finally:
            db.session.remove()


# --- the search ---------------------------------------------------------------------------------


def require_person_reader(actor: Actor) -> None:
    # Only people search across hubs: a partner system (or a peer hub's client) searching here
    # would let one hub's search fan out again from another.
    if actor.kind != ActorKind.PERSON or not permissions.can_read_shared(actor):
        raise PermissionDenied(
            "You cannot search speaker records across hubs.",
            reason="role_required",
            audit={"action": FEDERATION_SEARCH, "resource_type": "speaker"},
        )


def on_behalf_of(actor: Actor) -> str:
    """How a peer hears of the person searching: a pseudonym only this hub can link back."""
    return "psn:" + audit.subject_pseudonym("federation-person", str(actor.id))[:32]


def _calls(active: list[PeerHub]) -> list[PeerCall]:
    return [
        PeerCall(
            str(p.id),
            str(p.organisation_id),
            p.organisation.name,
            p.base_url,
            str(p.client_id),
            peers.signing_key(p),
        )
        for p in active
    ]


def _origin_slugs(active: list[PeerHub]) -> dict[str, str]:
    return {str(p.id): p.organisation.slug for p in active}


def federated_search(actor: Actor, query: str, purpose: str | None, *, limit: int = 20):
    """Search speakers here and at every active peer hub for `purpose`, merging what arrives
    within the deadline (best match first); one audit entry per peer called."""
    require_person_reader(actor)
    query = (query or "").strip()
    if not query:
        raise ValidationFailed(
            "Enter a speaker's name to search for.",
            errors={"q": ["Enter a speaker's name to search for."]},
        )
    if len(query) > 200:
        raise ValidationFailed(
            "The name must be 200 characters or fewer.",
            errors={"q": ["The name must be 200 characters or fewer."]},
        )
    purpose = agreements.check_purpose(actor, purpose, "federation.search")
    active = [p for p in peers.list_peers() if p.callable]
    calls = _calls(active)
    slugs = _origin_slugs(active)
    settings = current_app.config["HUB_SETTINGS"]
    seconds = float(settings.federation_deadline_seconds)
    started = time.monotonic()
    deadline, listen_until = started + seconds, started + 2 * seconds
    pseudonym = on_behalf_of(actor)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    late_audit = _LateAudit(app, actor, purpose, pseudonym)
    # The peers are asked first and the local search runs while they answer.
    executor = ThreadPoolExecutor(max_workers=max(1, len(calls)), thread_name_prefix="federation")
    handoffs = [_Handoff() for _ in calls]
    futures = [
        executor.submit(
            _call_peer,
            call,
            partial(
                _search_peer,
                call,
                query,
                purpose,
                pseudonym,
                actor.request_id,
                limit,
                deadline=deadline,
                listen_until=listen_until,
                started=started,
            ),
            handoff,
            late_audit,
            started,
        )
        for call, handoff in zip(calls, handoffs, strict=True)
    ]
    executor.shutdown(wait=False)
    local = shared.search_speakers(actor, query, purpose, limit=limit)
    wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    outcomes = [
        _outcome(future.result, call, handoff, started)
        for future, call, handoff in zip(futures, calls, handoffs, strict=True)
    ]
    for outcome in outcomes:
        audit.record(
            actor,
            FEDERATION_PEER_SEARCH,
            "granted" if outcome.status == "ok" else "failed",
            reason=None if outcome.status == "ok" else f"peer_{outcome.status}",
            resource_type="peer_hub",
            resource_ids=[outcome.peer_id],
            resource_org=outcome.organisation_id,
            purpose=purpose,
            results=len(outcome.results),
            elapsed_ms=outcome.elapsed_ms,
            peer_on_behalf_of=pseudonym,
        )
    merged = [
        FederatedResult(
            "local",
            "This hub",
            r.speaker_id,
            r.owner_name,
            r.rank,
            r.score,
            r.own,
            r.existence_only,
            r.data,
            r.disclosed_under,
        )
        for r in local.results
    ]
    for outcome in outcomes:
        for item in outcome.results:
            merged.append(
                FederatedResult(
                    slugs[outcome.peer_id],
                    outcome.name,
                    str(item.get("id", "")),
                    str(item.get("owner", "")),
                    _rank(item.get("rank")),
                    None,
                    False,
                    bool(item.get("existence_only")),
                    item.get("data") if isinstance(item.get("data"), dict) else {},
                    item.get("disclosed_under"),
                )
            )
    # Each hub ranks its own answer; the lists are interleaved by rank, this hub's first.
    merged.sort(key=lambda r: (r.rank, not r.local))
    audit.record(
        actor,
        FEDERATION_SEARCH,
        "granted",
        resource_type="speaker",
        purpose=purpose,
        results=len(merged),
        peers=len(outcomes),
        peers_answered=sum(1 for o in outcomes if o.status == "ok"),
    )
    return FederatedPage(query, purpose, merged, local.total, outcomes, actor.request_id)


def _outcome(result: Any, call: PeerCall, handoff: _Handoff, started: float) -> PeerOutcome:
    """The peer's outcome if it has answered; else the search gives up on it now (`slow`,
    after the time waited) and any answer still to come is its thread's to record."""
    with handoff.lock:
        if not handoff.answered:
            handoff.given_up = True
            return _failed(call, "slow", "past the deadline", _elapsed_ms(started))
    return result()  # answered: the thread is returning it (a moment at most)


def _rank(value: Any) -> int:
    """A peer's rank for one of its results (a missing or malformed one goes last)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 10**6
