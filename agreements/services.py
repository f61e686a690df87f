"""The one path for sharing: `disclose(actor, records, purpose)`.

A partner sees another organisation's record only under an agreement that is in force at this
instant, that names the purpose, and whose data schedule gives that record type to the
partner; it sees only the fields the schedule gives, at their levels; and every disclosure is
written to the audit log (field names, never values). Nothing else in the hub reads another
organisation's records.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, selectinload

from agreements import lifecycle
from agreements.fields import EXISTENCE_ONLY, NAME_FIELDS
from agreements.lifecycle import (  # noqa: F401  (the lifecycle is part of this service's API)
    amend,
    approve,
    create_draft,
    get_agreement,
    list_agreements,
    propose,
    resume,
    suspend,
    terminate,
    update_draft,
)
from agreements.models import (
    Agreement,
    AgreementKey,
    AgreementParty,
    AgreementPurpose,
    AgreementStatus,
)
from agreements.policy import Disclosed, ShareableRecord, plain, project
from agreements.purposes import PURPOSES
from audit.actions import DISCLOSURE
from audit.services import record as audit_record
from audit.services import record_many as audit_records
from core import policy
from core.db import db, utcnow
from core.errors import HubError, NotFound
from core.security import Actor
from partners.services import organisation_card


class PurposeRefused(HubError):
    """A read of shared data without a purpose, or with one the hub does not know."""

    status = 400
    slug = "purpose-refused"
    title = "A valid purpose is required"


@dataclass(frozen=True)
class AgreementTerms:
    """What the sharing path reads of an agreement version in force, frozen: shared by every
    request of a policy generation (`core.policy`), so never a session's ORM object."""

    id: uuid.UUID
    lineage_id: uuid.UUID
    version: int
    reference: str
    content_hash: str | None
    starts_at: datetime
    ends_at: datetime
    approved_at: datetime | None
    created_at: datetime
    #: Each party's designated person, by organisation id (str).
    designated: Mapping[str, str]

    def in_force(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at


@dataclass(frozen=True)
class Cover:
    """One agreement's schedule entry that covers one provider's record type for the actor."""

    agreement: AgreementTerms
    entry: Mapping[str, Any]
    #: The agreement lineage's pseudonymisation key as stored (encrypted), read with it.
    key_encrypted: bytes | None = None

    @property
    def existence_only(self) -> bool:
        return self.entry.get("level") == EXISTENCE_ONLY

    @property
    def levels(self) -> Mapping[str, str]:
        return self.entry.get("fields", {})


def check_purpose(actor: Actor, purpose: str | None, action: str) -> str:
    """The purpose of a read of shared data must be given and known; refusals are audited."""
    if not purpose:
        raise PurposeRefused(
            "State the purpose of this query.",
            reason="purpose_missing",
            audit={"action": action, "resource_type": "purpose"},
        )
    if purpose not in PURPOSES:
        raise PurposeRefused(
            f"'{purpose}' is not a purpose the hub knows: use one of "
            f"{', '.join(sorted(PURPOSES))}.",
            reason="purpose_unknown",
            audit={"action": action, "resource_type": "purpose"},
        )
    return purpose


def covers_for(actor: Actor, purpose: str, now: datetime) -> dict[tuple[str, str], list[Cover]]:
    """Every schedule entry in force now that gives something to the actor's organisation for
    `purpose`, by (provider organisation, record type). The approved agreements are read once
    per policy generation; which of them are in force is decided here, by the clock."""
    if actor.org_id is None:
        return {}
    covers: dict[tuple[str, str], list[Cover]] = {}
    for cover in _approved_covers(actor.org_id, purpose):
        if cover.agreement.in_force(now):
            covers.setdefault((cover.entry["provider"], cover.entry["record_type"]), []).append(
                cover
            )
    return covers


def _approved_covers(org_id: str, purpose: str) -> tuple[Cover, ...]:
    """The schedule entries giving `org_id` something for `purpose` in every approved
    agreement it is party to, whatever their dates (cached per policy generation)."""

    def load() -> tuple[Cover, ...]:
        rows = db.session.execute(
            sa.select(Agreement, AgreementKey.key_encrypted)
            .join(AgreementParty, AgreementParty.agreement_id == Agreement.id)
            .join(AgreementPurpose, AgreementPurpose.agreement_id == Agreement.id)
            .outerjoin(AgreementKey, AgreementKey.lineage_id == Agreement.lineage_id)
            .where(
                AgreementParty.organisation_id == uuid.UUID(org_id),
                Agreement.status == AgreementStatus.APPROVED,
                AgreementPurpose.code == purpose,
            )
            .options(selectinload(Agreement.parties))
        ).unique()
        found = []
        for agreement, key in rows:
            terms = AgreementTerms(
                id=agreement.id,
                lineage_id=agreement.lineage_id,
                version=agreement.version,
                reference=agreement.reference,
                content_hash=agreement.content_hash,
                starts_at=agreement.starts_at,
                ends_at=agreement.ends_at,
                approved_at=agreement.approved_at,
                created_at=agreement.created_at,
                designated=MappingProxyType(
                    {str(p.organisation_id): p.designated_person for p in agreement.parties}
                ),
            )
            found.extend(
                Cover(terms, MappingProxyType(copy.deepcopy(entry)), key)
                for entry in agreement.content.get("data_schedule", [])
                if entry["recipient"] == org_id
            )
        return tuple(found)

    return policy.cached("agreement_covers", (org_id, purpose), load)


def purposes_for(actor: Actor, now: datetime | None = None) -> list[str]:
    """The purposes the actor may usefully state: those named by the agreements in force whose
    schedules give the actor's organisation something (sorted by code). What a page offers in
    its purpose list; stating another is still checked, and finds nothing of partners'. Read
    from the same cached covers as the sharing path, so the list and the answers agree."""
    if actor.org_id is None:
        return []
    moment = now or utcnow()
    return sorted(
        code
        for code in PURPOSES
        if any(cover.agreement.in_force(moment) for cover in _approved_covers(actor.org_id, code))
    )


def providers_for(
    actor: Actor, record_type: str, purpose: str, now: datetime | None = None
) -> set[str]:
    """`Sharing.providers` in this transaction's session for `purpose`."""
    return sharing(actor, purpose, now=now).providers(record_type)


def _best(covers: list[Cover]) -> Cover:
    # Where two agreements cover the same record, the one giving the most is used: each is
    # lawful on its own, and the recipient would otherwise see less than agreed.
    return max(
        covers,
        key=lambda c: (
            not c.existence_only,
            len(c.levels),
            c.agreement.approved_at or c.agreement.created_at,
        ),
    )


def _refuse(actor: Actor, record: ShareableRecord, purpose: str, reason: str, action: str) -> None:
    audit_record(
        actor,
        action,
        "denied",
        reason=reason,
        resource_type=record.record_type,
        resource_ids=[record.id],
        resource_org=record.owner_org_id,
        purpose=purpose,
        subjects=record.subjects,
    )


def _decide(
    actor: Actor, record: ShareableRecord, covers: dict[tuple[str, str], list[Cover]]
) -> Cover | str | None:
    """The cover a record would be disclosed under; a refusal reason; or None for a record of
    the actor's own organisation (no disclosure needed)."""
    if actor.org_id is not None and record.owner_org_id == actor.org_id:
        return None
    if record.distribution != "shareable":
        return "not_shareable"
    candidates = covers.get((record.owner_org_id, record.record_type))
    if not candidates:
        return "no_agreement"
    cover = _best(candidates)
    matched = record.matched_field
    if (
        not cover.existence_only
        and matched
        and matched in NAME_FIELDS.get(record.record_type, ())
        and matched not in cover.levels
    ):
        # Found by a name the schedule withholds: showing the hit would reveal it.
        return "name_withheld"
    return cover


@dataclass
class Sharing:
    """One request's reads of shared data for one purpose: the purpose checked and the
    agreements in force loaded once, and every total, search and disclosure of the request
    decided from the same covers. Get it from `sharing()`."""

    actor: Actor
    purpose: str
    now: datetime
    covers: dict[tuple[str, str], list[Cover]]

    def designated_person(self, agreement_id: str, org_id: str) -> str:
        """Whom the agreement `agreement_id` (one of the covers) names at `org_id`."""
        for covers in self.covers.values():
            for cover in covers:
                if str(cover.agreement.id) == agreement_id:
                    return cover.agreement.designated.get(org_id, "")
        return ""

    def may_see(self, owner_org_id: str, record_type: str) -> bool:
        """Whether any `record_type` record of `owner_org_id` could be seen: the actor's own,
        or a cover gives that type of that organisation (else reading them is pointless)."""
        return owner_org_id == self.actor.org_id or (owner_org_id, record_type) in self.covers

    def providers(self, record_type: str) -> set[str]:
        """Organisations whose `record_type` records could be disclosed (search looks only
        there)."""
        return {provider for provider, kind in self.covers if kind == record_type}

    def would_disclose(self, records: Sequence[ShareableRecord]) -> set[str]:
        """Ids of the records `disclose` would return, without disclosing (for totals and
        counts, which must not count what the actor may not see)."""
        return {r.id for r in records if not isinstance(_decide(self.actor, r, self.covers), str)}

    def disclose(
        self,
        records: Sequence[ShareableRecord],
        *,
        audit_refusals: bool = True,
        action: str = DISCLOSURE,
        audit_with: Callable[[list[Disclosed]], Mapping[str, Any]] | None = None,
        written_with: Sequence[Mapping[str, Any]] = (),
    ) -> list[Disclosed]:
        """What the actor may see of `records`, each minimised by its agreement's data schedule
        and carrying `disclosed_under`; one audit entry per disclosure, all written in one
        statement (and one per refusal, unless the caller is filtering candidates it was not
        asked for by id). `audit_with`, given what was disclosed, makes one more entry of the
        request (`audit.record`'s arguments), written in the same statement (a search's own);
        so are `written_with`, entries of the request's earlier disclosure (`disclose_one`'s
        `unwritten`), written first."""
        results, granted = self._disclosures(records, audit_refusals, action)
        if audit_with is not None:
            granted.append(dict(audit_with(results)))
        audit_records(self.actor, [*map(dict, written_with), *granted])
        return results

    def _disclosures(
        self, records: Sequence[ShareableRecord], audit_refusals: bool, action: str
    ) -> tuple[list[Disclosed], list[dict[str, Any]]]:
        """`disclose`'s decisions: what is disclosed, and the entries to write for it."""
        actor, purpose = self.actor, self.purpose
        decisions = [(record, _decide(actor, record, self.covers)) for record in records]
        # The pseudonymisation keys of every agreement the fields are disclosed under, at once.
        projected = [d for _r, d in decisions if isinstance(d, Cover) and not d.existence_only]
        keys = lifecycle.pseudonym_keys(
            [d.agreement for d in projected],
            stored={d.agreement.lineage_id: d.key_encrypted for d in projected if d.key_encrypted},
        )
        results: list[Disclosed] = []
        granted: list[dict[str, Any]] = []  # the audit entries, written together at the end
        for record, decision in decisions:
            if decision is None:
                results.append(
                    Disclosed(
                        record.record_type,
                        record.id,
                        record.owner_org_id,
                        _own(record),
                        None,
                        fields=tuple(record.values),
                    )
                )
                continue
            if isinstance(decision, str):
                if audit_refusals and decision != "name_withheld":
                    _refuse(actor, record, purpose, decision, action)
                continue
            cover = decision
            agreement = cover.agreement
            if cover.existence_only:
                owner = organisation_card(record.owner_org_id)
                data = {
                    "owner": owner.name if owner else "",
                    "contact": owner.dp_contact_email if owner else "",
                }
                disclosed_fields: tuple[str, ...] = ()
            else:
                data = project(record, cover.levels, keys[agreement.lineage_id])
                disclosed_fields = tuple(sorted(data))
            under = {
                "agreement_id": str(agreement.id),
                "reference": agreement.reference,
                "version": agreement.version,
            }
            granted.append(
                {
                    "action": action,
                    "outcome": "granted",
                    "resource_type": record.record_type,
                    "resource_ids": [record.id],
                    "resource_org": record.owner_org_id,
                    "agreement": lifecycle.ref(agreement),
                    "purpose": purpose,
                    "fields": disclosed_fields,
                    "subjects": record.subjects,
                    "level": EXISTENCE_ONLY if cover.existence_only else "fields",
                }
            )
            results.append(
                Disclosed(
                    record.record_type,
                    record.id,
                    record.owner_org_id,
                    data,
                    under,
                    existence_only=cover.existence_only,
                    fields=disclosed_fields,
                )
            )
        return results, granted

    def disclose_one(
        self, record: ShareableRecord, *, unwritten: list[dict[str, Any]] | None = None
    ) -> Disclosed:
        """One record asked for by id: disclosed, or NotFound with the words an absent record
        gets (NOT_FOUND), so a refusal answers exactly like one. The refusal is audited by the
        edge once the request's own changes are undone (an entry written here would be rolled
        back). With `unwritten`, the disclosure's entry is added to that list, not written:
        the caller must pass it on to the `disclose` of what the record leads to
        (`written_with`), so both go to the log in one statement."""
        if unwritten is None:
            found = self.disclose([record], audit_refusals=False)
        else:
            found, entries = self._disclosures([record], False, DISCLOSURE)
            unwritten.extend(entries)
        if found:
            return found[0]
        reason = _decide(self.actor, record, self.covers)
        raise NotFound(
            NOT_FOUND,
            reason=reason if isinstance(reason, str) else "refused",
            audit={
                "action": DISCLOSURE,
                "resource_type": record.record_type,
                "resource_ids": [record.id],
                "resource_org": record.owner_org_id,
                "purpose": self.purpose,
                "subjects": record.subjects,
            },
        )


#: What a record asked for by id that the asker may not see, or that does not exist, answers.
NOT_FOUND = "There is no such record that you may see."
#: Where a transaction keeps its sharing sessions (`session.info`).
_SESSIONS = "hub_sharing_sessions"
#: Rows whose change can change what is in force: a flush of any of them forgets the sessions.
_POLICY_MODELS = (Agreement, AgreementParty, AgreementPurpose)


def sharing(
    actor: Actor, purpose: str | None, action: str = DISCLOSURE, *, now: datetime | None = None
) -> Sharing:
    """The sharing session of this transaction for `actor` and `purpose`: made (the purpose
    checked, a refusal audited as `action`; the agreements in force loaded) the first time it
    is asked for, then reused, until the transaction ends or an agreement, party or purpose
    row is flushed. With `now`, a fresh session judged at that instant (not kept)."""
    if now is not None:
        checked = check_purpose(actor, purpose, action)
        return Sharing(actor, checked, now, covers_for(actor, checked, now))
    kept: dict[tuple[Any, ...], Sharing] = db.session().info.setdefault(_SESSIONS, {})
    key = (actor.kind, actor.id, actor.org_id, purpose)
    found = kept.get(key)
    if found is None:
        checked = check_purpose(actor, purpose, action)
        moment = utcnow()
        found = kept[key] = Sharing(actor, checked, moment, covers_for(actor, checked, moment))
    return found


@event.listens_for(Session, "after_flush")
def _forget_on_policy_change(session: Session, _context: Any) -> None:
    changed = (*session.new, *session.dirty, *session.deleted)
    if any(isinstance(row, _POLICY_MODELS) for row in changed):
        session.info.pop(_SESSIONS, None)


@event.listens_for(Session, "after_transaction_end")
def _forget_at_transaction_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(_SESSIONS, None)


def would_disclose(
    actor: Actor,
    records: Sequence[ShareableRecord],
    purpose: str | None,
    *,
    now: datetime | None = None,
) -> set[str]:
    """`Sharing.would_disclose` in this transaction's session for `purpose`."""
    return sharing(actor, purpose, now=now).would_disclose(records)


def disclose(
    actor: Actor,
    records: Sequence[ShareableRecord],
    purpose: str | None,
    *,
    now: datetime | None = None,
    audit_refusals: bool = True,
    action: str = DISCLOSURE,
) -> list[Disclosed]:
    """The one path for sharing: `Sharing.disclose` in this transaction's session for
    `purpose`."""
    return sharing(actor, purpose, action, now=now).disclose(
        records, audit_refusals=audit_refusals, action=action
    )


def disclose_one(
    actor: Actor,
    record: ShareableRecord,
    purpose: str | None,
    *,
    now: datetime | None = None,
) -> Disclosed:
    """`Sharing.disclose_one` in this transaction's session for `purpose`."""
    return sharing(actor, purpose, now=now).disclose_one(record)


def _own(record: ShareableRecord) -> dict[str, Any]:
    return {name: plain(value) for name, value in record.values.items()}
