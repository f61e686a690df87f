"""Case items: each attendee sees the case through disclose() at their own organisation's level,
at the moment they look; a lapsed agreement reduces the next meeting's case items; a group its
agreement does not cover holds no case items."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from agreements import services as agreements
from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.groups import membership
from hub.groups.meetings import agenda
from hub.groups.meetings import services as meetings
from hub.records.models import RecordStatus
from hub.records.speakers import services as speakers
from tests.agreement_factories import rule
from tests.conftest import actor_of
from tests.groups.conftest import PURPOSE, SPEAKER_NAME, audit_entries, schedule


def _case(world, meeting, who):
    """The one case view of `meeting` as `who` sees it (through the meeting, as the page)."""
    actor = world.actor(who)
    views = agenda.case_views(actor, meetings.get_meeting(actor, meeting.id))
    [view] = views.values()
    return view


@pytest.fixture
def speaker_item(convened):
    meeting = schedule(convened, days=3)
    agenda.add_agenda_item(
        convened.actor("coord"),
        meeting,
        {"title": "A speaker booked at two campuses", "case": f"speaker:{convened.speaker.id}"},
    )
    return meeting


def test_the_same_case_item_is_shown_at_each_attendees_own_level(convened, speaker_item):
    w = convened
    owner = _case(w, speaker_item, "a_events")
    assert owner.state == "own" and owner.record.disclosed_under is None
    assert owner.record.data["display_name"] == SPEAKER_NAME

    coordinator = _case(w, speaker_item, "coord")
    assert coordinator.state == "shared"
    assert coordinator.record.data == {
        "display_name": SPEAKER_NAME,
        "aliases": ["Ember Quillfeather-Vane"],
        "topics": ["folk history"],
    }

    university = _case(w, speaker_item, "b_lead")
    assert university.state == "shared"
    assert university.record.data["display_name"] == "D••• E••• Q•••"
    assert university.record.data["topics"][0].startswith("psn:")
    assert "aliases" not in university.record.data

    police = _case(w, speaker_item, "police_lead")
    assert police.record.data == {
        "display_name": SPEAKER_NAME,
        "aliases": ["Ember Quillfeather-Vane"],
    }
    for view in (coordinator, university, police):
        assert view.record.disclosed_under["reference"] == "TEST-WG-1"


def test_an_event_case_at_existence_level_and_generalised(convened):
    w = convened
    meeting = schedule(w, days=3)
    agenda.add_agenda_item(
        w.actor("coord"), meeting, {"title": "A public debate", "case": f"event:{w.event.id}"}
    )
    university = _case(w, meeting, "b_events")
    assert university.state == "existence_only"
    assert university.record.data == {
        "owner": w.orgs["uni_a"].name,
        "contact": w.orgs["uni_a"].dp_contact_email,
    }
    police = _case(w, meeting, "police_lead")
    assert police.record.data["title"] == "Lanterns and Liberty"
    assert police.record.data["starts_at"] == w.event.starts_at.strftime("%Y-%m")


def test_outsiders_see_no_meeting_at_all(convened, speaker_item):
    for who in ("c_lead", "c_admin", "council_admin", "hub_admin", "hub_auditor"):
        with pytest.raises(NotFound):
            meetings.get_meeting(convened.actor(who), speaker_item.id)


def test_each_look_is_a_disclosure_audited_for_case_review(convened, speaker_item):
    _case(convened, speaker_item, "b_lead")
    _case(convened, speaker_item, "a_lead")  # the owner's own record is no disclosure
    by = {e.actor: e for e in audit_entries("disclosure")}
    entry = by[f"person:{convened.people['b_lead'].id}"]
    assert entry.purpose == PURPOSE
    assert entry.resource_ids == json.dumps([str(convened.speaker.id)])
    assert json.loads(entry.fields) == ["display_name", "topics"]
    assert SPEAKER_NAME.encode() not in entry.leaf
    assert f"person:{convened.people['a_lead'].id}" not in by


def test_a_lapsed_agreement_reduces_the_next_meetings_case_items(convened, make_agreement):
    w = convened
    # uni_b also has its own agreement with uni_a, giving more than the group's (the most
    # generous agreement in force is the one a disclosure uses).
    bilateral, signatories = make_agreement(
        [w.orgs["uni_a"], w.orgs["uni_b"]],
        [
            rule(
                w.orgs["uni_a"],
                w.orgs["uni_b"],
                "speaker",
                {"display_name": "full", "aliases": "full", "topics": "full"},
            )
        ],
        purposes=[PURPOSE],
        reference="TEST-WG-BILATERAL",
        kind="one_way",
    )
    first = schedule(w, days=-14)
    second = schedule(w, days=14)
    for meeting in (first, second):
        agenda.add_agenda_item(
            w.actor("coord"), meeting, {"title": "The case", "case": f"speaker:{w.speaker.id}"}
        )
    before = _case(w, first, "b_lead")
    assert before.record.data["display_name"] == SPEAKER_NAME
    assert before.record.disclosed_under["reference"] == "TEST-WG-BILATERAL"

    # Between the meetings the bilateral agreement lapses (its DPO suspends it).
    agreements.suspend(actor_of(signatories[0]), bilateral, "Under review.")

    after = _case(w, second, "b_lead")
    assert after.state == "shared"
    assert after.record.data["display_name"] == "D••• E••• Q•••"  # the group level only
    assert "aliases" not in after.record.data
    assert after.record.disclosed_under["reference"] == "TEST-WG-1"
    # The police, whose agreement did not change, see the same as before.
    assert _case(w, second, "police_lead").record.data["display_name"] == SPEAKER_NAME


def test_a_case_is_withheld_from_a_member_when_its_agreement_ends(convened, speaker_item):
    w = convened
    later = utcnow() + timedelta(days=3)
    view = agenda.case_views(
        w.actor("b_lead"), speaker_item, now=w.agreement.ends_at + timedelta(seconds=1)
    )
    [expired] = view.values()
    assert expired.state == "withheld" and expired.reason == "group_not_covered"
    [current] = agenda.case_views(w.actor("b_lead"), speaker_item, now=later).values()
    assert current.state == "shared"


def test_a_group_its_agreement_no_longer_covers_holds_no_partner_cases(convened, speaker_item):
    w = convened
    agreements.suspend(actor_of(w.people["a_dpo"]), w.agreement, "A breach is investigated.")
    for who in ("coord", "b_lead", "police_lead"):
        view = _case(w, speaker_item, who)
        assert view.state == "withheld" and view.record is None
        assert view.reason == "group_not_covered"
    assert _case(w, speaker_item, "a_lead").state == "own"  # its own record, as ever
    with pytest.raises(ValidationFailed) as refused:
        agenda.add_agenda_item(
            w.actor("coord"), speaker_item, {"title": "Again", "case": f"speaker:{w.speaker.id}"}
        )
    assert "cannot hold case items" in refused.value.errors["case"][0]
    assert agenda.case_choices(w.actor("coord"), w.group) == []


def test_a_member_outside_the_agreement_stops_the_group_holding_cases(convened, speaker_item):
    w = convened
    membership.invite(w.actor("coord"), w.group, {"organisation_id": str(w.orgs["council"].id)})
    membership.respond(w.actor("council_admin"), w.group, True)
    assert _case(w, speaker_item, "b_lead").state == "withheld"
    membership.remove_member(w.actor("coord"), w.group, w.orgs["council"].id)
    assert _case(w, speaker_item, "b_lead").state == "shared"


def test_an_erased_record_leaves_an_item_that_says_so(convened, speaker_item):
    convened.speaker.status = RecordStatus.ERASED
    db.session.flush()
    assert _case(convened, speaker_item, "coord").state == "gone"


# --- which cases may be put on the agenda ---------------------------------------------------


def test_the_coordinator_is_offered_members_records_as_disclosed(convened):
    choices = agenda.case_choices(convened.actor("coord"), convened.group)
    labels = {c.value: c.label for c in choices}
    uni_a = convened.orgs["uni_a"].name
    assert labels[f"speaker:{convened.speaker.id}"] == f"Speaker: {SPEAKER_NAME} (held by {uni_a})"
    assert labels[f"event:{convened.event.id}"] == f"Event: Lanterns and Liberty (held by {uni_a})"


def test_a_prevent_lead_brings_only_their_own_organisations_cases(convened, make_person):
    w = convened
    meeting = schedule(w, days=3)
    b_speaker = speakers.create_speaker(
        actor_of(make_person(w.orgs["uni_b"], ["events_officer"])),
        {"display_name": "Professor Tobias Wrenfield", "distribution": "shareable"},
    )
    choices = {c.value for c in agenda.case_choices(w.actor("b_lead"), w.group)}
    assert choices == {f"speaker:{b_speaker.id}"}
    agenda.add_agenda_item(
        w.actor("b_lead"), meeting, {"title": "Our case", "case": f"speaker:{b_speaker.id}"}
    )
    with pytest.raises(ValidationFailed) as refused:
        agenda.add_agenda_item(
            w.actor("b_lead"), meeting, {"title": "Theirs", "case": f"speaker:{w.speaker.id}"}
        )
    assert refused.value.errors["case"] == ["Choose a case from the list."]
    with pytest.raises(ValidationFailed) as general:
        agenda.add_agenda_item(w.actor("b_lead"), meeting, {"title": "No case"})
    assert "cases to bring" in general.value.errors["case"][0]


@pytest.mark.parametrize("who", ["b_events", "a_dpo", "police_admin"])
def test_other_members_add_nothing_to_the_agenda(convened, who):
    meeting = schedule(convened, days=3)
    with pytest.raises(PermissionDenied):
        agenda.add_agenda_item(
            convened.actor(who), meeting, {"title": "X", "case": f"speaker:{convened.speaker.id}"}
        )


def test_a_case_must_be_a_members_record_the_coordinator_may_see(convened, make_person):
    w = convened
    meeting = schedule(w, days=3)
    outsider = speakers.create_speaker(
        actor_of(make_person(w.orgs["uni_c"], ["events_officer"])),
        {"display_name": "Mx Juniper Ashgrove", "distribution": "shareable"},
    )
    internal = speakers.create_speaker(
        actor_of(w.people["a_events"]),
        {"display_name": "Ms Oriel Stonecrop", "distribution": "internal"},
    )
    for record in (outsider, internal):
        with pytest.raises(ValidationFailed) as refused:
            agenda.add_agenda_item(
                w.actor("coord"), meeting, {"title": "X", "case": f"speaker:{record.id}"}
            )
        assert refused.value.errors["case"] == ["Choose a case from the list."]
    for bogus in ("speaker:nope", "assessment:1", f"event:{w.speaker.id}"):
        with pytest.raises(ValidationFailed):
            agenda.add_agenda_item(w.actor("coord"), meeting, {"title": "X", "case": bogus})
    offered = {c.value for c in agenda.case_choices(w.actor("coord"), w.group)}
    assert f"speaker:{outsider.id}" not in offered and f"speaker:{internal.id}" not in offered


def test_approved_minutes_freeze_the_agenda(convened, speaker_item):
    w = convened
    speaker_item.starts_at = utcnow() - timedelta(hours=3)
    speaker_item.ends_at = utcnow() - timedelta(hours=1)
    coord = w.actor("coord")
    meetings.save_minutes(coord, speaker_item, {"minutes": "Discussed."})
    meetings.circulate_minutes(coord, speaker_item)
    meetings.approve_minutes(coord, speaker_item)
    with pytest.raises(Conflict):
        agenda.add_agenda_item(coord, speaker_item, {"title": "Late item"})
    with pytest.raises(Conflict):
        agenda.remove_agenda_item(coord, speaker_item, speaker_item.agenda_items[0].id)
