"""Managing the partners directory: organisations, people and roles, each change audited."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa

from audit import services as audit
from audit.actions import (
    ORGANISATION_CREATE,
    ORGANISATION_UPDATE,
    PERSON_CREATE,
    PERSON_ENROLMENT_LINK,
    PERSON_ROLES_CHANGE,
    PERSON_UNLOCK,
    PERSON_UPDATE,
)
from core import policy, validation
from core.db import db, utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.security import Actor
from core.validation import Checker
from partners import lockout, permissions
from partners.models import (
    ROLE_KINDS,
    EnrolmentToken,
    OAuthClient,
    Organisation,
    OrganisationKind,
    Person,
    PersonRole,
    Role,
    Status,
    WebSession,
)

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ENROLMENT_LIFETIME = timedelta(days=7)


@dataclass(frozen=True)
class NewPerson:
    """A person just added, with the one-time enrolment link token to hand to them."""

    person: Person
    enrolment_token: str


def normalise_email(value: str) -> str:
    """The form an email address is stored and compared in (validated, lower-case)."""
    return validation.normalise_email(value)


# --- organisations ----------------------------------------------------------------------


def get_organisation(slug: str) -> Organisation:
    """The organisation with `slug`, or NotFound."""
    organisation = db.session.scalar(sa.select(Organisation).where(Organisation.slug == slug))
    if organisation is None:
        raise NotFound(f"There is no organisation '{slug}'.")
    return organisation


def organisation_names(ids: Iterable[Any]) -> dict[str, str]:
    """Organisations' names by id (as strings; ids that are not organisations' are ignored).
    The partner directory shows them to everyone signed in."""
    return {card.id: card.name for card in (organisation_card(value) for value in ids) if card}


@dataclass(frozen=True)
class OrganisationCard:
    """An organisation as the partner directory shows it, frozen (served per policy
    generation, `core.policy`)."""

    id: str
    name: str
    slug: str
    dp_contact_name: str
    dp_contact_email: str
    status: Status

    @property
    def is_active(self) -> bool:
        return self.status == Status.ACTIVE


def organisation_card(org_id: Any) -> OrganisationCard | None:
    """The directory's card of organisation `org_id` (None for an unknown one). The whole
    directory is read once per policy generation: it is small, and ids callers make up must
    not grow the cache."""

    def load() -> Mapping[str, OrganisationCard]:
        return MappingProxyType(
            {
                str(o.id): OrganisationCard(
                    str(o.id), o.name, o.slug, o.dp_contact_name, o.dp_contact_email, o.status
                )
                for o in db.session.scalars(sa.select(Organisation))
            }
        )

    return policy.cached("organisation_cards", None, load).get(str(org_id))


def list_organisations(actor: Actor) -> list[Organisation]:
    """The partner directory, by name."""
    permissions.require(actor, "organisation.list")
    return list(db.session.scalars(sa.select(Organisation).order_by(Organisation.name)))


def _validate_organisation(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    check = Checker(data)
    clean: dict[str, Any] = {"name": check.text("name", "the organisation's name")}
    if creating:
        slug = check.text("slug", "a short name for web addresses (slug)", max_length=64)
        if slug and not SLUG_PATTERN.match(slug):
            check.add(
                "slug",
                "Slug must be lower-case letters, digits and single hyphens, up to 64 characters.",
            )
        clean["slug"] = slug
        clean["kind"] = check.choice("kind", OrganisationKind, "the kind of organisation")
    clean["region"] = check.text("region", "the region", max_length=100)
    clean["dp_contact_name"] = check.text("dp_contact_name", "the data protection contact's name")
    clean["dp_contact_email"] = check.email(
        "dp_contact_email", "the data protection contact's email address"
    )
    check.raise_if_any()
    return clean


def create_organisation(actor: Actor, data: dict[str, Any]) -> Organisation:
    """Add an organisation to the directory (hub administrators only)."""
    permissions.require(actor, ORGANISATION_CREATE)
    clean = _validate_organisation(data, creating=True)
    if db.session.scalar(sa.select(Organisation.id).where(Organisation.slug == clean["slug"])):
        raise ValidationFailed(
            f"An organisation with the slug '{clean['slug']}' already exists.",
            errors={"slug": [f"An organisation with the slug '{clean['slug']}' already exists."]},
        )
    organisation = Organisation(status=Status.ACTIVE, **clean)
    db.session.add(organisation)
    db.session.flush()
    audit.record(
        actor,
        ORGANISATION_CREATE,
        "granted",
        resource_type="organisation",
        resource_ids=[str(organisation.id)],
        kind=organisation.kind.value,
        slug=organisation.slug,
    )
    return organisation


def update_organisation(
    actor: Actor, organisation: Organisation, data: dict[str, Any]
) -> Organisation:
    """Change an organisation's name, region or data protection contact."""
    permissions.require(actor, ORGANISATION_UPDATE, resource_id=organisation.id)
    clean = _validate_organisation(data, creating=False)
    changed = sorted(k for k, v in clean.items() if getattr(organisation, k) != v)
    for key in changed:
        setattr(organisation, key, clean[key])
    db.session.flush()
    if changed:
        audit.record(
            actor,
            ORGANISATION_UPDATE,
            "granted",
            resource_type="organisation",
            resource_ids=[str(organisation.id)],
            fields=changed,
        )
    return organisation


def set_organisation_status(
    actor: Actor, organisation: Organisation, status: Status
) -> Organisation:
    """Suspend or reactivate an organisation; suspension ends its people's sessions at once."""
    action = "organisation.suspend" if status == Status.SUSPENDED else "organisation.reactivate"
    permissions.require(actor, action, resource_id=organisation.id)
    if status == Status.SUSPENDED and actor.org_id == str(organisation.id):
        raise Conflict("You cannot suspend your own organisation.")
    if organisation.status == status:
        return organisation
    organisation.status = status
    if status == Status.SUSPENDED:
        _end_sessions(
            sa.select(Person.id).where(Person.organisation_id == organisation.id),
            "organisation_suspended",
        )
        # Its partner systems' tokens die with the suspension (reactivating does not revive them).
        db.session.execute(
            sa.update(OAuthClient)
            .where(OAuthClient.organisation_id == organisation.id)
            .values(revoked_at=utcnow())
            .execution_options(synchronize_session="fetch")
        )
    db.session.flush()
    audit.record(
        actor, action, "granted", resource_type="organisation", resource_ids=[str(organisation.id)]
    )
    return organisation


# --- people -----------------------------------------------------------------------------


def get_person(person_id: str | uuid.UUID) -> Person:
    """The person with `person_id`, or NotFound."""
    try:
        key = person_id if isinstance(person_id, uuid.UUID) else uuid.UUID(str(person_id))
    except ValueError as exc:
        raise NotFound("There is no such person.") from exc
    person = db.session.get(Person, key)
    if person is None:
        raise NotFound("There is no such person.")
    return person


def list_people(actor: Actor, organisation: Organisation) -> list[Person]:
    """An organisation's people, for its own staff and hub administrators."""
    permissions.require(actor, "person.list", organisation, resource_id=organisation.id)
    return list(
        db.session.scalars(
            sa.select(Person).where(Person.organisation_id == organisation.id).order_by(Person.name)
        )
    )


def _validate_roles(check: Checker, organisation: Organisation, roles: Iterable[str]) -> set[Role]:
    chosen: set[Role] = set()
    for value in roles:
        try:
            role = Role(value)
        except ValueError:
            check.add("roles", f"'{value}' is not a role.")
            continue
        if organisation.kind not in ROLE_KINDS[role]:
            check.add(
                "roles",
                f"The role '{role.value}' cannot be held in "
                f"a {organisation.kind.value} organisation.",
            )
            continue
        chosen.add(role)
    if not chosen and check.ok("roles"):
        check.add("roles", "Choose at least one role.")
    return chosen


#: Registered peer hubs (hub/federation/models.py), named by table as partners sits below it.
_PEER_HUBS = sa.table("peer_hubs", sa.column("organisation_id", sa.Uuid()))


def is_peer_hub(organisation: Organisation) -> bool:
    """True if `organisation` is another regional hub registered as a peer of this one."""
    return (
        db.session.scalar(
            sa.select(sa.literal(1)).where(_PEER_HUBS.c.organisation_id == organisation.id)
        )
        is not None
    )


def create_person(actor: Actor, organisation: Organisation, data: dict[str, Any]) -> NewPerson:
    """Add a person to `organisation` with roles; returns their one-time enrolment token."""
    permissions.require(actor, PERSON_CREATE, organisation, resource_id=organisation.id)
    if is_peer_hub(organisation):
        # A peer hub acts here only through its OAuth clients: a person in it would be a
        # hub-kind organisation's member, and could become an administrator of this hub.
        raise PermissionDenied(
            f"{organisation.name} is a peer hub: it has no people here.",
            reason="peer_hub_has_no_people",
            audit={
                "action": PERSON_CREATE,
                "resource_type": "organisation",
                "resource_ids": [str(organisation.id)],
            },
        )
    check = Checker(data)
    name = check.text("name", "the person's full name")
    email = check.email("email", "an email address")
    roles = _validate_roles(check, organisation, data.get("roles") or [])
    if email and db.session.scalar(sa.select(Person.id).where(Person.email == email)):
        check.add("email", "Someone with this email address already has an account.")
    check.raise_if_any()
    if not organisation.is_active:
        raise Conflict("This organisation is suspended; reactivate it before adding people.")
    person = Person(name=name, email=email, status=Status.ACTIVE, organisation=organisation)
    person.role_grants = [PersonRole(role=role) for role in sorted(roles)]
    db.session.add(person)
    db.session.flush()
    token = _new_enrolment_token(person)
    audit.record(
        actor,
        PERSON_CREATE,
        "granted",
        resource_type="person",
        resource_ids=[str(person.id)],
        subjects=[("person", str(person.id))],
        roles=sorted(r.value for r in roles),
        organisation=str(organisation.id),
    )
    return NewPerson(person=person, enrolment_token=token)


def update_person(actor: Actor, person: Person, data: dict[str, Any]) -> Person:
    """Change a person's name and roles; role changes are audited as grants and revocations."""
    organisation = person.organisation
    permissions.require(
        actor, PERSON_UPDATE, organisation, resource_type="person", resource_id=person.id
    )
    check = Checker(data)
    name = check.text("name", "the person's full name")
    roles = _validate_roles(check, organisation, data.get("roles") or [])
    check.raise_if_any()
    before = {Role(r) for r in person.roles}
    if Role.ORG_ADMIN in before and Role.ORG_ADMIN not in roles:
        _ensure_another_admin(person)
    if name != person.name:
        person.name = name
        audit.record(
            actor,
            PERSON_UPDATE,
            "granted",
            resource_type="person",
            resource_ids=[str(person.id)],
            fields=["name"],
            subjects=[("person", str(person.id))],
        )
    granted = sorted(r.value for r in roles - before)
    revoked = sorted(r.value for r in before - roles)
    if granted or revoked:
        person.role_grants = [g for g in person.role_grants if g.role in roles]
        person.role_grants.extend(PersonRole(role=Role(r)) for r in granted)
        audit.record(
            actor,
            PERSON_ROLES_CHANGE,
            "granted",
            resource_type="person",
            resource_ids=[str(person.id)],
            subjects=[("person", str(person.id))],
            granted=granted,
            revoked=revoked,
        )
    db.session.flush()
    return person


def set_person_status(actor: Actor, person: Person, status: Status) -> Person:
    """Suspend or reactivate a person; suspension ends their sessions at once."""
    action = "person.suspend" if status == Status.SUSPENDED else "person.reactivate"
    permissions.require(
        actor, action, person.organisation, resource_type="person", resource_id=person.id
    )
    if status == Status.SUSPENDED and actor.id == str(person.id):
        raise Conflict("You cannot suspend yourself.")
    if person.status == status:
        return person
    if status == Status.SUSPENDED and Role.ORG_ADMIN.value in person.roles:
        _ensure_another_admin(person)
    person.status = status
    if status == Status.SUSPENDED:
        _end_sessions(sa.select(sa.literal(person.id)), "person_suspended")
    db.session.flush()
    audit.record(
        actor,
        action,
        "granted",
        resource_type="person",
        resource_ids=[str(person.id)],
        subjects=[("person", str(person.id))],
    )
    return person


def unlock_person(actor: Actor, person: Person) -> bool:
    """Lift a sign-in lock before it runs out (an administrator who knows it is the person);
    whether there was one. Audited either way, with the outcome."""
    permissions.require(
        actor, PERSON_UNLOCK, person.organisation, resource_type="person", resource_id=person.id
    )
    was_locked = lockout.lift(person)
    audit.record(
        actor,
        PERSON_UNLOCK,
        "granted",
        resource_type="person",
        resource_ids=[str(person.id)],
        subjects=[("person", str(person.id))],
        lock="lifted" if was_locked else "none",
    )
    return was_locked


def issue_enrolment_link(actor: Actor, person: Person) -> str:
    """A fresh one-time link for a person to (re)set their password and second factor."""
    permissions.require(
        actor,
        PERSON_ENROLMENT_LINK,
        person.organisation,
        resource_type="person",
        resource_id=person.id,
    )
    token = _new_enrolment_token(person)
    audit.record(
        actor,
        PERSON_ENROLMENT_LINK,
        "granted",
        resource_type="person",
        resource_ids=[str(person.id)],
        subjects=[("person", str(person.id))],
    )
    return token


def _ensure_another_admin(person: Person) -> None:
    others = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Person)
        .join(PersonRole)
        .where(
            Person.organisation_id == person.organisation_id,
            Person.id != person.id,
            Person.status == Status.ACTIVE,
            PersonRole.role == Role.ORG_ADMIN,
        )
    )
    if not others:
        raise Conflict(
            "This is the organisation's only active administrator: give someone else the "
            "administrator role first.",
            errors={"roles": ["The organisation must keep at least one active administrator."]},
        )


def _end_sessions(person_ids: sa.Select, reason: str) -> None:
    db.session.execute(
        sa.update(WebSession)
        .where(WebSession.person_id.in_(person_ids), WebSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason=reason)
    )


def token_hash(token: str) -> str:
    """How one-time tokens and session tokens are stored: SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_enrolment_token(person: Person) -> str:
    """A one-time link's token; it replaces any earlier link and lifts a sign-in lock, since the
    person will choose a new password and set up their authenticator again."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    lockout.lift(person)
    # A new link replaces any earlier unused one.
    db.session.execute(
        sa.update(EnrolmentToken)
        .where(EnrolmentToken.person_id == person.id, EnrolmentToken.used_at.is_(None))
        .values(used_at=now)
    )
    db.session.add(
        EnrolmentToken(
            token_hash=token_hash(token),
            person_id=person.id,
            created_at=now,
            expires_at=now + ENROLMENT_LIFETIME,
        )
    )
    db.session.flush()
    return token
