"""The enrolment link, emailed to the person it is for (by `partners.views` when an
administrator adds a person or issues a new link)."""

from __future__ import annotations

import hashlib

from partners.mail import messages, outbox
from partners.models import OutboxEmail, Person


def send_link(person: Person, link: str, *, first: bool, days: int) -> OutboxEmail | None:
    """Queue the email carrying `link` (absolute, valid `days` days) to `person`; once per
    link."""
    subject = (
        f"Your account on the {messages.HUB_NAME}"
        if first
        else f"A new sign-in link for the {messages.HUB_NAME}"
    )
    email = messages.render(
        "enrolment",
        subject,
        first=first,
        organisation=person.organisation.name,
        link=link,
        days=days,
    )
    # The key names the link by a hash: the outbox holds the link once, in the body.
    fingerprint = hashlib.sha256(link.encode()).hexdigest()[:32]
    return outbox.queue(
        person.email, email, kind="person.enrolment_link", dedupe_key=f"enrolment:{fingerprint}"
    )
