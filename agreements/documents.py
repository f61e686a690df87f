"""An agreement as people read it: labels, the data schedule as tables, and the rendered HTML and
PDF documents; the Article 30 record of processing as CSV and JSON.

Documents are rendered from the agreement's `content` (exactly what each signatory approved and
the hub signed), with organisation and people names looked up for reading only.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import render_template

from agreements.content import LAWFUL_BASIS_KEYS, PURPOSES, SECTIONS
from agreements.fields import (
    EXISTENCE_ONLY,
    LEVEL_LABELS,
    LEVEL_MEANINGS,
    RECORD_TYPES,
    Category,
    Level,
)
from agreements.models import Agreement, AgreementType, EffectiveState, PartyRole
from core.db import db, utcnow
from core.documents import DocumentPdf, latin1, long_date, long_moment
from partners.models import Person
from partners.services import organisation_names

# --- labels -------------------------------------------------------------------------------

#: The ICO sections of an agreement, as headings (the order of `content.SECTIONS`).
SECTION_HEADINGS = {
    "statutory_power": "Statutory power",
    "necessity": "Necessity and proportionality",
    "categories_of_individuals": "Categories of individuals",
    "direction_and_frequency": "Direction, frequency and trigger of sharing",
    "onward_sharing": "Limits on onward sharing",
    "retention": "Retention and disposal",
    "security_measures": "Security measures",
    "accuracy_and_corrections": "Accuracy and corrections",
    "rights_procedure": "Individuals' rights",
    "exemptions": "Exemptions",
    "dpia_reference": "Data protection impact assessment (DPIA)",
    "breach_steps": "Breach notification",
    "termination_and_destruction": "Termination and destruction of shared data",
}

#: Headings every rendering of an agreement carries besides the ICO sections.
DOCUMENT_HEADINGS = (
    "Parties",
    "Purposes",
    "Lawful basis",
    "Data schedule",
    "Dates",
    "Content hash and signature",
)

TYPE_LABELS = {
    AgreementType.RECIPROCAL: "Reciprocal protocol",
    AgreementType.ONE_WAY: "One-way disclosure",
    AgreementType.JOINT_CONTROLLER: "Joint-controller agreement",
}

PARTY_ROLE_LABELS = {
    PartyRole.CONTROLLER: "Controller",
    PartyRole.JOINT_CONTROLLER: "Joint controller",
    PartyRole.PROCESSOR: "Processor",
}

STATE_LABELS = {
    EffectiveState.DRAFT: "Draft",
    EffectiveState.PROPOSED: "Awaiting approval",
    EffectiveState.NOT_STARTED: "Approved, not started",
    EffectiveState.ACTIVE: "Active",
    EffectiveState.EXPIRED: "Expired",
    EffectiveState.SUSPENDED: "Suspended",
    EffectiveState.TERMINATED: "Terminated",
    EffectiveState.SUPERSEDED: "Superseded",
}

STATE_COLOURS = {
    EffectiveState.DRAFT: "grey",
    EffectiveState.PROPOSED: "blue",
    EffectiveState.NOT_STARTED: "light-blue",
    EffectiveState.ACTIVE: "green",
    EffectiveState.EXPIRED: "orange",
    EffectiveState.SUSPENDED: "red",
    EffectiveState.TERMINATED: "red",
    EffectiveState.SUPERSEDED: "grey",
}

CATEGORY_LABELS = {
    Category.PERSONAL.value: "Personal",
    Category.SPECIAL_CATEGORY.value: "Special category",
    Category.CRIMINAL_OFFENCE.value: "Criminal offence",
    Category.OPINION.value: "Opinion",
}

#: Special-category and criminal-offence data stand out (GOV.UK tag colours).
CATEGORY_COLOURS = {
    Category.PERSONAL.value: "grey",
    Category.SPECIAL_CATEGORY.value: "red",
    Category.CRIMINAL_OFFENCE.value: "orange",
    Category.OPINION.value: "yellow",
}

CATEGORY_ORDER = [
    Category.SPECIAL_CATEGORY.value,
    Category.CRIMINAL_OFFENCE.value,
    Category.PERSONAL.value,
    Category.OPINION.value,
]

LAWFUL_BASIS_LABELS = {
    "article_6": "UK GDPR Article 6 lawful basis",
    "article_9": "UK GDPR Article 9 condition (special-category data)",
    "schedule_1": "DPA 2018 Schedule 1 condition",
    "article_10": "UK GDPR Article 10 basis (criminal-offence data)",
    "dpa_part_3": "DPA 2018 Part 3 (law-enforcement processing)",
}


def sorted_categories(categories: Iterable[str]) -> list[str]:
    """Categories, the sensitive ones first."""
    return sorted(set(categories), key=CATEGORY_ORDER.index)


# --- names --------------------------------------------------------------------------------


def people_names(ids: Iterable[Any]) -> dict[str, str]:
    """People's names by id (as strings): signatories, approvers, authors of changes."""
    keys = set()
    for value in ids:
        if not value:
            continue
        try:
            keys.add(uuid.UUID(str(value)))
        except ValueError:
            continue
    if not keys:
        return {}
    rows = db.session.execute(sa.select(Person.id, Person.name).where(Person.id.in_(keys)))
    return {str(key): name for key, name in rows}


# --- the data schedule as tables -----------------------------------------------------------


@dataclass(frozen=True)
class FieldRow:
    """One field of one record type in one direction, at its level."""

    name: str
    label: str
    level: str
    categories: tuple[str, ...]

    @property
    def level_label(self) -> str:
        return LEVEL_LABELS[self.level]

    @property
    def shared(self) -> bool:
        return self.level != Level.WITHHELD.value

    @property
    def sensitive(self) -> bool:
        return bool(
            {Category.SPECIAL_CATEGORY.value, Category.CRIMINAL_OFFENCE.value}
            & set(self.categories)
        )


@dataclass(frozen=True)
class RecordTypeRow:
    """One record type shared in one direction: existence only, or field by field."""

    record_type: str
    label: str
    existence_only: bool
    fields: tuple[FieldRow, ...]


@dataclass(frozen=True)
class Direction:
    """What one party gives another."""

    provider_id: str
    provider: str
    recipient_id: str
    recipient: str
    record_types: tuple[RecordTypeRow, ...]


def schedule_directions(content: Mapping[str, Any], names: Mapping[str, str]) -> list[Direction]:
    """The schedule grouped by provider -> recipient (in the parties' order), each record type
    with every registry field (those the schedule does not name shown as withheld)."""
    grouped: dict[tuple[str, str], list[RecordTypeRow]] = {}
    order = list(RECORD_TYPES)
    for entry in content.get("data_schedule") or []:
        record_type = entry.get("record_type")
        if record_type not in RECORD_TYPES:
            continue
        label, specs = RECORD_TYPES[record_type]
        existence = entry.get("level") == EXISTENCE_ONLY
        levels = entry.get("fields") or {}
        rows = tuple(
            FieldRow(
                spec.name,
                spec.label,
                Level.WITHHELD.value if existence else levels.get(spec.name, Level.WITHHELD.value),
                tuple(sorted_categories(c.value for c in spec.categories)),
            )
            for spec in specs
        )
        grouped.setdefault((entry["provider"], entry["recipient"]), []).append(
            RecordTypeRow(record_type, label, existence, rows)
        )
    directions = [
        Direction(
            provider,
            names.get(provider, "Unknown organisation"),
            recipient,
            names.get(recipient, "Unknown organisation"),
            tuple(sorted(rows, key=lambda r: order.index(r.record_type))),
        )
        for (provider, recipient), rows in grouped.items()
    ]
    # In the order the parties are named: the first party's gifts first.
    order_of = {
        str(p.get("organisation_id")): i for i, p in enumerate(content.get("parties") or [])
    }
    return sorted(
        directions,
        key=lambda d: (order_of.get(d.provider_id, 99), order_of.get(d.recipient_id, 99)),
    )


def shared_categories(content: Mapping[str, Any], *, org_id: str | None = None) -> list[str]:
    """The categories of data the schedule shares (optionally only where `org_id` takes part)."""
    found: set[str] = set()
    for entry in content.get("data_schedule") or []:
        if org_id and org_id not in (entry.get("provider"), entry.get("recipient")):
            continue
        if entry.get("record_type") not in RECORD_TYPES or entry.get("level") == EXISTENCE_ONLY:
            continue
        specs = {spec.name: spec for spec in RECORD_TYPES[entry["record_type"]][1]}
        for name in entry.get("fields") or {}:
            if name in specs:
                found |= {c.value for c in specs[name].categories}
    return sorted_categories(found)


# --- what every rendering shows ---------------------------------------------------------------


@dataclass(frozen=True)
class PartyView:
    """A party as the document shows it."""

    organisation_id: str
    name: str
    role: str
    designated_person: str
    signatory: str
    approved_at: datetime | None
    approved_by: str
    approved_current: bool


def document_context(agreement: Agreement) -> dict[str, Any]:
    """Everything a rendering of the agreement needs, from its content and the parties' rows."""
    content = agreement.content
    party_ids = [str(p.get("organisation_id")) for p in content.get("parties") or []]
    names = organisation_names(party_ids)
    rows = {str(p.organisation_id): p for p in agreement.parties}
    people = people_names(
        [p.get("signatory_id") for p in content.get("parties") or []]
        + [p.approved_by_id for p in agreement.parties]
    )
    parties = []
    for item in content.get("parties") or []:
        org_id = str(item.get("organisation_id"))
        row = rows.get(org_id)
        current = bool(
            row is not None
            and row.approved_at is not None
            and agreement.content_hash
            and row.approved_hash == agreement.content_hash
        )
        parties.append(
            PartyView(
                organisation_id=org_id,
                name=names.get(org_id, "Unknown organisation"),
                role=PARTY_ROLE_LABELS.get(PartyRole(item["role"]), item["role"])
                if item.get("role") in {r.value for r in PartyRole}
                else str(item.get("role") or ""),
                designated_person=item.get("designated_person") or "",
                signatory=people.get(str(item.get("signatory_id")), "Unknown person")
                if item.get("signatory_id")
                else "Signs at the peer hub (approval recorded by this hub's operator)",
                approved_at=row.approved_at if current and row is not None else None,
                approved_by=people.get(str(row.approved_by_id), "") if current and row else "",
                approved_current=current,
            )
        )
    basis = content.get("lawful_basis") or {}
    return {
        "agreement": agreement,
        "content": content,
        "type_label": TYPE_LABELS.get(agreement.type, str(agreement.type)),
        "parties": parties,
        "organisation_names": names,
        "purposes": [(code, PURPOSES.get(code, code)) for code in content.get("purposes") or []],
        "lawful_basis": [
            (LAWFUL_BASIS_LABELS[key], basis[key]) for key in LAWFUL_BASIS_KEYS if basis.get(key)
        ],
        "sections": [(SECTION_HEADINGS[key], content.get(key) or "") for key in SECTIONS],
        "schedule": schedule_directions(content, names),
        "starts": long_moment(content.get("starts_at")),
        "ends": long_moment(content.get("ends_at")),
        "review": long_date(content.get("review_on")),
        "categories": shared_categories(content),
        "level_labels": LEVEL_LABELS,
        "level_meanings": LEVEL_MEANINGS,
        "category_labels": CATEGORY_LABELS,
        "category_colours": CATEGORY_COLOURS,
        "generated_at": long_moment(utcnow()),
    }


def document_filename(agreement: Agreement, extension: str) -> str:
    """A safe download name: the reference and version."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in agreement.reference)
    return f"agreement-{safe}-v{agreement.version}.{extension}"


def render_html(agreement: Agreement) -> str:
    """The agreement as a self-contained HTML document (for printing or filing)."""
    return render_template(
        "agreements/document.html",
        **document_context(agreement),
        long_moment=long_moment,
        long_date=long_date,
    )


# --- PDF ----------------------------------------------------------------------------------

#: Typographic characters outside Latin-1 that have a plain equivalent.


def render_pdf(agreement: Agreement, *, verified: str = "") -> bytes:
    """The agreement as a PDF: every section, the schedule as tables, the hash and signature."""
    context = document_context(agreement)
    pdf = DocumentPdf(f"{agreement.reference} version {agreement.version}")
    pdf.set_title(latin1(f"{agreement.reference}: {agreement.title}"))
    pdf.set_creator("Prevent Information Sharing Hub")
    pdf.add_page()
    pdf.paragraph(f"Data-sharing agreement {agreement.reference}, version {agreement.version}", 10)
    pdf.heading(agreement.title, 18)
    pdf.pairs(
        [
            ("Reference", agreement.reference),
            ("Version", str(agreement.version)),
            ("Type", context["type_label"]),
        ]
    )

    pdf.heading("Parties")
    pdf.grid(
        ("Organisation", "Role", "Designated person", "Signatory", "Approved"),
        [
            (
                p.name,
                p.role,
                p.designated_person,
                p.signatory,
                f"{long_moment(p.approved_at)} by {p.approved_by}" if p.approved_at else "Not yet",
            )
            for p in context["parties"]
        ],
        (38, 24, 38, 34, 40),
    )

    pdf.heading("Purposes")
    for code, label in context["purposes"]:
        pdf.paragraph(f"{label} ({code})")

    pdf.heading("Lawful basis")
    pdf.pairs(context["lawful_basis"])

    for heading, text in context["sections"]:
        pdf.heading(heading, 12)
        pdf.paragraph(text)

    pdf.heading("Data schedule")
    pdf.paragraph(
        "Levels: " + "; ".join(f"{LEVEL_LABELS[k]}: {v}" for k, v in LEVEL_MEANINGS.items()) + ".",
        8,
    )
    for direction in context["schedule"]:
        pdf.heading(f"From {direction.provider} to {direction.recipient}", 11)
        for kind in direction.record_types:
            if kind.existence_only:
                pdf.paragraph(
                    f"{kind.label}: existence only. {LEVEL_MEANINGS[EXISTENCE_ONLY].capitalize()}.",
                    9,
                    "B",
                )
                continue
            pdf.paragraph(kind.label, 10, "B")
            pdf.grid(
                ("Field", "Level", "Categories"),
                [
                    (
                        f.label,
                        f.level_label,
                        ", ".join(CATEGORY_LABELS[c] for c in f.categories) or "-",
                    )
                    for f in kind.fields
                ],
                (70, 40, 64),
            )

    pdf.heading("Dates")
    pdf.pairs(
        [("In force from", context["starts"]), ("Ends", context["ends"]),
         ("Review by", context["review"])]
    )  # fmt: skip

    pdf.heading("Content hash and signature")
    pdf.paragraph("SHA-256 of the agreement's canonical JSON content:", 9)
    pdf.code(agreement.content_hash or "Not fixed yet: the agreement has not been proposed.")
    if agreement.signed_note:
        pdf.paragraph(
            "The hub signed this content hash when every party had approved (Ed25519, C2SP "
            "signed note). The JSON download is the authoritative copy: check it offline with "
            "`flask --app wsgi agreements verify FILE` against the hub's published verifier "
            "key.",
            9,
        )
        pdf.code(agreement.signed_note)
        if verified:
            pdf.paragraph(verified, 9)
    else:
        pdf.paragraph("Not signed: the hub signs an agreement once every party has approved.", 9)
    pdf.paragraph(f"Generated {context['generated_at']}.", 8)
    return bytes(pdf.output())


# --- Article 30 record of processing -------------------------------------------------------

ARTICLE_30_COLUMNS = (
    "reference",
    "version",
    "title",
    "state",
    "our_role",
    "parties",
    "purposes",
    "categories_of_individuals",
    "categories_of_data",
    "record_types_disclosed",
    "recipients",
    "record_types_received",
    "received_from",
    "retention",
    "security_measures",
    "lawful_basis",
    "statutory_power",
    "dpia_reference",
    "starts_at",
    "ends_at",
    "review_on",
)

#: A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    if isinstance(value, list):
        text = "; ".join(_cell(item) for item in value)
    elif isinstance(value, dict):
        text = "; ".join(f"{key}: {_cell(item)}" for key, item in value.items())
    else:
        text = "" if value is None else str(value)
    return text


def _safe_cell(value: Any) -> str:
    text = _cell(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def article30_csv(records: list[dict[str, Any]]) -> str:
    """The record of processing as CSV, one row per agreement (lists joined with '; '; cells
    that a spreadsheet would run as formulas are quoted with an apostrophe)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ARTICLE_30_COLUMNS)
    for record in records:
        row = dict(record)
        row["parties"] = [f"{p['organisation']} ({p['role']})" for p in record["parties"]]
        row["purposes"] = [p["description"] for p in record["purposes"]]
        row["lawful_basis"] = {
            LAWFUL_BASIS_LABELS[key]: text for key, text in record["lawful_basis"].items() if text
        }
        writer.writerow(_safe_cell(row.get(column)) for column in ARTICLE_30_COLUMNS)
    return buffer.getvalue()


def article30_json(organisation: str, records: list[dict[str, Any]]) -> str:
    """The record of processing as JSON."""
    return json.dumps(
        {
            "organisation": organisation,
            "generated_at": utcnow().isoformat().replace("+00:00", "Z"),
            "record_of_processing": records,
        },
        indent=2,
        ensure_ascii=False,
    )
