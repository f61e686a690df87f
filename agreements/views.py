"""Pages for data-sharing agreements: the register, an agreement and its statistics, drafting
and editing a draft (with the data-schedule editor), proposal, approval with password
re-entry, suspension, resumption, termination, amendment, downloads and the Article 30 export.

The lifecycle services decide and audit every refusal; these views read forms, show what the
services say, and commit once per request.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from sqlalchemy.exc import IntegrityError
from werkzeug.datastructures import MultiDict

from agreements import documents, lifecycle, permissions, register
from agreements.content import SECTIONS
from agreements.fields import EXISTENCE_ONLY, RECORD_TYPES, Level
from agreements.models import Agreement, AgreementStatus, AgreementType, PartyRole
from agreements.purposes import PURPOSES
from audit import log
from audit import services as audit
from audit.actions import AGREEMENT_APPROVE
from audit.refusals import keep_refusal
from core.db import db, utcnow
from core.errors import Conflict, HubError, PermissionDenied
from core.request import current_actor, signed_in_required
from core.security import Actor
from core.validation import LOCAL_ZONE
from partners import signin

blueprint = Blueprint("agreements", __name__, url_prefix="/agreements", template_folder="templates")

#: Party rows the drafting form offers (an agreement between more is drafted over the API).
MAX_PARTIES = 5
PARTY_KEYS = ("organisation_id", "role", "designated_person", "signatory_id")
#: The schedule editor's per-record-type choice.
MODE_FIELDS, MODE_NONE = "fields", "none"
LEVEL_ORDER = [Level.WITHHELD, Level.FULL, Level.MASKED, Level.PSEUDONYMISED, Level.GENERALISED]

SECTION_HINTS = {
    "statutory_power": "For example, the Prevent duty in section 26 of the Counter-Terrorism and "
    "Security Act 2015.",
    "necessity": "Why the sharing is necessary and proportionate to the purposes.",
    "categories_of_individuals": "For example, external speakers invited to events.",
    "direction_and_frequency": "Who shares with whom, how often, and what triggers it.",
    "onward_sharing": "Whether recipients may pass the data on, and to whom.",
    "retention": "How long each party keeps the data, and how it is disposed of.",
    "security_measures": "How each party protects the data.",
    "accuracy_and_corrections": "How accuracy is checked and how corrections reach recipients.",
    "rights_procedure": "How access, rectification and objection requests are handled.",
    "exemptions": "Which exemptions may apply, or 'none'.",
    "dpia_reference": "The reference of the data protection impact assessment.",
    "breach_steps": "What each party does on a personal data breach.",
    "termination_and_destruction": "What happens to shared data when the agreement ends.",
}

LAWFUL_BASIS_HINTS = {
    "article_6": "Always needed, unless a police party relies on Part 3 alone.",
    "article_9": "Needed if the schedule shares special-category data.",
    "schedule_1": "Needed with the Article 9 condition.",
    "article_10": "Needed if the schedule shares criminal-offence data (or give Part 3).",
    "dpa_part_3": "Needed where a police party provides data.",
}


@blueprint.context_processor
def _labels() -> dict[str, Any]:
    return {
        "long_date": documents.long_date,
        "long_moment": documents.long_moment,
        "state_labels": documents.STATE_LABELS,
        "state_colours": documents.STATE_COLOURS,
        "type_labels": documents.TYPE_LABELS,
        "purpose_labels": PURPOSES,
        "level_labels": documents.LEVEL_LABELS,
        "level_meanings": documents.LEVEL_MEANINGS,
        "category_labels": documents.CATEGORY_LABELS,
        "category_colours": documents.CATEGORY_COLOURS,
    }


# --- what the page offers (agreements.permissions decides; the services enforce it) ---------


def _pending_amendment(agreement: Agreement, visible: list[Agreement]) -> Agreement | None:
    return next(
        (
            a
            for a in visible
            if a.id != agreement.id
            and a.status in {AgreementStatus.DRAFT, AgreementStatus.PROPOSED}
        ),
        None,
    )


def _abilities(actor: Actor, agreement: Agreement, versions: list[Agreement]) -> dict[str, bool]:
    can = permissions.abilities(actor, agreement)
    signing = permissions.signing_party(actor, agreement)
    can["approve"] = (
        can["approve"] and signing is not None and (signing.approved_hash != agreement.content_hash)
    )
    can["amend"] = can["amend"] and _pending_amendment(agreement, versions) is None
    return can


def _deny(action: str, detail: str, agreement: Agreement) -> PermissionDenied:
    return PermissionDenied(
        detail,
        reason="not_permitted",
        audit={
            "action": action,
            "resource_type": "agreement",
            "resource_ids": [str(agreement.id)],
        },
    )


def _refused(exc: HubError) -> dict[str, list[str]]:
    """Keep the refusal (audited at the edge's one place) and return the messages for the
    error summary."""
    keep_refusal(current_actor(), exc)
    return exc.errors or {"_form": [exc.detail]}


def _agreement(agreement_id: str) -> Agreement:
    return lifecycle.get_agreement(current_actor(), agreement_id)


def _versions(actor: Actor, agreement: Agreement) -> list[Agreement]:
    """The versions of this agreement's lineage the actor may see, newest first."""
    return [a for a in lifecycle.list_agreements(actor) if a.lineage_id == agreement.lineage_id]


# --- the register -----------------------------------------------------------------------


@blueprint.get("/")
@signed_in_required
def index() -> Any:
    """The register: every agreement the organisation is party to, its state and review."""
    actor = current_actor()
    # Reminders need no scheduler: queueing is deduplicated, so any visit may do it.
    try:
        with db.session.begin_nested():
            lifecycle.queue_review_reminders()
    except IntegrityError:  # another request queued the same reminder first
        pass
    now = utcnow()
    return render_template(
        "agreements/register.html",
        rows=register.register(actor, now),
        due=lifecycle.due_reviews(actor, now),
        can_draft=permissions.can_create(actor) and actor.org_kind != "hub",
        can_export=actor.has_role(*register.RECORD_KEEPERS) and actor.org_kind != "hub",
        page_title="Data-sharing agreements",
    )


@blueprint.get("/record-of-processing.csv")
@signed_in_required
def record_of_processing_csv() -> Any:
    """The organisation's Article 30 record of processing under agreements, as CSV."""
    actor = current_actor()
    records = register.processing_record(actor)
    return Response(
        documents.article30_csv(records),
        mimetype="text/csv",
        headers={
            "Content-Disposition": (
                f'attachment; filename="record-of-processing-{actor.org_slug}.csv"'
            )
        },
    )


@blueprint.get("/record-of-processing.json")
@signed_in_required
def record_of_processing_json() -> Any:
    """The organisation's Article 30 record of processing under agreements, as JSON."""
    actor = current_actor()
    records = register.processing_record(actor)
    return Response(
        documents.article30_json(g.person.organisation.name, records),
        mimetype="application/json",
        headers={
            "Content-Disposition": (
                f'attachment; filename="record-of-processing-{actor.org_slug}.json"'
            )
        },
    )


# --- one agreement ----------------------------------------------------------------------


def _signature_status(agreement: Agreement) -> tuple[bool | None, str]:
    """Whether the stored signature still verifies against the hub's key, in words."""
    if agreement.signed_note is None:
        return None, "Not signed yet: the hub signs an agreement once every party has approved."
    try:
        message = lifecycle.verify_signed_document(
            lifecycle.signed_document(agreement), log.verifier_key()
        )
    except ValueError as exc:
        return False, f"The stored signature does not verify: {exc}."
    return True, message


@blueprint.get("/<agreement_id>")
@signed_in_required
def show(agreement_id: str) -> Any:
    """Everything the agreement records, who has approved it, its statistics and change log."""
    actor = current_actor()
    agreement = _agreement(agreement_id)
    versions = _versions(actor, agreement)
    now = utcnow()
    verified, signature = _signature_status(agreement)
    context = documents.document_context(agreement)
    names = documents.people_names(
        [c.changed_by_id for c in agreement.changes]
        + [agreement.suspended_by_id, agreement.terminated_by_id]
    )
    return render_template(
        "agreements/show.html",
        **context,
        state=agreement.state_at(now),
        now=now,
        versions=versions,
        can=_abilities(actor, agreement, versions),
        pending=_pending_amendment(agreement, versions),
        statistics=(
            register.disclosure_statistics(agreement, now)
            if agreement.approved_at is not None
            else None
        ),
        verified=verified,
        signature=signature,
        names=names,
        page_title=f"{agreement.reference}: {agreement.title}",
    )


# --- drafting ---------------------------------------------------------------------------


def _local_input(value: str | None) -> str:
    """A stored UTC moment as a datetime-local input value in UK time."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(LOCAL_ZONE)
    return moment.strftime("%Y-%m-%dT%H:%M")


def _values_from_content(content: dict[str, Any]) -> dict[str, Any]:
    """What the form shows for stored content."""
    parties = [
        {key: str(p.get(key) or "") for key in PARTY_KEYS} for p in content.get("parties") or []
    ]
    slots = {p["organisation_id"]: i for i, p in enumerate(parties)}
    schedule: dict[str, dict[str, Any]] = {}
    for entry in content.get("data_schedule") or []:
        if entry.get("provider") not in slots or entry.get("recipient") not in slots:
            continue
        key = f"{slots[entry['provider']]}-{slots[entry['recipient']]}-{entry['record_type']}"
        if entry.get("level") == EXISTENCE_ONLY:
            schedule[key] = {"mode": EXISTENCE_ONLY, "fields": {}}
        else:
            schedule[key] = {"mode": MODE_FIELDS, "fields": dict(entry.get("fields") or {})}
    values: dict[str, Any] = {
        "reference": content.get("reference", ""),
        "title": content.get("title", ""),
        "type": content.get("type", ""),
        "parties": parties,
        "purposes": list(content.get("purposes") or []),
        "lawful_basis": dict(content.get("lawful_basis") or {}),
        "starts_at": _local_input(content.get("starts_at")),
        "ends_at": _local_input(content.get("ends_at")),
        "review_on": content.get("review_on") or "",
        "schedule": schedule,
    }
    for key in SECTIONS:
        values[key] = content.get(key, "")
    return values


def _new_values(actor: Actor) -> dict[str, Any]:
    own = g.person.organisation
    return {
        "parties": [
            {
                "organisation_id": actor.org_id or "",
                "role": PartyRole.CONTROLLER.value,
                "designated_person": own.dp_contact_name,
                "signatory_id": actor.id if actor.has_role("signatory") else "",
            }
        ],
        "purposes": [],
        "lawful_basis": {},
        "schedule": {},
    }


def _values_from_form(form: MultiDict) -> dict[str, Any]:
    """What was typed, in the shape the form shows (party rows keep their slots)."""
    parties = [
        {key: (form.get(f"parties-{slot}-{key}") or "").strip() for key in PARTY_KEYS}
        for slot in range(MAX_PARTIES)
    ]
    while parties and not _filled(parties[-1]):
        parties.pop()
    schedule: dict[str, dict[str, Any]] = {}
    for ps, pr in _pairs(parties):
        for record_type, (_label, specs) in RECORD_TYPES.items():
            key = f"{ps}-{pr}-{record_type}"
            mode = form.get(f"schedule-{key}", MODE_FIELDS)
            chosen = {
                spec.name: form.get(f"schedule-{key}-{spec.name}", Level.WITHHELD.value)
                for spec in specs
            }
            schedule[key] = {
                "mode": mode,
                "fields": {k: v for k, v in chosen.items() if v != Level.WITHHELD.value},
            }
    values: dict[str, Any] = {
        "reference": (form.get("reference") or "").strip(),
        "title": form.get("title", ""),
        "type": form.get("type", ""),
        "parties": parties,
        "purposes": form.getlist("purposes"),
        "lawful_basis": {
            k: form.get(f"lawful_basis-{k}", "") for k in documents.LAWFUL_BASIS_LABELS
        },
        "starts_at": form.get("starts_at", ""),
        "ends_at": form.get("ends_at", ""),
        "review_on": form.get("review_on", ""),
        "schedule": schedule,
    }
    for key in SECTIONS:
        values[key] = form.get(key, "")
    return values


def _filled(party: dict[str, str]) -> bool:
    return any(party.get(key) for key in ("organisation_id", "designated_person", "signatory_id"))


def _pairs(parties: list[dict[str, str]]) -> list[tuple[int, int]]:
    """Every ordered pair of party rows that name an organisation (the schedule's directions)."""
    slots = [i for i, p in enumerate(parties) if p.get("organisation_id")]
    return [(a, b) for a in slots for b in slots if a != b]


def _submission(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The service's input for the form's values, and where each of its error keys points."""
    key_map: dict[str, str] = {}
    parties = []
    for slot, party in enumerate(values["parties"]):
        if not _filled(party):
            continue
        for key in PARTY_KEYS:
            key_map[f"parties.{len(parties)}.{key}"] = f"parties-{slot}-{key}"
        parties.append(dict(party))
    schedule = []
    rows = values["parties"]
    for key, chosen in values["schedule"].items():
        ps, pr, record_type = key.split("-", 2)
        provider = rows[int(ps)].get("organisation_id")
        recipient = rows[int(pr)].get("organisation_id")
        entry: dict[str, Any] = {
            "provider": provider,
            "recipient": recipient,
            "record_type": record_type,
        }
        if chosen["mode"] == EXISTENCE_ONLY:
            entry["level"] = EXISTENCE_ONLY
        elif chosen["mode"] == MODE_FIELDS and chosen["fields"]:
            entry["fields"] = dict(chosen["fields"])
        else:
            continue  # not shared in this direction
        key_map[f"data_schedule.{len(schedule)}"] = f"schedule-{key}"
        schedule.append(entry)
    data: dict[str, Any] = {
        "reference": values["reference"],
        "title": values["title"],
        "type": values["type"],
        "parties": parties,
        "purposes": values["purposes"],
        "lawful_basis": values["lawful_basis"],
        "starts_at": values["starts_at"],
        "ends_at": values["ends_at"],
        "review_on": values["review_on"],
        "data_schedule": schedule,
    }
    for section in SECTIONS:
        data[section] = values[section]
    for key in documents.LAWFUL_BASIS_LABELS:
        key_map[f"lawful_basis.{key}"] = f"lawful_basis-{key}"
    return data, key_map


def _error_ids(errors: dict[str, list[str]], key_map: dict[str, str]) -> dict[str, list[str]]:
    """The services' error keys as the ids of the form's inputs (for the summary's links)."""
    found: dict[str, list[str]] = {}
    for key, messages in errors.items():
        target = key_map.get(key) or key.replace(".", "-")
        for message in messages:
            if message not in found.setdefault(target, []):
                found[target].append(message)
    return found


def _organisation_defaults(values: dict[str, Any]) -> None:
    """A newly chosen party's designated person defaults to its data protection contact."""
    organisations = {str(o.id): o for o in register.active_organisations()}
    for party in values["parties"]:
        chosen = organisations.get(party.get("organisation_id", ""))
        if chosen is not None and not party.get("designated_person"):
            party["designated_person"] = chosen.dp_contact_name


def _form_page(
    values: dict[str, Any],
    errors: dict[str, list[str]],
    agreement: Agreement | None,
    status: int = 200,
) -> Any:
    parties = list(values["parties"])
    # Always offer one blank row after the filled ones, and at least two rows.
    while len(parties) < min(MAX_PARTIES, max(2, len(parties) + 1)):
        parties.append({key: "" for key in PARTY_KEYS})
    organisations = register.active_organisations()
    names = {str(o.id): o.name for o in organisations}
    if agreement is not None:
        names.update(documents.organisation_names(permissions.party_org_ids(agreement)))
    directions = [
        (ps, pr, names.get(parties[ps]["organisation_id"], "Unknown organisation"),
         names.get(parties[pr]["organisation_id"], "Unknown organisation"))
        for ps, pr in _pairs(parties)
    ]  # fmt: skip
    return (
        render_template(
            "agreements/form.html",
            values={**values, "parties": parties},
            errors=errors,
            agreement=agreement,
            organisation_options=[(str(o.id), o.name) for o in organisations]
            + [
                (org_id, name)
                for org_id, name in sorted(names.items(), key=lambda kv: kv[1])
                if org_id not in {str(o.id) for o in organisations}
            ],
            signatories=register.signatories(),
            sorted_categories=documents.sorted_categories,
            directions=directions,
            record_types=RECORD_TYPES,
            level_order=LEVEL_ORDER,
            sections=[(k, documents.SECTION_HEADINGS[k], SECTION_HINTS[k]) for k in SECTIONS],
            lawful_basis=[
                (k, label, LAWFUL_BASIS_HINTS[k])
                for k, label in documents.LAWFUL_BASIS_LABELS.items()
            ],
            type_options=[(t.value, documents.TYPE_LABELS[t]) for t in AgreementType],
            role_options=[(r.value, documents.PARTY_ROLE_LABELS[r]) for r in PartyRole],
            purpose_options=[(code, text) for code, text in PURPOSES.items()],
            page_title=(
                f"Edit draft {agreement.reference}"
                if agreement
                else "Draft a data-sharing agreement"
            ),
        ),
        status,
    )


@blueprint.route("/new", methods=["GET", "POST"])
@signed_in_required
def new() -> Any:
    """Draft a new agreement (the drafter's organisation is a party)."""
    actor = current_actor()
    lifecycle.require_create(actor)
    if request.method == "GET":
        return _form_page(_new_values(actor), {}, None)
    values = _values_from_form(request.form)
    if request.form.get("action") == "refresh":
        _organisation_defaults(values)
        return _form_page(values, {}, None)
    data, key_map = _submission(values)
    try:
        agreement = lifecycle.create_draft(actor, data)
    except HubError as exc:
        return _form_page(values, _error_ids(_refused(exc), key_map), None)
    flash(f"The draft {agreement.reference} has been saved.", "success")
    return redirect(url_for("agreements.show", agreement_id=agreement.id))


@blueprint.route("/<agreement_id>/edit", methods=["GET", "POST"])
@signed_in_required
def edit(agreement_id: str) -> Any:
    """Change a draft (a proposed agreement is frozen)."""
    actor = current_actor()
    agreement = _agreement(agreement_id)
    lifecycle.require_step(actor, agreement, "update")
    if request.method == "GET":
        return _form_page(_values_from_content(agreement.content), {}, agreement)
    values = _values_from_form(request.form)
    values["reference"] = agreement.reference
    if request.form.get("action") == "refresh":
        _organisation_defaults(values)
        return _form_page(values, {}, agreement)
    data, key_map = _submission(values)
    try:
        lifecycle.update_draft(actor, agreement, data)
    except HubError as exc:
        errors = _error_ids(_refused(exc), key_map)
        return _form_page(values, errors, _agreement(agreement_id))
    flash("The draft has been saved.", "success")
    return redirect(url_for("agreements.show", agreement_id=agreement.id))


@blueprint.post("/<agreement_id>/propose")
@signed_in_required
def propose(agreement_id: str) -> Any:
    """Freeze the draft and send it to every party's signatory."""
    actor = current_actor()
    agreement = _agreement(agreement_id)
    try:
        lifecycle.propose(actor, agreement)
    except PermissionDenied:
        raise
    except HubError as exc:
        errors = _refused(exc)
        flash(" ".join(m for messages in errors.values() for m in messages), "error")
        return redirect(url_for("agreements.show", agreement_id=agreement_id))
    flash("The agreement has been proposed: each party's signatory can now approve it.", "success")
    return redirect(url_for("agreements.show", agreement_id=agreement.id))


# --- approval with password re-entry ----------------------------------------------------


def _approval_page(
    agreement: Agreement, errors: dict[str, list[str]], content_hash: str, status: int = 200
) -> Any:
    return (
        render_template(
            "agreements/approve.html",
            **documents.document_context(agreement),
            errors=errors,
            read_hash=content_hash,
            party_name=documents.organisation_names([current_actor().org_id or ""]).get(
                current_actor().org_id or "", ""
            ),
            page_title=f"Approve {agreement.reference}",
        ),
        status,
    )


@blueprint.route("/<agreement_id>/approve", methods=["GET", "POST"])
@signed_in_required
def approve(agreement_id: str) -> Any:
    """The named signatory re-enters their password and approves exactly the content shown."""
    actor = current_actor()
    agreement = _agreement(agreement_id)
    lifecycle.require_step(actor, agreement, "approve")
    if request.method == "GET":
        return _approval_page(agreement, {}, agreement.content_hash or "")
    read_hash = request.form.get("content_hash", "")
    password = request.form.get("password", "")
    if not password:
        return _approval_page(agreement, {"password": ["Enter your password."]}, read_hash)
    result = signin.authenticate_password(actor, g.person.email, password)
    if not result.ok or result.person is None or str(result.person.id) != actor.id:
        # The failed attempt counts towards the sign-in throttle and is audited with it.
        audit.record(
            actor,
            AGREEMENT_APPROVE,
            "denied",
            reason="reauthentication_failed",
            resource_type="agreement",
            resource_ids=[str(agreement.id)],
        )
        message = (
            result.message if result.reason in {"locked", "throttled"} else
            "The password is not right."
        )  # fmt: skip
        return _approval_page(agreement, {"password": [message]}, read_hash)
    try:
        lifecycle.approve(actor, agreement, content_hash=read_hash, reauthenticated_at=utcnow())
    except Conflict as exc:
        keep_refusal(actor, exc)
        fresh = _agreement(agreement_id)
        return _approval_page(fresh, {"_form": [exc.detail]}, fresh.content_hash or "", 409)
    if agreement.status == AgreementStatus.APPROVED:
        flash(
            "You have approved the agreement. Every party has now approved it, and the hub "
            "has signed it.",
            "success",
        )
    else:
        flash(
            "You have approved the agreement for your organisation. It comes into force once "
            "every party has approved it.",
            "success",
        )
    return redirect(url_for("agreements.show", agreement_id=agreement.id))


# --- suspension, resumption, termination, amendment -------------------------------------


def _reason_page(agreement: Agreement, kind: str, errors: dict[str, list[str]], reason: str):
    return render_template(
        "agreements/reason.html",
        agreement=agreement,
        kind=kind,
        errors=errors,
        reason=reason,
        page_title=f"{'Suspend' if kind == 'suspend' else 'Terminate'} {agreement.reference}",
    )


@blueprint.route("/<agreement_id>/suspend", methods=["GET", "POST"])
@signed_in_required
def suspend(agreement_id: str) -> Any:
    """A party's DPO stops all sharing under the agreement at once, giving the reason."""
    actor = current_actor()
    agreement = _agreement(agreement_id)
    lifecycle.require_step(actor, agreement, "suspend")
    reason = request.form.get("reason", "")
    if request.method == "GET":
        return _reason_page(agreement, "suspend", {}, "")
    try:
        lifecycle.suspend(actor, agreement, reason)
    except HubError as exc:
        return _reason_page(_agreement(agreement_id), "suspend", _refused(exc), reason)
    flash("The agreement is suspended: nothing is shared under it until it is resumed.", "success")
    return redirect(url_for("agreements.show", agreement_id=agreement.id))


@blueprint.post("/<agreement_id>/resume")
@signed_in_required
def resume(agreement_id: str) -> Any:
    """The suspending party's DPO (or the hub operator's) lifts a suspension."""
    agreement = _agreement(agreement_id)
    lifecycle.resume(current_actor(), agreement)
    flash("The suspension has been lifted.", "success")
    return redirect(url_for("agreements.show", agreement_id=agreement.id))


@blueprint.route("/<agreement_id>/terminate", methods=["GET", "POST"])
@signed_in_required
def terminate(agreement_id: str) -> Any:
    """A party's signatory ends the agreement for good, giving the reason."""
    actor = current_actor()
    agreement = _agreement(agreement_id)
    lifecycle.require_step(actor, agreement, "terminate")
    reason = request.form.get("reason", "")
    if request.method == "GET":
        return _reason_page(agreement, "terminate", {}, "")
    try:
        lifecycle.terminate(actor, agreement, reason)
    except HubError as exc:
        return _reason_page(_agreement(agreement_id), "terminate", _refused(exc), reason)
    flash("The agreement is terminated.", "success")
    return redirect(url_for("agreements.show", agreement_id=agreement.id))


@blueprint.post("/<agreement_id>/amend")
@signed_in_required
def amend(agreement_id: str) -> Any:
    """Start a new version as a draft; the current one stays in force until it is approved."""
    agreement = _agreement(agreement_id)
    draft = lifecycle.amend(current_actor(), agreement)
    flash(
        f"Version {draft.version} has been started as a draft. Version {agreement.version} "
        "stays in force until every party approves the new one.",
        "success",
    )
    return redirect(url_for("agreements.edit", agreement_id=draft.id))


# --- downloads --------------------------------------------------------------------------


def _signed(agreement_id: str) -> Agreement:
    agreement = _agreement(agreement_id)
    if agreement.signed_note is None:
        raise Conflict("Only an approved agreement can be downloaded: it is not signed yet.")
    return agreement


def _attachment(body: Any, mimetype: str, filename: str) -> Response:
    return Response(
        body,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@blueprint.get("/<agreement_id>/signed.json")
@signed_in_required
def download_json(agreement_id: str) -> Any:
    """The signed agreement as JSON: content, content hash and the hub's signed note."""
    agreement = _signed(agreement_id)
    body = json.dumps(lifecycle.signed_document(agreement), indent=2, ensure_ascii=False)
    return _attachment(body, "application/json", documents.document_filename(agreement, "json"))


@blueprint.get("/<agreement_id>/document.html")
@signed_in_required
def download_html(agreement_id: str) -> Any:
    """The signed agreement as a self-contained HTML document."""
    agreement = _signed(agreement_id)
    return _attachment(
        documents.render_html(agreement),
        "text/html",
        documents.document_filename(agreement, "html"),
    )


@blueprint.get("/<agreement_id>/document.pdf")
@signed_in_required
def download_pdf(agreement_id: str) -> Any:
    """The signed agreement as a PDF document."""
    agreement = _signed(agreement_id)
    verified, message = _signature_status(agreement)
    body = documents.render_pdf(agreement, verified=message if verified else "")
    return _attachment(body, "application/pdf", documents.document_filename(agreement, "pdf"))
