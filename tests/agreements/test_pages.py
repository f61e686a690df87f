"""Agreement pages: the register, an agreement's page, drafting with the schedule editor,
proposal, approval with password re-entry, suspension, resumption, termination, amendment."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from agreements import lifecycle
from agreements.content import SECTIONS
from agreements.documents import SECTION_HEADINGS
from agreements.models import Agreement, AgreementStatus
from audit.models import AuditEntry
from core.db import db, utcnow
from core.validation import LOCAL_ZONE
from partners.models import OutboxEmail
from tests.agreements.conftest import rule
from tests.conftest import TEST_PASSWORD, actor_of

SPEAKER_FIELDS = {"display_name": "full", "aliases": "masked", "topics": "pseudonymised"}


def text_of(response) -> str:
    """A page's text with tags dropped and whitespace collapsed (for phrase assertions)."""
    html = response.get_data(as_text=True)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def local(moment) -> str:
    return moment.astimezone(LOCAL_ZONE).strftime("%Y-%m-%dT%H:%M")


def _reload(agreement_id) -> Agreement:
    db.session.expire_all()
    return db.session.get(Agreement, agreement_id)


def _entries(action: str, outcome: str | None = None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).where(AuditEntry.action == action)
    if outcome:
        query = query.where(AuditEntry.outcome == outcome)
    return list(db.session.scalars(query.order_by(AuditEntry.seq)))


@pytest.fixture
def universities(make_org):
    return make_org(name="Northgate University"), make_org(name="Southmoor University")


@pytest.fixture
def active(universities, make_agreement):
    """An approved reciprocal agreement between two universities (signatories are also DPOs)."""
    a, b = universities
    agreement, signatories = make_agreement(
        [a, b],
        [
            rule(a, b, "speaker", SPEAKER_FIELDS),
            rule(b, a, "speaker", {"display_name": "full"}),
            rule(b, a, "assessment", existence_only=True),
        ],
    )
    return agreement, signatories


# --- the register -----------------------------------------------------------------------


def test_register_lists_the_organisations_agreements_with_state_and_parties(
    client, universities, active, make_person
):
    agreement, _ = active
    reader = make_person(universities[0], ["events_officer"])
    client.sign_in(reader)
    response = client.get("/agreements/")
    assert response.status_code == 200
    page = text_of(response)
    assert agreement.reference in page
    assert "Active" in page
    assert "Northgate University (controller)" in page
    assert "Southmoor University (controller)" in page
    assert "Due diligence on an external speaker" in page
    assert "Draft an agreement" not in page  # an events officer does not draft


def test_visiting_the_register_queues_review_reminders_once(
    client, universities, make_agreement, make_person
):
    a, b = universities
    make_agreement(
        [a, b],
        [rule(a, b, "speaker", {"display_name": "full"}), rule(b, a, "speaker", SPEAKER_FIELDS)],
        ends_at=utcnow() + timedelta(days=20),
    )
    client.sign_in(make_person(a, ["dpo"]))
    response = client.get("/agreements/")
    assert "Reviews due" in text_of(response)
    queued = db.session.scalars(sa.select(OutboxEmail.to_address)).all()
    assert {a.dp_contact_email, b.dp_contact_email} <= set(queued)
    client.get("/agreements/")
    assert len(db.session.scalars(sa.select(OutboxEmail.id)).all()) == len(queued)


# --- an agreement's page ----------------------------------------------------------------


def test_agreement_page_renders_everything_it_records(client, universities, active):
    agreement, (signatory_a, signatory_b) = active
    client.sign_in(signatory_a)
    response = client.get(f"/agreements/{agreement.id}")
    assert response.status_code == 200
    page = text_of(response)
    for key in SECTIONS:
        assert SECTION_HEADINGS[key] in page
        assert f"Test text for {key}." in page
    assert "Reciprocal protocol" in page
    assert "Designated Person" in page
    assert signatory_a.name in page and signatory_b.name in page
    assert page.count("Approved") >= 2
    assert "Due diligence on an external speaker before an invitation" in page
    assert "UK GDPR Article 9 condition (special-category data)" in page
    assert "Art. 9(2)(g) substantial public interest" in page
    assert "From Northgate University to Southmoor University" in page
    assert "From Southmoor University to Northgate University" in page
    # Topics can reveal religious or political opinion: tagged special category.
    html = response.get_data(as_text=True)
    topics_row = re.search(r"<th[^>]*>Topics</th>(.*?)</tr>", html, re.S).group(1)
    assert "Pseudonymised" in topics_row and "Special category" in topics_row
    assert "govuk-tag--red" in topics_row
    assert "Risk assessment: existence only" in page
    assert agreement.content_hash in page
    assert "is as the hub signed it" in page  # the stored signature verifies
    assert "Drafted." in page and "Approved by every party; signed by the hub." in page
    assert "Signed agreement (JSON)" in page


def test_page_offers_only_what_the_role_allows(client, universities, active, make_person):
    agreement, _ = active
    officer = make_person(universities[0], ["events_officer"])
    client.sign_in(officer)
    page = text_of(client.get(f"/agreements/{agreement.id}"))
    for action in ("Suspend sharing", "Terminate", "Amend", "Edit the draft", "Approve for"):
        assert action not in page


# --- drafting ---------------------------------------------------------------------------


def draft_form(a, b, signatory_a, signatory_b, **overrides) -> dict:
    """A complete drafting form between two organisations, as a browser would post it."""
    now = utcnow()
    data = {
        "reference": "PAGE-DSA-1",
        "title": "Northgate and Southmoor speaker sharing",
        "type": "reciprocal",
        "parties-0-organisation_id": str(a.id),
        "parties-0-role": "controller",
        "parties-0-designated_person": "Ada Northgate",
        "parties-0-signatory_id": str(signatory_a.id),
        "parties-1-organisation_id": str(b.id),
        "parties-1-role": "controller",
        "parties-1-designated_person": "Sol Southmoor",
        "parties-1-signatory_id": str(signatory_b.id),
        "purposes": ["speaker_due_diligence", "event_risk_assessment"],
        "lawful_basis-article_6": "Art. 6(1)(e) public task",
        "lawful_basis-article_9": "Art. 9(2)(g) substantial public interest",
        "lawful_basis-schedule_1": "Sch. 1 para 6 statutory purposes",
        "starts_at": local(now - timedelta(days=1)),
        "ends_at": local(now + timedelta(days=365)),
        "review_on": (now + timedelta(days=180)).date().isoformat(),
        "schedule-0-1-speaker-display_name": "full",
        "schedule-0-1-speaker-aliases": "masked",
        "schedule-0-1-speaker-topics": "pseudonymised",
        "schedule-1-0-speaker-display_name": "full",
        "schedule-1-0-assessment": "existence_only",
    }
    for key in SECTIONS:
        data[key] = f"Form text for {key}."
    data.update(overrides)
    return data


@pytest.fixture
def drafters(universities, make_person):
    a, b = universities
    return make_person(a, ["signatory", "dpo"]), make_person(b, ["signatory"])


def test_new_form_starts_with_the_drafters_organisation_and_no_directions(
    client, universities, drafters
):
    client.sign_in(drafters[0])
    response = client.get("/agreements/new")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    own = re.search(r'<select[^>]*id="parties-0-organisation_id".*?</select>', html, re.S).group(0)
    assert f'value="{universities[0].id}" selected' in own
    assert 'id="no-directions"' in html
    assert "schedule-0-1-speaker" not in html


def test_updating_the_parties_offers_a_level_select_per_field_and_direction(
    client, universities, drafters
):
    a, b = universities
    client.sign_in(drafters[0])
    response = client.submit(
        "/agreements/new",
        {"parties-0-organisation_id": str(a.id), "parties-1-organisation_id": str(b.id),
         "action": "refresh"},
    )  # fmt: skip
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # The other party's signatories only, and its data protection contact as designated person.
    signatory = re.search(r'<select[^>]*id="parties-1-signatory_id".*?</select>', html, re.S)
    assert drafters[1].name in signatory.group(0) and drafters[0].name not in signatory.group(0)
    assert 'value="Test Contact"' in html
    for direction in ("0-1", "1-0"):
        assert f'id="schedule-{direction}-speaker"' in html
        topics = re.search(
            rf'<select[^>]*id="schedule-{direction}-speaker-topics".*?</select>', html, re.S
        ).group(0)
        # Text fields can be masked or pseudonymised, never generalised.
        assert 'value="masked"' in topics and 'value="generalised"' not in topics
        size = re.search(
            rf'<select[^>]*id="schedule-{direction}-event-expected_size".*?</select>', html, re.S
        ).group(0)
        assert 'value="generalised"' in size and 'value="masked"' not in size
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agreement)) == 0


def test_a_draft_is_saved_from_the_form(client, universities, drafters):
    a, b = universities
    client.sign_in(drafters[0])
    response = client.submit("/agreements/new", draft_form(a, b, *drafters))
    assert response.status_code == 302, text_of(response)[:2000]
    agreement = db.session.scalar(sa.select(Agreement).where(Agreement.reference == "PAGE-DSA-1"))
    assert agreement.status == AgreementStatus.DRAFT
    schedule = {(e["provider"], e["record_type"]): e for e in agreement.content["data_schedule"]}
    assert schedule[(str(a.id), "speaker")]["fields"] == {
        "aliases": "masked",
        "display_name": "full",
        "topics": "pseudonymised",
    }
    assert schedule[(str(b.id), "assessment")]["level"] == "existence_only"
    assert len(schedule) == 3  # nothing else chosen: nothing else shared
    assert agreement.purpose_codes == ["event_risk_assessment", "speaker_due_diligence"]
    assert agreement.content["necessity"] == "Form text for necessity."
    assert response.headers["Location"] == f"/agreements/{agreement.id}"


def test_form_errors_link_to_the_inputs_and_nothing_is_saved(client, universities, drafters):
    a, b = universities
    client.sign_in(drafters[0])
    form = draft_form(
        a,
        b,
        *drafters,
        title="",
        **{"parties-1-signatory_id": str(drafters[0].id), "lawful_basis-article_9": ""},
    )
    response = client.submit("/agreements/new", form)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "There is a problem" in html
    assert 'href="#title"' in html
    assert 'href="#parties-1-signatory_id"' in html  # a signatory of the wrong organisation
    assert 'href="#lawful_basis-article_9"' in html  # topics are special-category data
    assert 'id="parties-1-signatory_id-error"' in html
    # What was typed is kept.
    assert 'value="Sol Southmoor"' in html
    assert re.search(r'id="schedule-0-1-speaker-aliases"[^>]*>.*?value="masked" selected', html,
                     re.S)  # fmt: skip
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agreement)) == 0


def test_a_draft_is_edited_proposed_and_then_frozen(client, universities, drafters):
    a, b = universities
    client.sign_in(drafters[0])
    form = draft_form(a, b, *drafters)
    client.submit("/agreements/new", form)
    agreement = db.session.scalar(sa.select(Agreement).where(Agreement.reference == "PAGE-DSA-1"))
    edit = f"/agreements/{agreement.id}/edit"
    html = client.get(edit).get_data(as_text=True)
    assert re.search(r'id="schedule-1-0-assessment"[^>]*>.*?value="existence_only" selected',
                     html, re.S)  # fmt: skip
    changed = {**form, "schedule-0-1-speaker-aliases": "withheld"}  # the same moments
    response = client.submit(edit, changed)
    assert response.status_code == 302
    agreement = _reload(agreement.id)
    speaker = next(e for e in agreement.content["data_schedule"] if e["provider"] == str(a.id))
    assert "aliases" not in speaker["fields"]
    assert agreement.changes[-1].summary == "Changed: data_schedule"

    response = client.submit(f"/agreements/{agreement.id}", {},
                             action=f"/agreements/{agreement.id}/propose")  # fmt: skip
    assert response.status_code == 302
    agreement = _reload(agreement.id)
    assert agreement.status == AgreementStatus.PROPOSED and agreement.content_hash
    assert agreement.content_hash in text_of(client.get(f"/agreements/{agreement.id}"))
    assert client.get(edit).status_code == 409


# --- approval ---------------------------------------------------------------------------


@pytest.fixture
def proposed(universities, make_agreement):
    a, b = universities
    agreement, signatories = make_agreement(
        [a, b],
        [rule(a, b, "speaker", SPEAKER_FIELDS), rule(b, a, "speaker", {"display_name": "full"})],
        approve=False,
    )
    lifecycle.propose(actor_of(signatories[0]), agreement)
    return agreement, signatories


def test_approval_page_shows_the_hash_and_carries_it(client, proposed):
    agreement, (signatory_a, _) = proposed
    client.sign_in(signatory_a)
    response = client.get(f"/agreements/{agreement.id}/approve")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert f'name="content_hash" value="{agreement.content_hash}"' in html
    assert 'type="password"' in html and 'autocomplete="current-password"' in html
    page = text_of(response)
    assert agreement.content_hash in page
    assert SECTION_HEADINGS["breach_steps"] in page  # the whole agreement is there to read


def test_wrong_password_refuses_and_is_audited(client, proposed):
    agreement, (signatory_a, _) = proposed
    client.sign_in(signatory_a)
    path = f"/agreements/{agreement.id}/approve"
    response = client.submit(
        path, {"content_hash": agreement.content_hash, "password": "not my password at all"}
    )
    assert response.status_code == 200
    assert "The password is not right." in text_of(response)
    agreement = _reload(agreement.id)
    assert all(p.approved_at is None for p in agreement.parties)
    denied = _entries("agreement.approve", "denied")[-1]
    assert denied.reason == "reauthentication_failed"
    assert _entries("sign_in.password", "failed")[-1].reason == "bad_credentials"


def test_an_empty_password_is_asked_for(client, proposed):
    agreement, (signatory_a, _) = proposed
    client.sign_in(signatory_a)
    response = client.submit(
        f"/agreements/{agreement.id}/approve", {"content_hash": agreement.content_hash}
    )
    assert 'href="#password"' in response.get_data(as_text=True)
    assert "Enter your password." in text_of(response)


def test_approving_content_other_than_what_was_read_is_refused(client, proposed):
    agreement, (signatory_a, _) = proposed
    client.sign_in(signatory_a)
    response = client.submit(
        f"/agreements/{agreement.id}/approve", {"content_hash": "0" * 64, "password": TEST_PASSWORD}
    )
    assert response.status_code == 409
    assert "The agreement changed after you read it" in text_of(response)
    assert all(p.approved_at is None for p in _reload(agreement.id).parties)
    assert _entries("agreement.approve", "denied")[-1].reason == "content_changed"
    # The page now carries the current hash, to read again and approve.
    assert f'value="{agreement.content_hash}"' in response.get_data(as_text=True)


def test_each_signatory_approves_with_their_password_and_then_it_is_active(new_client, proposed):
    agreement, signatories = proposed
    for number, signatory in enumerate(signatories):
        client = new_client()
        client.sign_in(signatory)
        response = client.submit(
            f"/agreements/{agreement.id}/approve",
            {"content_hash": agreement.content_hash, "password": TEST_PASSWORD},
        )
        assert response.status_code == 302
        page = text_of(client.get(response.headers["Location"]))
        if number == 0:
            assert "comes into force once every party has approved it" in page
            assert _reload(agreement.id).status == AgreementStatus.PROPOSED
    agreement = _reload(agreement.id)
    assert agreement.status == AgreementStatus.APPROVED and agreement.signed_note
    assert "Every party has now approved it" in page
    # Approving twice is refused.
    assert client.get(f"/agreements/{agreement.id}/approve").status_code == 409


def test_only_the_named_signatory_may_open_the_approval_page(
    client, universities, proposed, make_person
):
    agreement, _ = proposed
    another_signatory = make_person(universities[0], ["signatory"])
    client.sign_in(another_signatory)
    assert client.get(f"/agreements/{agreement.id}/approve").status_code == 403
    assert _entries("agreement.approve", "denied")[-1].reason == "not_permitted"


def test_an_amendment_needs_approval_again(client, active):
    agreement, (signatory_a, _) = active
    client.sign_in(signatory_a)
    response = client.submit(f"/agreements/{agreement.id}", {},
                             action=f"/agreements/{agreement.id}/amend")  # fmt: skip
    assert response.status_code == 302
    draft = db.session.scalar(
        sa.select(Agreement).where(Agreement.lineage_id == agreement.lineage_id,
                                   Agreement.version == 2)
    )  # fmt: skip
    assert response.headers["Location"] == f"/agreements/{draft.id}/edit"
    page = text_of(client.get(f"/agreements/{draft.id}"))
    assert page.count("Not approved") == 2
    assert "Version 1" in page
    old = text_of(client.get(f"/agreements/{agreement.id}"))
    assert "Version 2 is being prepared" in old
    assert "Amend (start a new version)" not in old  # one amendment at a time


# --- suspension, resumption, termination ------------------------------------------------


def test_a_dpo_suspends_with_a_reason_and_lifts_it(client, universities, active, make_person):
    agreement, _ = active
    dpo = make_person(universities[1], ["dpo"])
    client.sign_in(dpo)
    path = f"/agreements/{agreement.id}/suspend"
    assert client.get(path).status_code == 200
    response = client.submit(path, {"reason": "   "})
    assert response.status_code == 200
    assert 'href="#reason"' in response.get_data(as_text=True)
    assert _reload(agreement.id).status == AgreementStatus.APPROVED
    response = client.submit(path, {"reason": "A disclosure is under review."})
    assert response.status_code == 302
    page = text_of(client.get(f"/agreements/{agreement.id}"))
    assert "Suspended" in page and "A disclosure is under review." in page
    assert dpo.name in page
    response = client.submit(f"/agreements/{agreement.id}", {},
                             action=f"/agreements/{agreement.id}/resume")  # fmt: skip
    assert response.status_code == 302
    assert _reload(agreement.id).status == AgreementStatus.APPROVED


def test_a_signatory_terminates_with_a_reason(client, active):
    agreement, (_, signatory_b) = active
    client.sign_in(signatory_b)
    path = f"/agreements/{agreement.id}/terminate"
    response = client.submit(path, {"reason": "The programme has closed."})
    assert response.status_code == 302
    agreement = _reload(agreement.id)
    assert agreement.status == AgreementStatus.TERMINATED
    assert agreement.termination_reason == "The programme has closed."
    assert client.get(path).status_code == 409


# --- downloads --------------------------------------------------------------------------


def test_downloads_of_an_approved_agreement(client, active):
    agreement, (signatory_a, _) = active
    client.sign_in(signatory_a)
    for suffix, mimetype in (
        ("signed.json", "application/json"),
        ("document.html", "text/html"),
        ("document.pdf", "application/pdf"),
    ):
        response = client.get(f"/agreements/{agreement.id}/{suffix}")
        assert response.status_code == 200, suffix
        assert response.mimetype == mimetype
        assert "attachment" in response.headers["Content-Disposition"]
        assert f"v{agreement.version}" in response.headers["Content-Disposition"]


def test_an_unsigned_agreement_has_no_downloads(client, proposed):
    agreement, (signatory_a, _) = proposed
    client.sign_in(signatory_a)
    for suffix in ("signed.json", "document.html", "document.pdf"):
        assert client.get(f"/agreements/{agreement.id}/{suffix}").status_code == 409


def test_a_changed_version_needs_approval_again_and_an_old_hash_is_refused(new_client, active):
    agreement, (signatory_a, signatory_b) = active
    old_hash = agreement.content_hash
    draft = lifecycle.amend(actor_of(signatory_a), agreement)
    changed = dict(draft.content)
    changed["retention"] = "Six months, then deleted."
    lifecycle.update_draft(actor_of(signatory_a), draft, changed)
    lifecycle.propose(actor_of(signatory_a), draft)
    assert draft.content_hash != old_hash
    client = new_client()
    client.sign_in(signatory_b)
    path = f"/agreements/{draft.id}/approve"
    response = client.submit(path, {"content_hash": old_hash, "password": TEST_PASSWORD})
    assert response.status_code == 409
    assert all(p.approved_at is None for p in _reload(draft.id).parties)
    response = client.submit(path, {"content_hash": draft.content_hash, "password": TEST_PASSWORD})
    assert response.status_code == 302
    draft = _reload(draft.id)
    approved = {str(p.organisation_id): p.approved_hash for p in draft.parties}
    assert list(approved.values()).count(draft.content_hash) == 1  # one party so far
    assert _reload(agreement.id).status == AgreementStatus.APPROVED  # v1 stays in force
