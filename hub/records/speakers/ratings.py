"""Advisory ratings on speakers: issued by a police Prevent lead in answer to a routed
advisory request, shown on the speaker's page with the issuer and whether it has expired."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from agreements import services as agreements
from audit import services as audit
from audit.actions import DISCLOSURE
from core.db import db, utcnow
from core.errors import Conflict, PermissionDenied
from core.security import Actor
from core.validation import LOCAL_ZONE, Checker
from hub.records import permissions, shareable
from hub.records.models import (
    AdvisoryRating,
    AdvisoryRequest,
    AdvisoryStatus,
    Distribution,
    Rating,
    RecordStatus,
    Speaker,
)
from partners.models import Organisation

#: A rating is advice for a time: it expires within two years of being issued.
MAX_VALIDITY = timedelta(days=2 * 366)
MAX_RATIONALE = 1000

RATING_LABELS = {Rating.RED: "Red", Rating.AMBER: "Amber", Rating.GREEN: "Green"}
RATING_COLOURS = {Rating.RED: "red", Rating.AMBER: "orange", Rating.GREEN: "green"}
RATING_MEANINGS = {
    Rating.RED: "Do not proceed without strong mitigation.",
    Rating.AMBER: "Proceed with mitigations.",
    Rating.GREEN: "No concerns known.",
}


#: The named basis on which the institution that asked is given the police's answer: the
#: rating and its dates, never the rationale (the police's own record, which no agreement gives
#: an institution). See docs/architecture.md, "Named bases besides disclose()".
ANSWER_BASIS = "advisory_answer"
ANSWER_FIELDS = ("expires_on", "issued_on", "rating")
#: The purpose every read of an advisory answer serves.
ANSWER_PURPOSE = "advisory_request"


@dataclass(frozen=True)
class RatingView:
    """A rating as one reader may see it: `rationale` is None where it is not given to them,
    and `basis` says why they see it (their own record, the advisory answer, or an agreement's
    reference)."""

    id: uuid.UUID
    issuer_org_id: uuid.UUID
    issuer_name: str
    rating: Rating
    rationale: str | None
    issued_on: date | str | None
    expires_on: date | str | None
    expired: bool
    basis: str


def issue_rating(actor: Actor, speaker: Speaker, data: Mapping[str, Any]) -> AdvisoryRating:
    """Issue an advisory rating (red, amber or green, a rationale and an expiry date) on a
    speaker, as a police Prevent lead. The caller has already established that the actor may
    see `speaker` (it is the subject of a request routed to their team); the rating is owned
    by the issuing organisation."""
    action = "rating.issue"
    refs = {
        "resource_type": "speaker",
        "resource_ids": [str(speaker.id)],
        "resource_org": str(speaker.owner_org_id),
    }
    if not permissions.is_police_prevent(actor):
        raise PermissionDenied(
            "Only a police Prevent lead issues advisory ratings.",
            reason="not_permitted",
            audit={"action": action, **refs},
        )
    if speaker.status != RecordStatus.ACTIVE:
        raise Conflict(
            "This speaker's record is no longer in use.",
            reason="not_active",
            audit={"action": action, **refs},
        )
    today = utcnow().astimezone(LOCAL_ZONE).date()  # expiry dates are UK calendar days
    check = Checker(data)
    rating = check.choice("rating", Rating, "a rating")
    rationale = check.text("rationale", "the reasons for the rating", max_length=MAX_RATIONALE)
    expires_on = check.date("expires_on", "the date the rating expires")
    if expires_on is not None and check.ok("expires_on"):
        if expires_on <= today:
            check.add("expires_on", "The date the rating expires must be in the future.")
        elif expires_on > today + MAX_VALIDITY:
            check.add("expires_on", "A rating can be given for at most 2 years.")
    distribution = check.choice(
        "distribution", Distribution, "how far the rating may be shared", required=False
    )
    check.raise_if_any()
    issued = AdvisoryRating(
        speaker_id=speaker.id,
        owner_org_id=uuid.UUID(actor.org_id),
        distribution=distribution or Distribution.INTERNAL,
        rating=rating,
        rationale=rationale,
        issued_on=today,
        expires_on=expires_on,
        issued_by_id=actor.person_id,
    )
    db.session.add(issued)
    db.session.flush()
    audit.record(
        actor,
        action,
        "granted",
        resource_type="advisory_rating",
        resource_ids=[str(issued.id)],
        resource_org=actor.org_id,
        fields=["rating", "rationale", "expires_on", "distribution"],
        subjects=[("speaker", str(speaker.id))],
        speaker_id=str(speaker.id),
        speaker_org=str(speaker.owner_org_id),
    )
    return issued


def _view(rating: AdvisoryRating, issuer: str, today: date, basis: str, full: bool) -> RatingView:
    return RatingView(
        id=rating.id,
        issuer_org_id=rating.owner_org_id,
        issuer_name=issuer,
        rating=rating.rating,
        rationale=rating.rationale if full else None,
        issued_on=rating.issued_on,
        expires_on=rating.expires_on,
        expired=rating.expires_on < today,
        basis=basis,
    )


def _issuer_names(ratings: list[AdvisoryRating]) -> dict[uuid.UUID, str]:
    return dict(
        db.session.execute(
            sa.select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({r.owner_org_id for r in ratings})
            )
        ).all()
    )


def give_answer(actor: Actor, rating: AdvisoryRating, request_ids: list[str]) -> None:
    """Audit that the institution that asked was shown the police's answer (the advisory
    answer basis: the rating and its dates, never the rationale)."""
    audit.record(
        actor,
        DISCLOSURE,
        "granted",
        resource_type="advisory_rating",
        resource_ids=[str(rating.id)],
        resource_org=str(rating.owner_org_id),
        purpose=ANSWER_PURPOSE,
        fields=ANSWER_FIELDS,
        subjects=[("speaker", str(rating.speaker_id))],
        basis=ANSWER_BASIS,
        advisory_requests=sorted(request_ids),
    )


def ratings_for(actor: Actor, speaker: Speaker, today: date | None = None) -> list[RatingView]:
    """The advisory ratings on the actor's organisation's `speaker` that the actor may see,
    newest first: its own organisation's in full, and the answers to its organisation's own
    advisory requests on the advisory answer basis (audited as disclosures)."""
    return ratings_on(actor, [speaker.id], today)


def ratings_on(
    actor: Actor, speaker_ids: list[uuid.UUID], today: date | None = None
) -> list[RatingView]:
    """`ratings_for` over several speaker records (a speaker and those merged into it)."""
    today = today or utcnow().date()
    if actor.org_id is None or not speaker_ids:
        return []
    org = uuid.UUID(actor.org_id)
    # The organisation's answered requests about these speakers, by the rating they received.
    answers: dict[uuid.UUID, list[str]] = {}
    for rating_id, request_id in db.session.execute(
        sa.select(AdvisoryRequest.rating_id, AdvisoryRequest.id).where(
            AdvisoryRequest.requesting_org_id == org,
            AdvisoryRequest.speaker_id.in_(speaker_ids),
            AdvisoryRequest.status == AdvisoryStatus.ANSWERED,
            AdvisoryRequest.rating_id.is_not(None),
        )
    ):
        answers.setdefault(rating_id, []).append(str(request_id))
    ratings = list(
        db.session.scalars(
            sa.select(AdvisoryRating)
            .where(
                AdvisoryRating.speaker_id.in_(speaker_ids),
                sa.or_(AdvisoryRating.owner_org_id == org, AdvisoryRating.id.in_(list(answers))),
            )
            .order_by(AdvisoryRating.issued_on.desc(), AdvisoryRating.created_at.desc())
        )
    )
    names = _issuer_names(ratings)
    views = []
    for rating in ratings:
        own = rating.owner_org_id == org
        if not own:
            give_answer(actor, rating, answers[rating.id])
        basis = "own" if own else ANSWER_BASIS
        views.append(_view(rating, names.get(rating.owner_org_id, ""), today, basis, own))
    return views


def answer_view(actor: Actor, side: str, rating: AdvisoryRating, request: Any) -> RatingView | None:
    """The police's answer to one advisory request as the actor's side may see it: police in
    full; the institution that asked on the advisory answer basis; the coordinator through
    `disclose()` under the police-to-coordinator agreement for the advisory request purpose
    (None when no agreement in force gives it the rating). Every cross-organisation sight of
    it is audited."""
    today = utcnow().date()
    issuer = _issuer_names([rating]).get(rating.owner_org_id, "")
    if actor.org_id == str(rating.owner_org_id):
        return _view(rating, issuer, today, "own", full=True)
    if side == "requester":
        give_answer(actor, rating, [str(request.id)])
        return _view(rating, issuer, today, ANSWER_BASIS, full=False)
    found = agreements.disclose(actor, [shareable.rating(rating)], ANSWER_PURPOSE)
    if not found or "rating" not in found[0].data:
        return None
    data = found[0].data
    under = found[0].disclosed_under or {}
    return RatingView(
        id=rating.id,
        issuer_org_id=rating.owner_org_id,
        issuer_name=issuer,
        rating=Rating(data["rating"]),
        rationale=data.get("rationale"),
        issued_on=_as_disclosed(data.get("issued_on")),
        expires_on=_as_disclosed(data.get("expires_on")),
        expired=rating.expires_on < today,
        basis=under.get("reference", ""),
    )


def _as_disclosed(value: Any) -> date | str | None:
    """A disclosed date: a date where the schedule gives it in full, else what it gives (a
    month, for a generalised date)."""
    if isinstance(value, str) and len(value) == 10:
        return date.fromisoformat(value)
    return value
