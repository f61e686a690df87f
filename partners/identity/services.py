"""Configuring an organisation's identity provider, and signing its people in with it.

A person arriving from an issuer is only ever matched (by email, case-insensitively) or
provisioned inside the one organisation that trusts that issuer, and only with an email
address in that organisation's allowed domains.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from audit import services as audit
from audit.actions import (
    IDENTITY_PROVIDER_CONFIGURE,
    IDENTITY_PROVIDER_REMOVE,
    PERSON_CREATE,
    PERSON_ROLES_CHANGE,
    SIGN_IN_OIDC_START,
)
from core.db import db, utcnow
from core.errors import PermissionDenied, ValidationFailed
from core.keys import FieldCipher
from core.security import Actor
from core.validation import Checker
from partners.identity import permissions, relying_party
from partners.identity.models import (
    IdentityProvider,
    IdentityProviderDomain,
    OidcSignInState,
    ProviderClientAuth,
    RolePolicy,
)
from partners.models import ROLE_KINDS, Organisation, Person, PersonRole, Role, Status
from partners.services import token_hash
from partners.signin import actor_for

STATE_LIFETIME = timedelta(minutes=10)
STATE_KEPT_FOR = timedelta(days=1)  # used and expired states are kept a day to spot replays
DOMAIN_PATTERN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")
CLAIM_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_:./-]{1,100}$")
DEFAULT_SCOPES = "openid email profile"
ACTION = "sign_in.oidc"


class SignInRefused(PermissionDenied):
    """A sign-in with an organisation's provider was refused; `reason` is the audit code."""

    title = "You could not be signed in"


@dataclass(frozen=True)
class SignedIn:
    """Who signed in, and whether the provider's authentication counts as multi-factor."""

    person: Person
    mfa_satisfied: bool
    next_url: str
    provisioned: bool


def _cipher() -> FieldCipher:
    return current_app.extensions["hub_field_cipher"]


def _development() -> bool:
    return current_app.config["HUB_SETTINGS"].is_development


def _credential_context(provider_id: Any) -> str:
    return f"identity-provider:{provider_id}"


# --- configuration ----------------------------------------------------------------------


def get_provider(organisation: Organisation) -> IdentityProvider | None:
    """The identity provider `organisation` trusts, if it has one."""
    return db.session.scalar(
        sa.select(IdentityProvider).where(IdentityProvider.organisation_id == organisation.id)
    )


def _deny(actor: Actor, organisation: Organisation) -> PermissionDenied:
    return PermissionDenied(
        "Only this organisation's administrators can configure its identity provider.",
        reason="not_permitted",
        audit={
            "action": IDENTITY_PROVIDER_CONFIGURE,
            "resource_type": "organisation",
            "resource_ids": [str(organisation.id)],
            "resource_org": str(organisation.id),
        },
    )


def check_can_configure(actor: Actor, organisation: Organisation) -> None:
    """Refuse (audited) anyone who may not see or change `organisation`'s provider."""
    if not permissions.can_configure_identity_provider(actor, organisation):
        raise _deny(actor, organisation)


def parse_role_mapping(
    check: Checker, organisation: Organisation, text: str
) -> dict[str, list[str]]:
    """Lines of `claim value = role, role` into a mapping, each role checked for the org kind."""
    mapping: dict[str, list[str]] = {}
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        value, sep, roles_text = line.partition("=")
        value = value.strip()
        if not sep or not value:
            check.add(
                "role_mapping",
                f"Line {number}: write the claim value, an equals sign, then hub roles, "
                "like 'prevent-team = prevent_lead'.",
            )
            continue
        roles = []
        for name in re.split(r"[,\s]+", roles_text.strip()):
            if not name:
                continue
            try:
                role = Role(name)
            except ValueError:
                check.add("role_mapping", f"Line {number}: '{name}' is not a hub role.")
                continue
            if organisation.kind not in ROLE_KINDS[role]:
                check.add(
                    "role_mapping",
                    f"Line {number}: the role '{role.value}' cannot be held in "
                    f"a {organisation.kind.value} organisation.",
                )
                continue
            if role.value not in roles:
                roles.append(role.value)
        if not roles and check.ok("role_mapping"):
            check.add("role_mapping", f"Line {number}: name at least one hub role.")
        mapping[value] = sorted(roles)
    return mapping


def format_role_mapping(mapping: dict[str, list[str]]) -> str:
    """The mapping as the form shows it."""
    return "\n".join(f"{value} = {', '.join(roles)}" for value, roles in sorted(mapping.items()))


def _domains(check: Checker, data: dict[str, Any]) -> list[str]:
    raw = data.get("allowed_domains") or ""
    if isinstance(raw, list):
        raw = " ".join(str(item) for item in raw)
    domains: list[str] = []
    for item in re.split(r"[,\s]+", str(raw).strip().lower()):
        domain = item.lstrip("@")
        if not domain:
            continue
        if not DOMAIN_PATTERN.match(domain) or len(domain) > 253:
            check.add(
                "allowed_domains",
                f"'{item}' is not an email domain: write domains like uni-northshire.ac.uk.",
            )
            continue
        if domain not in domains:
            domains.append(domain)
    if not domains and check.ok("allowed_domains"):
        check.add(
            "allowed_domains",
            "Enter at least one email domain your organisation's people sign in with.",
        )
    if len(" ".join(domains)) > 1000:
        check.add("allowed_domains", "List at most 1,000 characters of domains.")
    return domains


# Why a domain cannot be claimed, most serious first (the refusal's audit reason).
DOMAIN_REFUSALS = ("domain_claimed", "domain_used_elsewhere", "domain_not_evidenced")


def _addresses_at(domain: str, organisation: Organisation, *, elsewhere: bool) -> bool:
    """True if `organisation`'s people or data protection contact (with `elsewhere`: those of
    any other organisation) have an email address at exactly `domain`."""
    at_domain = "@" + domain
    if elsewhere:
        person_in, contact_of = (
            Person.organisation_id != organisation.id,
            Organisation.id != organisation.id,
        )
    else:
        person_in, contact_of = (
            Person.organisation_id == organisation.id,
            Organisation.id == organisation.id,
        )
    person = sa.select(Person.id).where(
        person_in, sa.func.lower(Person.email).endswith(at_domain, autoescape=True)
    )
    contact_email = sa.func.lower(Organisation.dp_contact_email)
    contact = sa.select(Organisation.id).where(
        contact_of, contact_email.endswith(at_domain, autoescape=True)
    )
    return bool(db.session.scalar(sa.select(sa.or_(sa.exists(person), sa.exists(contact)))))


def domain_claim_problems(
    actor: Actor, organisation: Organisation, domains: list[str]
) -> dict[str, tuple[str, str]]:
    """Which of `domains` `organisation`'s provider may not claim: domain -> (reason, message).

    A domain belongs to one organisation. Another provider's domain is refused to everyone
    (the hub's operator moves it by removing it there first). Otherwise an organisation's
    administrator may claim a domain only where the organisation's own addresses show it is
    theirs (its people's, or its data protection contact's) and no other organisation's
    people or contact use it; the hub's operator decides every other case. Domains the
    provider already holds are kept without asking again.
    """
    existing = get_provider(organisation)
    held = set(existing.domain_list) if existing else set()
    new = [domain for domain in domains if domain not in held]
    if not new:
        return {}
    owners = dict(
        db.session.execute(
            sa.select(IdentityProviderDomain.domain, IdentityProvider.organisation_id)
            .join(IdentityProvider, IdentityProvider.id == IdentityProviderDomain.provider_id)
            .where(IdentityProviderDomain.domain.in_(new))
        ).all()
    )
    problems: dict[str, tuple[str, str]] = {}
    for domain in new:
        if domain in owners and owners[domain] != organisation.id:
            problems[domain] = (
                "domain_claimed",
                f"{domain} is already used by another organisation's identity provider. An "
                "email domain can belong to one organisation only: if it is yours, ask the "
                "hub's operator to move it.",
            )
        elif actor.is_hub_admin:
            continue
        elif _addresses_at(domain, organisation, elsewhere=True):
            problems[domain] = (
                "domain_used_elsewhere",
                f"People in another organisation have email addresses at {domain}. Only the "
                "hub's operator can decide which organisation it belongs to.",
            )
        elif not _addresses_at(domain, organisation, elsewhere=False):
            problems[domain] = (
                "domain_not_evidenced",
                f"No one in {organisation.name} has an email address at {domain}, and it is "
                "not your data protection contact's. Ask the hub's operator to add a domain "
                "your organisation does not use in the hub yet.",
            )
    return problems


def _domain_refusal(
    organisation_id: str, problems: dict[str, tuple[str, str]], errors: dict[str, list[str]]
) -> ValidationFailed:
    """The audited refusal of a provider whose domains include ones it may not claim."""
    reason = min((r for r, _ in problems.values()), key=DOMAIN_REFUSALS.index)
    first = next(iter(problems.values()))[1]
    return ValidationFailed(
        first,
        errors=errors,
        reason=reason,
        audit={
            "action": IDENTITY_PROVIDER_CONFIGURE,
            "resource_type": "organisation",
            "resource_ids": [organisation_id],
            "resource_org": organisation_id,
            "refused_domains": {domain: r for domain, (r, _) in sorted(problems.items())},
        },
    )


def configure_provider(
    actor: Actor, organisation: Organisation, data: dict[str, Any]
) -> IdentityProvider:
    """Create or change `organisation`'s identity provider (its administrators, hub admins).

    A blank secret or key keeps the one stored, so an administrator never sees it again.
    """
    check_can_configure(actor, organisation)
    existing = get_provider(organisation)
    check = Checker(data)
    issuer = check.url("issuer", "the issuer URL")
    if issuer:
        problem = relying_party.issuer_problem(issuer, development=_development())
        if problem:
            check.add("issuer", problem)
        else:
            taken = db.session.scalar(
                sa.select(IdentityProvider.organisation_id).where(IdentityProvider.issuer == issuer)
            )
            if taken is not None and taken != organisation.id:
                check.add(
                    "issuer",
                    "Another organisation already trusts this issuer: an issuer can be "
                    "trusted by one organisation only.",
                )
    client_id = check.text("client_id", "the client ID the provider gave the hub", max_length=255)
    method = check.choice(
        "client_auth_method", ProviderClientAuth, "how the hub proves itself to the provider"
    )
    secret = str(data.get("client_secret") or "").strip()
    private_key = str(data.get("private_key") or "").strip()
    credential = ""
    keep_credential = existing is not None and existing.client_auth_method == method
    if method == ProviderClientAuth.CLIENT_SECRET_BASIC:
        if secret:
            if len(secret) > 1000:
                check.add("client_secret", "The client secret must be 1,000 characters or fewer.")
            credential = secret
        elif not keep_credential:
            check.add("client_secret", "Enter the client secret the provider gave the hub.")
    elif method == ProviderClientAuth.PRIVATE_KEY_JWT:
        if private_key:
            problem = relying_party.private_key_problem(private_key)
            if problem:
                check.add("private_key", problem)
            credential = private_key
        elif not keep_credential:
            check.add("private_key", "Enter the private key whose public key the provider holds.")
    domains = _domains(check, data)
    claim_problems = domain_claim_problems(actor, organisation, domains)
    for _reason, message in claim_problems.values():
        check.add("allowed_domains", message)
    policy = check.choice("role_policy", RolePolicy, "where people's hub roles come from")
    role_claim: str | None = None
    mapping: dict[str, list[str]] = {}
    if policy == RolePolicy.CLAIM:
        role_claim = check.text("role_claim", "the claim that carries roles or groups")
        if role_claim and not CLAIM_NAME_PATTERN.match(role_claim):
            check.add(
                "role_claim",
                "The claim name may use letters, digits and _ : . / - only, like groups.",
            )
        mapping = parse_role_mapping(check, organisation, str(data.get("role_mapping") or ""))
        if not mapping and check.ok("role_mapping"):
            check.add(
                "role_mapping",
                "Map at least one claim value to hub roles, like 'prevent-team = prevent_lead'.",
            )
    scopes = " ".join(str(data.get("scopes") or DEFAULT_SCOPES).split())
    if "openid" not in scopes.split():
        check.add("scopes", "The scopes must include openid.")
    elif len(scopes) > 300:
        check.add("scopes", "The scopes must be 300 characters or fewer.")
    enabled = data.get("enabled") is None or check.boolean(
        "enabled", "whether people may sign in with it now"
    )
    if claim_problems:
        raise _domain_refusal(str(organisation.id), claim_problems, check.errors)
    check.raise_if_any()
    assert method is not None
    assert policy is not None

    creating = existing is None
    # The id is chosen now: it binds the encrypted credential to this provider.
    provider = existing or IdentityProvider(
        id=uuid.uuid4(), organisation_id=organisation.id, role_mapping={}
    )
    before = {} if creating else _settings_snapshot(provider)
    provider.issuer = issuer
    provider.client_id = client_id
    provider.client_auth_method = method
    provider.scopes = scopes
    provider.role_policy = policy
    provider.role_claim = role_claim
    provider.role_mapping = mapping
    provider.enabled = enabled
    if credential:
        provider.credential_encrypted = _cipher().encrypt(
            credential.encode(), _credential_context(provider.id)
        )
    if creating:
        db.session.add(provider)
    db.session.flush()
    organisation_id = str(organisation.id)  # read now: a failed flush expires the objects
    held = {claim.domain: claim for claim in provider.domains}
    provider.domains = [held.get(d) or IdentityProviderDomain(domain=d) for d in domains]
    try:
        db.session.flush()
    except IntegrityError as exc:
        # Another organisation claimed one of them since the check above, and committed
        # first: the domain's primary key lets one claim win. (The caller rolls back.)
        message = (
            "Another organisation's identity provider has just claimed one of these domains. "
            "An email domain can belong to one organisation only: check the list, or ask the "
            "hub's operator."
        )
        added = [domain for domain in domains if domain not in held]
        raise _domain_refusal(
            organisation_id,
            {domain: ("domain_claimed", message) for domain in added},
            {"allowed_domains": [message]},
        ) from exc
    after = _settings_snapshot(provider)
    changed = sorted(k for k in after if before.get(k) != after[k])
    if credential:
        changed.append(
            "client_secret" if method == ProviderClientAuth.CLIENT_SECRET_BASIC else "private_key"
        )
    relying_party.forget_discovery(issuer)
    if changed:
        audit.record(
            actor,
            "identity_provider.create" if creating else "identity_provider.update",
            "granted",
            resource_type="identity_provider",
            resource_ids=[str(provider.id)],
            resource_org=str(organisation.id),
            fields=sorted(set(changed)),
        )
    return provider


def _settings_snapshot(provider: IdentityProvider) -> dict[str, Any]:
    return {
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_auth_method": provider.client_auth_method.value,
        "allowed_domains": " ".join(provider.domain_list),
        "scopes": provider.scopes,
        "role_policy": provider.role_policy.value,
        "role_claim": provider.role_claim,
        "role_mapping": dict(provider.role_mapping or {}),
        "enabled": provider.enabled,
    }


def remove_provider(actor: Actor, organisation: Organisation) -> None:
    """Stop trusting `organisation`'s provider (its people keep their accounts)."""
    check_can_configure(actor, organisation)
    provider = get_provider(organisation)
    if provider is None:
        return
    provider_id = str(provider.id)
    db.session.execute(sa.delete(OidcSignInState).where(OidcSignInState.provider_id == provider.id))
    db.session.delete(provider)
    db.session.flush()
    relying_party.forget_discovery(provider.issuer)
    audit.record(
        actor,
        IDENTITY_PROVIDER_REMOVE,
        "granted",
        resource_type="identity_provider",
        resource_ids=[provider_id],
        resource_org=str(organisation.id),
    )


# --- finding the provider for a person --------------------------------------------------


def provider_for_email(email: str) -> IdentityProvider | None:
    """The enabled provider of an active organisation that claims `email`'s domain, if any
    (a domain is claimed by one provider at most: its primary key)."""
    domain = email.rsplit("@", 1)[-1].strip().lower()
    if not domain:
        return None
    return db.session.scalar(
        sa.select(IdentityProvider)
        .join(IdentityProviderDomain, IdentityProviderDomain.provider_id == IdentityProvider.id)
        .join(Organisation, Organisation.id == IdentityProvider.organisation_id)
        .where(
            IdentityProviderDomain.domain == domain,
            IdentityProvider.enabled.is_(True),
            Organisation.status == Status.ACTIVE,
        )
    )


def provider_for_organisation(slug: str) -> IdentityProvider | None:
    """The enabled provider of the organisation with `slug`, if any."""
    return db.session.scalar(
        sa.select(IdentityProvider)
        .join(Organisation, Organisation.id == IdentityProvider.organisation_id)
        .where(Organisation.slug == slug, IdentityProvider.enabled.is_(True))
    )


def _settings(provider: IdentityProvider) -> relying_party.ProviderSettings:
    credential = (
        _cipher().decrypt(provider.credential_encrypted, _credential_context(provider.id)).decode()
    )
    return relying_party.ProviderSettings(
        issuer=provider.issuer,
        client_id=provider.client_id,
        auth_method=provider.client_auth_method.value,
        credential=credential,
        scopes=provider.scopes,
    )


# --- signing in -------------------------------------------------------------------------


def _refusal(
    provider: IdentityProvider | None,
    reason: str,
    detail: str,
    *,
    email: str | None = None,
    **details: Any,
) -> SignInRefused:
    audit_details: dict[str, Any] = {"action": ACTION, **details}
    if provider is not None:
        audit_details.update(
            resource_type="identity_provider",
            resource_ids=[str(provider.id)],
            resource_org=str(provider.organisation_id),
        )
    if email:
        audit_details["subjects"] = [("account", email.lower())]
    return SignInRefused(detail, reason=reason, audit=audit_details)


def begin_sign_in(
    actor: Actor,
    provider: IdentityProvider,
    *,
    redirect_uri: str,
    next_url: str = "",
    login_hint: str = "",
) -> tuple[str, str]:
    """Start a sign-in: keep state, nonce and PKCE verifier; return (provider URL, state)."""
    if not provider.enabled or not provider.organisation.is_active:
        raise _refusal(
            provider,
            "provider_disabled",
            "Signing in with this organisation's account is not available.",
        )
    try:
        request = relying_party.authorization_request(
            _settings(provider),
            redirect_uri,
            development=_development(),
            login_hint=login_hint,
        )
    except relying_party.ProviderRefusal as exc:
        raise _refusal(provider, exc.reason, exc.detail) from exc
    now = utcnow()
    db.session.execute(
        sa.delete(OidcSignInState).where(OidcSignInState.expires_at < now - STATE_KEPT_FOR)
    )
    key = token_hash("oidc-state:" + request.state)
    db.session.add(
        OidcSignInState(
            state_hash=key,
            provider_id=provider.id,
            nonce=request.nonce,
            code_verifier_encrypted=_cipher().encrypt(
                request.code_verifier.encode(), f"oidc-verifier:{key}"
            ),
            redirect_uri=redirect_uri,
            next_url=next_url[:500],
            created_at=now,
            expires_at=now + STATE_LIFETIME,
        )
    )
    audit.record(
        actor,
        SIGN_IN_OIDC_START,
        "granted",
        resource_type="identity_provider",
        resource_ids=[str(provider.id)],
        resource_org=str(provider.organisation_id),
    )
    db.session.flush()
    return request.url, request.state


def consume_state(actor: Actor, state: str, browser_state: str | None) -> OidcSignInState:
    """The sign-in `state` names, used up now (the caller commits before going on).

    Unknown, or not the one this browser started: state_mismatch. Already used:
    replayed_state. Too old: state_expired.
    """
    if not state:
        raise _refusal(
            None, "state_mismatch", "The answer from the sign-in service was incomplete."
        )
    row = db.session.get(OidcSignInState, token_hash("oidc-state:" + state))
    if row is None:
        raise _refusal(None, "state_mismatch", "This sign-in was not started here, or has expired.")
    provider = row.provider
    if row.used_at is not None:
        raise _refusal(provider, "replayed_state", "This sign-in answer has already been used.")
    if browser_state is None or not secrets.compare_digest(browser_state, state):
        raise _refusal(
            provider,
            "state_mismatch",
            "This sign-in was started in a different browser or tab. Start again here.",
        )
    now = utcnow()
    if row.expires_at < now:
        row.used_at = now
        db.session.flush()
        raise _refusal(provider, "state_expired", "This sign-in took too long. Start again.")
    row.used_at = now
    db.session.flush()
    return row


def complete_sign_in(
    actor: Actor,
    attempt: OidcSignInState,
    *,
    code: str | None,
    iss: str | None,
    error: str | None,
) -> SignedIn:
    """Check the provider's answer and find (or provision) the person it names."""
    provider = attempt.provider
    organisation = provider.organisation
    settings = _settings(provider)
    development = _development()
    try:
        relying_party.check_response_issuer(settings, iss, development=development)
        if error:
            raise relying_party.ProviderRefusal(
                "provider_error",
                "Your organisation's sign-in service did not sign you in"
                + (" (you cancelled, or were not allowed)." if error == "access_denied" else "."),
            )
        if not code:
            raise relying_party.ProviderRefusal(
                "code_missing", "The answer from the sign-in service was incomplete."
            )
        verifier = (
            _cipher()
            .decrypt(attempt.code_verifier_encrypted, f"oidc-verifier:{attempt.state_hash}")
            .decode()
        )
        claims = relying_party.redeem_code(
            settings,
            code=code,
            redirect_uri=attempt.redirect_uri,
            code_verifier=verifier,
            nonce=attempt.nonce,
            development=development,
        )
    except relying_party.ProviderRefusal as exc:
        raise _refusal(provider, exc.reason, exc.detail, provider_error=(error or None)) from exc

    email = str(claims.get("email") or "").strip().lower()
    if not email or "@" not in email:
        raise _refusal(
            provider,
            "email_missing",
            "Your organisation's sign-in service did not share your email address.",
        )
    if claims.get("email_verified") is False:
        raise _refusal(
            provider,
            "email_not_verified",
            "Your organisation's sign-in service has not verified your email address.",
            email=email,
        )
    if email.rsplit("@", 1)[1] not in provider.domain_list:
        raise _refusal(
            provider,
            "email_domain_not_allowed",
            f"Your email address is not one that {organisation.name} lets sign in to the hub.",
            email=email,
        )
    if not organisation.is_active:
        raise _refusal(
            provider,
            "organisation_suspended",
            "Your organisation's access to the hub is suspended.",
            email=email,
        )
    person = db.session.scalar(sa.select(Person).where(sa.func.lower(Person.email) == email))
    if person is not None and person.organisation_id != organisation.id:
        # The same address is registered elsewhere: an issuer never reaches across.
        raise _refusal(
            provider,
            "person_in_other_organisation",
            "Your email address belongs to an account in another organisation. Sign in the way "
            "that organisation set up, or ask your administrator.",
            email=email,
        )
    if person is not None and not person.is_active:
        raise _refusal(
            provider,
            "person_suspended",
            "Your account is suspended. Contact your organisation's administrator.",
            email=email,
        )
    provisioned = person is None
    if person is None:
        person = _provision(provider, email, claims)
    if provider.role_policy == RolePolicy.CLAIM:
        _apply_claimed_roles(provider, person, claims)
    mfa = relying_party.mfa_asserted(claims.get("amr"))
    person_actor = actor_for(person, request_id=actor.request_id, remote_addr=actor.remote_addr)
    audit.record(
        person_actor,
        ACTION,
        "granted",
        resource_type="identity_provider",
        resource_ids=[str(provider.id)],
        resource_org=str(organisation.id),
        subjects=[("person", str(person.id))],
        mfa_by_provider="yes" if mfa else "no",
        provisioned="yes" if provisioned else "no",
    )
    db.session.flush()
    return SignedIn(
        person=person, mfa_satisfied=mfa, next_url=attempt.next_url, provisioned=provisioned
    )


def _display_name(claims: dict[str, Any], email: str) -> str:
    name = str(claims.get("name") or "").strip()
    if not name:
        name = " ".join(
            str(claims.get(part) or "").strip() for part in ("given_name", "family_name")
        ).strip()
    return (name or email.split("@", 1)[0])[:200]


def _provision(provider: IdentityProvider, email: str, claims: dict[str, Any]) -> Person:
    """A new person in the provider's organisation, with no roles (or the mapped ones)."""
    person = Person(
        name=_display_name(claims, email),
        email=email,
        status=Status.ACTIVE,
        organisation_id=provider.organisation_id,
    )
    db.session.add(person)
    db.session.flush()
    audit.record(
        Actor.system("identity-provider"),
        PERSON_CREATE,
        "granted",
        resource_type="person",
        resource_ids=[str(person.id)],
        resource_org=str(provider.organisation_id),
        subjects=[("person", str(person.id))],
        source="identity_provider",
        organisation=str(provider.organisation_id),
    )
    return person


def claimed_roles(provider: IdentityProvider, claims: dict[str, Any]) -> set[Role]:
    """The hub roles the provider's role claim maps to (unknown values map to nothing)."""
    value = claims.get(provider.role_claim or "")
    values = value if isinstance(value, list) else [value] if value is not None else []
    roles: set[Role] = set()
    for item in values:
        for name in (provider.role_mapping or {}).get(str(item), []):
            role = Role(name)
            if provider.organisation.kind in ROLE_KINDS[role]:
                roles.add(role)
    return roles


def _apply_claimed_roles(
    provider: IdentityProvider, person: Person, claims: dict[str, Any]
) -> None:
    roles = claimed_roles(provider, claims)
    before = {Role(r) for r in person.roles}
    granted = sorted(r.value for r in roles - before)
    revoked = sorted(r.value for r in before - roles)
    if not granted and not revoked:
        return
    person.role_grants = [g for g in person.role_grants if g.role in roles]
    person.role_grants.extend(PersonRole(role=Role(r)) for r in granted)
    db.session.flush()
    audit.record(
        Actor.system("identity-provider"),
        PERSON_ROLES_CHANGE,
        "granted",
        resource_type="person",
        resource_ids=[str(person.id)],
        resource_org=str(provider.organisation_id),
        subjects=[("person", str(person.id))],
        granted=granted,
        revoked=revoked,
        source="identity_provider",
    )
