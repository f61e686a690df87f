"""Pages: partners' records through agreements (speaker search, a partner's speaker and event),
the inbox of corrections and agreement changes, and subject access packs.

Every partner record shown here came through `agreements.services.disclose` (in
hub/records/sharing/services.py) for the purpose the person stated; a record they may not see
answers exactly like a missing one.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for

from agreements.fields import FIELDS, LEVEL_LABELS, LEVEL_MEANINGS, Level, Shape
from agreements.policy import MASK, Disclosed
from agreements.purposes import PURPOSES
from agreements.services import PurposeRefused, check_purpose, purposes_for
from audit.actions import SPEAKER_SEARCH
from audit.refusals import keep_refusal
from core.db import db, utcnow
from core.errors import HubError, NotFound, PermissionDenied, ValidationFailed
from core.request import current_actor, signed_in_required
from core.validation import LOCAL_ZONE
from hub.records import permissions
from hub.records.events import decisions
from hub.records.events import services as events
from hub.records.models import EVENT_STATUS_LABELS, OUTCOME_LABELS
from hub.records.sharing import services as shared
from hub.records.speakers import assertions, ratings
from hub.records.subject_access import documents as subject_access_documents
from hub.records.subject_access import services as subject_access
from partners import notifications
from partners.models import InboxMessage

blueprint = Blueprint("shared", __name__, url_prefix="/shared", template_folder="templates")

PAGE_SIZE = 20
PSEUDONYM_PREFIX = "psn:"
_MONTH = re.compile(r"^\d{4}-\d{2}$")

#: Labels for coded values, by (record type, field).
CODE_LABELS: dict[tuple[str, str], Mapping[Any, str]] = {
    ("assertion", "kind"): assertions.KIND_LABELS,
    ("assertion", "confidence"): assertions.CONFIDENCE_LABELS,
    ("assertion", "status"): assertions.STATUS_LABELS,
    ("event", "organiser_type"): events.ORGANISER_TYPE_LABELS,
    ("event", "venue_kind"): events.VENUE_KIND_LABELS,
    ("event", "audience"): events.AUDIENCE_LABELS,
    ("event", "status"): EVENT_STATUS_LABELS,
    ("event", "outcome"): OUTCOME_LABELS,
    ("decision", "outcome"): OUTCOME_LABELS,
    ("decision", "reason_category"): decisions.REASON_CATEGORY_LABELS,
    ("advisory_rating", "rating"): ratings.RATING_LABELS,
}
CHOOSE_PURPOSE = "Choose a purpose"
NO_PURPOSE = "No purpose: search only my organisation's records"
#: Every purpose the hub knows (peer hubs' searches, whose agreements are not this hub's).
PURPOSE_OPTIONS = [("", CHOOSE_PURPOSE), *sorted(PURPOSES.items())]

#: The levels a partner record's key explains, with their names and meanings as the agreement
#: states them (full needs no key; withheld fields are listed by name).
KEY_LEVELS = tuple(
    (level.value, LEVEL_LABELS[level.value], LEVEL_MEANINGS[level.value])
    for level in (Level.MASKED, Level.PSEUDONYMISED, Level.GENERALISED)
)
#: What one value of a field is called in a pseudonym's label ("Topic A"); a field not named
#: here is called by its registry label (a statement's "Source or evidence A").
PSEUDONYM_NOUNS = {
    "display_name": "Name",
    "aliases": "Alias",
    "affiliations": "Affiliation",
    "topics": "Topic",
    "sources": "Source",
    "appearances": "Event",
    "speaker": "Speaker",
    "speakers": "Speaker",
    "source_url": "Address",
    "tags": "Tag",
    "triage": "Answer",
    "mitigations": "Mitigation",
    "event": "Event",
}


# --- how a disclosed value is shown -----------------------------------------------------


@dataclass(frozen=True)
class ShownField:
    """One disclosed field as the page shows it: its label, its value(s) as disclosed, and
    how it was minimised where that can be seen from the value. Pseudonymised values show as
    short labels ("Topic A"), with each label's full pseudonym in `codes` for matching."""

    name: str
    label: str
    values: list[str]
    treatment: str | None = None
    codes: tuple[tuple[str, str], ...] = ()


def _letters(index: int) -> str:
    """The letters of a label: A, B, ... Z, AA, AB, ... for 0, 1, ..."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def pseudonym_labels(noun: str, codes: list[str]) -> dict[str, str]:
    """Short labels for a field's pseudonyms in one record, lettered in the order of the
    pseudonyms themselves: the same record always shows the same labels, whatever order its
    values were entered in, and equal values (equal pseudonyms) share a label."""
    return {code: f"{noun} {_letters(i)}" for i, code in enumerate(sorted(set(codes)))}


def _pseudonymised(name: str, label: str, value: Any) -> ShownField:
    codes = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    labels = pseudonym_labels(PSEUDONYM_NOUNS.get(name, label), codes)
    shown = [labels[code] for code in sorted(labels)]
    by_label = tuple(sorted((text, code) for code, text in labels.items()))
    return ShownField(name, label, shown, "pseudonymised", by_label)


def _long_date(value: date | datetime) -> str:
    """A date, or a moment in UK local time, as GOV.UK writes it."""
    if isinstance(value, datetime):
        local = value.astimezone(LOCAL_ZONE)
        return f"{local.day} {local:%B %Y} at {local:%H:%M}"
    return f"{value.day} {value:%B %Y}"


def _month(text: str) -> str:
    """A generalised YYYY-MM as its month and year."""
    year, month = (int(part) for part in text.split("-"))
    return date(year, month, 1).strftime("%B %Y")


def _treatment(field_shape: Shape, value: Any) -> str | None:
    """Masked, pseudonymised or generalised, when the value shows it (else None)."""
    items = value if isinstance(value, list) else [value]
    texts = [item for item in items if isinstance(item, str)]
    if texts and all(text.startswith(PSEUDONYM_PREFIX) for text in texts):
        return "pseudonymised"
    if any(MASK in text for text in texts):
        return "masked"
    if field_shape in {Shape.DATE, Shape.DATETIME} and isinstance(value, str):
        return "generalised" if _MONTH.match(value) else None
    if field_shape == Shape.NUMBER and isinstance(value, str):
        return "generalised"
    return None


def _display(record_type: str, name: str, shape: Shape, value: Any, treatment: str | None):
    """A disclosed value as the lines the page shows."""
    if value is None or value == "" or value == []:
        return []
    if treatment in {"pseudonymised", "masked"}:
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]
    if isinstance(value, list):
        return [str(v) for v in value]
    if shape == Shape.FLAG:
        return ["Yes" if value else "No"]
    if shape == Shape.CODE:
        labels = CODE_LABELS.get((record_type, name), {})
        return [labels.get(value, str(value).replace("_", " ").capitalize())]
    if shape in {Shape.DATE, Shape.DATETIME} and isinstance(value, str):
        if _MONTH.match(value):
            return [_month(value)]
        try:
            moment = (
                date.fromisoformat(value) if shape == Shape.DATE else datetime.fromisoformat(value)
            )
        except ValueError:
            return [value]
        return [_long_date(moment)]
    if shape == Shape.NUMBER and isinstance(value, str):
        return [f"{value} (a band)"]
    return [str(value)]


def shown_fields(record: Disclosed, skip: tuple[str, ...] = ()) -> list[ShownField]:
    """The disclosed fields of a record in the registry's order (nothing else exists here)."""
    shown = []
    for name, spec in FIELDS[record.record_type].items():
        if name in skip or name not in record.data:
            continue
        value = record.data[name]
        treatment = _treatment(spec.shape, value)
        if treatment == "pseudonymised":
            shown.append(_pseudonymised(name, spec.label, value))
            continue
        values = _display(record.record_type, name, spec.shape, value, treatment)
        if not values:
            values = ["Not recorded"]
        shown.append(ShownField(name, spec.label, values, treatment))
    return shown


def withheld_labels(record: Disclosed) -> list[str]:
    """The fields of the record's type that its agreement does not share with the recipient
    (every field the registry knows and the disclosure left out), in the registry's order."""
    return [
        spec.label for name, spec in FIELDS[record.record_type].items() if name not in record.data
    ]


def treatment_of(record_type: str, name: str, value: Any) -> str | None:
    """How a disclosed value was minimised, where the value shows it."""
    return _treatment(FIELDS[record_type][name].shape, value)


def field_map(record: Disclosed) -> dict[str, ShownField]:
    """The disclosed fields of a record by name."""
    return {shown.name: shown for shown in shown_fields(record)}


def name_as_disclosed(data: Mapping[str, Any]) -> tuple[str, str | None]:
    """A speaker's name as the agreement disclosed it, and how it was minimised."""
    name = data.get("display_name")
    if not name:
        return "", None
    return str(name), _treatment(Shape.TEXT, name)


def ids_of(values: Any) -> list[str]:
    """Record ids a reference field disclosed in full (pseudonyms are not addresses)."""
    if not isinstance(values, list):
        return []
    return [v for v in values if isinstance(v, str) and not v.startswith(PSEUDONYM_PREFIX)]


@blueprint.context_processor
def _helpers() -> dict[str, Any]:
    """Presentation helpers for the shared pages' templates."""
    return {
        "shown_fields": shown_fields,
        "withheld_labels": withheld_labels,
        "pseudonym_labels": pseudonym_labels,
        "key_levels": KEY_LEVELS,
        "field_map": field_map,
        "treatment_of": treatment_of,
        "name_as_disclosed": name_as_disclosed,
        "purposes": PURPOSES,
        "ids_of": ids_of,
        "long_date": _long_date,
    }


# --- refusals ---------------------------------------------------------------------------


def _audit_refusal(exc: HubError) -> None:
    """Keep the refusal (the page goes on to explain rather than show an error page)."""
    keep_refusal(current_actor(), exc)


def _require_reader(actor: Any) -> None:
    """Refuse (403, audited) anyone without a records role."""
    if not permissions.can_read_shared(actor):
        raise PermissionDenied(
            "You cannot see speaker records.",
            reason="role_required",
            audit={"action": SPEAKER_SEARCH, "resource_type": "speaker"},
        )


def _purpose_arg() -> str | None:
    """The purpose stated in the query string, or None."""
    return (request.args.get("purpose") or "").strip() or None


def _purpose_options(
    actor: Any, first: str, *, also: str | None = None, leave_out: str | None = None
):
    """The purposes the actor's agreements in force name (and `also`, a known purpose already
    stated), after a first, empty choice."""
    codes = set(purposes_for(actor)) | ({also} if also in PURPOSES else set())
    return [("", first), *((code, PURPOSES[code]) for code in sorted(codes) if code != leave_out)]


def search_args() -> dict[str, Any]:
    """The search a partner record was opened from (its words and page), carried from page
    to page so that Back returns to it; nothing when it was not opened from a search."""
    query = (request.args.get("q") or "").strip()[:200]
    if not query:
        return {}
    page = _page_number()
    return {"q": query, "page": page if page > 1 else None}


def _purpose_page(exc: PurposeRefused, record_kind: str) -> Any:
    """Ask why the person needs a partner's record. Arriving without a purpose is a question,
    not a mistake: the error shows only once they have answered with none, or with one the hub
    does not know. The refusal is kept either way (the service refused to read without one)."""
    _audit_refusal(exc)
    answered = "purpose" in request.args
    errors = {}
    if answered:
        message = (
            "Choose the purpose from the list: the hub does not know that purpose."
            if _purpose_arg()
            else "Choose why you need to see this record."
        )
        errors = {"purpose": [message]}
    options = _purpose_options(current_actor(), CHOOSE_PURPOSE)
    return (
        render_template(
            "records/shared/purpose.html",
            errors=errors,
            record_kind=record_kind,
            action=request.path,
            purpose_options=options,
            search_args=search_args(),
            page_title="Why do you need to see this record?",
        ),
        400 if answered else 200,
    )


def _not_shared_page(exc: NotFound, record_kind: str, purpose: str) -> Any:
    """A partner record no agreement in force shares with the person for `purpose`, or none at
    all: one answer for both, in words, so that it never tells whether the record exists. It
    offers the other purposes the person's agreements name."""
    options = _purpose_options(current_actor(), CHOOSE_PURPOSE, leave_out=purpose)
    _audit_refusal(exc)
    return (
        render_template(
            "records/shared/not_shared.html",
            record_kind=record_kind,
            purpose=purpose,
            purpose_options=options,
            search_args=search_args(),
            page_title="There is no such record that you may see for this purpose",
        ),
        404,
    )


def _page_number() -> int:
    """The page of results asked for (1 when missing or malformed)."""
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


# --- search -----------------------------------------------------------------------------


def _search(actor: Any, query: str, purpose: str | None, page: int) -> shared.SearchPage:
    """One page of the cross-organisation search."""
    return shared.search_speakers(
        actor, query, purpose, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )


@blueprint.get("/speakers")
@signed_in_required
def search() -> Any:
    """Search speakers: your own organisation's and, for a stated purpose, partners' records
    as their agreements disclose them."""
    actor = current_actor()
    _require_reader(actor)
    query = (request.args.get("q") or "").strip()[:200]
    purpose = _purpose_arg()
    page_number = _page_number()
    errors: dict[str, list[str]] = {}
    found = None
    status = 200
    if purpose is not None and purpose not in PURPOSES:
        # Refused (and audited) by the sharing path; the form says what to do instead.
        try:
            check_purpose(actor, purpose, "speaker.search")
        except PurposeRefused as exc:
            _audit_refusal(exc)
        errors = {"purpose": ["Choose the purpose of your search from the list."]}
        status = 400
    elif query:
        found = _search(actor, query, purpose, page_number)
    total = found.total if found else 0
    options = _purpose_options(actor, NO_PURPOSE, also=purpose)
    return (
        render_template(
            "records/shared/search.html",
            query=query,
            purpose=purpose or "",
            found=found,
            total=total,
            page=page_number,
            pages=max(1, -(-total // PAGE_SIZE)),
            errors=errors,
            purpose_options=options,
            page_title="Search speakers across partners",
        ),
        status,
    )


CSV_COLUMNS = (
    "Speaker id",
    "Name as shared",
    "Held by",
    "Your organisation's record",
    "Shared under agreement",
    "Agreement version",
    "Existence only",
    "Contact",
    "Other names",
    "Affiliations",
    "Topics",
    "Sources",
)
#: A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell: lists joined, formula-like text quoted with an apostrophe."""
    if isinstance(value, list):
        value = "; ".join(str(item) for item in value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


@blueprint.get("/speakers.csv")
@signed_in_required
def search_csv() -> Any:
    """The page of search results shown, as CSV (the same disclosures, audited again)."""
    actor = current_actor()
    _require_reader(actor)
    query = (request.args.get("q") or "").strip()[:200]
    found = _search(actor, query, _purpose_arg(), _page_number()) if query else None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for hit in found.results if found else []:
        under = hit.disclosed_under or {}
        data = hit.data
        writer.writerow(
            _cell(value)
            for value in (
                hit.speaker_id,
                "" if hit.existence_only else data.get("display_name", ""),
                hit.owner_name,
                "yes" if hit.own else "no",
                under.get("reference", ""),
                under.get("version", ""),
                "yes" if hit.existence_only else "no",
                data.get("contact", "") if hit.existence_only else "",
                data.get("aliases", ""),
                data.get("affiliations", ""),
                data.get("topics", ""),
                data.get("sources", ""),
            )
        )
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="speaker-search.csv"'},
    )


# --- one partner record -----------------------------------------------------------------


@blueprint.get("/speakers/<speaker_id>")
@signed_in_required
def speaker(speaker_id: str) -> Any:
    """A partner's speaker as its agreement discloses it, with the statements, ratings and
    appearances disclosed with it."""
    actor = current_actor()
    purpose = _purpose_arg()
    try:
        view = shared.shared_speaker(actor, speaker_id, purpose)
    except PurposeRefused as exc:
        return _purpose_page(exc, "speaker")
    except NotFound as exc:
        return _not_shared_page(exc, "speaker", purpose or "")
    if view.speaker.disclosed_under is None:
        # The actor's own record: nothing was disclosed; its own page shows everything.
        db.session.rollback()
        return redirect(url_for("speakers.show", speaker_id=view.speaker.id))
    name, treatment = name_as_disclosed(view.speaker.data)
    appearances = view.speaker.data.get("appearances")
    # Appearances disclosed as ids are listed below as events; pseudonymised ones stay in the
    # summary, as what was shared.
    listed_below = appearances is None or appearances == [] or bool(ids_of(appearances))
    # A pseudonymised name is no heading: it is listed with the other fields, as a label.
    skip = () if treatment == "pseudonymised" else ("display_name",)
    return render_template(
        "records/shared/speaker.html",
        view=view,
        speaker_skip=(*skip, "appearances") if listed_below else skip,
        purpose=purpose,
        search_args=search_args(),
        name=name if treatment != "pseudonymised" else "",
        name_treatment=treatment,
        page_title=name if name and not treatment else f"Speaker held by {view.owner_name}",
    )


@blueprint.get("/events/<event_id>")
@signed_in_required
def event(event_id: str) -> Any:
    """A partner's event as its agreement discloses it, with its disclosed decision."""
    actor = current_actor()
    purpose = _purpose_arg()
    try:
        view = shared.shared_event(actor, event_id, purpose)
    except PurposeRefused as exc:
        return _purpose_page(exc, "event")
    except NotFound as exc:
        return _not_shared_page(exc, "event", purpose or "")
    if view.event.disclosed_under is None:
        db.session.rollback()
        return redirect(url_for("events.show", event_id=view.event.id))
    title = view.event.data.get("title")
    treatment = _treatment(Shape.TEXT, title) if title else None
    plain_title = title if isinstance(title, str) and not treatment else ""
    # A pseudonymised title is no heading, and pseudonymised speakers are no links: both are
    # listed with the other fields, as labels.
    speakers = view.event.data.get("speakers")
    skip = () if treatment == "pseudonymised" else ("title",)
    return render_template(
        "records/shared/event.html",
        view=view,
        purpose=purpose,
        search_args=search_args(),
        event_skip=(*skip, "speakers") if not speakers or ids_of(speakers) else skip,
        title=title if title and treatment != "pseudonymised" else "",
        title_treatment=treatment,
        page_title=plain_title or f"Event held by {view.owner_name}",
    )


# --- inbox ------------------------------------------------------------------------------


def _own_message(actor: Any, message_id: int) -> InboxMessage:
    """A message in the actor's inbox (anyone else's is not found)."""
    for message in notifications.inbox(actor, limit=500):
        if message.id == message_id:
            return message
    raise NotFound("There is no such message.")


@blueprint.get("/inbox")
@signed_in_required
def inbox() -> Any:
    """Messages to your organisation: corrections to shared records, agreement changes."""
    messages = notifications.inbox(current_actor())
    return render_template(
        "records/shared/inbox.html",
        messages=messages,
        unread=sum(1 for m in messages if m.read_at is None),
        page_title="Inbox",
    )


@blueprint.post("/inbox/<int:message_id>/read")
@signed_in_required
def mark_read(message_id: int) -> Any:
    """Mark one message as read (for everyone in the organisation it was sent to)."""
    message = _own_message(current_actor(), message_id)
    if message.read_at is None:
        message.read_at = utcnow()
    flash("Message marked as read.", "success")
    return redirect(url_for("shared.inbox"))


@blueprint.post("/inbox/read")
@signed_in_required
def mark_all_read() -> Any:
    """Mark every message in the inbox as read."""
    now = utcnow()
    ids = [m.id for m in notifications.inbox(current_actor(), unread_only=True, limit=500)]
    if ids:
        db.session.execute(
            sa.update(InboxMessage).where(InboxMessage.id.in_(ids)).values(read_at=now)
        )
    flash("All messages marked as read.", "success")
    return redirect(url_for("shared.inbox"))


# --- subject access ---------------------------------------------------------------------


@blueprint.get("/subject-access")
@signed_in_required
def subject_access_index() -> Any:
    """Start a subject access pack: find one of your organisation's speakers by name."""
    actor = current_actor()
    subject_access.require_dpo(actor, "subject_access.search")
    query = (request.args.get("q") or "").strip()[:200]
    matches = subject_access.find_speakers(actor, query) if query else None
    return render_template(
        "records/shared/subject_access_index.html",
        query=query,
        matches=matches,
        hub_organisation=actor.org_kind == "hub",
        page_title="Subject access requests",
    )


def _pack_page(
    pack: subject_access.Pack,
    values: Mapping[str, str],
    errors: dict[str, list[str]] | None = None,
    status: int = 200,
) -> Any:
    """The pack form with its notes and any error messages."""
    return (
        render_template(
            "records/shared/subject_access_pack.html",
            pack=pack,
            sections=subject_access.SECTIONS,
            values=values,
            errors=errors or {},
            note_field=subject_access.note_field,
            default_note=subject_access.DEFAULT_NOTE,
            page_title="Subject access pack",
        ),
        status,
    )


@blueprint.route("/subject-access/<speaker_id>", methods=["GET", "POST"])
@signed_in_required
def subject_access_pack(speaker_id: str) -> Any:
    """The pack for one speaker: everything held, every disclosure and refusal, an exemption
    note per item; posting it downloads the pack as JSON or PDF (the generation is audited)."""
    actor = current_actor()
    if request.method == "GET":
        pack = subject_access.build_pack(actor, speaker_id)
        values = {
            subject_access.note_field(item): subject_access.DEFAULT_NOTE for item in pack.items
        }
        return _pack_page(pack, values)
    form = request.form.to_dict()
    try:
        pack, export = subject_access_documents.generate(
            actor, speaker_id, form, form.get("format", "")
        )
    except ValidationFailed as exc:
        _audit_refusal(exc)
        pack = subject_access.build_pack(actor, speaker_id)
        return _pack_page(pack, form, exc.errors, 422)
    return Response(
        export.body,
        mimetype=export.mimetype,
        headers={"Content-Disposition": f'attachment; filename="{export.filename}"'},
    )
