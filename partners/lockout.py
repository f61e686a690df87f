"""The locks that failed sign-ins put on a person: which counters are theirs, who is locked out
now, and lifting a lock (by an administrator, or by a new enrolment link).

Sign-in counts failures in `SignInThrottle` rows keyed by a hash, so that an address that has no
account is throttled like one that has (`partners.signin`). A person has two such counters: their
email address's password attempts and their own second-factor attempts. The keys are derived
here only.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from core.db import db, utcnow
from partners.models import Person, SignInThrottle


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def password_key(email: str) -> str:
    """The counter of password attempts for an email address (normalised by the caller)."""
    return _hash("sign-in:" + email)


def code_key(person_id: uuid.UUID | str) -> str:
    """The counter of second-factor attempts for one person."""
    return _hash(f"mfa:{person_id}")


def _keys(person: Person) -> tuple[str, str]:
    return password_key(person.email), code_key(person.id)


def locked_out(people: Iterable[Person], now: datetime | None = None) -> dict[uuid.UUID, datetime]:
    """Of `people`, those locked out now, with the time their lock ends."""
    now = now or utcnow()
    owners = {key: person.id for person in people for key in _keys(person)}
    if not owners:
        return {}
    rows = db.session.execute(
        sa.select(SignInThrottle.key, SignInThrottle.locked_until).where(
            SignInThrottle.key.in_(owners), SignInThrottle.locked_until > now
        )
    )
    locks: dict[uuid.UUID, datetime] = {}
    for key, until in rows:
        person_id = owners[key]
        locks[person_id] = max(until, locks.get(person_id, until))
    return locks


def lift(person: Person) -> bool:
    """Clear the person's failure counters; whether they were locked out until now."""
    was_locked = person.id in locked_out([person])
    db.session.execute(
        sa.update(SignInThrottle)
        .where(SignInThrottle.key.in_(_keys(person)))
        .values(failures=0, locked_until=None, next_allowed_at=None)
    )
    return was_locked
