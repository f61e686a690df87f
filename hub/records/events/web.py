"""What the pages of an event and of its review share: the "events" blueprint (its endpoints
are named `events.*` wherever a page links to them), how dates and people are shown, the labels
the templates read, and the answer to a refused change."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint

from audit.refusals import keep_refusal
from core.db import db
from core.errors import Conflict, HubError
from core.request import current_actor
from core.validation import LOCAL_ZONE
from hub.records.events import assessments, decisions
from hub.records.events import services as events
from hub.records.models import EVENT_STATUS_LABELS, OUTCOME_LABELS, Event
from partners.models import Person

blueprint = Blueprint("events", __name__, url_prefix="/events", template_folder="templates")

STAGE_LABELS = {
    "completed": "Completed",
    "in_progress": "In progress",
    "not_started": "Not yet started",
    "optional": "Optional",
    "cannot_start": "Cannot start yet",
    "not_needed": "Not needed",
    "not_done": "Not done",
}


# --- presentation helpers ---------------------------------------------------------------


def uk_datetime(moment: datetime | None) -> str:
    """A UTC moment as UK local time, as GOV.UK writes it: 3 March 2026 at 6:30pm."""
    if moment is None:
        return ""
    local = moment.astimezone(LOCAL_ZONE)
    hour = local.hour % 12 or 12
    return f"{local.day} {local:%B %Y} at {hour}:{local:%M}{'am' if local.hour < 12 else 'pm'}"


def uk_date(day: date | datetime | None) -> str:
    """A date as GOV.UK writes it: 3 March 2026."""
    if day is None:
        return ""
    if isinstance(day, datetime):
        day = day.astimezone(LOCAL_ZONE).date()
    return decisions.long_date(day)


def options(labels: dict[Any, str]) -> list[tuple[str, str]]:
    """A select's options from an enum's labels."""
    return [(key.value, text) for key, text in labels.items()]


def people_names(ids: Iterable[Any]) -> dict[str, str]:
    """Names of the people behind `ids` (who changed a status, decided, reviewed)."""
    keys = {uuid.UUID(str(i)) for i in ids if i}
    if not keys:
        return {}
    rows = db.session.execute(sa.select(Person.id, Person.name).where(Person.id.in_(keys)))
    return {str(key): name for key, name in rows}


@blueprint.context_processor
def _labels() -> dict[str, Any]:
    return {
        "uk_datetime": uk_datetime,
        "uk_date": uk_date,
        "status_labels": EVENT_STATUS_LABELS,
        "status_colours": events.STATUS_COLOURS,
        "outcome_labels": OUTCOME_LABELS,
        "organiser_labels": events.ORGANISER_TYPE_LABELS,
        "venue_labels": events.VENUE_KIND_LABELS,
        "audience_labels": events.AUDIENCE_LABELS,
        "conditions_held_labels": events.CONDITIONS_HELD_LABELS,
        "mitigation_labels": assessments.MITIGATION_LABELS,
        "mitigation_status_labels": assessments.MITIGATION_STATUS_LABELS,
        "rating_labels": assessments.RATING_LABELS,
        "rating_colours": assessments.RATING_COLOURS,
        "response_labels": assessments.RESPONSE_LABELS,
        "question_text": assessments.QUESTION_TEXT,
        "question_titles": assessments.QUESTION_TITLES,
        "reason_labels": decisions.REASON_CATEGORY_LABELS,
        "appeal_labels": decisions.APPEAL_OUTCOME_LABELS,
        "stage_labels": STAGE_LABELS,
    }


def refused(exc: HubError) -> dict[str, list[str]]:
    """Keep the refusal (audited at the edge's one place) and return the messages for the
    error summary."""
    keep_refusal(current_actor(), exc)
    return exc.errors or {"_form": [exc.detail]}


def refusal_status(exc: HubError) -> int:
    """A conflict answers 409; a form's own errors are shown with 200."""
    return 409 if isinstance(exc, Conflict) else 200


def load_event(event_id: str) -> Event:
    """The event the address names, as the actor may see it (or the refusal)."""
    return events.get_event(current_actor(), event_id)
