"""Records as the sharing path sees them: each model turned into a `ShareableRecord`.

The field names here are the registry's (agreements/fields.py); a field the registry does not
know is never offered for disclosure.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from agreements.policy import ShareableRecord
from hub.records.models import (
    AdvisoryRating,
    Assertion,
    Decision,
    Event,
    RiskAssessment,
    Speaker,
)


def _record(
    record_type: str,
    model: Any,
    values: dict[str, Any],
    subjects: Iterable[tuple[str, str]] = (),
    matched_field: str | None = None,
    owner: Any = None,
    distribution: Any = None,
) -> ShareableRecord:
    chosen = distribution if distribution is not None else model.distribution
    return ShareableRecord(
        record_type=record_type,
        id=str(model.id),
        owner_org_id=str(owner if owner is not None else model.owner_org_id),
        distribution=getattr(chosen, "value", str(chosen)),
        values=values,
        subjects=tuple(subjects),
        matched_field=matched_field,
    )


def speaker(model: Speaker, matched_field: str | None = None) -> ShareableRecord:
    """A speaker: names, public affiliations, topics, sources, appearances."""
    return _record(
        "speaker",
        model,
        {
            "display_name": model.display_name,
            "aliases": [alias.name for alias in model.aliases],
            "affiliations": [
                f"{a.organisation_name} ({a.role})" if a.role else a.organisation_name
                for a in model.affiliations
            ],
            "topics": [topic.topic for topic in model.topics],
            "sources": [source.url for source in model.sources],
            "appearances": [
                str(link.event_id)
                for link in model.appearances
                if link.event.owner_org_id == model.owner_org_id
            ],
        },
        subjects=[("speaker", str(model.id))],
        matched_field=matched_field,
    )


def speaker_header(model: Any, matched_field: str | None = None) -> ShareableRecord:
    """A speaker with no field values: all the sharing path needs to decide whether it would
    disclose the record (owner, distribution, the name that matched), for counting search hits
    without loading each one. `model` is a Speaker or a row of its id, owner and distribution."""
    return _record(
        "speaker", model, {}, subjects=[("speaker", str(model.id))], matched_field=matched_field
    )


def assertion(model: Assertion) -> ShareableRecord:
    """A statement about a speaker, with its provenance and flags."""
    return _record(
        "assertion",
        model,
        {
            "speaker": [str(model.speaker_id)],
            "kind": model.kind.value,
            "text": model.text,
            "source": model.source,
            "source_url": [model.source_url] if model.source_url else [],
            "stated_on": model.stated_on,
            "confidence": model.confidence.value,
            "status": model.status.value,
            "special_category": model.special_category,
            "criminal_offence": model.criminal_offence,
            "review_by": model.review_by,
        },
        subjects=[("speaker", str(model.speaker_id))],
    )


def event(model: Event) -> ShareableRecord:
    """An event: what, when, where, who speaks, and its outcome."""
    return _record(
        "event",
        model,
        {
            "title": model.title,
            "synopsis": model.synopsis,
            "organiser_type": model.organiser_type.value,
            "organiser_name": model.organiser_name,
            "tags": list(model.tags or []),
            "starts_at": model.starts_at,
            "ends_at": model.ends_at,
            "venue_kind": model.venue_kind.value,
            "venue_place": model.venue_place,
            "audience": model.audience.value,
            "expected_size": model.expected_size,
            "branded_or_funded": model.branded_or_funded,
            "speakers": [str(link.speaker_id) for link in model.speakers],
            "status": model.status.value,
            "outcome": model.outcome.value if model.outcome else None,
        },
        subjects=[("speaker", str(link.speaker_id)) for link in model.speakers],
    )


def assessment(model: RiskAssessment) -> ShareableRecord:
    """A risk assessment: its rating, triage answers and mitigations."""
    event_model = model.event
    return _record(
        "assessment",
        model,
        {
            "event": [str(event_model.id)],
            "rating": model.rating.value if model.rating else None,
            "likelihood": model.likelihood,
            "impact": model.impact,
            "triage": [
                f"{a.question.value}: {a.answer.value}" + (f" ({a.detail})" if a.detail else "")
                for a in model.answers
            ],
            "mitigations": [f"{m.type.value} ({m.status.value})" for m in model.mitigations],
        },
        subjects=[("speaker", str(link.speaker_id)) for link in event_model.speakers],
        owner=event_model.owner_org_id,
        distribution=event_model.distribution,
    )


def decision(model: Decision) -> ShareableRecord:
    """A decision on an event."""
    return _record(
        "decision",
        model,
        {
            "event": [str(model.event_id)],
            "outcome": model.outcome.value,
            "rationale": model.rationale,
            "conditions": model.conditions,
            "reason_category": model.reason_category.value if model.reason_category else None,
            "lawful_speech_finding": model.lawful_speech_finding,
            "decided_on": model.decided_on,
        },
        subjects=[("speaker", str(link.speaker_id)) for link in model.event.speakers],
    )


def rating(model: AdvisoryRating) -> ShareableRecord:
    """An advisory rating on a speaker."""
    return _record(
        "advisory_rating",
        model,
        {
            "speaker": [str(model.speaker_id)],
            "rating": model.rating.value,
            "rationale": model.rationale,
            "issued_on": model.issued_on,
            "expires_on": model.expires_on,
        },
        subjects=[("speaker", str(model.speaker_id))],
    )
