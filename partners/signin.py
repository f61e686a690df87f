"""Signing in: argon2id passwords, throttling and lockout, TOTP and recovery codes, sessions."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

import pyotp
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value

from audit import services as audit
from audit.actions import MFA_ENROL, MFA_REAUTHENTICATE, PERSON_PASSWORD_SET, SIGN_IN_PASSWORD
from core.db import db, utcnow
from core.errors import PermissionDenied, ValidationFailed
from core.keys import FieldCipher
from core.security import Actor, ActorKind
from partners import lockout
from partners.models import (
    EnrolmentToken,
    Organisation,
    Person,
    RecoveryCode,
    SignInThrottle,
    WebSession,
)
from partners.services import normalise_email, token_hash

GENERIC_FAILURE = "The email address or password is not right."
MIN_PASSWORD_LENGTH = 12
SLOWDOWN_AFTER = 3  # failures before each further attempt must wait
MAX_DELAY_SECONDS = 60
RECOVERY_CODE_COUNT = 10
# How long a re-authentication lets its session replace the authenticator (used once).
REAUTHENTICATION_LIFETIME = timedelta(minutes=10)
TOTP_ISSUER = "Prevent Information Sharing Hub"
# A few passwords people choose most; length does most of the work (NCSC guidance).
COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "passwordpassword",
        "123456789012",
        "qwertyuiopas",
        "letmeinletmein",
        "iloveyou1234",
        "welcome12345",
        "changeme1234",
        "administrator",
        "northshire123",
    }
)


@dataclass(frozen=True)
class SignInResult:
    """What a password check found: the person, or why not (a message safe to show)."""

    person: Person | None
    message: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.person is not None


# --- passwords --------------------------------------------------------------------------


@cache
def _hasher(time_cost: int, memory_kib: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


def password_hasher() -> PasswordHasher:
    """argon2id with the configured cost (lowered only in tests)."""
    settings = current_app.config["HUB_SETTINGS"]
    return _hasher(settings.password_time_cost, settings.password_memory_kib)


@cache
def _dummy_hash(time_cost: int, memory_kib: int) -> str:
    return _hasher(time_cost, memory_kib).hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash stored for `password`."""
    return password_hasher().hash(password)


def password_problems(password: str, email: str = "") -> list[str]:
    """Why `password` is too weak, in words a person can act on (empty if it is fine)."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    elif len(password) > 256:
        problems.append("Password must be 256 characters or fewer.")
    elif len(set(password)) < 4 or password.lower() in COMMON_PASSWORDS:
        problems.append("Password is too easy to guess: try three random words.")
    local = email.split("@", 1)[0].lower()
    if local and len(local) >= 4 and local in password.lower():
        problems.append("Password must not contain your email address.")
    return problems


# --- the password step ------------------------------------------------------------------


def _throttle_for(key: str) -> SignInThrottle:
    """The failure counter for `key`, locked until the caller commits (PostgreSQL).

    Attempts on one email address or one person's codes then take turns: each sees the
    failures counted before it, so parallel guesses cannot all slip in under the limit.
    """
    throttle = _locked_throttle(key)
    if throttle is not None:
        return throttle
    try:
        with db.session.begin_nested():
            throttle = SignInThrottle(key=key, failures=0)
            db.session.add(throttle)
    except IntegrityError:
        # Another request created it first (and has committed): use theirs.
        throttle = _locked_throttle(key)
        assert throttle is not None
    return throttle


def _locked_throttle(key: str) -> SignInThrottle | None:
    return db.session.get(SignInThrottle, key, with_for_update=True, populate_existing=True)


def _wait_message(until: datetime, now: datetime, locked: bool) -> str:
    seconds = max(1, int((until - now).total_seconds() + 0.999))
    if locked:
        minutes = (seconds + 59) // 60
        return (
            "Too many failed attempts. Sign-in for this email address is locked for "
            f"{minutes} minute{'s' if minutes != 1 else ''}."
        )
    plural = "s" if seconds != 1 else ""
    return f"Too many failed attempts. Wait {seconds} second{plural} and try again."


def _register_failure(throttle: SignInThrottle, now: datetime) -> None:
    settings = current_app.config["HUB_SETTINGS"]
    throttle.failures += 1
    throttle.last_failure_at = now
    if throttle.failures >= settings.lockout_threshold:
        throttle.locked_until = now + timedelta(minutes=settings.lockout_minutes)
        throttle.failures = 0
        throttle.next_allowed_at = None
    elif throttle.failures >= SLOWDOWN_AFTER:
        delay = min(2 ** (throttle.failures - SLOWDOWN_AFTER), MAX_DELAY_SECONDS)
        throttle.next_allowed_at = now + timedelta(seconds=delay)


def _waiting(throttle: SignInThrottle, now: datetime) -> tuple[str, str] | None:
    """(message, reason) if attempts under `throttle` must wait (locked, or slowed down)."""
    if throttle.locked_until and throttle.locked_until > now:
        return _wait_message(throttle.locked_until, now, True), "locked"
    if throttle.next_allowed_at and throttle.next_allowed_at > now:
        return _wait_message(throttle.next_allowed_at, now, False), "throttled"
    return None


def _password_matches(stored: str | None, password: str) -> bool:
    """argon2id verification; with no stored hash, a dummy one takes the same time."""
    hasher = password_hasher()
    try:
        hasher.verify(stored or _dummy_hash(hasher.time_cost, hasher.memory_cost), password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


def authenticate_password(actor: Actor, email: str, password: str) -> SignInResult:
    """Check an email and password, with slow-down and lockout per email address.

    Unknown addresses are throttled, timed and answered exactly like known ones, so the
    answer never reveals whether an account exists. The caller commits either way: failures
    must be remembered and audited.
    """
    raw = (email or "").strip().lower()
    try:
        normalised = normalise_email(raw)
    except ValidationFailed:
        normalised = raw
    key = lockout.password_key(normalised)
    subjects = [("account", normalised)]
    now = utcnow()
    throttle = _throttle_for(key)
    if waiting := _waiting(throttle, now):
        message, reason = waiting
        audit.record(actor, SIGN_IN_PASSWORD, "failed", reason=reason, subjects=subjects)
        return SignInResult(None, message, reason)

    person = db.session.scalar(sa.select(Person).where(Person.email == normalised))
    verified = _password_matches(person.password_hash if person else None, password)
    if not verified or person is None:
        _register_failure(throttle, now)
        audit.record(actor, SIGN_IN_PASSWORD, "failed", reason="bad_credentials", subjects=subjects)
        return SignInResult(None, GENERIC_FAILURE, "bad_credentials")

    throttle.failures = 0
    throttle.next_allowed_at = None
    throttle.locked_until = None
    person_actor = actor_for(person, request_id=actor.request_id, remote_addr=actor.remote_addr)
    if not person.is_active or not person.organisation.is_active:
        reason = "person_suspended" if not person.is_active else "organisation_suspended"
        audit.record(
            person_actor,
            SIGN_IN_PASSWORD,
            "failed",
            reason=reason,
            subjects=[("person", str(person.id))],
        )
        return SignInResult(
            None,
            "Your account is suspended. Contact your organisation's administrator.",
            reason,
        )
    if password_hasher().check_needs_rehash(person.password_hash):
        person.password_hash = hash_password(password)
    audit.record(person_actor, SIGN_IN_PASSWORD, "granted", subjects=[("person", str(person.id))])
    db.session.flush()
    return SignInResult(person)


def actor_for(
    person: Person, *, request_id: str | None = None, remote_addr: str | None = None
) -> Actor:
    """The Actor a signed-in person acts as."""
    organisation = person.organisation
    kwargs = {"request_id": request_id} if request_id else {}
    return Actor(
        kind=ActorKind.PERSON,
        id=str(person.id),
        label=f"person:{person.id}",
        org_id=str(organisation.id),
        org_slug=organisation.slug,
        org_kind=organisation.kind.value,
        roles=person.roles,
        remote_addr=remote_addr,
        **kwargs,
    )


# --- second factor ----------------------------------------------------------------------


def _cipher() -> FieldCipher:
    return current_app.extensions["hub_field_cipher"]


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=6, interval=30)


def begin_totp_enrolment(person: Person) -> str:
    """A new TOTP secret for `person`, kept (encrypted) until they confirm a code from it."""
    secret = pyotp.random_base32()
    person.totp_pending_encrypted = _cipher().encrypt(secret.encode(), f"totp-pending:{person.id}")
    db.session.flush()
    return secret


def pending_totp_secret(person: Person) -> str | None:
    """The secret an enrolment in progress is showing, if any."""
    if person.totp_pending_encrypted is None:
        return None
    return _cipher().decrypt(person.totp_pending_encrypted, f"totp-pending:{person.id}").decode()


def provisioning_uri(person: Person, secret: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return _totp(secret).provisioning_uri(name=person.email, issuer_name=TOTP_ISSUER)


def _matching_step(secret: str, code: str, last_step: int | None, now: datetime) -> int | None:
    """The time step (one either side of now allowed) whose code is `code`, if it is later
    than `last_step`."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = _totp(secret)
    current = totp.timecode(now)
    for step in (current - 1, current, current + 1):
        candidate = totp.generate_otp(step)
        if hmac.compare_digest(candidate, code) and (last_step is None or step > last_step):
            return step
    return None


def _claim_totp_step(person: Person, step: int) -> bool:
    """Record `step` as the person's last used one, unless it (or a later one) already is.

    One conditional UPDATE, so that of several requests presenting the same code at once,
    exactly one claims it: PostgreSQL re-checks the condition on the row version the first
    one committed, SQLite runs one writer at a time.
    """
    claimed = db.session.execute(
        sa.update(Person)
        .where(
            Person.id == person.id,
            sa.or_(Person.totp_last_step.is_(None), Person.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return False
    set_committed_value(person, "totp_last_step", step)
    return True


def _spend_recovery_code(person: Person, code: str, now: datetime) -> bool:
    """Mark one of the person's unused recovery codes as used, if `code` is one: a
    conditional UPDATE, so a code is spent once however many requests present it at once."""
    spent = db.session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.person_id == person.id,
            RecoveryCode.code_hash == token_hash("recovery:" + code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return spent.rowcount == 1


def confirm_totp_enrolment(
    actor: Actor, person: Person, code: str, web_session: WebSession | None = None
) -> list[str]:
    """Finish enrolment with a code from the new secret; returns fresh recovery codes.

    Replacing an authenticator the person already has (and with it their recovery codes)
    needs `web_session` to have re-authenticated in the last few minutes; it is used up here.
    """
    if person.has_mfa and not recently_reauthenticated(web_session):
        raise PermissionDenied(
            "Confirm it is you (your password and a current code) before replacing your "
            "authenticator app.",
            reason="reauthentication_required",
            audit={
                "action": MFA_ENROL,
                "resource_type": "person",
                "resource_ids": [str(person.id)],
                "subjects": [("person", str(person.id))],
            },
        )
    secret = pending_totp_secret(person)
    if secret is None:
        raise ValidationFailed(
            "Start setting up your authenticator app again.",
            errors={"code": ["Start setting up your authenticator app again."]},
        )
    step = _matching_step(secret, code, None, utcnow())
    if step is None:
        audit.record(
            actor, MFA_ENROL, "failed", reason="bad_code", subjects=[("person", str(person.id))]
        )
        raise ValidationFailed(
            "The code is not right: enter the 6-digit code your authenticator app shows now.",
            errors={"code": ["Enter the 6-digit code your authenticator app shows now."]},
        )
    person.totp_secret_encrypted = _cipher().encrypt(secret.encode(), f"totp:{person.id}")
    person.totp_pending_encrypted = None
    person.totp_enrolled_at = utcnow()
    replaced = person.has_mfa
    person.totp_last_step = step
    codes = _replace_recovery_codes(person)
    if web_session is not None:
        web_session.reauthenticated_at = None  # one re-authentication, one replacement
    audit.record(
        actor,
        MFA_ENROL,
        "granted",
        subjects=[("person", str(person.id))],
        replaced="yes" if replaced else "no",
    )
    db.session.flush()
    return codes


def set_totp_secret(person: Person, secret: str) -> None:
    """Enrol `secret` directly, without a confirming code (the demo seeder and tests only)."""
    person.totp_secret_encrypted = _cipher().encrypt(secret.encode(), f"totp:{person.id}")
    person.totp_enrolled_at = utcnow()


def current_totp_code(person: Person) -> str | None:
    """The code the person's authenticator shows now (for `hub demo-code` and tests)."""
    secret = totp_secret(person)
    return _totp(secret).now() if secret else None


def totp_secret(person: Person) -> str | None:
    """The person's enrolled TOTP secret (used only to check codes, and by the demo seeder)."""
    if person.totp_secret_encrypted is None:
        return None
    return _cipher().decrypt(person.totp_secret_encrypted, f"totp:{person.id}").decode()


def _recovery_code() -> str:
    raw = "".join(secrets.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _replace_recovery_codes(person: Person) -> list[str]:
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.person_id == person.id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        db.session.add(RecoveryCode(person_id=person.id, code_hash=token_hash("recovery:" + code)))
    return codes


def verify_second_factor(actor: Actor, person: Person, code: str) -> SignInResult:
    """Check a TOTP code (never the same time step twice) or an unused recovery code."""
    return _check_second_factor(actor, person, code, "sign_in.mfa")


def _check_second_factor(actor: Actor, person: Person, code: str, action: str) -> SignInResult:
    """The second-factor check, its failures counted per person and audited as `action`."""
    key = lockout.code_key(person.id)
    now = utcnow()
    throttle = _throttle_for(key)
    subjects = [("person", str(person.id))]
    if throttle.locked_until and throttle.locked_until > now:
        audit.record(actor, action, "failed", reason="locked", subjects=subjects)
        return SignInResult(None, _wait_message(throttle.locked_until, now, True), "locked")
    secret = totp_secret(person)
    cleaned = code.strip().lower()
    method = ""
    reason = "bad_code"
    # Any step in the window, used or not: whether it is still free is the UPDATE's to decide.
    if secret and (step := _matching_step(secret, cleaned, None, now)) is not None:
        if _claim_totp_step(person, step):
            method = "totp"
        else:
            reason = "code_reused"
    elif "-" in cleaned and _spend_recovery_code(person, cleaned, now):
        method = "recovery_code"
    if not method:
        _register_failure(throttle, now)
        audit.record(actor, action, "failed", reason=reason, subjects=subjects)
        return SignInResult(
            None,
            "The code is not right: enter the 6-digit code from your authenticator app.",
            reason,
        )
    throttle.failures = 0
    throttle.locked_until = None
    throttle.next_allowed_at = None
    audit.record(actor, action, "granted", subjects=subjects, method=method)
    db.session.flush()
    return SignInResult(person)


# --- re-authentication ------------------------------------------------------------------


def reauthenticate(
    actor: Actor, person: Person, web_session: WebSession, password: str, code: str
) -> None:
    """Ask a signed-in person again for their password and a current code from their
    authenticator (or an unused recovery code, when it is lost) before they replace it.

    Wrong answers count towards the same slow-down and lockout as signing in (the password
    per email address, codes per person) and are audited as `mfa.reauthenticate`; each
    raises ValidationFailed naming its field. The caller commits either way. A person who
    signs in only through their organisation's identity provider has no hub password: the
    code alone is asked for.
    """
    errors: dict[str, list[str]] = {}
    asks_password = person.password_hash is not None
    if asks_password and not password:
        errors["password"] = ["Enter your password."]
    if not code.strip():
        errors["code"] = ["Enter the code from your authenticator app, or a recovery code."]
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    subjects = [("person", str(person.id))]
    if asks_password:
        now = utcnow()
        throttle = _throttle_for(lockout.password_key(person.email))
        waiting = _waiting(throttle, now)
        if waiting is None and not _password_matches(person.password_hash, password):
            _register_failure(throttle, now)
            waiting = ("The password is not right.", "bad_password")
        if waiting is not None:
            message, reason = waiting
            audit.record(actor, MFA_REAUTHENTICATE, "failed", reason=reason, subjects=subjects)
            raise ValidationFailed(message, errors={"password": [message]}, reason=reason)
        throttle.failures = 0
        throttle.next_allowed_at = None
    result = _check_second_factor(actor, person, code, "mfa.reauthenticate")
    if not result.ok:
        message = (
            result.message
            if result.reason == "locked"
            else "The code is not right: enter the 6-digit code your authenticator app shows "
            "now, or one of your recovery codes."
        )
        raise ValidationFailed(message, errors={"code": [message]}, reason=result.reason)
    web_session.reauthenticated_at = utcnow()
    db.session.flush()


def recently_reauthenticated(web_session: WebSession | None) -> bool:
    """True if this session re-authenticated in the last REAUTHENTICATION_LIFETIME."""
    if web_session is None or web_session.reauthenticated_at is None:
        return False
    return utcnow() - web_session.reauthenticated_at < REAUTHENTICATION_LIFETIME


def remaining_recovery_codes(person: Person) -> int:
    """How many recovery codes the person has left."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.person_id == person.id, RecoveryCode.used_at.is_(None))
        )
        or 0
    )


# --- sessions ---------------------------------------------------------------------------


def start_session(person: Person, *, mfa_done: bool) -> str:
    """A new session (a new identifier at every sign-in); returns the cookie's token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.add(
        WebSession(
            token_hash=token_hash(token),
            person_id=person.id,
            created_at=now,
            last_seen_at=now,
            password_at=now,
            mfa_at=now if mfa_done else None,
        )
    )
    person.last_sign_in_at = now if mfa_done else person.last_sign_in_at
    db.session.flush()
    return token


def complete_mfa(web_session: WebSession) -> None:
    """Mark a session as having passed its second factor."""
    web_session.mfa_at = utcnow()
    web_session.person.last_sign_in_at = web_session.mfa_at


def resolve_session(token: str | None) -> tuple[WebSession, Person] | None:
    """The live session and person for a cookie token, or None if it has ended for any reason.

    Checked on every request, so suspending a person or organisation takes effect at once.
    """
    if not token:
        return None
    web_session = db.session.get(WebSession, token_hash(token))
    if web_session is None or web_session.ended_at is not None:
        return None
    settings = current_app.config["HUB_SETTINGS"]
    now = utcnow()
    expired = now - web_session.created_at > timedelta(
        hours=settings.session_hours
    ) or now - web_session.last_seen_at > timedelta(minutes=settings.idle_minutes)
    person = db.session.get(Person, web_session.person_id)
    if person is None:
        return None
    organisation = db.session.get(Organisation, person.organisation_id)
    if expired or not person.is_active or organisation is None or not organisation.is_active:
        web_session.ended_at = now
        web_session.end_reason = "expired" if expired else "suspended"
        return None
    # Touch at most once a minute: idle expiry needs no finer grain, and writes cost.
    if now - web_session.last_seen_at > timedelta(minutes=1):
        web_session.last_seen_at = now
    return web_session, person


def end_session(token: str | None, reason: str = "signed_out") -> WebSession | None:
    """End the session for `token` so that its cookie is worthless from now on."""
    if not token:
        return None
    web_session = db.session.get(WebSession, token_hash(token))
    if web_session is not None and web_session.ended_at is None:
        web_session.ended_at = utcnow()
        web_session.end_reason = reason
    return web_session


# --- enrolment links --------------------------------------------------------------------


def person_for_enrolment(token: str) -> Person | None:
    """The person a valid, unused, unexpired enrolment token belongs to."""
    row = db.session.get(EnrolmentToken, token_hash(token))
    if row is None or row.used_at is not None or row.expires_at < utcnow():
        return None
    person = db.session.get(Person, row.person_id)
    if person is None or not person.is_active or not person.organisation.is_active:
        return None
    return person


def complete_enrolment(actor: Actor, token: str, password: str, confirm: str) -> Person:
    """Set the password chosen through an enrolment link, and use the link up."""
    person = person_for_enrolment(token)
    if person is None:
        raise ValidationFailed(
            "This link has expired or has already been used. Ask your "
            "organisation's administrator for a new one."
        )
    errors: dict[str, list[str]] = {}
    problems = password_problems(password, person.email)
    if problems:
        errors["password"] = problems
    if password != confirm:
        errors.setdefault("confirm", []).append("The passwords do not match.")
    if errors:
        raise ValidationFailed(next(iter(errors.values()))[0], errors=errors)
    db.session.get(EnrolmentToken, token_hash(token)).used_at = utcnow()
    person.password_hash = hash_password(password)
    # A reset also resets the second factor: the person sets it up again next.
    person.totp_secret_encrypted = None
    person.totp_enrolled_at = None
    person.totp_last_step = None
    db.session.execute(sa.delete(RecoveryCode).where(RecoveryCode.person_id == person.id))
    db.session.execute(
        sa.update(WebSession)
        .where(WebSession.person_id == person.id, WebSession.ended_at.is_(None))
        .values(ended_at=utcnow(), end_reason="password_reset")
    )
    audit.record(
        actor_for(person, request_id=actor.request_id),
        PERSON_PASSWORD_SET,
        "granted",
        subjects=[("person", str(person.id))],
    )
    db.session.flush()
    return person
