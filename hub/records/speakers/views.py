"""Pages for speakers: the list and search, the speaker's record (names, affiliations, sources,
statements with their history, advisory ratings, appearances), the forms to add and change a
speaker (with the likely-duplicates check), statements and their status, and merging."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from audit.actions import ASSERTION_CREATE, SPEAKER_MERGE, SPEAKER_READ
from audit.refusals import keep_refusal
from core.db import db, utcnow
from core.documents import long_date
from core.errors import HubError, ValidationFailed
from core.request import current_actor, signed_in_required
from hub.records import permissions
from hub.records.models import (
    DEFAULT_DISTRIBUTION,
    EVENT_STATUS_LABELS,
    OUTCOME_LABELS,
    Assertion,
    AssertionKind,
    AssertionStatus,
    Speaker,
)
from hub.records.speakers import assertions, ratings, search
from hub.records.speakers import services as speakers
from partners.models import Person

blueprint = Blueprint("speakers", __name__, url_prefix="/speakers", template_folder="templates")

PAGE_SIZE = 50
#: Blank rows offered after the filled ones in the speaker form's repeating sections.
BLANK_ROWS = {"aliases": 2, "affiliations": 2, "sources": 2}
ROW_FIELDS = {
    "aliases": ("name", "kind"),
    "affiliations": ("organisation_name", "role"),
    "sources": (
        "url",
        "title",
        "retrieved_on",
        "retrieved_on-day",
        "retrieved_on-month",
        "retrieved_on-year",
    ),
}
DATE_PARTS = ("day", "month", "year")


# --- presentation helpers ---------------------------------------------------------------


def people_names(ids: Iterable[Any]) -> dict[str, str]:
    """Names of the people behind `ids` (who recorded, changed or merged something)."""
    keys = {uuid.UUID(str(i)) for i in ids if i}
    if not keys:
        return {}
    rows = db.session.execute(sa.select(Person.id, Person.name).where(Person.id.in_(keys)))
    return {str(key): name for key, name in rows}


def _options(labels: Mapping[Any, str]) -> list[tuple[str, str]]:
    return [(key.value, text) for key, text in labels.items()]


@blueprint.context_processor
def _labels() -> dict[str, Any]:
    return {
        "long_date": long_date,
        "alias_kind_labels": speakers.ALIAS_KIND_LABELS,
        "distribution_labels": speakers.DISTRIBUTION_LABELS,
        "role_labels_speaker": speakers.ROLE_LABELS,
        "kind_labels": assertions.KIND_LABELS,
        "confidence_labels": assertions.CONFIDENCE_LABELS,
        "assertion_status_labels": assertions.STATUS_LABELS,
        "assertion_status_colours": assertions.STATUS_COLOURS,
        "rating_labels": ratings.RATING_LABELS,
        "rating_colours": ratings.RATING_COLOURS,
        "rating_meanings": ratings.RATING_MEANINGS,
        "event_status_labels": EVENT_STATUS_LABELS,
        "event_outcome_labels": OUTCOME_LABELS,
    }


def _refused(exc: HubError) -> dict[str, list[str]]:
    """Keep the refusal (audited at the edge's one place) and return the messages for the
    error summary."""
    keep_refusal(current_actor(), exc)
    return exc.errors or {"_form": [exc.detail]}


def _speaker_or_redirect(
    speaker_id: str, endpoint: str, action: str = SPEAKER_READ
) -> tuple[Speaker, Any]:
    """The speaker, or a redirect when the address is a merged record's (to the kept one)."""
    speaker = speakers.get_speaker(current_actor(), speaker_id, action=action)
    try:
        asked = uuid.UUID(speaker_id)
    except ValueError:  # get_speaker has already refused a malformed id
        asked = speaker.id
    if speaker.id != asked:
        flash("The record you asked for was merged into this one; its history is below.", "info")
        return None, redirect(url_for(endpoint, speaker_id=speaker.id), code=301)
    return speaker, None


# --- the form's repeating rows ----------------------------------------------------------


def _rows(form: MultiDict, section: str) -> list[dict[str, str]]:
    """The filled rows of a repeating section (`aliases-0-name`, ...), blank ones dropped."""
    rows = []
    number = 0
    while any(f"{section}-{number}-{key}" in form for key in ROW_FIELDS[section]):
        row = {
            key: form.get(f"{section}-{number}-{key}", "").strip() for key in ROW_FIELDS[section]
        }
        if any(value for key, value in row.items() if key != "kind"):
            rows.append(row)
        number += 1
    return rows


def _form_data(form: MultiDict) -> dict[str, Any]:
    """A speaker form as the service reads it."""
    data: dict[str, Any] = {
        "display_name": form.get("display_name", ""),
        "aliases": _rows(form, "aliases"),
        "affiliations": _rows(form, "affiliations"),
        "sources": _rows(form, "sources"),
        "topics": form.get("topics", ""),
        "distribution": form.get("distribution", ""),
    }
    data.update({f"retention_until-{p}": form.get(f"retention_until-{p}", "") for p in DATE_PARTS})
    data["retention_until"] = form.get("retention_until", "")
    return data


def _form_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """What the form shows: the given values, with blank rows added to each section."""
    values = dict(data)
    for section, blanks in BLANK_ROWS.items():
        rows = [dict(row) for row in data.get(section) or []]
        for row in rows:
            given = row.get("retrieved_on")
            if given and "retrieved_on-day" not in row:  # a stored date, not what was typed
                day = date.fromisoformat(given)
                row.update({"retrieved_on-day": day.day, "retrieved_on-month": day.month})
                row["retrieved_on-year"] = day.year
        values[section] = rows + [{} for _ in range(blanks)]
    topics = data.get("topics")
    if isinstance(topics, list):
        values["topics"] = "\n".join(topics)
    retention = data.get("retention_until")
    if retention and "retention_until-day" not in data:
        day = date.fromisoformat(str(retention))
        values.update(
            {
                "retention_until-day": day.day,
                "retention_until-month": day.month,
                "retention_until-year": day.year,
            }
        )
    return values


def _form_page(template: str, **context: Any) -> str:
    return render_template(
        f"records/speakers/{template}",
        alias_kind_options=_options(speakers.ALIAS_KIND_LABELS),
        distribution_options=_options(speakers.DISTRIBUTION_LABELS),
        **context,
    )


# --- list, search and the record --------------------------------------------------------


@blueprint.get("/")
@signed_in_required
def index() -> Any:
    """The organisation's speakers by name, or those matching a search."""
    actor = current_actor()
    query = (request.args.get("q") or "").strip()[:200]
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    matches = None
    listing: list[Speaker] = []
    total = 0
    if query:
        matches = search.search_speakers(actor, query, limit=PAGE_SIZE)
    else:
        total = speakers.count_speakers(actor)
        listing = speakers.list_speakers(actor, PAGE_SIZE, (page - 1) * PAGE_SIZE)
    return render_template(
        "records/speakers/index.html",
        query=query,
        matches=matches,
        listing=listing,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        can_create=permissions.can_create_records(actor),
        page_title="Search results for speakers" if query else "Speakers",
    )


@blueprint.get("/<speaker_id>")
@signed_in_required
def show(speaker_id: str) -> Any:
    """A speaker's record: names, affiliations, sources, statements with their history,
    advisory ratings, appearances and the records merged into it."""
    actor = current_actor()
    speaker, moved = _speaker_or_redirect(speaker_id, "speakers.show")
    if moved:
        return moved
    statements = assertions.assertions_about(actor, speaker)
    merges = speakers.merges_into(speaker)
    names = people_names(
        [speaker.created_by_id]
        + [a.created_by_id for a in statements]
        + [r.changed_by_id for a in statements for r in a.revisions]
        + [m.merged_by_id for m in merges]
    )
    today = utcnow().date()
    return render_template(
        "records/speakers/show.html",
        speaker=speaker,
        statements=statements,
        ratings=ratings.ratings_for(actor, speaker, today),
        appearances=speakers.appearances(speaker),
        merges=merges,
        merged_names=speakers.merged_record_names(merges),
        names=names,
        today=today,
        overdue={a.id for a in statements if assertions.is_review_overdue(a, today)},
        can_write=permissions.can_write(actor, speaker.owner_org_id),
        can_change_status={a.id: assertions.can_change_status(actor, a) for a in statements},
        page_title=speaker.display_name,
    )


# --- adding and changing a speaker ------------------------------------------------------


@blueprint.route("/new", methods=["GET", "POST"])
@signed_in_required
def new() -> Any:
    """Add a speaker; likely existing records are offered first ("Is it one of these?")."""
    actor = current_actor()
    speakers.require_writer(actor, "speaker.create")
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = {
        "distribution": DEFAULT_DISTRIBUTION.value,
        "retention_until": speakers.retention_default().isoformat(),
    }
    duplicates: list[search.SpeakerMatch] = []
    if request.method == "POST":
        data = {**_form_data(request.form), "confirm_new": request.form.get("confirm_new")}
        try:
            speaker = speakers.add_speaker(actor, data)
        except ValidationFailed as exc:
            errors = _refused(exc)
        except speakers.LikelyDuplicates as exc:
            # A question for the person, not a refusal: nothing was written or refused.
            duplicates = [match for matches in exc.found.values() for match in matches]
        else:
            flash(f"{speaker.display_name} has been added.", "success")
            return redirect(url_for("speakers.show", speaker_id=speaker.id))
    return _form_page(
        "form.html",
        errors=errors,
        values=_form_values(data),
        duplicates=duplicates,
        creating=True,
        page_title="Add a speaker",
    )


def updated_message(changed: speakers.Changed) -> str:
    """What the owner is told after saving: that the record changed, and how many partner
    organisations that had received a changed field were told of the correction."""
    if not changed:
        return "Nothing was changed."
    if not changed.told:
        return "The record has been updated."
    noun = "organisation" if changed.told == 1 else "organisations"
    return (
        f"The record has been updated. Told {changed.told} {noun} that had received the "
        "changed details."
    )


@blueprint.route("/<speaker_id>/edit", methods=["GET", "POST"])
@signed_in_required
def edit(speaker_id: str) -> Any:
    """Change a speaker's names, affiliations, sources, topics, distribution or keep-until
    date."""
    actor = current_actor()
    speaker, moved = _speaker_or_redirect(speaker_id, "speakers.edit", "speaker.update")
    if moved:
        return moved
    if not permissions.can_write(actor, speaker.owner_org_id):
        speakers.update_speaker(actor, speaker, {})  # refused and audited
    errors: dict[str, list[str]] = {}
    data: dict[str, Any] = speakers.editable_values(speaker)
    if request.method == "POST":
        data = _form_data(request.form)
        try:
            changed = speakers.update_speaker(actor, speaker, data)
        except ValidationFailed as exc:
            errors = _refused(exc)
        else:
            flash(updated_message(changed), "success")
            return redirect(url_for("speakers.show", speaker_id=speaker.id))
    return _form_page(
        "form.html",
        errors=errors,
        values=_form_values(data),
        duplicates=[],
        creating=False,
        speaker=speaker,
        page_title=f"Change {speaker.display_name}",
    )


# --- statements -------------------------------------------------------------------------


def _statement(speaker_id: str, assertion_id: str, action: str) -> tuple[Speaker, Assertion]:
    actor = current_actor()
    speaker = speakers.get_speaker(actor, speaker_id, action=action)
    return speaker, assertions.get_assertion(actor, speaker, assertion_id, action)


def _statement_form_data(form: MultiDict, keys: Iterable[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key in keys:
        if key in ("stated_on", "review_by"):
            data.update({f"{key}-{p}": form.get(f"{key}-{p}", "") for p in DATE_PARTS})
            data[key] = form.get(key, "")
        elif key in ("special_category", "criminal_offence"):
            data[key] = "yes" if form.get(key) == "yes" else "no"
        else:
            data[key] = form.get(key, "")
    return data


def _date_values(values: dict[str, Any], key: str, day: date | None) -> None:
    if day is not None:
        values.update({f"{key}-day": day.day, f"{key}-month": day.month, f"{key}-year": day.year})


@blueprint.route("/<speaker_id>/statements/new", methods=["GET", "POST"])
@signed_in_required
def new_statement(speaker_id: str) -> Any:
    """Record a statement about the speaker: fact or opinion, source, date, confidence,
    flags for special-category and criminal-offence data, and a review date."""
    actor = current_actor()
    speaker = speakers.get_speaker(actor, speaker_id, action=ASSERTION_CREATE)
    if not permissions.can_write(actor, speaker.owner_org_id):
        assertions.create_assertion(actor, speaker, {})  # refused and audited
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"special_category": "no", "criminal_offence": "no"}
    if request.method == "POST":
        values = _statement_form_data(
            request.form,
            (
                "kind", "text", "source", "source_url", "stated_on", "confidence",
                "special_category", "criminal_offence", "review_by", "distribution",
            ),
        )  # fmt: skip
        try:
            assertions.create_assertion(actor, speaker, values)
        except ValidationFailed as exc:
            errors = _refused(exc)
        else:
            flash("The statement has been recorded.", "success")
            return redirect(url_for("speakers.show", speaker_id=speaker.id, _anchor="statements"))
    return render_template(
        "records/speakers/statement_form.html",
        speaker=speaker,
        errors=errors,
        values=values,
        kind_options=[
            (k.value, assertions.KIND_LABELS[k], assertions.KIND_HINTS[k]) for k in AssertionKind
        ],
        confidence_options=_options(assertions.CONFIDENCE_LABELS),
        distribution_options=[
            ("", "The default (internal if flagged, otherwise as the speaker)"),
            *_options(speakers.DISTRIBUTION_LABELS),
        ],
        page_title=f"Record a statement about {speaker.display_name}",
    )


@blueprint.route("/<speaker_id>/statements/<assertion_id>/status", methods=["GET", "POST"])
@signed_in_required
def statement_status(speaker_id: str, assertion_id: str) -> Any:
    """Dispute, reinstate or withdraw a statement, with a reason."""
    actor = current_actor()
    speaker, assertion = _statement(speaker_id, assertion_id, "assertion.status")
    if not assertions.can_change_status(actor, assertion):
        assertions.change_assertion_status(actor, assertion, {})  # refused and audited
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if request.method == "POST":
        values = {"status": request.form.get("status", ""), "reason": request.form.get("reason")}
        try:
            assertions.change_assertion_status(actor, assertion, values)
        except ValidationFailed as exc:
            errors = _refused(exc)
            assertion = db.session.get(Assertion, assertion.id)
        else:
            flash("The statement's status has been changed.", "success")
            return redirect(
                url_for("speakers.show", speaker_id=speaker.id, _anchor=f"statement-{assertion.id}")
            )
    choices = sorted(assertions.TRANSITIONS[assertion.status])
    return render_template(
        "records/speakers/statement_status.html",
        speaker=speaker,
        assertion=assertion,
        errors=errors,
        values=values,
        status_options=[(s.value, _status_action(s)) for s in choices],
        page_title="Change the statement's status",
    )


def _status_action(status: AssertionStatus) -> str:
    return {
        AssertionStatus.ACTIVE: "Active: the dispute is resolved and the statement stands",
        AssertionStatus.DISPUTED: "Disputed: its accuracy is contested",
        AssertionStatus.WITHDRAWN: "Withdrawn: it should no longer be relied on",
    }[status]


@blueprint.route("/<speaker_id>/statements/<assertion_id>/correct", methods=["GET", "POST"])
@signed_in_required
def statement_correct(speaker_id: str, assertion_id: str) -> Any:
    """Correct a statement's text, with a reason (the earlier text stays in the history)."""
    actor = current_actor()
    speaker, assertion = _statement(speaker_id, assertion_id, "assertion.correct")
    if not permissions.can_write(actor, assertion.owner_org_id):
        assertions.correct_assertion(actor, assertion, {})  # refused and audited
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {"text": assertion.text}
    if request.method == "POST":
        values = {"text": request.form.get("text", ""), "reason": request.form.get("reason")}
        try:
            assertions.correct_assertion(actor, assertion, values)
        except ValidationFailed as exc:
            errors = _refused(exc)
            assertion = db.session.get(Assertion, assertion.id)
        else:
            flash("The statement has been corrected.", "success")
            return redirect(
                url_for("speakers.show", speaker_id=speaker.id, _anchor=f"statement-{assertion.id}")
            )
    return render_template(
        "records/speakers/statement_correct.html",
        speaker=speaker,
        assertion=assertion,
        errors=errors,
        values=values,
        page_title="Correct the statement",
    )


@blueprint.route("/<speaker_id>/statements/<assertion_id>/edit", methods=["GET", "POST"])
@signed_in_required
def statement_edit(speaker_id: str, assertion_id: str) -> Any:
    """Change a statement's confidence, flags, review date or distribution."""
    actor = current_actor()
    speaker, assertion = _statement(speaker_id, assertion_id, "assertion.update")
    if not permissions.can_write(actor, assertion.owner_org_id):
        assertions.update_assertion(actor, assertion, {})  # refused and audited
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {
        "confidence": assertion.confidence.value,
        "special_category": "yes" if assertion.special_category else "no",
        "criminal_offence": "yes" if assertion.criminal_offence else "no",
        "distribution": assertion.distribution.value,
    }
    _date_values(values, "review_by", assertion.review_by)
    if request.method == "POST":
        values = _statement_form_data(request.form, assertions.DETAIL_FIELDS)
        try:
            changed = assertions.update_assertion(actor, assertion, values)
        except (ValidationFailed, HubError) as exc:
            errors = _refused(exc)
            assertion = db.session.get(Assertion, assertion.id)
        else:
            flash(
                "The statement's details have been updated." if changed else "Nothing was changed.",
                "success",
            )
            return redirect(
                url_for("speakers.show", speaker_id=speaker.id, _anchor=f"statement-{assertion.id}")
            )
    return render_template(
        "records/speakers/statement_edit.html",
        speaker=speaker,
        assertion=assertion,
        errors=errors,
        values=values,
        confidence_options=_options(assertions.CONFIDENCE_LABELS),
        distribution_options=_options(speakers.DISTRIBUTION_LABELS),
        page_title="Change the statement's details",
    )


# --- merging ----------------------------------------------------------------------------


@blueprint.route("/<speaker_id>/merge", methods=["GET", "POST"])
@signed_in_required
def merge(speaker_id: str) -> Any:
    """Merge another record of the same person into this one: choose it, compare the two,
    give the reason, confirm."""
    actor = current_actor()
    keep, moved = _speaker_or_redirect(speaker_id, "speakers.merge", "speaker.merge")
    if moved:
        return moved
    if not permissions.can_write(actor, keep.owner_org_id):
        speakers.merge_speakers(actor, keep, keep, "")  # refused and audited
    errors: dict[str, list[str]] = {}
    other_id = request.values.get("merge_id", "")
    reason = request.form.get("reason", "")
    other = None
    if other_id:
        other = speakers.get_speaker(
            actor, speakers.parse_speaker_id(other_id), follow_merged=False, action=SPEAKER_MERGE
        )
    if request.method == "POST" and other is not None:
        try:
            summary = speakers.merge_speakers(actor, keep, other, reason)
        except (ValidationFailed, HubError) as exc:
            errors = _refused(exc)
            keep = db.session.get(Speaker, keep.id)
            other = db.session.get(Speaker, other.id)
        else:
            moved_text = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in summary.moved.items())
            flash(
                f"{other.display_name} has been merged into this record"
                + (f" ({moved_text} moved)." if moved_text else "."),
                "success",
            )
            return redirect(url_for("speakers.show", speaker_id=keep.id))
    if other is not None:
        return render_template(
            "records/speakers/merge_confirm.html",
            keep=keep,
            other=other,
            reason=reason,
            errors=errors,
            counts={
                record.id: {
                    "statements": len(record.assertions),
                    "ratings": len(record.ratings),
                    "appearances": len(record.appearances),
                }
                for record in (keep, other)
            },
            page_title=f"Merge a record into {keep.display_name}",
        )
    query = (request.args.get("q") or "").strip()[:200]
    if query:
        candidates = search.search_speakers(actor, query, limit=20)
    else:
        candidates = speakers.likely_duplicates(
            actor, keep.display_name, [a.name for a in keep.aliases], limit=10
        ) + search.search_speakers(actor, keep.display_name, limit=10, min_score=0.6)
    seen: set[uuid.UUID] = {keep.id}
    unique = []
    for match in candidates:
        if match.speaker_id not in seen:
            seen.add(match.speaker_id)
            unique.append(match)
    return render_template(
        "records/speakers/merge.html",
        keep=keep,
        query=query,
        candidates=unique,
        errors=errors,
        page_title=f"Merge a record into {keep.display_name}",
    )
