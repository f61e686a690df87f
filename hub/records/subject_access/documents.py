"""A subject access pack as the file the requester is sent: generated with the DPO's exemption
notes (audited as counts, never the notes), as JSON (the exact text) or as a PDF (the core
fonts' Latin-1, with the characters they cannot draw replaced)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audit import services as audit
from core.db import utcnow
from core.documents import DocumentPdf
from core.security import Actor
from core.validation import Checker
from hub.records.subject_access.services import (
    DEFAULT_NOTE,
    SECTIONS,
    Pack,
    build_pack,
    iso,
    long_date,
    read_notes,
)

FORMATS = {"json": "application/json", "pdf": "application/pdf"}


@dataclass(frozen=True)
class Export:
    """A generated pack, ready to download."""

    filename: str
    mimetype: str
    body: bytes


def generate(
    actor: Actor, speaker_id: str, data: Mapping[str, Any], export_format: str
) -> tuple[Pack, Export]:
    """Build the pack with the DPO's exemption notes, audit the generation (counts only, never
    the notes), and render it as JSON or PDF."""
    action = "subject_access.generate"
    pack = build_pack(actor, speaker_id, action=action)
    check = Checker({"format": export_format})
    chosen = check.text("format", "the format of the pack (json or pdf)", max_length=10)
    if chosen and chosen not in FORMATS:
        check.add("format", "Choose the format of the pack: JSON or PDF.")
    check.raise_if_any()
    notes = read_notes(pack, data)
    now = utcnow()
    audit.record(
        actor,
        action,
        "granted",
        resource_type="speaker",
        resource_ids=[pack.speaker_id, *pack.merged_ids],
        resource_org=actor.org_id,
        subjects=[("speaker", pack.speaker_id)],
        format=chosen,
        items=len(pack.items),
        disclosures=len(pack.section("disclosures")),
        exemptions=sum(1 for note in notes.values() if note != DEFAULT_NOTE),
    )
    stamp = now.strftime("%Y%m%d-%H%M%S")
    filename = f"subject-access-{pack.speaker_id[:8]}-{stamp}.{chosen}"
    body = pack_json(pack, notes, now) if chosen == "json" else pack_pdf(pack, notes, now)
    return pack, Export(filename, FORMATS[chosen], body)


EXPLANATION = (
    "This pack lists everything {controller} holds about this speaker in the Prevent "
    "Information Sharing Hub, every disclosure of it to another organisation (when, to whom, "
    "under which agreement and which fields), and every refused attempt to see it. Each "
    "organisation is the controller of its own records and answers requests about them: the "
    "organisations named as recipients, or as holding their own records, can be asked directly."
)


def pack_json(pack: Pack, notes: Mapping[str, str], now: datetime) -> bytes:
    """The pack as JSON (exact text; every item with its exemption note)."""
    body = {
        "subject_access_pack": {
            "controller": {"name": pack.controller, "contact": pack.controller_contact},
            "generated_at": iso(now),
            "speaker_id": pack.speaker_id,
            "merged_record_ids": pack.merged_ids,
            "explanation": EXPLANATION.format(controller=pack.controller),
            "sections": {
                name: [
                    {
                        "key": item.key,
                        "title": item.title,
                        "data": item.data,
                        "exemption_note": notes[item.key],
                    }
                    for item in pack.section(name)
                ]
                for name in SECTIONS
            },
            "recipients": [{"name": n, "contact": c} for n, c in pack.recipients],
            "other_controllers": [{"name": n, "contact": c} for n, c in pack.other_controllers],
        }
    }
    return json.dumps(body, indent=2, ensure_ascii=False).encode()


#: Typographic marks the PDF core fonts lack, and their plain forms.


def pack_pdf(pack: Pack, notes: Mapping[str, str], now: datetime) -> bytes:
    """The pack as a PDF: each section, each item's details and its exemption note."""
    pdf = DocumentPdf(f"Subject access pack - {pack.controller}")
    pdf.set_title("Subject access pack")
    pdf.set_creator("Prevent Information Sharing Hub")
    pdf.add_page()
    pdf.paragraph("Subject access pack", 18, "B")
    pdf.paragraph(f"Controller: {pack.controller} ({pack.controller_contact})")
    pdf.paragraph(f"Generated: {long_date(now)}")
    pdf.paragraph(f"Speaker record: {pack.speaker_id}")
    pdf.paragraph(EXPLANATION.format(controller=pack.controller), 9)
    pdf.paragraph(
        "Characters the PDF cannot show are replaced with '?'; the JSON pack holds the exact text.",
        8,
        "I",
    )
    for name, heading in SECTIONS.items():
        items = pack.section(name)
        pdf.ln(2)
        pdf.paragraph(heading, 14, "B")
        if not items:
            pdf.paragraph("None.", 10)
            continue
        for item in items:
            pdf.paragraph(item.title, 11, "B")
            for label, value in item.rows:
                if value:
                    pdf.paragraph(f"{label}: {value}", 9)
            pdf.paragraph(f"Exemption: {notes[item.key]}", 9, "I")
            pdf.ln(1)
    pdf.ln(2)
    pdf.paragraph("Organisations that received this data", 14, "B")
    if pack.recipients:
        for org_name, contact in pack.recipients:
            pdf.paragraph(f"{org_name} - {contact}", 10)
    else:
        pdf.paragraph("None.", 10)
    if pack.other_controllers:
        pdf.paragraph("Organisations holding their own records about this speaker", 14, "B")
        for org_name, contact in pack.other_controllers:
            pdf.paragraph(f"{org_name} - {contact}", 10)
    return bytes(pdf.output())
