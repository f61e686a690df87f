"""Organisations and people: validation, uniqueness, role rules, and an audit entry per change."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from audit.models import AuditEntry
from core.db import db
from core.errors import Conflict, PermissionDenied, ValidationFailed
from partners import services
from partners.models import Organisation, Person, Status
from tests.conftest import actor_of


def _entries(action: str) -> list[AuditEntry]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        )
    )


def _org_data(**overrides):
    data = {
        "name": "Ashdown University",
        "slug": "ashdown",
        "kind": "university",
        "region": "Testshire",
        "dp_contact_name": "Ann Dee",
        "dp_contact_email": "dpo@ashdown.example",
    }
    data.update(overrides)
    return data


def test_create_organisation_is_audited_without_personal_values(system):
    org = services.create_organisation(system, _org_data())
    entry = _entries("organisation.create")[-1]
    assert entry.resource_ids == json.dumps([str(org.id)])
    assert entry.outcome == "granted"
    assert b"Ann Dee" not in entry.leaf and b"dpo@ashdown" not in entry.leaf


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "", "Enter the organisation's name."),
        ("slug", "Bad Slug!", "Slug must be lower-case"),
        ("slug", "", "Enter a short name"),
        ("kind", "pub", "Choose the kind of organisation"),
        ("region", "", "Enter the region."),
        ("dp_contact_email", "not-an-email", "in the correct format"),
    ],
)
def test_invalid_organisation_fields_are_named(system, field, value, message):
    with pytest.raises(ValidationFailed) as excinfo:
        services.create_organisation(system, _org_data(**{field: value}))
    assert field in excinfo.value.errors
    assert message in excinfo.value.errors[field][0]
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Organisation)
            .where(Organisation.slug == "ashdown")
        )
        == 0
    )


def test_duplicate_slug_is_refused_with_a_specific_message(system):
    services.create_organisation(system, _org_data())
    with pytest.raises(ValidationFailed) as excinfo:
        services.create_organisation(system, _org_data(name="Other"))
    assert "already exists" in excinfo.value.errors["slug"][0]


def test_create_person_normalises_email_and_rejects_duplicates(system, make_org):
    org = make_org()
    new = services.create_person(
        system,
        org,
        {"name": "Ida Test", "email": "Ida@Ashdown.Example", "roles": ["events_officer"]},
    )
    assert new.person.email == "ida@ashdown.example"
    assert new.enrolment_token
    with pytest.raises(ValidationFailed) as excinfo:
        services.create_person(
            system, org, {"name": "Ida Again", "email": "ida@ashdown.example", "roles": ["dpo"]}
        )
    assert "already has an account" in excinfo.value.errors["email"][0]


@pytest.mark.parametrize(
    ("kind", "role"),
    [
        ("university", "coordinator"),
        ("police_prevent", "events_officer"),
        ("hub", "signatory"),
    ],
)
def test_roles_that_do_not_fit_the_organisation_are_refused(system, make_org, kind, role):
    org = make_org(kind=kind)
    with pytest.raises(ValidationFailed) as excinfo:
        services.create_person(
            system, org, {"name": "X Y", "email": "xy@t.example", "roles": [role]}
        )
    assert "cannot be held" in excinfo.value.errors["roles"][0]


def test_person_needs_at_least_one_role(system, make_org):
    with pytest.raises(ValidationFailed) as excinfo:
        services.create_person(
            system, make_org(), {"name": "X Y", "email": "xy@t.example", "roles": []}
        )
    assert excinfo.value.errors["roles"] == ["Choose at least one role."]


def test_role_changes_are_audited_as_grants_and_revocations(make_org, make_person):
    org = make_org()
    admin = make_person(org, ["org_admin"])
    person = make_person(org, ["events_officer"])
    services.update_person(
        actor_of(admin), person, {"name": person.name, "roles": ["prevent_lead", "signatory"]}
    )
    assert person.roles == {"prevent_lead", "signatory"}
    entry = _entries("person.roles.change")[-1]
    details = json.loads(entry.details)
    assert details == {"granted": ["prevent_lead", "signatory"], "revoked": ["events_officer"]}
    assert entry.actor == f"person:{admin.id}"


def test_last_admin_cannot_remove_their_own_admin_role(make_org, make_person):
    org = make_org()
    admin = make_person(org, ["org_admin"])
    with pytest.raises(Conflict):
        services.update_person(actor_of(admin), admin, {"name": admin.name, "roles": ["dpo"]})


def test_org_admin_cannot_manage_another_organisations_people(make_org, make_person):
    mine, theirs = make_org(), make_org()
    admin = make_person(mine, ["org_admin"])
    with pytest.raises(PermissionDenied) as excinfo:
        services.create_person(
            actor_of(admin), theirs, {"name": "A B", "email": "ab@t.example", "roles": ["dpo"]}
        )
    assert excinfo.value.audit["action"] == "person.create"


def test_only_hub_admins_create_organisations(make_org, make_person):
    admin = make_person(make_org(), ["org_admin"])
    with pytest.raises(PermissionDenied):
        services.create_organisation(actor_of(admin), _org_data())


def test_suspending_a_person_ends_their_sessions(make_org, make_person):
    from partners import signin
    from partners.models import WebSession

    org = make_org()
    admin = make_person(org, ["org_admin"])
    person = make_person(org, ["events_officer"])
    signin.start_session(person, mfa_done=True)
    services.set_person_status(actor_of(admin), person, Status.SUSPENDED)
    sessions = list(
        db.session.scalars(sa.select(WebSession).where(WebSession.person_id == person.id))
    )
    assert sessions and all(s.ended_at is not None for s in sessions)


def test_cannot_suspend_yourself(make_org, make_person):
    org = make_org()
    admin = make_person(org, ["org_admin"])
    make_person(org, ["org_admin"])
    with pytest.raises(Conflict):
        services.set_person_status(actor_of(admin), admin, Status.SUSPENDED)


def test_new_enrolment_link_replaces_the_old_one(system, make_org):
    from partners import signin

    org = make_org()
    new = services.create_person(
        system, org, {"name": "N P", "email": "np@t.example", "roles": ["dpo"]}
    )
    second = services.issue_enrolment_link(system, new.person)
    assert signin.person_for_enrolment(new.enrolment_token) is None
    assert signin.person_for_enrolment(second).id == new.person.id


def test_failed_validation_writes_nothing(system, make_org):
    org = make_org()
    before = db.session.scalar(sa.select(sa.func.count()).select_from(Person))
    audit_before = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    with pytest.raises(ValidationFailed):
        services.create_person(system, org, {"name": "", "email": "bad", "roles": ["nope"]})
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == audit_before
