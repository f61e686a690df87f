"""The coordinator's regional dashboard: every figure computed only over what the coordinator
may see (agreements, disclosed events and speakers, their own advisory requests, the regional
return), with charts and tables of the same figures."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agreements import services as agreements
from core.db import db, utcnow
from core.errors import PermissionDenied, ValidationFailed
from hub.groups import charts, dashboard
from hub.records.advisory import returns
from hub.records.advisory import services as advisory
from hub.records.models import Decision, Distribution, EventStatus, Outcome, ReasonCategory
from hub.records.speakers import services as speakers
from tests.agreement_factories import rule
from tests.conftest import actor_of
from tests.groups.conftest import PURPOSE, SPEAKER_NAME, audit_entries, event_row

MASKED = {"display_name": "masked"}


def _board(world, purpose=PURPOSE, basis="calendar", year=None):
    return dashboard.regional_dashboard(world.actor("coord"), purpose, basis, year or utcnow().year)


def _designate(event):
    event.designated = True
    event.status = EventStatus.ESCALATED
    db.session.flush()
    return event


@pytest.mark.parametrize("who", ["coord_admin", "a_lead", "police_lead", "hub_admin"])
def test_only_coordinators_see_the_regional_dashboard(world, who):
    with pytest.raises(PermissionDenied) as refused:
        dashboard.require_dashboard(world.actor(who))
    assert refused.value.audit["action"] == "region.dashboard.read"


def test_live_agreements_with_their_review_dates(world, make_agreement):
    make_agreement(  # proposed only: not in force
        [world.orgs["coordinator"], world.orgs["uni_c"]],
        [rule(world.orgs["uni_c"], world.orgs["coordinator"], "speaker", {"display_name": "full"})],
        purposes=[PURPOSE],
        reference="TEST-WG-PROPOSED",
        kind="one_way",
        approve=False,
    )
    board = _board(world)
    assert [item.agreement.reference for item in board.agreements] == ["TEST-WG-1"]
    [live] = board.agreements
    assert set(live.parties) == {
        world.orgs[k].name for k in ("coordinator", "uni_a", "uni_b", "police")
    }
    assert not live.review_soon


def test_designated_events_only_as_far_as_agreements_disclose_them(world):
    shown = _designate(world.event)
    _designate(event_row(world.orgs["uni_c"], title="Unshared", starts_at=utcnow() + timedelta(5)))
    event_row(world.orgs["uni_a"], title="Not designated", starts_at=utcnow() + timedelta(9))
    _designate(event_row(world.orgs["uni_a"], title="Past", starts_at=utcnow() - timedelta(9)))
    board = _board(world)
    assert [e.record.id for e in board.events] == [str(shown.id)]
    [event] = board.events
    assert event.record.data["title"] == "Lanterns and Liberty"
    assert event.owner == world.orgs["uni_a"].name
    disclosures = [e for e in audit_entries("disclosure") if e.resource_type == "event"]
    assert [json.loads(e.resource_ids) for e in disclosures] == [[str(shown.id)]]
    assert disclosures[0].purpose == PURPOSE
    # No agreement gives events for risk assessment: the other purpose shows none, counts none.
    assert _board(world, purpose="event_risk_assessment").events == []


def test_designated_events_coming_up_leave_out_rejected_ones(world):
    """Issue 14: a rejected event is not coming up; approved and undecided ones are."""
    undecided = _designate(world.event)
    approved = _designate(
        event_row(world.orgs["uni_a"], title="Approved", starts_at=utcnow() + timedelta(7))
    )
    approved.status, approved.outcome = EventStatus.DECIDED, Outcome.APPROVED_WITH_CONDITIONS
    rejected = _designate(
        event_row(world.orgs["uni_a"], title="Rejected", starts_at=utcnow() + timedelta(8))
    )
    rejected.status, rejected.outcome = EventStatus.DECIDED, Outcome.REJECTED
    db.session.flush()
    listed = {e.record.id for e in _board(world).events}
    assert listed == {str(undecided.id), str(approved.id)}
    disclosed = [e for e in audit_entries("disclosure") if e.resource_type == "event"]
    assert str(rejected.id) not in {i for e in disclosed for i in json.loads(e.resource_ids)}


def test_the_dashboard_shows_each_events_status_and_outcome_as_shared(world, new_client):
    event = _designate(world.event)
    event.status, event.outcome = EventStatus.DECIDED, Outcome.APPROVED_WITH_CONDITIONS
    db.session.flush()
    client = new_client()
    client.sign_in(world.people["coord"])
    body = client.get(f"/region?purpose={PURPOSE}").get_data(as_text=True)
    table = body[
        body.index('id="event-table"') : body.index("</table>", body.index('id="event-table"'))
    ]
    assert '<th scope="col" class="govuk-table__header">Status</th>' in table
    assert '<th scope="col" class="govuk-table__header">Outcome</th>' in table
    # The coordinator's schedule shares the status, not the outcome.
    assert '<strong class="govuk-tag govuk-tag--blue">Decided</strong>' in table
    assert "Not shared" in table and "Approved with conditions" not in table


def test_an_unknown_purpose_is_refused(world):
    with pytest.raises(ValidationFailed):
        dashboard.read_purpose("curiosity")
    # No purpose chosen yet is not an error: nothing is disclosed until one is.
    assert dashboard.read_purpose("") is None
    assert dashboard.read_purpose(PURPOSE) == PURPOSE


def _second_record(world, who_org, make_person, name=SPEAKER_NAME, days=30):
    officer = actor_of(make_person(world.orgs[who_org], ["events_officer"]))
    speaker = speakers.create_speaker(officer, {"display_name": name, "distribution": "shareable"})
    event_row(world.orgs[who_org], speaker, starts_at=utcnow() + timedelta(days=days))
    return speaker


def test_a_speaker_touring_two_institutions_counts_only_where_the_name_is_seen(
    world, make_person, make_agreement
):
    _second_record(world, "uni_b", make_person, name="Ember Quillfeather")  # no honorific
    _second_record(world, "uni_c", make_person)  # no agreement: never counted
    assert _board(world).touring == []  # uni_b gives the coordinator nothing yet
    make_agreement(
        [world.orgs["uni_b"], world.orgs["coordinator"]],
        [rule(world.orgs["uni_b"], world.orgs["coordinator"], "speaker", {"display_name": "full"})],
        purposes=[PURPOSE],
        reference="TEST-WG-B",
        kind="one_way",
    )
    [touring] = _board(world).touring
    assert touring.institutions == sorted([world.orgs["uni_a"].name, world.orgs["uni_b"].name])
    assert not touring.pseudonymised


def test_a_masked_name_is_never_matched(world, make_person, make_agreement):
    _second_record(world, "uni_b", make_person)
    make_agreement(
        [world.orgs["uni_b"], world.orgs["coordinator"]],
        [rule(world.orgs["uni_b"], world.orgs["coordinator"], "speaker", MASKED)],
        purposes=[PURPOSE],
        reference="TEST-WG-B",
        kind="one_way",
    )
    assert _board(world).touring == []


def test_appearances_outside_the_window_do_not_count(world, make_person, make_agreement):
    _second_record(world, "uni_b", make_person, days=400)
    make_agreement(
        [world.orgs["uni_b"], world.orgs["coordinator"]],
        [rule(world.orgs["uni_b"], world.orgs["coordinator"], "speaker", {"display_name": "full"})],
        purposes=[PURPOSE],
        reference="TEST-WG-B",
        kind="one_way",
    )
    assert _board(world).touring == []


def test_name_keys_ignore_honorifics_order_and_accents():
    assert dashboard.name_key("Dr Ember Quillfeather") == dashboard.name_key("quillfeather, émber")
    assert dashboard.name_key("Ember Quillfeather") != dashboard.name_key("Ember Quill")


def test_advisory_requests_by_age_are_the_coordinators_own(world, make_org, make_person):
    ask = {"speaker_id": str(world.speaker.id), "question": "Anything we should know?"}
    old = advisory.submit_request(world.actor("a_events"), ask)
    old.submitted_at = utcnow() - timedelta(days=20)
    old.due_on = advisory.local_today() - timedelta(days=5)
    another = speakers.create_speaker(
        world.actor("a_events"), {"display_name": "Professor Tobias Wrenfield"}
    )
    advisory.submit_request(world.actor("a_events"), {**ask, "speaker_id": str(another.id)})
    db.session.flush()
    ages = dashboard.advisory_by_age(world.actor("coord"))
    assert dict(ages.bands) == {
        "Under 1 week": 1,
        "1 to 2 weeks": 0,
        "2 to 4 weeks": 1,
        "4 weeks or more": 0,
    }
    assert ages.overdue == 1 and ages.requests[0].age_days == 20
    assert ages.requests[0].requesting_org == world.orgs["uni_a"].name
    # Another region's coordinator sees none of them.
    far = make_person(make_org(kind="regional_coordinator", region="Farshire"), ["coordinator"])
    assert dashboard.advisory_by_age(actor_of(far)).requests == []


def _decide(event, outcome, on, reason=None, superseded=False):
    db.session.add(
        Decision(
            event_id=event.id,
            owner_org_id=event.owner_org_id,
            distribution=Distribution.INTERNAL,
            outcome=Outcome(outcome),
            rationale="Recorded for the test.",
            reason_category=ReasonCategory(reason) if reason else None,
            decided_on=on,
            superseded_by_appeal=superseded,
        )
    )
    db.session.flush()


def test_the_regional_return_by_month_adds_up_to_the_annual_return(world):
    orgs = world.orgs
    cases = [
        ("uni_a", "approved", date(2026, 9, 3), None),
        ("uni_a", "approved", date(2026, 9, 20), None),
        ("uni_b", "approved_with_conditions", date(2026, 10, 1), None),
        ("uni_b", "rejected", date(2026, 10, 9), "prevent"),
        ("uni_c", "rejected", date(2027, 2, 1), "health_and_safety"),
        ("uni_c", "postponed", date(2027, 7, 31), None),
        ("uni_a", "approved", date(2027, 8, 1), None),  # the next academic year
    ]
    for org, outcome, on, reason in cases:
        _decide(event_row(orgs[org], title=f"{outcome} {on}"), outcome, on, reason)
    replaced = event_row(orgs["uni_a"], title="Appealed")
    _decide(replaced, "rejected", date(2026, 11, 2), "other", superseded=True)
    monthly = dashboard.monthly_return(world.actor("coord"), "academic", 2026)
    annual = returns.annual_return(world.actor("coord"), "academic", 2026)
    assert len(monthly.months) == 12 and monthly.months[0] == date(2026, 8, 1)
    assert sum(monthly.outcomes["approved"]) == annual.approved == 2
    assert sum(monthly.outcomes["approved_with_conditions"]) == annual.approved_with_conditions
    assert sum(monthly.outcomes["postponed"]) == annual.postponed == 1
    assert sum(monthly.outcomes["rejected"]) == annual.rejected_total == 2
    for reason, count in annual.rejected.items():
        assert sum(monthly.reasons[reason]) == count
    assert monthly.outcomes["approved"][1] == 2  # September
    assert monthly.reasons["prevent"][2] == 1  # October
    assert monthly.reasons["other"] == [0] * 12  # the appealed decision does not count


def test_a_small_regions_return_is_withheld_month_by_month_too(make_org, make_person):
    coordinator_org = make_org(kind="regional_coordinator", region="Smallshire")
    lonely = make_org(kind="university", region="Smallshire")
    _decide(event_row(lonely, title="Only one"), "approved", date(2026, 9, 1))
    coordinator = actor_of(make_person(coordinator_org, ["coordinator"]))
    monthly = dashboard.monthly_return(coordinator, "academic", 2026)
    assert monthly.suppressed
    assert all(not any(values) for values in monthly.outcomes.values())
    assert dashboard.charts(monthly) == []
    assert (
        dashboard.as_dict(dashboard.regional_dashboard(coordinator, PURPOSE, "academic", 2026))[
            "annual_return"
        ]["outcomes"]
        == {}
    )


def test_the_dashboard_view_is_audited(world):
    _board(world)
    [entry] = audit_entries("region.dashboard.read")
    assert entry.purpose == PURPOSE


def test_a_suspended_agreement_drops_out_of_every_figure(world, make_person):
    _designate(world.event)
    agreements.suspend(actor_of(world.people["a_dpo"]), world.agreement, "Paused.")
    board = _board(world)
    assert board.agreements == [] and board.events == [] and board.touring == []


# --- charts -------------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.integers(0, 40), min_size=3, max_size=3), min_size=1, max_size=12))
def test_stacked_bars_stay_in_the_plot_and_are_as_tall_as_their_counts(rows):
    months = [date(2026, 8, 1) + timedelta(days=31 * i) for i in range(len(rows))]
    months = [m.replace(day=1) for m in months]
    series = (("a", "A", "#000000"), ("b", "B", "#111111"), ("c", "C", "#222222"))
    values = {key: [row[i] for row in rows] for i, (key, _l, _c) in enumerate(series)}
    chart = charts.stacked_bars("t", "Test", months, series, values)
    top = chart.ticks[-1].value
    assert top >= max(sum(row) for row in rows)
    plot_height = chart.baseline - chart.ticks[-1].y
    for bar in chart.bars:
        assert chart.left <= bar.x and bar.x + bar.width <= chart.width
        assert chart.ticks[-1].y - 0.5 <= bar.y and bar.y + bar.height <= chart.baseline + 0.5
    assert len(chart.bars) == sum(1 for row in rows for count in row if count)
    for bar in chart.bars:
        count = int(bar.title.rsplit(", ", 1)[1])
        assert abs(bar.height - plot_height * count / top) <= 0.2
    assert chart.empty == (not any(sum(row) for row in rows))


@given(st.integers(0, 100_000))
def test_the_axis_is_round_and_covers_the_largest_bar(value):
    step, top = charts.scale(value)
    assert top >= value and top % step == 0 and top // step <= 4
    assert str(step).strip("0") in {"1", "2", "5"}
