"""Agreements over the JSON API: the register, an agreement with its data schedule, drafting,
proposal, suspension, resumption, termination, amendment, the signed copy, disclosure
statistics and the Article 30 record of processing.

Approval is not offered here: a signatory approves on the agreement's web page, after entering
their password again, so that an approval is always a named person's fresh decision.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import url_for
from flask.views import MethodView

from agreements import documents, lifecycle, register
from agreements.content import SECTIONS
from agreements.fields import EXISTENCE_ONLY
from agreements.models import Agreement, EffectiveState
from agreements.schemas import (
    AgreementInputSchema,
    AgreementSchema,
    AgreementSummarySchema,
    AgreementUpdateSchema,
    ProcessingRecordSchema,
    ReasonSchema,
    SignedAgreementSchema,
    StatisticsSchema,
)
from core.access import require_scope
from core.api import Blueprint
from core.db import utcnow
from core.errors import Conflict
from core.request import current_actor, signed_in_required
from partners.schemas import ProblemSchema

blueprint = Blueprint(
    "agreements-api",
    __name__,
    url_prefix="/api/v1/agreements",
    description="Data-sharing agreements and their data schedules. A partner sees another "
    "organisation's records only under an agreement in force, only the fields its data "
    "schedule gives, and only for a purpose it names. Agreements are drafted, proposed "
    "(content frozen and hashed), approved by every party's named signatory, and then signed "
    "by the hub. Approval is deliberately not available over the API: the signatory approves "
    "on the agreement's web page (/agreements/{id}/approve) after re-entering their password. "
    "Another organisation's agreement answers 404, like a missing one.",
)

NOT_FOUND = {"schema": ProblemSchema, "description": "No such agreement (or not a party to it)"}
FORBIDDEN = {"schema": ProblemSchema, "description": "The caller's roles do not allow this"}
CONFLICT = {"schema": ProblemSchema, "description": "Not allowed in the agreement's state"}
INVALID = {"schema": ProblemSchema, "description": "Invalid fields, each named in `errors`"}


# --- the resource -----------------------------------------------------------------------


def data_schedule(content: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """The schedule as `{provider: {recipient: {record_type: {field: level} | existence_only}}}`."""
    nested: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in content.get("data_schedule") or []:
        given = (
            EXISTENCE_ONLY
            if entry.get("level") == EXISTENCE_ONLY
            else dict(entry.get("fields") or {})
        )
        nested.setdefault(entry["provider"], {}).setdefault(entry["recipient"], {})[
            entry["record_type"]
        ] = given
    return nested


def _summary(agreement: Agreement, now: datetime, names: dict[str, str]) -> dict[str, Any]:
    state = agreement.state_at(now)
    soon = (now + lifecycle.REMINDER_WINDOW).date()
    return {
        "id": agreement.id,
        "lineage_id": agreement.lineage_id,
        "reference": agreement.reference,
        "version": agreement.version,
        "title": agreement.title,
        "type": agreement.type,
        "status": agreement.status,
        "state": state,
        "starts_at": agreement.starts_at,
        "ends_at": agreement.ends_at,
        "review_on": agreement.review_on,
        "review_due": state in {EffectiveState.ACTIVE, EffectiveState.NOT_STARTED}
        and (agreement.review_on <= soon or agreement.ends_at.date() <= soon),
        "purposes": agreement.purpose_codes,
        "parties": [
            {
                "organisation_id": p.organisation_id,
                "organisation": names.get(str(p.organisation_id), ""),
                "role": p.role,
            }
            for p in agreement.parties
        ],
        "content_hash": agreement.content_hash,
    }


def _resource(agreement: Agreement) -> dict[str, Any]:
    now = utcnow()
    context = documents.document_context(agreement)
    names = context["organisation_names"]
    views = {view.organisation_id: view for view in context["parties"]}
    body = _summary(agreement, now, names)
    body["parties"] = [
        {
            **summary,
            "designated_person": p.designated_person,
            "signatory_id": p.signatory_id,
            "signatory": views[str(p.organisation_id)].signatory
            if str(p.organisation_id) in views
            else "",
            "approved": bool(agreement.content_hash and p.approved_hash == agreement.content_hash),
            "approved_at": p.approved_at,
            "approved_by_id": p.approved_by_id,
        }
        for summary, p in zip(body["parties"], agreement.parties, strict=True)
    ]
    content = agreement.content
    body["lawful_basis"] = {k: v for k, v in (content.get("lawful_basis") or {}).items() if v}
    for key in SECTIONS:
        body[key] = content.get(key, "")
    body["data_schedule"] = data_schedule(content)
    signed = agreement.signed_note is not None
    body.update(
        proposed_at=agreement.proposed_at,
        approved_at=agreement.approved_at,
        signed=signed,
        suspended_at=agreement.suspended_at,
        suspension_reason=agreement.suspension_reason,
        terminated_at=agreement.terminated_at,
        termination_reason=agreement.termination_reason,
        changes=[
            {"changed_at": c.changed_at, "changed_by_id": c.changed_by_id, "summary": c.summary}
            for c in agreement.changes
        ],
        links={
            "page": url_for("agreements.show", agreement_id=agreement.id),
            "signed": url_for("agreements-api.SignedAgreement", agreement_id=agreement.id)
            if signed
            else None,
            "document_html": url_for("agreements.download_html", agreement_id=agreement.id)
            if signed
            else None,
            "document_pdf": url_for("agreements.download_pdf", agreement_id=agreement.id)
            if signed
            else None,
        },
    )
    return body


def _agreement(agreement_id: str) -> Agreement:
    return lifecycle.get_agreement(current_actor(), agreement_id)


def _answer(agreement: Agreement, status: int | None = None) -> Any:
    body = _resource(agreement)
    return body if status is None else (body, status)


# --- endpoints --------------------------------------------------------------------------


@blueprint.route("")
class Agreements(MethodView):
    """The register."""

    decorators = [signed_in_required]

    @require_scope("agreements:read")
    @blueprint.response(200, AgreementSummarySchema(many=True))
    def get(self) -> Any:
        """List every agreement version the caller's organisation is party to."""
        agreements = lifecycle.list_agreements(current_actor())
        names = documents.organisation_names(
            {str(p.organisation_id) for a in agreements for p in a.parties}
        )
        now = utcnow()
        return [_summary(a, now, names) for a in agreements]

    @blueprint.arguments(AgreementInputSchema)
    @blueprint.response(201, AgreementSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any]) -> Any:
        """Draft an agreement (administrators, DPOs, signatories, coordinators of a party)."""
        return _answer(lifecycle.create_draft(current_actor(), data), 201)


@blueprint.route("/record-of-processing")
class RecordOfProcessing(MethodView):
    """The caller's organisation's Article 30 record of processing under agreements."""

    decorators = [signed_in_required]

    @require_scope("agreements:read")
    @blueprint.response(200, ProcessingRecordSchema(many=True))
    @blueprint.alt_response(403, **FORBIDDEN)
    def get(self) -> Any:
        """Export the organisation's record of processing (DPOs, administrators, auditors)."""
        records = register.processing_record(current_actor())
        return records


@blueprint.route("/<agreement_id>")
class AgreementById(MethodView):
    """One agreement version."""

    decorators = [signed_in_required]

    @require_scope("agreements:read")
    @blueprint.response(200, AgreementSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, agreement_id: str) -> Any:
        """Read an agreement with everything it records and its data schedule."""
        return _resource(_agreement(agreement_id))

    @blueprint.arguments(AgreementUpdateSchema)
    @blueprint.response(200, AgreementSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def put(self, data: dict[str, Any], agreement_id: str) -> Any:
        """Replace a draft's content (a proposed agreement is frozen)."""
        agreement = _agreement(agreement_id)
        return _answer(lifecycle.update_draft(current_actor(), agreement, data))


@blueprint.route("/<agreement_id>/propose")
class Propose(MethodView):
    """Proposal."""

    decorators = [signed_in_required]

    @blueprint.response(200, AgreementSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    def post(self, agreement_id: str) -> Any:
        """Propose a draft: its content is frozen and hashed for the signatories to approve."""
        agreement = _agreement(agreement_id)
        return _answer(lifecycle.propose(current_actor(), agreement))


@blueprint.route("/<agreement_id>/suspend")
class Suspend(MethodView):
    """Suspension."""

    decorators = [signed_in_required]

    @blueprint.arguments(ReasonSchema)
    @blueprint.response(200, AgreementSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], agreement_id: str) -> Any:
        """Suspend all sharing under the agreement at once (a party's DPO)."""
        agreement = _agreement(agreement_id)
        return _answer(lifecycle.suspend(current_actor(), agreement, data["reason"]))


@blueprint.route("/<agreement_id>/resume")
class Resume(MethodView):
    """Resumption."""

    decorators = [signed_in_required]

    @blueprint.response(200, AgreementSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    def post(self, agreement_id: str) -> Any:
        """Lift a suspension (a party's DPO)."""
        agreement = _agreement(agreement_id)
        return _answer(lifecycle.resume(current_actor(), agreement))


@blueprint.route("/<agreement_id>/terminate")
class Terminate(MethodView):
    """Termination."""

    decorators = [signed_in_required]

    @blueprint.arguments(ReasonSchema)
    @blueprint.response(200, AgreementSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    @blueprint.alt_response(422, **INVALID)
    def post(self, data: dict[str, Any], agreement_id: str) -> Any:
        """End the agreement for good (a party's signatory)."""
        agreement = _agreement(agreement_id)
        return _answer(lifecycle.terminate(current_actor(), agreement, data["reason"]))


@blueprint.route("/<agreement_id>/amend")
class Amend(MethodView):
    """Amendment."""

    decorators = [signed_in_required]

    @blueprint.response(201, AgreementSchema)
    @blueprint.alt_response(403, **FORBIDDEN)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    def post(self, agreement_id: str) -> Any:
        """Start a new version as a draft; the current one stays in force until it is approved."""
        agreement = _agreement(agreement_id)
        return _answer(lifecycle.amend(current_actor(), agreement), 201)


@blueprint.route("/<agreement_id>/signed")
class SignedAgreement(MethodView):
    """The signed copy."""

    decorators = [signed_in_required]

    @require_scope("agreements:read")
    @blueprint.response(200, SignedAgreementSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    @blueprint.alt_response(409, **CONFLICT)
    def get(self, agreement_id: str) -> Any:
        """Download the signed agreement (JSON) to check offline."""
        agreement = _agreement(agreement_id)
        if agreement.signed_note is None:
            raise Conflict("Only an approved agreement is signed.")
        return lifecycle.signed_document(agreement)


@blueprint.route("/<agreement_id>/statistics")
class Statistics(MethodView):
    """Disclosure statistics."""

    decorators = [signed_in_required]

    @require_scope("agreements:read")
    @blueprint.response(200, StatisticsSchema)
    @blueprint.alt_response(404, **NOT_FOUND)
    def get(self, agreement_id: str) -> Any:
        """Count disclosures under this version (by recipient, record type, month) and refusals."""
        stats = register.disclosure_statistics(_agreement(agreement_id))

        def counts(rows: list[tuple[str, int]]) -> list[dict[str, Any]]:
            return [{"label": label, "count": count} for label, count in rows]

        return {
            "total": stats.total,
            "existence_only": stats.existence_only,
            "by_recipient": counts(stats.by_recipient),
            "by_record_type": counts(stats.by_record_type),
            "by_month": counts(stats.by_month),
            "refusals": stats.refusals,
            "refusals_by_reason": counts(stats.refusals_by_reason),
        }
