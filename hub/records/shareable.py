"""Records as the sharing path sees them: each model turned into a `ShareableRecord`.

The field names here are the registry's (agreements/fields.py); a field the registry does not
know is never offered for disclosure.
"""

from __future__ import annotations

import json
import uuid
from collections import namedtuple
from collections.abc import Iterable, Mapping
from datetime import date
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa

from agreements.policy import ShareableRecord
from core.db import db, driver_rows
from hub.records.models import (
    AdvisoryRating,
    Assertion,
    Decision,
    Distribution,
    Event,
    Rating,
    RecordStatus,
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
    """One speaker (whatever its status) as `speakers` makes it."""
    key = str(model.id)
    return speakers([model.id], active_only=False, matched={key: matched_field})[key]


def speakers(
    ids: Iterable[uuid.UUID],
    *,
    active_only: bool = True,
    matched: Mapping[str, str | None] | None = None,
) -> dict[str, ShareableRecord]:
    """Speakers by id (the active ones, unless told otherwise): names, public affiliations,
    topics, sources, and appearances at their owner's events. One statement for them all:
    each list is aggregated as JSON beside its speaker, in the order the model's relationship
    gives it. `matched` names, by id, the field a search matched."""
    return {
        key: found
        for key, (found, _ratings) in _read(ids, active_only, matched, with_ratings=False).items()
    }


def speaker_and_ratings(
    speaker_id: uuid.UUID,
) -> tuple[ShareableRecord, list[ShareableRecord]] | None:
    """An active speaker as `speakers` makes it, with the advisory ratings anyone issued on it
    (newest first, each as `rating` makes it), read in the same one statement; None if there
    is no such active speaker."""
    return _read([speaker_id], True, None, with_ratings=True).get(str(speaker_id))


def _read(
    ids: Iterable[uuid.UUID],
    active_only: bool,
    matched: Mapping[str, str | None] | None,
    *,
    with_ratings: bool,
) -> dict[str, tuple[ShareableRecord, list[ShareableRecord]]]:
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    session = db.session()
    statuses = [RecordStatus.ACTIVE.value] if active_only else [m.value for m in RecordStatus]
    parameters = {"ids": wanted, "statuses": statuses}
    rows: Iterable[Any]
    if session.get_bind().dialect.name == "postgresql":
        # Through the driver (`core.db.driver_rows`): with the transaction's BEGIN, and what
        # the request deferred, in one round trip. It does not flush: this does, first.
        session.flush()
        rows = (_Row(*row) for row in driver_rows(session, _POSTGRESQL[with_ratings], parameters))
    else:
        rows = session.execute(_SQLITE[with_ratings], parameters)
    found = {}
    for row in rows:
        aliases, affiliations, topics, sources, appearances = (
            _json_list(value) for value in row[4:9]
        )
        found[str(row.id)] = (
            _record(
                "speaker",
                row,
                {
                    "display_name": row.display_name,
                    "aliases": aliases,
                    "affiliations": [
                        f"{name} ({role})" if role else name for name, role in affiliations
                    ],
                    "topics": topics,
                    "sources": sources,
                    "appearances": [str(uuid.UUID(event_id)) for event_id in appearances],
                },
                subjects=[("speaker", str(row.id))],
                matched_field=(matched or {}).get(str(row.id)),
                distribution=Distribution(row.distribution),
            ),
            [_rating_of(row.id, item) for item in _json_list(row[9])] if with_ratings else [],
        )
    return found


def _rating_of(speaker_id: uuid.UUID, item: Mapping[str, Any]) -> ShareableRecord:
    """A rating aggregated beside its speaker, made by `rating` as if read as a model."""
    return rating(
        SimpleNamespace(
            id=uuid.UUID(item["id"]),
            speaker_id=speaker_id,
            owner_org_id=uuid.UUID(item["owner_org_id"]),
            distribution=Distribution(item["distribution"]),
            rating=Rating(item["rating"]),
            rationale=item["rationale"],
            issued_on=date.fromisoformat(item["issued_on"]),
            expires_on=date.fromisoformat(item["expires_on"]),
        )
    )


def _json_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else json.loads(value)


def _speakers_sql(
    aggregate: str,
    pair: str,
    as_json: str,
    text_id: str,
    an_object: str,
    with_ratings: bool,
    where: str,
) -> str:
    """The statement `speakers` runs, in one engine's words for "a JSON array of", "a pair",
    "this JSON text as JSON", "an id as text" and "a JSON object of" (each list aggregated
    from an ordered subquery, which both engines keep in order); `with_ratings` adds the
    speaker's ratings as a list of objects. `where` picks the speakers by id and status."""

    def listed(value: str, table: str, order: str, where: str = "", item: str = "v") -> str:
        return (
            f"(SELECT {aggregate}({item}) FROM (SELECT {value} AS v FROM {table} "  # noqa: S608
            f"WHERE {where or 'x.speaker_id = s.id'} ORDER BY {order}) AS o)"
        )

    # Table and column names are constants of this module, never input.
    return (
        "SELECT s.id, s.owner_org_id, s.distribution, s.display_name, "  # noqa: S608
        + ", ".join(
            [
                listed("x.name", "speaker_aliases x", "x.name"),
                listed(
                    f"{pair}(x.organisation_name, x.role)",
                    "speaker_affiliations x",
                    "x.organisation_name",
                    item=f"{as_json}(v)",
                ),
                listed("x.topic", "speaker_topics x", "x.topic"),
                listed("x.url", "speaker_sources x", "x.retrieved_on DESC"),
                listed(
                    text_id,
                    "event_speakers x JOIN events e ON e.id = x.event_id",
                    "x.event_id",
                    "x.speaker_id = s.id AND e.owner_org_id = s.owner_org_id",
                ),
                *(
                    [
                        listed(
                            f"{an_object}("
                            + ", ".join(f"'{name}', x.{name}" for name in _RATING_COLUMNS)
                            + ")",
                            "advisory_ratings x",
                            "x.issued_on DESC, x.created_at DESC",
                            item=f"{as_json}(v)",
                        )
                    ]
                    if with_ratings
                    else []
                ),
            ]
        )
        + f" FROM speakers s WHERE {where}"
    )


#: A rating's columns, as `_rating_of` reads them.
_RATING_COLUMNS = (
    "id",
    "owner_org_id",
    "distribution",
    "rating",
    "rationale",
    "issued_on",
    "expires_on",
)
#: `speakers`' statement on PostgreSQL (psycopg's placeholders, run by the driver), with or
#: without the ratings, and its rows' columns.
_POSTGRESQL = {
    with_ratings: _speakers_sql(
        "json_agg",
        "json_build_array",
        "",
        "CAST(x.event_id AS text)",
        "json_build_object",
        with_ratings,
        "s.id = ANY(%(ids)s) AND s.status = ANY(%(statuses)s)",
    )
    for with_ratings in (False, True)
}
_Row = namedtuple(  # the positional rows the driver gives, by name
    "_Row",
    "id owner_org_id distribution display_name aliases affiliations topics sources appearances"
    " ratings",
    defaults=(None,),
)
#: And on SQLite, where a JSON value loses its JSON type leaving a subquery: json() gives it
#: back.
_SQLITE = {
    with_ratings: sa.text(
        _speakers_sql(
            "json_group_array",
            "json_array",
            "json",
            "x.event_id",
            "json_object",
            with_ratings,
            "s.id IN :ids AND s.status IN :statuses",
        )
    )
    .bindparams(
        sa.bindparam("ids", expanding=True, type_=sa.Uuid()),
        sa.bindparam("statuses", expanding=True),
    )
    .columns(
        sa.column("id", sa.Uuid()),
        sa.column("owner_org_id", sa.Uuid()),
        sa.column("distribution"),
        sa.column("display_name"),
    )
    for with_ratings in (False, True)
}


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
