"""Telling people things: an in-app inbox per organisation (or person), and the email that goes
with a notice addressed to people.

`notify` is the one entry point: a notice addressed to a person also emails that person, and a
notice to an organisation emails those of its people who hold `email_roles`. The email says
what the notice's title says and links to the page; the inbox body, which may carry detail
the hub shows only when signed in, is not copied into it unless the caller writes
`email_text` for it.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from core.db import db
from core.security import Actor, ActorKind
from partners import webhooks
from partners.mail import messages, outbox
from partners.models import InboxMessage, Organisation, OutboxEmail, Person, PersonRole, Status

#: What an email from a notice says when its caller gives no text of its own.
DEFAULT_EMAIL_TEXT = "There is something new for you in the hub. Sign in to see it."


def notify(
    organisation_id: uuid.UUID | str,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    person_id: uuid.UUID | str | None = None,
    data: dict[str, Any] | None = None,
    *,
    email: bool = True,
    email_roles: tuple[str, ...] = (),
    email_text: list[str] | None = None,
) -> InboxMessage:
    """Put a message in an organisation's inbox (or one person's); kinds that are webhook events
    are also queued for the organisation's subscriptions, with `data` (identifiers and field
    names only, as the recipient was given them: nothing is taken from `link`).

    Email (unless `email=False`): a person-addressed message goes to that person; an
    organisation-addressed one to its active people holding any of `email_roles` (none: no
    email). The email's subject is `title`, its text `email_text` (or a line saying there is
    something new), with `link` made absolute."""
    message = InboxMessage(
        organisation_id=uuid.UUID(str(organisation_id)),
        kind=kind,
        title=title,
        body=body,
        link=link,
        person_id=uuid.UUID(str(person_id)) if person_id else None,
    )
    db.session.add(message)
    db.session.flush()
    webhooks.from_notification(organisation_id, kind, data)
    if email:
        if person_id:
            recipients = [p for p in [db.session.get(Person, message.person_id)] if p]
        else:
            recipients = people_with_roles(organisation_id, email_roles) if email_roles else []
        notice = messages.notice(title, email_text or [DEFAULT_EMAIL_TEXT], link)
        for person in recipients:
            if _reachable(person):
                outbox.queue(
                    person.email,
                    notice,
                    kind=kind,
                    dedupe_key=f"inbox:{message.id}:{person.id}",
                )
    return message


def people_with_roles(organisation_id: uuid.UUID | str, roles: tuple[str, ...]) -> list[Person]:
    """The organisation's active people holding any of `roles`, by name."""
    return list(
        db.session.scalars(
            sa.select(Person)
            .where(
                Person.organisation_id == uuid.UUID(str(organisation_id)),
                Person.status == Status.ACTIVE,
                Person.id.in_(sa.select(PersonRole.person_id).where(PersonRole.role.in_(roles))),
            )
            .order_by(Person.name)
        )
    )


def _reachable(person: Person) -> bool:
    """Only active people of active organisations are emailed (a suspended one cannot act)."""
    if person.status != Status.ACTIVE:
        return False
    organisation = db.session.get(Organisation, person.organisation_id)
    return organisation is not None and organisation.status == Status.ACTIVE


def queue_email(
    to_address: str,
    subject: str,
    paragraphs: list[str],
    kind: str,
    dedupe_key: str,
    link: str = "",
) -> OutboxEmail | None:
    """Email an address that is not a person's (an organisation's data protection contact):
    the usual notice, queued once per `dedupe_key`; None if it was queued before."""
    return outbox.queue(
        to_address, messages.notice(subject, paragraphs, link), kind=kind, dedupe_key=dedupe_key
    )


def _addressed_to(actor: Actor) -> sa.ColumnElement[bool] | None:
    """The messages for the actor's organisation and for the actor (None: no inbox)."""
    if actor.org_id is None:
        return None
    addressed = InboxMessage.person_id.is_(None)
    if actor.kind == ActorKind.PERSON and actor.id:  # a partner system's id is its client id
        addressed = sa.or_(addressed, InboxMessage.person_id == uuid.UUID(actor.id))
    return sa.and_(InboxMessage.organisation_id == uuid.UUID(actor.org_id), addressed)


def inbox(actor: Actor, *, unread_only: bool = False, limit: int = 50) -> list[InboxMessage]:
    """Messages for the actor's organisation and for the actor, newest first."""
    addressed = _addressed_to(actor)
    if addressed is None:
        return []
    query = sa.select(InboxMessage).where(addressed)
    if unread_only:
        query = query.where(InboxMessage.read_at.is_(None))
    return list(db.session.scalars(query.order_by(InboxMessage.created_at.desc()).limit(limit)))


def unread_count(actor: Actor) -> int:
    """How many of the actor's inbox messages are unread (the navigation's count)."""
    addressed = _addressed_to(actor)
    if addressed is None:
        return 0
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(InboxMessage)
        .where(addressed, InboxMessage.read_at.is_(None))
    )
