"""The DPO's daily audit review (issue 14): names and words instead of ids, an entry's title
that matches the list, "explain this access", saved filters, flags that need a baseline, and
flags marked reviewed with a note that never enters the log."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import actions, activity, flag_reviews, links, review
from audit import services as audit
from audit.actions import WORDS, in_words, is_access
from audit.activity import BASELINE_ACTIVE_DAYS, BASELINE_DAYS, THRESHOLD_FLOOR, DailyCount
from audit.models import AuditEntry, AuditFlagReview, AuditSavedFilter
from core.db import db
from tests.agreement_factories import rule
from tests.conftest import actor_of

UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DAY = 20_000


def _last_seq() -> int:
    return db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0


def _entries_after(seq: int, action: str | None = None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def _today() -> int:
    return int(datetime.now(UTC).timestamp() * 1000) // review.DAY_MS


# --- the baseline rule (pure) -----------------------------------------------------------

histories = st.lists(
    st.integers(min_value=0, max_value=500), min_size=BASELINE_DAYS, max_size=BASELINE_DAYS
)


@settings(max_examples=300, deadline=None)
@given(history=histories, count=st.integers(min_value=0, max_value=5000))
def test_a_spike_fires_only_with_a_baseline_and_a_threshold_at_or_above_the_floor(history, count):
    rows = [DailyCount("org", DAY - BASELINE_DAYS + i, n) for i, n in enumerate(history)]
    flags = activity.spike_flags([*rows, DailyCount("org", DAY, count)], [DAY])
    threshold = activity.baseline_threshold(history)
    active_days = sum(1 for n in history if n > 0)
    if active_days < BASELINE_ACTIVE_DAYS:
        assert threshold is None and flags == []
        return
    assert threshold is not None and threshold >= THRESHOLD_FLOOR
    assert bool(flags) == (count >= activity.SPIKE_MINIMUM and count > threshold)
    for flag in flags:
        shown = float(flag.detail.rpartition("threshold ")[2])
        assert shown >= THRESHOLD_FLOOR  # never "threshold 0.0"


@settings(max_examples=100, deadline=None)
@given(history=histories, extra=st.integers(min_value=1, max_value=100))
def test_more_entries_never_unflag_a_day(history, extra):
    rows = [DailyCount("org", DAY - BASELINE_DAYS + i, n) for i, n in enumerate(history)]
    for count in (activity.SPIKE_MINIMUM, 60, 400):
        before = activity.spike_flags([*rows, DailyCount("org", DAY, count)], [DAY])
        after = activity.spike_flags([*rows, DailyCount("org", DAY, count + extra)], [DAY])
        assert len(after) >= len(before)


def test_a_fresh_hub_flags_no_spike(world_for_flags):
    # Everything happened today: no organisation has a history to be unusual against (the old
    # rule flagged this with "baseline 0.0 a day, threshold 0.0").
    result = activity.activity(world_for_flags["hub_reviewer"], _today())
    assert result.flags["spike"] == []


@pytest.fixture
def world_for_flags(make_org, make_person):
    hub, org = make_org(kind="hub"), make_org()
    worker = actor_of(make_person(org, ["events_officer"]))
    for _ in range(activity.SPIKE_MINIMUM + 5):
        audit.record(worker, "test.busy", "granted")
    db.session.flush()
    return {
        "org": org,
        "hub_reviewer": actor_of(make_person(hub, ["dpo"])),
        "org_dpo": make_person(org, ["dpo"]),
    }


def test_a_flag_keeps_its_key_while_its_count_grows():
    six = activity.Flag("bulk_export", "org", DAY, 6, actor="person:x", detail="6 exports")
    seven = activity.Flag("bulk_export", "org", DAY, 7, actor="person:x", detail="7 exports")
    single = activity.Flag("bulk_export", "org", DAY, 5000, actor="person:x", ref="12")
    assert six.key == seven.key != single.key
    assert len(six.key) <= 200


# --- words ------------------------------------------------------------------------------


def test_every_named_action_has_words_and_others_are_made_readable():
    named = {
        value
        for name, value in vars(actions).items()
        if name.isupper() and isinstance(value, str) and name != "ADVISORY_PREFIX"
    }
    assert named - set(WORDS) == set()
    assert all(words and not words.endswith(".") for words in WORDS.values())
    assert in_words("disclosure") == "Disclosure to another organisation"
    assert in_words("shared_event.read") == "Shared event: read"
    assert is_access("disclosure") and is_access("speaker.read") and is_access("speaker.search")
    assert not is_access("speaker.update") and not is_access("audit.review.extra")


# --- a world of entries -----------------------------------------------------------------


@pytest.fixture
def disclosed(make_org, make_person, make_agreement):
    """Organisation b's reader is shown one of a's speakers under an agreement, and reads two
    more things that day; a's DPO reviews."""
    hub, a, b = make_org(kind="hub"), make_org(), make_org()
    agreement, _ = make_agreement(
        [a, b],
        [rule(a, b, "speaker", {"aliases": "full", "topics": "pseudonymised"})],
        reference="NSH-DSA-2099-01",
        kind="one_way",
    )
    reader = make_person(b, ["events_officer"])
    speaker_id = str(uuid.uuid4())
    ref = audit.AgreementRef(str(agreement.id), agreement.version, agreement.content_hash)
    entry = audit.record(
        actor_of(reader),
        "disclosure",
        "granted",
        resource_type="speaker",
        resource_ids=[speaker_id],
        resource_org=str(a.id),
        agreement=ref,
        purpose="speaker_due_diligence",
        fields=["aliases", "topics"],
    )
    other = audit.record(
        actor_of(reader),
        "disclosure",
        "granted",
        resource_type="speaker",
        resource_ids=[str(uuid.uuid4())],
        resource_org=str(a.id),
        agreement=ref,
        purpose="speaker_due_diligence",
        fields=["aliases"],
    )
    hidden = audit.record(actor_of(reader), "speaker.read", "granted", resource_type="speaker")
    change = audit.record(actor_of(reader), "test.change", "granted", resource_org=str(a.id))
    db.session.flush()
    return {
        "a": a,
        "b": b,
        "agreement": agreement,
        "reader": reader,
        "speaker_id": speaker_id,
        "entry": entry.seq,
        "other": other.seq,
        "hidden": hidden.seq,
        "change": change.seq,
        "a_dpo": make_person(a, ["dpo"]),
        "b_dpo": make_person(b, ["dpo"]),
        "hub_dpo": make_person(hub, ["dpo"]),
    }


def test_the_list_names_people_agreements_and_purposes_and_shows_no_ids(client, disclosed):
    client.sign_in(disclosed["a_dpo"])
    html = client.get("/audit/").get_data(as_text=True)
    table = html.split('id="entries"')[1].split("</table>")[0]
    row = table.split(f'id="entry-{disclosed["entry"]}"')[1].split("</tr>")[0]
    assert disclosed["reader"].name in row and disclosed["b"].name in row
    assert "Disclosure to another organisation" in row
    assert "NSH-DSA-2099-01 v1" in row
    assert "Due diligence on an external speaker" in row
    # The record is a link (its kind's page, registered by the application).
    assert f'href="/shared/speakers/{disclosed["speaker_id"]}"' not in row  # a's own record
    assert f'href="/speakers/{disclosed["speaker_id"]}"' in row
    assert f'/agreements/{disclosed["agreement"].id}"' in row
    # No UUIDs as text anywhere in the table (only in link targets).
    text = re.sub(r'(href|id|data-[a-z]+)="[^"]*"', "", table)
    assert not UUID_PATTERN.search(text), UUID_PATTERN.search(text)
    # Narrow screens get the same entries as summary lists.
    narrow = html.split('class="hub-audit-narrow"')[1]
    assert f"Entry {disclosed['entry']}</a>" in narrow and "govuk-summary-list" in narrow


def test_filter_choices_are_in_words(client, disclosed):
    client.sign_in(disclosed["a_dpo"])
    html = client.get("/audit/").get_data(as_text=True)
    actions = html.split('id="action"')[1].split("</select>")[0]
    assert '<option value="disclosure">Disclosure to another organisation</option>' in actions
    agreements = html.split('id="agreement"')[1].split("</select>")[0]
    assert f'value="{disclosed["agreement"].id}">NSH-DSA-2099-01 v1: ' in agreements
    purposes = html.split('id="purpose"')[1].split("</select>")[0]
    assert ">Due diligence on an external speaker before an invitation<" in purposes
    filtered = client.get(f"/audit/?agreement={disclosed['agreement'].id}&action=disclosure")
    assert re.findall(r'data-action="([^"]+)"', filtered.get_data(as_text=True)) == [
        "disclosure",
        "disclosure",
    ]


def test_an_entry_page_title_matches_the_list(client, disclosed):
    client.sign_in(disclosed["a_dpo"])
    listing = client.get("/audit/").get_data(as_text=True)
    row = listing.split(f'id="entry-{disclosed["entry"]}"')[1].split("</tr>")[0]
    number = re.search(r">Entry (\d+)</a>", row).group(1)
    words = "Disclosure to another organisation"
    assert words in row
    page = client.get(f"/audit/entries/{disclosed['entry']}").get_data(as_text=True)
    title = re.search(r'<h1 class="govuk-heading-l">([^<]+)</h1>', page).group(1)
    assert title == f"Entry {number}: {words}"
    assert f"<title>Entry {number}: {words}" in page


def test_explain_this_access(client, disclosed):
    client.sign_in(disclosed["a_dpo"])
    entry_page = client.get(f"/audit/entries/{disclosed['entry']}").get_data(as_text=True)
    assert f'href="/audit/entries/{disclosed["entry"]}/explain"' in entry_page
    before = _last_seq()
    response = client.get(f"/audit/entries/{disclosed['entry']}/explain")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    who = html.split('id="explain-who"')[1].split("</dd>")[0]
    assert disclosed["reader"].name in who and disclosed["b"].name in who
    agreement = html.split('id="explain-agreement"')[1].split("</dd>")[0]
    assert "NSH-DSA-2099-01 v1" in agreement and "Agreement NSH-DSA-2099-01" in agreement
    assert f'/agreements/{disclosed["agreement"].id}"' in agreement
    assert "Due diligence on an external speaker" in html.split('id="explain-purpose"')[1]
    fields = html.split('id="explain-fields"')[1].split("</dd>")[0]
    labels = re.findall(r"<li>([^<]+)</li>", fields)
    assert len(labels) == 2 and all("_" not in label for label in labels)
    same_day = html.split('id="same-day"')[1].split("</ul>")[0]
    # The other disclosure is listed as a link; the change was not a read; the read of b's
    # own speaker is not a's DPO's to see.
    assert f'href="/audit/entries/{disclosed["other"]}"' in same_day
    assert f'/audit/entries/{disclosed["change"]}"' not in same_day
    assert f'/audit/entries/{disclosed["hidden"]}"' not in same_day
    (looked,) = _entries_after(before, "audit.review")
    assert json.loads(looked.details)["page"] == "explain"


def test_explaining_is_only_for_accesses_the_reviewer_may_see(client, disclosed):
    client.sign_in(disclosed["a_dpo"])
    assert client.get(f"/audit/entries/{disclosed['change']}/explain").status_code == 404
    assert client.get(f"/audit/entries/{disclosed['hidden']}/explain").status_code == 404
    entry_page = client.get(f"/audit/entries/{disclosed['change']}").get_data(as_text=True)
    assert "Explain this access" not in entry_page


def test_the_reader_s_own_dpo_sees_what_else_they_read(client, disclosed):
    client.sign_in(disclosed["b_dpo"])
    html = client.get(f"/audit/entries/{disclosed['entry']}/explain").get_data(as_text=True)
    same_day = html.split('id="same-day"')[1].split("</ul>")[0]
    assert f'/audit/entries/{disclosed["hidden"]}"' in same_day
    assert f'/audit/entries/{disclosed["other"]}"' in same_day
    # Another organisation's record is opened through the sharing pages.
    assert f'href="/shared/speakers/{disclosed["speaker_id"]}"' in html


# --- saved filters ----------------------------------------------------------------------


def test_save_use_and_delete_a_filter(client, new_client, disclosed):
    client.sign_in(disclosed["a_dpo"])
    query = "action=disclosure&purpose=speaker_due_diligence"
    listing = client.get(f"/audit/?{query}").get_data(as_text=True)
    save = re.search(r'href="(/audit/saved-filters/new\?[^"]+)"', listing).group(1)
    assert sorted(save.split("?")[1].split("&amp;")) == sorted(query.split("&"))
    form = client.get(f"/audit/saved-filters/new?{query}").get_data(as_text=True)
    assert "Disclosure to another organisation" in form  # the filters, in words
    before = _last_seq()
    name = "Our speakers disclosed (private words)"
    response = client.submit(
        f"/audit/saved-filters/new?{query}",
        {"name": name, "action": "disclosure", "purpose": "speaker_due_diligence"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/audit/?")
    saved = db.session.scalar(sa.select(AuditSavedFilter).where(AuditSavedFilter.name == name))
    assert saved.person_id == disclosed["a_dpo"].id
    (logged,) = _entries_after(before, "audit.filter.save")
    assert json.loads(logged.resource_ids) == [str(saved.id)]
    assert b"private words" not in logged.leaf
    assert json.loads(logged.details) == {"filters": ["action", "purpose"]}

    page = client.get("/audit/").get_data(as_text=True)
    saved_list = page.split('id="saved-filters"')[1].split("</ul>")[0]
    link = re.search(r'<a class="govuk-link" href="([^"]+)">Our speakers', saved_list).group(1)
    used = client.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert set(re.findall(r'data-action="([^"]+)"', used)) == {"disclosure"}

    # The same name again is refused, and the refusal does not log the name.
    again = client.submit(
        f"/audit/saved-filters/new?{query}",
        {"name": name.upper(), "action": "disclosure", "purpose": "speaker_due_diligence"},
    )
    assert again.status_code == 422 and 'href="#name"' in again.get_data(as_text=True)
    assert not any(b"PRIVATE" in e.leaf for e in _entries_after(before))

    # Another reviewer neither sees nor deletes it.
    other = new_client()
    other.sign_in(disclosed["hub_dpo"])
    assert "Our speakers" not in other.get("/audit/").get_data(as_text=True)
    refused = other.submit("/audit/", {}, action=f"/audit/saved-filters/{saved.id}/delete")
    assert refused.status_code == 404
    deleted = client.submit("/audit/", {}, action=f"/audit/saved-filters/{saved.id}/delete")
    assert deleted.status_code == 302
    remaining = sa.select(sa.func.count()).where(AuditSavedFilter.id == saved.id)
    assert db.session.scalar(remaining) == 0
    assert _entries_after(before, "audit.filter.delete")


def test_saving_needs_a_filter_and_a_name(client, disclosed):
    client.sign_in(disclosed["a_dpo"])
    nothing = client.submit("/audit/saved-filters/new", {"name": "All"})
    assert nothing.status_code == 422
    unnamed = client.submit(
        "/audit/saved-filters/new?action=disclosure", {"name": " ", "action": "disclosure"}
    )
    assert unnamed.status_code == 422
    assert "Enter a name for the filter" in unnamed.get_data(as_text=True)


# --- marking a flag reviewed ------------------------------------------------------------


@pytest.fixture
def exports(make_org, make_person):
    """A DPO who downloaded the log six times today (the bulk-export rule's threshold)."""
    hub, org, other = make_org(kind="hub"), make_org(), make_org()
    dpo = make_person(org, ["dpo"])
    for _ in range(activity.EXPORTS_PER_DAY + 1):
        audit.record(actor_of(dpo), "audit.export", "granted", format="csv", count=3)
    db.session.flush()
    flags = activity.activity(actor_of(dpo), _today()).flags["bulk_export"]
    (flag,) = [f for f in flags if f.actor == f"person:{dpo.id}"]
    return {
        "org": org,
        "dpo": dpo,
        "flag": flag,
        "colleague": make_person(org, ["auditor"]),
        "other_dpo": make_person(other, ["dpo"]),
        "hub_dpo": make_person(hub, ["dpo"]),
    }


def test_marking_a_flag_reviewed_keeps_the_note_out_of_the_log(client, exports):
    client.sign_in(exports["dpo"])
    key = exports["flag"].key
    activity_page = client.get("/audit/activity").get_data(as_text=True)
    assert "Mark as reviewed" in activity_page and "Not reviewed" in activity_page
    form = client.get(f"/audit/flags/review?flag={key}")
    assert form.status_code == 200
    before = _last_seq()
    note = "Spoke to Dara: quarterly returns to the board, expected."
    response = client.submit(f"/audit/flags/review?flag={key}", {"flag": key, "note": note})
    assert response.status_code == 302
    (row,) = db.session.scalars(sa.select(AuditFlagReview).where(AuditFlagReview.flag_key == key))
    assert row.note == note and row.reviewed_by_id == exports["dpo"].id
    (logged,) = _entries_after(before, "audit.flag.review")
    assert logged.outcome == "granted"
    assert json.loads(logged.resource_ids) == [str(row.id)]
    assert json.loads(logged.details) == {"rule": "bulk_export"}
    assert not any(
        b"Dara" in entry.leaf or b"quarterly" in entry.leaf for entry in _entries_after(before)
    )

    shown = client.get("/audit/activity").get_data(as_text=True)
    flag_item = shown.split(f'data-flag="{key}"')[1].split("</li>")[0]
    assert "Reviewed" in flag_item and note.replace(":", ":") in flag_item
    assert exports["dpo"].name in flag_item


def test_a_flag_review_needs_a_note_and_its_refusal_holds_no_text(client, exports):
    client.sign_in(exports["dpo"])
    key = exports["flag"].key
    before = _last_seq()
    response = client.submit(f"/audit/flags/review?flag={key}", {"flag": key, "note": "  "})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "govuk-error-summary" in html and 'href="#note"' in html
    refused = _entries_after(before, "audit.flag.review")
    assert [e.outcome for e in refused] == ["denied"]
    too_long = "x" * (flag_reviews.NOTE_LIMIT + 1)
    response = client.submit(f"/audit/flags/review?flag={key}", {"flag": key, "note": too_long})
    assert response.status_code == 422
    assert not any(b"xxxxxxxx" in e.leaf for e in _entries_after(before))
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditFlagReview)) == 0


@pytest.mark.parametrize("flag", ["no-such-flag", "spike:1:-:-:-:-"])
def test_only_a_flag_the_reviewer_sees_can_be_reviewed(client, exports, flag):
    client.sign_in(exports["dpo"])
    assert client.get(f"/audit/flags/review?flag={flag}").status_code == 404
    assert (
        client.submit(
            "/audit/activity", {"flag": flag, "note": "n"}, action="/audit/flags/review"
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("who", "sees_note"), [("colleague", True), ("hub_dpo", True), ("other_dpo", False)]
)
def test_reviews_are_shown_to_the_organisation_and_the_hub(
    client, new_client, exports, who, sees_note
):
    client.sign_in(exports["dpo"])
    key = exports["flag"].key
    client.submit(f"/audit/flags/review?flag={key}", {"flag": key, "note": "Looked into it"})
    other = new_client()
    other.sign_in(exports[who])
    html = other.get("/audit/activity").get_data(as_text=True)
    assert ("Looked into it" in html) is sees_note


def test_people_who_are_not_reviewers_cannot_review_flags(client, exports, make_person):
    officer = make_person(exports["org"], ["events_officer"])
    client.sign_in(officer)
    key = exports["flag"].key
    before = _last_seq()
    assert client.get(f"/audit/flags/review?flag={key}").status_code == 403
    response = client.submit("/account", {"flag": key, "note": "n"}, action="/audit/flags/review")
    assert response.status_code == 403
    denied = _entries_after(before, "audit.flag.review")
    assert denied and all(e.outcome == "denied" for e in denied)


def test_an_agreement_unknown_to_the_resolver_reads_as_such(app_ctx, make_org, make_person):
    org = make_org()
    dpo = actor_of(make_person(org, ["dpo"]))
    entry = audit.record(
        dpo,
        "disclosure",
        "granted",
        agreement=audit.AgreementRef(str(uuid.uuid4()), 1, "0" * 64),
        resource_org=str(org.id),
    )
    db.session.flush()
    (row,) = review.entry_rows(dpo, [(db.session.get(AuditEntry, entry.seq), None)])
    assert row.agreement is None
    assert links.agreement_labels([row.agreement_id]) == {}
