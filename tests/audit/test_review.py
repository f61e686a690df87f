"""DPO review pages: who may see them, what each reviewer sees, filters, exports, the
unusual-access rules, and verifying the log on demand."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from audit import activity, api, log, merkle, notes, review
from audit import services as audit
from audit.activity import DailyCount, ExportEvent, HourlyCount
from audit.models import AuditEntry, AuditVerification
from core.db import db
from tests.conftest import actor_of

REVIEWERS = ["hub_auditor", "hub_dpo", "a_dpo", "a_auditor"]
ACTORS = [*REVIEWERS, "a_events", "a_admin", "anonymous"]

# (method, path, the action a refusal is audited as)
PAGES = [
    ("GET", "/audit/", "audit.review"),
    ("GET", "/audit/refusals", "audit.review"),
    ("GET", "/audit/subject", "audit.review"),
    ("GET", "/audit/activity", "audit.review"),
    ("GET", "/audit/entries/{seq}", "audit.review"),
    ("GET", "/audit/integrity", "audit.review"),
    ("GET", "/audit/export.csv", "audit.export"),
    ("GET", "/audit/export.json", "audit.export"),
    ("POST", "/audit/integrity", "audit.verify"),
]


@dataclass
class World:
    """Three organisations, reviewers and others, and entries made by and about them."""

    orgs: dict
    people: dict
    seqs: dict


@pytest.fixture
def world(make_org, make_person, system) -> World:
    """The hub, organisations a and b; a's entries, b reading a's data, and b's own refusal."""
    hub, a, b = make_org(kind="hub"), make_org(), make_org()
    people = {
        "hub_auditor": make_person(hub, ["auditor"]),
        "hub_dpo": make_person(hub, ["dpo"]),
        "a_dpo": make_person(a, ["dpo"]),
        "a_auditor": make_person(a, ["auditor"]),
        "a_events": make_person(a, ["events_officer"]),
        "a_admin": make_person(a, ["org_admin"]),
        "b_events": make_person(b, ["events_officer"]),
    }
    seqs = {
        "mine": audit.record(actor_of(people["a_events"]), "test.mine", "granted").seq,
        "about_a": audit.record(system, "test.about_a", "granted", resource_org=str(a.id)).seq,
        "b_reads_a": audit.record(
            actor_of(people["b_events"]), "test.b_reads_a", "granted", resource_org=str(a.id)
        ).seq,
        "theirs": audit.record(
            actor_of(people["b_events"]), "test.theirs", "denied", reason="secret_reason_b"
        ).seq,
    }
    db.session.flush()
    log.integrate(db.session(), force_checkpoint=True)
    return World(orgs={"hub": hub, "a": a, "b": b}, people=people, seqs=seqs)


def _actions(html: str) -> list[str]:
    """The action of each row of the entries table, in order."""
    return re.findall(r'data-action="([^"]+)"', html)


def _entries_after(seq: int, **where: str) -> list[AuditEntry]:
    """Entries written after `seq` whose columns have the given values."""
    query = sa.select(AuditEntry).where(AuditEntry.seq > seq).order_by(AuditEntry.seq)
    for column, value in where.items():
        query = query.where(getattr(AuditEntry, column) == value)
    return list(db.session.scalars(query))


def _last_seq() -> int:
    """The newest entry's seq (0 for an empty log)."""
    return db.session.scalar(sa.select(sa.func.max(AuditEntry.seq))) or 0


def _totals(html: str) -> dict[str, int]:
    """The activity page's entries per organisation over 30 days."""
    table = html.split('id="totals-table"')[1].split("</table>")[0]
    rows = re.findall(r'<th scope="row"[^>]*>([^<]+)</th>\s*<td[^>]*>([\d,]+)</td>', table)
    return {name: int(count.replace(",", "")) for name, count in rows}


def _signed_in(client, world, who):
    """`client`, signed in as the world's person `who`."""
    client.sign_in(world.people[who])
    return client


# --- permissions ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize(("method", "path", "action"), PAGES, ids=[f"{m} {p}" for m, p, _ in PAGES])
def test_permission_matrix(client, world, who, method, path, action):
    path = path.format(seq=world.seqs["about_a"])
    if who != "anonymous":
        client.sign_in(world.people[who])
    before = _last_seq()
    if method == "GET":
        response = client.get(path)
    else:
        # Anonymous people have a CSRF token from the sign-in page; others from their account.
        page = "/sign-in" if who == "anonymous" else "/account"
        response = client.submit(page, {}, action=path)
    if who == "anonymous":
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/sign-in")
        return
    person = f"person:{world.people[who].id}"
    if who in REVIEWERS:
        expected = 302 if method == "POST" else 200
        assert response.status_code == expected, response.get_data(as_text=True)[:1000]
        granted = _entries_after(before, outcome="granted", actor=person, action=action)
        assert granted, "the review was not audited"
        return
    assert response.status_code == 403
    denied = _entries_after(before, outcome="denied", actor=person)
    assert denied, "refusal was not audited"
    assert denied[-1].action == action
    assert denied[-1].resource_type == "audit_log"


def test_viewing_a_page_is_audited_without_the_values_searched_for(client, world):
    _signed_in(client, world, "hub_auditor")
    before = _last_seq()
    response = client.get("/audit/?action=test.mine&purpose=working_group_case_review")
    assert response.status_code == 200
    (entry,) = _entries_after(before, action="audit.review")
    assert entry.actor == f"person:{world.people['hub_auditor'].id}"
    details = json.loads(entry.details)
    assert details["page"] == "entries"
    assert details["filters"] == ["action", "purpose"]
    assert b"working_group_case_review" not in entry.leaf and b"test.mine" not in entry.leaf


def test_a_typed_purpose_the_hub_does_not_know_is_refused_and_not_logged(client, world):
    # The purpose filter is a list of the hub's purposes: typed text is an error, not a search.
    _signed_in(client, world, "hub_auditor")
    before = _last_seq()
    response = client.get("/audit/?purpose=secret-purpose-text")
    assert response.status_code == 422
    assert 'href="#purpose"' in response.get_data(as_text=True)
    assert not any(b"secret-purpose-text" in e.leaf for e in _entries_after(before))


# --- what each reviewer sees ------------------------------------------------------------


def test_organisation_dpo_never_sees_another_organisations_entries(client, world):
    a_id = str(world.orgs["a"].id)
    _signed_in(client, world, "a_dpo")
    expected = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .where(sa.or_(AuditEntry.actor_org == a_id, AuditEntry.resource_org == a_id))
    )
    html = client.get("/audit/").get_data(as_text=True)
    actions = _actions(html)
    assert "test.mine" in actions and "test.about_a" in actions and "test.b_reads_a" in actions
    assert "test.theirs" not in html  # not in the list, nor in the action select
    assert f"{expected} entries" in html  # the count covers visible entries only

    refusals = client.get("/audit/refusals").get_data(as_text=True)
    assert "secret_reason_b" not in refusals and "test.theirs" not in refusals

    # b's person read a's data once (a's DPO sees that) and did one thing of b's own (not).
    activity = client.get("/audit/activity").get_data(as_text=True)
    assert _totals(activity)[world.orgs["b"].name] == 1

    exported = client.get("/audit/export.csv").get_data(as_text=True)
    assert "test.mine" in exported and "test.theirs" not in exported
    body = client.get("/audit/export.json").json
    assert "test.theirs" not in {item["entry"]["action"] for item in body["entries"]}
    assert body["total"] == len(body["entries"])

    assert client.get(f"/audit/entries/{world.seqs['theirs']}").status_code == 404
    assert client.get(f"/audit/entries/{world.seqs['mine']}").status_code == 200


def test_hub_reviewer_sees_every_organisation(client, world):
    _signed_in(client, world, "hub_auditor")
    html = client.get("/audit/").get_data(as_text=True)
    assert "test.theirs" in _actions(html)
    assert world.people["b_events"].name in html
    assert _totals(client.get("/audit/activity").get_data(as_text=True))[world.orgs["b"].name] == 2


def test_people_are_named_in_the_entries_the_reviewer_may_see(client, world):
    _signed_in(client, world, "a_dpo")
    html = client.get("/audit/").get_data(as_text=True)
    assert world.people["a_events"].name in html
    # b's person acted on a's data: a's DPO sees who touched their data, by name, and no id.
    assert world.people["b_events"].name in html
    assert str(world.people["b_events"].id) not in html.split('id="entries"')[1]
    # ... but cannot filter the log by another organisation's people.
    select = html.split('id="person"')[1].split("</select>")[0]
    assert world.people["b_events"].name not in select


# --- filters ----------------------------------------------------------------------------


@pytest.fixture
def filtered(world, system):
    """Entries to filter: two of one action, a refusal, and two about different subjects."""
    for _ in range(2):
        audit.record(system, "test.filter_x", "granted", purpose="event_risk_assessment")
    audit.record(system, "test.filter_y", "denied", reason="r1")
    audit.record(system, "test.subject_one", "granted", subjects=[("speaker", "S-one")])
    audit.record(system, "test.subject_two", "granted", subjects=[("speaker", "S-two")])
    db.session.flush()
    return world


def test_filter_by_action_returns_exactly_its_entries(client, filtered):
    _signed_in(client, filtered, "hub_auditor")
    html = client.get("/audit/?action=test.filter_x").get_data(as_text=True)
    assert _actions(html) == ["test.filter_x", "test.filter_x"]
    assert "2 entries" in html


def test_filter_by_outcome_and_purpose(client, filtered):
    _signed_in(client, filtered, "hub_auditor")
    denied = _actions(client.get("/audit/?outcome=denied").get_data(as_text=True))
    assert "test.filter_y" in denied and "test.theirs" in denied
    assert "test.filter_x" not in denied
    by_purpose = client.get("/audit/?purpose=event_risk_assessment").get_data(as_text=True)
    assert _actions(by_purpose) == [
        "test.filter_x",
        "test.filter_x",
    ]


def test_filter_by_date_range(client, filtered):
    _signed_in(client, filtered, "hub_auditor")
    today = datetime.now(UTC).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    same_day = client.get(f"/audit/?action=test.filter_x&date_from={today}&date_to={today}")
    assert _actions(same_day.get_data(as_text=True)) == ["test.filter_x"] * 2
    before = client.get(f"/audit/?action=test.filter_x&date_to={yesterday}")
    assert _actions(before.get_data(as_text=True)) == []
    after = client.get(f"/audit/?action=test.filter_x&date_from={tomorrow}")
    assert _actions(after.get_data(as_text=True)) == []


def test_filter_by_subject_matches_its_pseudonym_only(client, filtered, app_ctx):
    _signed_in(client, filtered, "hub_auditor")
    response = client.get("/audit/?subject_kind=speaker&subject=S-one")
    assert response.status_code == 302
    location = response.headers["Location"]
    # The identifier is swapped for its pseudonym before any link or page carries it.
    assert "S-one" not in location
    assert f"pseudonym={audit.subject_pseudonym('speaker', 'S-one')}" in location
    actions = _actions(client.get(location).get_data(as_text=True))
    # The subject's entry, and the lookup just made (it carries the subject's pseudonym).
    assert sorted(actions) == ["audit.review", "test.subject_one"]
    reviews = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "audit.review"))
    assert not any(b"S-one" in entry.leaf for entry in reviews)


def test_subject_history_is_oldest_first_with_exports(client, new_client, filtered):
    _signed_in(client, filtered, "a_dpo")
    response = client.get(
        "/audit/subject?subject_kind=speaker&subject=S-two", follow_redirects=True
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "only a pseudonym" in html
    # An organisation's DPO does not see the system's entry about S-two (not their data), only
    # their own lookup.
    assert _actions(html) == ["audit.review"]
    hub = _signed_in(new_client(), filtered, "hub_dpo")
    html = hub.get(
        "/audit/subject?subject_kind=speaker&subject=S-two", follow_redirects=True
    ).get_data(as_text=True)
    # Oldest first: the entry about the subject, then the lookups (a's, then this one).
    assert _actions(html) == ["test.subject_two", "audit.review", "audit.review"]
    assert "/audit/export.csv?pseudonym=" in html and "S-two" not in html.split("<main")[1]


def test_person_subject_needs_an_account_id(client, world):
    _signed_in(client, world, "hub_auditor")
    response = client.get("/audit/subject?subject_kind=person&subject=not-a-uuid")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "govuk-error-summary" in html and 'href="#subject"' in html


def test_subject_page_asks_for_an_identifier(client, world):
    _signed_in(client, world, "a_dpo")
    response = client.get("/audit/subject?subject_kind=speaker&subject=+")
    assert response.status_code == 422
    assert 'href="#subject"' in response.get_data(as_text=True)
    # Arriving at the page, with nothing entered yet, is not an error.
    assert client.get("/audit/subject").status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("date_from=2026-13-45", "date_from"),
        ("date_to=yesterday", "date_to"),
        ("date_from=2026-11-22&date_to=2026-11-21", "date_to"),
        ("outcome=maybe", "outcome"),
        ("action=no.such.action", "action"),
        ("person=00000000-0000-0000-0000-000000000000", "person"),
        ("pseudonym=xyz", "subject"),
    ],
)
def test_malformed_filters_show_the_error_summary(client, world, query, field):
    _signed_in(client, world, "a_dpo")
    response = client.get(f"/audit/?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "govuk-error-summary" in html and f'href="#{field}"' in html
    assert 'id="entries"' not in html


def test_malformed_filters_on_an_export_are_a_page_not_a_crash(client, world):
    _signed_in(client, world, "a_dpo")
    response = client.get("/audit/export.csv?date_from=31/12/2026")
    assert response.status_code == 422
    assert "govuk-error-summary" in response.get_data(as_text=True)


def test_organisation_reviewer_may_filter_only_by_their_own_people(client, world):
    _signed_in(client, world, "a_dpo")
    other = client.get(f"/audit/?person={world.people['b_events'].id}")
    assert other.status_code == 422
    mine = client.get(f"/audit/?person={world.people['a_events'].id}")
    assert _actions(mine.get_data(as_text=True)) == ["test.mine"]


def test_list_is_paginated_fifty_to_a_page(client, world, system):
    for i in range(55):
        audit.record(system, "test.many", "granted", resource_ids=[str(i)])
    db.session.flush()
    _signed_in(client, world, "hub_auditor")
    first = client.get("/audit/?action=test.many").get_data(as_text=True)
    assert len(_actions(first)) == 50 and "page 1 of 2" in first
    assert 'class="govuk-pagination"' in first and 'rel="next"' in first
    second = client.get("/audit/?action=test.many&page=2").get_data(as_text=True)
    assert len(_actions(second)) == 5 and 'rel="prev"' in second


# --- refusals and details ---------------------------------------------------------------


def test_refusals_count_denials_and_failed_sign_ins_by_reason(client, filtered):
    failed = client.submit(
        "/sign-in", {"email": filtered.people["a_events"].email, "password": "wrong"}
    )
    assert failed.status_code == 200
    _signed_in(client, filtered, "hub_auditor")
    html = client.get("/audit/refusals").get_data(as_text=True)
    reasons = dict(
        re.findall(
            r"<code>([a-z_0-9]+)</code></td>\s*<td[^>]*--numeric\">(\d+)</td>",
            html.split('id="reasons"')[1].split("</table>")[0],
        )
    )
    assert reasons == {"bad_credentials": "1", "r1": "1", "secret_reason_b": "1"}
    actions = set(_actions(html))
    assert actions == {"sign_in.password", "test.filter_y", "test.theirs"}


@pytest.mark.parametrize("seq", ["0", str(2**63), str(10**30)])
def test_entry_beyond_the_log_is_not_found(client, world, seq):
    _signed_in(client, world, "hub_auditor")
    assert client.get(f"/audit/entries/{seq}").status_code == 404


def test_entry_page_shows_every_leaf_field_hash_and_receipt(client, world):
    _signed_in(client, world, "a_dpo")
    entry = db.session.get(AuditEntry, world.seqs["mine"])
    html = client.get(f"/audit/entries/{entry.seq}").get_data(as_text=True)
    assert entry.leaf_hash.hex() in html
    for key in audit.parse_leaf(entry.leaf):
        assert f">{key}</dt>" in html
    index = db.session.scalar(
        sa.select(log.AuditLeaf.idx).where(log.AuditLeaf.entry_seq == entry.seq)
    )
    assert f"/api/v1/audit/entries/{index}/receipt" in html


# --- exports ----------------------------------------------------------------------------


def test_csv_cells_cannot_start_a_formula(client, world, system):
    audit.record(
        system,
        "test.csv",
        "denied",
        reason='=HYPERLINK("http://evil.example")',
        resource_ids=["+1", "-2"],
        note="@SUM(A1)",
    )
    db.session.flush()
    _signed_in(client, world, "hub_auditor")
    response = client.get("/audit/export.csv?action=test.csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 1
    assert rows[0]["reason"] == '\'=HYPERLINK("http://evil.example")'
    assert rows[0]["resource_ids"] == "'+1 -2"
    assert rows[0]["details"].startswith("{")  # JSON objects are safe as they are
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row.values())


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"])
def test_csv_safe_prefixes_formula_starts(value):
    assert review.csv_safe(value) == "'" + value


def test_csv_safe_leaves_ordinary_values():
    assert review.csv_safe("speaker_vetting") == "speaker_vetting"
    assert review.csv_safe(42) == 42


def test_json_export_holds_leaves_and_receipts_that_verify(client, world):
    _signed_in(client, world, "a_auditor")
    before = _last_seq()
    response = client.get("/audit/export.json")
    body = response.json
    assert body["entries"] and not body["truncated"]
    for item in body["entries"]:
        leaf = base64.b64decode(item["leaf"])
        assert audit.parse_leaf(leaf) == item["entry"]
        assert item["index"] is not None  # the export integrates first
        proof, _, _ = notes.verify_tlog_proof(
            item["receipt"], merkle.leaf_hash(leaf), body["verifier_key"]
        )
        assert proof.index == item["index"]
    # The batched receipts are the same as the API's, one at a time.
    sample = body["entries"][0]
    assert api.receipt(sample["index"]) == sample["receipt"]
    (exported,) = _entries_after(before, action="audit.export")
    assert json.loads(exported.details) == {
        "count": len(body["entries"]),
        "filters": [],
        "format": "json",
        "total": body["total"],
    }


def test_exports_are_capped_and_say_so(client, world, system, monkeypatch):
    monkeypatch.setattr(review, "EXPORT_CAP", 3)
    for _ in range(5):
        audit.record(system, "test.capped", "granted")
    db.session.flush()
    _signed_in(client, world, "hub_auditor")
    response = client.get("/audit/export.csv?action=test.capped")
    assert response.headers["X-Hub-Export-Truncated"] == "true"
    assert "first-3-of-5" in response.headers["Content-Disposition"]
    assert len(list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))) == 3
    body = client.get("/audit/export.json?action=test.capped").json
    assert body["truncated"] is True and body["total"] == 5 and len(body["entries"]) == 3
    page = client.get("/audit/?action=test.capped").get_data(as_text=True)
    assert "A download holds at most 3 entries" in page


# --- activity and unusual access --------------------------------------------------------

DAY = 20_000  # an arbitrary day number for the pure rules


def _history(org, counts, last_day=DAY - 1):
    """Daily counts for `org` on the days up to `last_day`, oldest first."""
    first = last_day - len(counts) + 1
    return [DailyCount(org, first + i, n) for i, n in enumerate(counts)]


def test_spike_flags_a_day_far_above_the_baseline():
    rows = [*_history("org", [5] * 28), DailyCount("org", DAY, 30)]
    (flag,) = activity.spike_flags(rows, [DAY])
    assert flag.rule == "spike" and flag.organisation == "org" and flag.count == 30


def test_spike_ignores_normal_variation_and_small_numbers():
    varied = [20, 40] * 14  # mean 30, standard deviation 10: the threshold is 60
    assert activity.spike_flags([*_history("org", varied), DailyCount("org", DAY, 60)], [DAY]) == []
    assert activity.spike_flags([*_history("org", varied), DailyCount("org", DAY, 61)], [DAY])
    # A new organisation's first busy day is not compared with nothing: no baseline, no flag.
    assert activity.spike_flags([DailyCount("new", DAY, 19)], [DAY]) == []
    assert activity.spike_flags([DailyCount("new", DAY, 200)], [DAY]) == []
    # A quiet one with a baseline is flagged only from SPIKE_MINIMUM entries.
    quiet = _history("quiet", [1] * 28)
    assert activity.spike_flags([*quiet, DailyCount("quiet", DAY, 19)], [DAY]) == []
    assert activity.spike_flags([*quiet, DailyCount("quiet", DAY, 20)], [DAY])


def test_spike_baselines_are_per_organisation():
    rows = [
        *_history("busy", [100] * 28),
        DailyCount("busy", DAY, 100),
        *_history("quiet", [2] * 28),
        DailyCount("quiet", DAY, 25),
    ]
    flags = activity.spike_flags(rows, [DAY])
    assert [f.organisation for f in flags] == ["quiet"]


@pytest.mark.parametrize(
    ("hour_of_day", "count", "flagged"),
    [
        (22, 10, True),
        (6, 10, True),
        (20, 12, True),
        (23, 9, False),
        (7, 50, False),
        (12, 200, False),
        (19, 10, False),
    ],
)
def test_out_of_hours_bursts(hour_of_day, count, flagged):
    rows = [HourlyCount("person:x", "org", DAY * 24 + hour_of_day, count)]
    flags = activity.out_of_hours_flags(rows)
    assert bool(flags) is flagged
    if flagged:
        assert flags[0].hour == hour_of_day and flags[0].day == DAY


def test_bulk_exports_by_size_and_by_frequency():
    day_ms = DAY * review.DAY_MS
    big = [ExportEvent(1, "person:x", "org", day_ms, 1001)]
    assert [f.count for f in activity.bulk_export_flags(big)] == [1001]
    assert activity.bulk_export_flags([ExportEvent(1, "person:x", "org", day_ms, 1000)]) == []
    six = [ExportEvent(i, "person:x", "org", day_ms + i, 10) for i in range(6)]
    assert [f.count for f in activity.bulk_export_flags(six)] == [6]
    assert activity.bulk_export_flags(six[:5]) == []
    spread = [
        ExportEvent(i, "person:x", "org", day_ms + (i % 2) * review.DAY_MS, None) for i in range(6)
    ]
    assert activity.bulk_export_flags(spread) == []


def test_export_records_reads_the_count_from_details():
    assert activity.export_records('{"count":12,"format":"csv"}') == 12
    assert activity.export_records('{"format":"csv"}') is None
    assert activity.export_records(None) is None


def test_activity_aggregates_in_sql_by_day_hour_and_export(world, make_org, make_person):
    org = make_org()
    worker = actor_of(make_person(org, ["dpo"]))
    for _ in range(12):
        audit.record(worker, "test.burst", "granted")
    audit.record(worker, "audit.export", "granted", count=5000)
    db.session.flush()
    hub_reviewer = actor_of(world.people["hub_auditor"])
    today = int(datetime.now(UTC).timestamp() * 1000) // review.DAY_MS
    daily = activity.daily_counts(hub_reviewer, today - 1, today)
    assert DailyCount(str(org.id), today, 13) in daily
    hours = [
        h for h in activity.hourly_counts(hub_reviewer, today, today) if h.actor == worker.label
    ]
    assert [h.count for h in hours] == [13]
    assert hours[0].hour // 24 == today
    (event,) = [
        e for e in activity.export_events(hub_reviewer, today, today) if e.actor == worker.label
    ]
    assert event.records == 5000
    result = activity.activity(hub_reviewer, today)
    assert result.counts[(str(org.id), today)] == 13
    assert any(f.actor == worker.label for f in result.flags["bulk_export"])
    # Another organisation's reviewer counts none of it.
    a_reviewer = actor_of(world.people["a_dpo"])
    assert all(
        row.organisation != str(org.id) for row in activity.daily_counts(a_reviewer, today, today)
    )


def test_activity_page_has_a_labelled_chart_and_the_same_numbers_in_a_table(client, world, system):
    _signed_in(client, world, "hub_auditor")
    html = client.get("/audit/activity").get_data(as_text=True)
    assert 'role="img"' in html and 'aria-labelledby="chart-title chart-desc"' in html
    assert 'id="activity-table"' in html and 'scope="col"' in html
    assert "style=" not in html  # the CSP blocks style attributes
    table = html.split('id="activity-table"')[1].split("</table>")[0]
    assert world.orgs["a"].name in table
    for rule in activity.RULES.values():
        assert rule.replace("'", "&#39;") in html


# --- integrity --------------------------------------------------------------------------


def test_verify_now_records_a_verification_and_shows_ok(client, world):
    _signed_in(client, world, "a_auditor")
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditVerification))
    before_seq = _last_seq()
    response = client.submit("/audit/integrity", {})
    assert response.status_code == 302
    rows = list(db.session.scalars(sa.select(AuditVerification).order_by(AuditVerification.id)))
    assert len(rows) == before + 1
    assert rows[-1].ok and rows[-1].triggered_by == f"person:{world.people['a_auditor'].id}"
    html = client.get("/audit/integrity").get_data(as_text=True)
    assert "govuk-tag--green" in html and ">OK<" in html
    assert world.people["a_auditor"].name in html  # who ran it
    assert log.verifier_key() in html
    assert "<pre" in html and "— " in html  # the signed note, with its signature line
    (verified,) = _entries_after(before_seq, action="audit.verify")
    assert json.loads(verified.details)["result"] == "ok"


def test_verify_now_still_verifies_when_the_integrator_refuses(client, world, monkeypatch):
    def refuse(**_kwargs):
        raise log.AuditIntegrityError("the tree shrank")

    _signed_in(client, world, "hub_dpo")
    monkeypatch.setattr(log, "integrate_now", refuse)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditVerification))
    assert client.submit("/audit/integrity", {}).status_code == 302
    after = db.session.scalar(sa.select(sa.func.count()).select_from(AuditVerification))
    assert after == before + 1
