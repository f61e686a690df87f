"""What partner systems may be granted, and which kinds of organisation may hold each scope."""

from __future__ import annotations

SCOPES = {
    "speakers:read": "Search and read speakers (own, and partners' through agreements)",
    "speakers:write": "Create and change the organisation's speakers and statements",
    "events:read": "Read events and decisions (own, and partners' through agreements)",
    "events:write": "Create, change and submit the organisation's events",
    "assessments:write": "Complete risk assessments of the organisation's events",
    "advisory:respond": "Answer advisory requests routed to a police Prevent team",
    "agreements:read": "Read the agreements the organisation is party to",
    "audit:verify": "Fetch checkpoints and proofs to verify the audit log",
    "audit:read": "Read the organisation's own audit entries",
    "notifications:read": "Read the organisation's notifications (corrections, agreements)",
}

_COMMON = {
    "speakers:read",
    "events:read",
    "agreements:read",
    "audit:verify",
    "audit:read",
    "notifications:read",
}

#: An organisation's clients never hold scopes its kind does not allow.
KIND_SCOPES: dict[str, frozenset[str]] = {
    "university": frozenset(_COMMON | {"speakers:write", "events:write", "assessments:write"}),
    "students_union": frozenset(_COMMON | {"speakers:write", "events:write", "assessments:write"}),
    "police_prevent": frozenset(_COMMON | {"advisory:respond"}),
    "regional_coordinator": frozenset(_COMMON),
    "local_authority": frozenset(_COMMON),
    "hub": frozenset(_COMMON),
}


def allowed_for(kind: str) -> frozenset[str]:
    """Scopes an organisation of `kind` may give its clients."""
    return KIND_SCOPES.get(kind, frozenset())
