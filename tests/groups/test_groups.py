"""Convening a group, invitations answered by administrators, leaving (access ends at once), the
convenor (replaced, never removed), and the agreement that must cover every member."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agreements import services as agreements
from core.db import db
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from hub.groups import actions, membership, permissions, services
from hub.groups.meetings import services as meetings
from hub.groups.models import MembershipStatus
from partners.models import Person
from tests.agreement_factories import rule
from tests.conftest import actor_of
from tests.groups.conftest import PURPOSE, audit_entries, convene, schedule

SOON = (actions.local_today() + timedelta(days=30)).isoformat()
GROUP = {
    "name": "Testshire Prevent working group",
    "region": "Testshire",
    "terms_of_reference": "Review cases together.",
    "cadence": "quarterly",
}


def test_a_coordinator_convenes_a_group_as_its_first_member_and_attendee(world):
    group = services.create_group(
        world.actor("coord"), {**GROUP, "agreement_id": str(world.agreement.id)}
    )
    assert group.convenor_id == world.people["coord"].id
    assert group.convening_org_id == world.orgs["coordinator"].id
    assert services.members(group) == [world.orgs["coordinator"]]
    assert services.attendees(group) == [world.people["coord"]]
    assert group.agreement_id == world.agreement.id
    [entry] = audit_entries("group.create")
    assert entry.resource_ids == f'["{group.id}"]'
    # Ids and codes only: neither the name nor the terms of reference are in the log.
    assert b"Testshire Prevent" not in entry.leaf and b"Review cases" not in entry.leaf


@pytest.mark.parametrize("who", ["coord_admin", "a_admin", "a_lead", "police_lead", "hub_admin"])
def test_only_regional_coordinators_convene(world, who):
    with pytest.raises(PermissionDenied) as refused:
        services.create_group(world.actor(who), GROUP)
    assert refused.value.audit["action"] == "group.create"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "Enter the group's name."),
        ({"terms_of_reference": ""}, "terms_of_reference", "Enter the terms of reference."),
        ({"cadence": "hourly"}, "cadence", "Choose how often the group meets from"),
        ({"agreement_id": "not-an-id"}, "agreement_id", "Choose an agreement your organisation"),
    ],
)
def test_group_fields_are_checked_one_by_one(world, change, field, message):
    with pytest.raises(ValidationFailed) as invalid:
        services.create_group(world.actor("coord"), {**GROUP, **change})
    assert invalid.value.errors[field][0].startswith(message)


def test_a_region_has_one_group_of_a_name(world):
    services.create_group(world.actor("coord"), GROUP)
    with pytest.raises(ValidationFailed) as invalid:
        services.create_group(world.actor("coord2"), {**GROUP, "name": GROUP["name"].upper()})
    assert "already has a working group" in invalid.value.errors["name"][0]


def test_only_agreements_for_case_reviews_that_the_coordinator_is_party_to_may_govern(
    world, make_agreement
):
    elsewhere, _ = make_agreement(
        [world.orgs["uni_a"], world.orgs["uni_b"]],
        [rule(world.orgs["uni_a"], world.orgs["uni_b"], "speaker", {"display_name": "full"})],
        purposes=[PURPOSE],
        reference="TEST-WG-ELSEWHERE",
        kind="one_way",
    )
    other_purpose, _ = make_agreement(
        [world.orgs["coordinator"], world.orgs["uni_a"]],
        [rule(world.orgs["uni_a"], world.orgs["coordinator"], "speaker", {"display_name": "full"})],
        purposes=["speaker_due_diligence"],
        reference="TEST-WG-OTHER",
        kind="one_way",
    )
    choices = services.agreement_choices(world.actor("coord"))
    assert world.agreement in choices
    assert elsewhere not in choices and other_purpose not in choices
    with pytest.raises(ValidationFailed):
        services.create_group(
            world.actor("coord"), {**GROUP, "agreement_id": str(other_purpose.id)}
        )


# --- invitations ----------------------------------------------------------------------------


def test_an_invitation_is_answered_by_the_invited_organisations_administrator(world):
    group = convene(world, accept=())
    membership.invite(world.actor("coord"), group, {"organisation_id": str(world.orgs["uni_a"].id)})
    assert permissions.status_of(group, world.orgs["uni_a"].id) == MembershipStatus.INVITED
    for who in ("a_lead", "a_events", "a_dpo", "b_admin"):
        with pytest.raises(PermissionDenied):
            membership.respond(world.actor(who), group, True)
    # The Prevent lead may read the invitation, not the group.
    assert services.get_invitation(world.actor("a_lead"), group.id) is group
    with pytest.raises(NotFound):
        services.get_group(world.actor("a_lead"), group.id)
    assert services.invitations_for(world.actor("a_admin")) == [group]
    membership.respond(world.actor("a_admin"), group, True)
    assert services.get_group(world.actor("a_lead"), group.id) is group
    assert services.invitations_for(world.actor("a_admin")) == []
    assert [e.details for e in audit_entries("group.invitation.accept")] == [
        f'{{"organisation":"{world.orgs["uni_a"].id}"}}'
    ]


def test_a_declined_invitation_gives_no_access_and_can_be_renewed(world):
    group = convene(world, accept=())
    invite = {"organisation_id": str(world.orgs["uni_b"].id)}
    membership.invite(world.actor("coord"), group, invite)
    membership.respond(world.actor("b_admin"), group, False)
    assert permissions.status_of(group, world.orgs["uni_b"].id) == MembershipStatus.DECLINED
    with pytest.raises(NotFound):
        services.get_group(world.actor("b_lead"), group.id)
    membership.invite(world.actor("coord"), group, invite)
    assert permissions.status_of(group, world.orgs["uni_b"].id) == MembershipStatus.INVITED


@pytest.mark.parametrize("org", ["coordinator", "uni_a", "hub"])
def test_members_the_convenor_and_the_hub_cannot_be_invited(convened, org):
    with pytest.raises(ValidationFailed) as invalid:
        membership.invite(
            convened.actor("coord"), convened.group, {"organisation_id": str(convened.orgs[org].id)}
        )
    assert "not already a member" in invalid.value.errors["organisation_id"][0]


def test_only_managers_invite(convened):
    with pytest.raises(PermissionDenied):
        membership.invite(
            convened.actor("a_admin"),
            convened.group,
            {"organisation_id": str(convened.orgs["uni_c"].id)},
        )


# --- leaving ------------------------------------------------------------------------------


def test_leaving_ends_access_at_once(convened):
    w = convened
    upcoming = schedule(w, days=5)
    held = schedule(w, days=-5)
    b_lead = w.people["b_lead"]
    action = actions.create_action(
        w.actor("coord"),
        held,
        {"title": "Send the briefing", "owner_person_id": str(b_lead.id), "due_on": SOON},
    )
    assert [a.id for a in actions.dashboard_actions(w.actor("b_lead"))] == [str(action.id)]
    assert any(r.person_id == b_lead.id for r in upcoming.attendance)

    membership.leave(w.actor("b_admin"), w.group)

    for who in ("b_lead", "b_admin", "b_events"):
        with pytest.raises(NotFound) as hidden:
            services.get_group(w.actor(who), w.group.id)
        # Answered as if missing; the edge audits the refusal from this.
        assert hidden.value.audit["action"] == "group.read"
        assert hidden.value.reason == "not_member"
        with pytest.raises(NotFound):
            meetings.get_meeting(w.actor(who), upcoming.id)
        with pytest.raises(NotFound):
            actions.get_action(w.actor(who), action.id)
    assert actions.dashboard_actions(w.actor("b_lead")) == []
    assert b_lead not in services.attendees(w.group)
    assert not any(r.person_id == b_lead.id for r in upcoming.attendance)
    assert any(r.person_id == b_lead.id for r in held.attendance)  # history is kept
    assert services.list_groups(w.actor("b_lead")) == []
    assert len(audit_entries("group.leave")) == 1


def test_only_a_members_administrator_takes_it_out(convened):
    for who in ("b_lead", "b_events", "coord"):
        with pytest.raises(PermissionDenied):
            membership.leave(convened.actor(who), convened.group)


def test_a_manager_removes_a_member_with_the_same_effect(convened):
    w = convened
    membership.remove_member(w.actor("coord"), w.group, w.orgs["police"].id)
    with pytest.raises(NotFound):
        services.get_group(w.actor("police_lead"), w.group.id)
    assert permissions.status_of(w.group, w.orgs["police"].id) == MembershipStatus.REMOVED


def test_the_convening_organisation_cannot_leave_or_be_removed(convened):
    w = convened
    with pytest.raises(Conflict) as clash:
        membership.leave(w.actor("coord_admin"), w.group)
    assert "name a new convenor" in clash.value.detail
    with pytest.raises(Conflict):
        membership.remove_member(w.actor("coord2"), w.group, w.orgs["coordinator"].id)


# --- the convenor ---------------------------------------------------------------------------


@pytest.mark.parametrize("given", [None, ""])
def test_removing_the_convenor_requires_naming_a_new_one(convened, given):
    data = {} if given is None else {"convenor_id": given}
    with pytest.raises(ValidationFailed) as invalid:
        services.change_convenor(convened.actor("coord"), convened.group, data)
    assert invalid.value.errors["convenor_id"] == [
        "Name the new convenor: a working group cannot be left without one."
    ]
    with pytest.raises(Conflict):
        membership.remove_attendee(
            convened.actor("coord"), convened.group, convened.people["coord"].id
        )
    assert convened.group.convenor_id == convened.people["coord"].id


@pytest.mark.parametrize("who", ["a_lead", "coord_admin", "b_admin"])
def test_the_new_convenor_must_be_a_coordinator_of_a_member(convened, who):
    with pytest.raises(ValidationFailed) as invalid:
        services.change_convenor(
            convened.actor("coord"),
            convened.group,
            {"convenor_id": str(convened.people[who].id)},
        )
    assert "regional coordinator" in invalid.value.errors["convenor_id"][0]


def test_the_convenor_is_handed_over_and_the_old_one_may_then_go(convened, make_org, make_person):
    w = convened
    other_org = make_org(kind="regional_coordinator")
    successor = make_person(other_org, ["coordinator"])
    admin = make_person(other_org, ["org_admin"])
    membership.invite(w.actor("coord"), w.group, {"organisation_id": str(other_org.id)})
    membership.respond(actor_of(admin), w.group, True)
    with pytest.raises(PermissionDenied):  # only managers hand the group over
        services.change_convenor(w.actor("a_admin"), w.group, {"convenor_id": str(successor.id)})
    services.change_convenor(w.actor("coord2"), w.group, {"convenor_id": str(successor.id)})
    assert w.group.convenor_id == successor.id and w.group.convening_org_id == other_org.id
    assert successor in services.attendees(w.group)
    assert not permissions.is_manager(w.actor("coord"), w.group)  # no longer convening
    membership.leave(w.actor("coord_admin"), w.group)  # the former convening org may leave now
    with pytest.raises(NotFound):
        services.get_group(w.actor("coord"), w.group.id)
    [entry] = audit_entries("group.convenor.change")
    assert str(successor.id) not in entry.leaf.decode()  # people appear only as pseudonyms


# --- the agreement --------------------------------------------------------------------------


def test_a_group_without_an_agreement_holds_no_case_items(world):
    world.agreement = None
    group = convene(world)
    cover = services.coverage(group)
    assert not cover.covered and cover.reason == "The group has no data-sharing agreement."


def test_every_member_must_be_a_party(convened):
    w = convened
    assert services.coverage(w.group).covered
    membership.invite(w.actor("coord"), w.group, {"organisation_id": str(w.orgs["council"].id)})
    assert services.coverage(w.group).covered  # invited is not yet a member
    membership.respond(w.actor("council_admin"), w.group, True)
    cover = services.coverage(w.group)
    assert not cover.covered and cover.missing == [w.orgs["council"]]
    assert w.orgs["council"].name in cover.reason


def test_a_suspended_agreement_does_not_cover_and_an_approved_amendment_does(convened):
    w = convened
    dpo = actor_of(w.people["a_dpo"])
    agreements.suspend(dpo, w.agreement, "A disclosure is being looked into.")
    cover = services.coverage(w.group)
    assert not cover.covered and "suspended" in cover.reason
    agreements.resume(dpo, w.agreement)
    assert services.coverage(w.group).covered


def test_an_amendment_governs_once_every_party_approves_it(convened, make_person):
    w = convened
    drafter = actor_of(make_person(w.orgs["coordinator"], ["dpo"]))
    draft = agreements.amend(drafter, w.agreement)
    assert services.governing_agreement(w.group).id == w.agreement.id
    agreements.propose(drafter, draft)
    for party in draft.parties:
        signatory = db.session.get(Person, party.signatory_id)
        agreements.approve(
            actor_of(signatory),
            draft,
            content_hash=draft.content_hash,
            reauthenticated_at=datetime.now(UTC),
        )
    governing = services.governing_agreement(w.group)
    assert governing.id == draft.id and governing.version == 2
    assert services.coverage(w.group).covered
