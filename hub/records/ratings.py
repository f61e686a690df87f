"""Advisory ratings on speakers: issued by a police Prevent lead in answer to a routed
advisory request, shown on the speaker's page with the issuer and whether it has expired."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from audit import services as audit
from hub.core.db import db, utcnow
from hub.core.errors import Conflict, PermissionDenied
from hub.core.security import Actor
from hub.core.validation import Checker
from hub.records import permissions
from hub.records.models import AdvisoryRating, Distribution, Rating, RecordStatus, Speaker
from hub.records.speakers import person_id
from partners.models import Organisation

#: A rating is advice for a time: it expires within two years of being issued.
MAX_VALIDITY = timedelta(days=2 * 366)
MAX_RATIONALE = 2000

RATING_LABELS = {Rating.RED: "Red", Rating.AMBER: "Amber", Rating.GREEN: "Green"}
RATING_COLOURS = {Rating.RED: "red", Rating.AMBER: "orange", Rating.GREEN: "green"}
RATING_MEANINGS = {
    Rating.RED: "Do not proceed without strong mitigation.",
    Rating.AMBER: "Proceed with mitigations.",
    Rating.GREEN: "No concerns known.",
}


@dataclass(frozen=True)
class RatingView:
    """A rating as its reader sees it: with the issuing organisation's name and expiry."""

    rating: AdvisoryRating
    issuer_name: str
    expired: bool


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
    today = utcnow().date()
    check = Checker(data)
    rating = check.choice("rating", Rating, "the rating (red, amber or green)")
    rationale = check.text("rationale", "the rationale for the rating", max_length=MAX_RATIONALE)
    expires_on = check.date("expires_on", "the date the rating expires")
    if expires_on is not None and expires_on <= today:
        check.add("expires_on", "The date the rating expires must be in the future.")
    elif expires_on is not None and expires_on > today + MAX_VALIDITY:
        check.add("expires_on", "The date the rating expires must be within 2 years from today.")
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
        issued_by_id=person_id(actor),
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


def ratings_for(speaker: Speaker, today: date | None = None) -> list[RatingView]:
    """The advisory ratings on `speaker` (issued to its owner through advisory requests),
    newest first, each with its issuer's name and whether it has expired."""
    today = today or utcnow().date()
    rows = db.session.execute(
        sa.select(AdvisoryRating, Organisation.name)
        .join(Organisation, Organisation.id == AdvisoryRating.owner_org_id)
        .where(AdvisoryRating.speaker_id == speaker.id)
        .order_by(AdvisoryRating.issued_on.desc(), AdvisoryRating.created_at.desc())
    )
    return [RatingView(rating, name, rating.expires_on < today) for rating, name in rows]
