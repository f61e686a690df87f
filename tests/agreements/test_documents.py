"""Signed agreement documents: the HTML and PDF renderings carry the reference and every
section; the JSON verifies offline with `flask agreements verify`, and a tampered copy fails;
`flask agreements remind` queues reminders."""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from html import unescape

import pytest
from pypdf import PdfReader

from agreements import documents, lifecycle
from agreements import services as agreements
from agreements.content import SECTIONS
from audit import log, notes
from core.db import db, utcnow
from partners.models import Person
from tests.agreements.conftest import agreement_data, rule
from tests.conftest import actor_of

SPEAKER_FIELDS = {"display_name": "full", "aliases": "masked", "topics": "pseudonymised"}
HEADINGS = [*documents.SECTION_HEADINGS.values(), *documents.DOCUMENT_HEADINGS]


@pytest.fixture
def agreement(make_org, make_agreement):
    a, b = make_org(name="Northgate University"), make_org(name="Southmoor University")
    approved, _ = make_agreement(
        [a, b],
        [
            rule(a, b, "speaker", SPEAKER_FIELDS),
            rule(b, a, "assessment", existence_only=True),
            rule(b, a, "event", {"title": "full", "expected_size": "generalised"}),
        ],
        reference="DOC-DSA-7",
    )
    return approved


def pdf_text(body: bytes) -> str:
    reader = PdfReader(io.BytesIO(body))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def test_every_ico_section_has_a_heading():
    assert list(documents.SECTION_HEADINGS) == list(SECTIONS)


def test_pdf_carries_the_reference_every_heading_and_the_schedule(agreement):
    text = pdf_text(documents.render_pdf(agreement))
    assert "DOC-DSA-7" in text
    for heading in HEADINGS:
        assert heading in text, heading
    for key in SECTIONS:
        assert f"Test text for {key}." in text
    assert "From Northgate University to Southmoor University" in text
    assert "Pseudonymised" in text and "Special category" in text
    assert "existence only" in text
    assert agreement.content_hash in text.replace(" ", "")


def test_html_carries_the_reference_every_heading_and_the_signature(agreement):
    html = documents.render_html(agreement)
    text = " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())
    assert "DOC-DSA-7" in text
    for heading in HEADINGS:
        assert heading in text, heading
    assert agreement.content_hash in text
    assert agreement.signed_note.splitlines()[0] in text
    assert "category-special_category" in html  # highlighted


def test_downloaded_pdf_and_html_from_the_pages(client, agreement):
    signatory = agreement.parties[0].signatory_id
    client.sign_in(db.session.get(Person, signatory))
    pdf = client.get(f"/agreements/{agreement.id}/document.pdf")
    assert pdf.data.startswith(b"%PDF")
    text = pdf_text(pdf.data)
    assert "DOC-DSA-7" in text and "is as the hub signed it" in text
    html = client.get(f"/agreements/{agreement.id}/document.html").get_data(as_text=True)
    assert "<h2>Data schedule</h2>" in html


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Ravensmoor \u2013 \u201cquoted\u201d \u2014 done\u2026",
            'Ravensmoor - "quoted" - done...',
        ),
        ("Zoë Brontë", "Zoë Brontë"),  # Latin-1 letters stay
        ("Łukasz Ćwikła", "Lukasz Cwikla"),  # accents outside Latin-1 are dropped
        ("محمد 李 🙂", "? ? ?"),  # a run of what cannot be drawn is one mark
        ("a\x00b\x85c", "abc"),
        ("E••• Q•••", "E*** Q***"),
    ],
)
def test_pdf_text_is_made_latin1_safely(value, expected):
    assert documents.latin1(value) == expected
    documents.latin1(value).encode("latin-1")


def test_pdf_renders_names_outside_latin1(make_org, make_agreement):
    a, b = make_org(name="Université Łódź \u2013 محمد"), make_org(name="Ravensmoor 大学")
    approved, _ = make_agreement(
        [a, b], [rule(a, b, "speaker", SPEAKER_FIELDS)], kind="one_way", reference="UNI-ŁÓDŹ-1"
    )
    text = pdf_text(documents.render_pdf(approved))
    assert "UNI-LÓDZ-1" in text  # Ó is Latin-1; Ł and Ź lose their marks
    assert "Université Lódz - ?" in text and "Ravensmoor ?" in text


# --- offline verification ---------------------------------------------------------------


def _write(tmp_path, document, name="agreement.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_cli_verifies_a_signed_agreement(cli, tmp_path, agreement):
    path = _write(tmp_path, lifecycle.signed_document(agreement))
    result = cli.invoke(args=["agreements", "verify", str(path)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: DOC-DSA-7 version 1")
    with_key = cli.invoke(args=["agreements", "verify", str(path), "--key", log.verifier_key()])
    assert with_key.exit_code == 0


def test_cli_verifies_the_downloaded_file(client, cli, tmp_path, agreement):
    client.sign_in(db.session.get(Person, agreement.parties[1].signatory_id))
    body = client.get(f"/agreements/{agreement.id}/signed.json").data
    path = tmp_path / "download.json"
    path.write_bytes(body)
    assert cli.invoke(args=["agreements", "verify", str(path)]).exit_code == 0


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda d: next(e for e in d["content"]["data_schedule"] if "fields" in e)["fields"]
         .update(affiliations="full"), "changed"),
        (lambda d: d["content"].update(retention="Kept for ever."), "changed"),
        (lambda d: d.update(version=2), "does not match"),
        (lambda d: d.update(signed_note=d["signed_note"].replace("DOC-DSA-7", "DOC-DSA-8")),
         "does not verify"),
    ],
)  # fmt: skip
def test_cli_rejects_a_tampered_copy_with_exit_1(cli, tmp_path, agreement, tamper, reason):
    document = json.loads(json.dumps(lifecycle.signed_document(agreement)))
    tamper(document)
    result = cli.invoke(args=["agreements", "verify", str(_write(tmp_path, document))])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and reason in result.output


def test_cli_rejects_another_hubs_key_with_exit_1(cli, tmp_path, agreement):
    other = notes.verifier_key_from_signer(notes.make_signer_key("other-hub.example"))
    path = _write(tmp_path, lifecycle.signed_document(agreement))
    result = cli.invoke(args=["agreements", "verify", str(path), "--key", other])
    assert result.exit_code == 1
    assert "does not verify" in result.output


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"format": "hub-agreement/v1"}', "'reference' is missing"),
        (json.dumps({"format": "other", "reference": "X", "version": 1, "content": {},
                     "content_hash": "", "signed_note": ""}), "'format' is not"),
        (json.dumps({"format": "hub-agreement/v1", "reference": "X", "version": "1",
                     "content": {}, "content_hash": "", "signed_note": ""}),
         "'version' has the wrong type"),
    ],
)  # fmt: skip
def test_cli_rejects_a_malformed_file_with_exit_2(cli, tmp_path, body, message):
    path = tmp_path / "bad.json"
    path.write_text(body, encoding="utf-8")
    result = cli.invoke(args=["agreements", "verify", str(path)])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_cli_rejects_a_malformed_key_with_exit_2(cli, tmp_path, agreement):
    path = _write(tmp_path, lifecycle.signed_document(agreement))
    result = cli.invoke(args=["agreements", "verify", str(path), "--key", "nonsense"])
    assert result.exit_code == 2
    assert "verifier key is malformed" in result.output


def test_cli_rejects_a_binary_file_with_exit_2(cli, tmp_path):
    path = tmp_path / "agreement.pdf"
    path.write_bytes(b"%PDF-1.4\xff\xfe\x00")
    result = cli.invoke(args=["agreements", "verify", str(path)])
    assert result.exit_code == 2


def test_cli_remind_queues_reminders_once(cli, make_org, make_agreement):
    a, b = make_org(), make_org()
    make_agreement(
        [a, b],
        [rule(a, b, "speaker", {"display_name": "full"}), rule(b, a, "speaker", SPEAKER_FIELDS)],
        ends_at=utcnow() + timedelta(days=10),
    )
    first = cli.invoke(args=["agreements", "remind"])
    assert first.exit_code == 0
    count = int(re.search(r"Queued (\d+) review reminder", first.output).group(1))
    assert count >= 2
    second = cli.invoke(args=["agreements", "remind"])
    assert second.output.strip() == "Queued 0 review reminders."


def test_pdf_renders_unbroken_values_at_their_longest(make_org, party):
    a, b = make_org(name="A" * 200), make_org()
    (pa, signatory), (pb, _) = party(a), party(b)
    pa["designated_person"] = "x" * 200
    data = agreement_data([pa, pb], [rule(a, b, "speaker", {"display_name": "full"})],
                          kind="one_way", reference="R" * 64)  # fmt: skip
    data["necessity"] = "y" * 5000
    draft = agreements.create_draft(actor_of(signatory), data)
    text = pdf_text(documents.render_pdf(draft)).replace(" ", "")
    assert "y" * 1000 in text
    assert "Notsigned" in text  # a draft's document says so
