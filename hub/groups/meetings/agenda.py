"""The agenda of a meeting and its case items.

A case item references a member organisation's speaker or event; nothing of the record is
copied. Each viewer sees it through `agreements.services.disclose` at their own organisation's
level, at the moment they look, for the purpose `working_group_case_review`, so an agreement
that lapses between meetings reduces what the next look shows. While the group's agreement does
not cover every member, the group holds no shared data: case items cannot be added, and only a
viewer's own organisation's cases are shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from agreements import services as agreements
from agreements.policy import Disclosed, ShareableRecord
from audit.actions import MEETING_AGENDA_ADD, MEETING_AGENDA_REMOVE
from core.db import db, utcnow
from core.errors import Conflict, NotFound
from core.security import Actor
from core.validation import Checker
from hub.groups import permissions
from hub.groups.meetings.services import TEXT_MAX, TITLE_MAX, record, require_open
from hub.groups.models import AgendaItem, Meeting, MinutesStatus, WorkingGroup
from hub.groups.services import PURPOSE, coverage, parse_id, require_manager
from hub.records import shareable
from hub.records.models import Event, EventStatus, RecordStatus, Speaker
from partners.services import organisation_names

#: Events offered as cases: from this long ago onwards (and every event still to come).
CASE_WINDOW = timedelta(days=180)
#: At most this many candidate records of each kind are offered (and disclosed) as cases.
CASE_CHOICES = 40


@dataclass(frozen=True)
class CaseChoice:
    """A record that may be put on the agenda, labelled as the actor may see it."""

    value: str  # "speaker:<id>" or "event:<id>"
    label: str


def _case_model(kind: str, key: uuid.UUID | None) -> Speaker | Event | None:
    if key is None:
        return None
    if kind == "speaker":
        speaker = db.session.get(Speaker, key)
        return speaker if speaker is not None and speaker.status == RecordStatus.ACTIVE else None
    if kind == "event":
        event = db.session.get(Event, key)
        return event if event is not None and event.erased_at is None else None
    return None


def _shareable(model: Speaker | Event) -> ShareableRecord:
    return shareable.speaker(model) if isinstance(model, Speaker) else shareable.event(model)


def _label(disclosed: Disclosed, owner: str) -> str:
    """A case as the actor may see it: its name or title as disclosed, and who holds it."""
    if disclosed.record_type == "speaker":
        name = disclosed.data.get("display_name") if not disclosed.existence_only else None
        what = f"Speaker: {name}" if name else "A speaker record"
    else:
        title = disclosed.data.get("title") if not disclosed.existence_only else None
        what = f"Event: {title}" if title else "An event record"
    return f"{what} (held by {owner})"


def case_choices(actor: Actor, group: WorkingGroup) -> list[CaseChoice]:
    """Records the actor may put on the agenda: their own organisation's speakers and recent or
    coming events, and for the group's managers the member organisations' records an agreement
    discloses to them for case reviews (shown, and audited, as disclosed)."""
    if not permissions.can_add_case(actor, group) or not coverage(group).covered:
        return []
    members = permissions.member_org_ids(group)
    owners = set()
    if actor.org_id in members:
        owners.add(actor.org_id)
    if permissions.is_manager(actor, group):
        for kind in ("speaker", "event"):
            owners |= agreements.providers_for(actor, kind, PURPOSE) & members
    if not owners:
        return []
    keys = [uuid.UUID(o) for o in owners]
    since = utcnow() - CASE_WINDOW
    speakers = db.session.scalars(
        sa.select(Speaker)
        .where(Speaker.owner_org_id.in_(keys), Speaker.status == RecordStatus.ACTIVE)
        .order_by(Speaker.created_at.desc())
        .limit(CASE_CHOICES)
    )
    events = db.session.scalars(
        sa.select(Event)
        .where(
            Event.owner_org_id.in_(keys),
            Event.erased_at.is_(None),
            Event.starts_at >= since,
            Event.status != EventStatus.WITHDRAWN,
        )
        .order_by(Event.starts_at.desc())
        .limit(CASE_CHOICES)
    )
    candidates = [_shareable(m) for m in (*speakers, *events)]
    visible = agreements.would_disclose(actor, candidates, PURPOSE)
    shown = agreements.disclose(
        actor, [c for c in candidates if c.id in visible], PURPOSE, audit_refusals=False
    )
    names = organisation_names({d.owner_org_id for d in shown})
    return [
        CaseChoice(f"{d.record_type}:{d.id}", _label(d, names.get(d.owner_org_id, "")))
        for d in shown
    ]


def add_agenda_item(actor: Actor, meeting: Meeting, data: dict[str, Any]) -> AgendaItem:
    """Add an item to the agenda, optionally about a case (a speaker or an event of a member
    organisation). A case needs the group's agreement in force over every member, and a record
    the actor may see."""
    group = meeting.group
    permissions.require(
        actor, MEETING_AGENDA_ADD, group, resource_type="meeting", resource_id=meeting.id
    )
    require_open(meeting, "changing the agenda")
    if meeting.minutes_status == MinutesStatus.APPROVED:
        raise Conflict("The minutes are approved: the agenda can no longer change.")
    check = Checker(data)
    title = check.text("title", "the item's title", max_length=TITLE_MAX)
    notes = check.text("notes", "notes", required=False, max_length=TEXT_MAX)
    case = (data.get("case") or "").strip() if isinstance(data.get("case"), str) else ""
    manager = permissions.is_manager(actor, group)
    model: Speaker | Event | None = None
    if not case and not manager:
        check.add("case", "Choose one of your organisation's cases to bring to the meeting.")
    if case:
        cover = coverage(group)
        if not cover.covered:
            check.add("case", f"The group cannot hold case items now. {cover.reason}")
        else:
            kind, _, raw = case.partition(":")
            model = _case_model(kind, parse_id(raw))
            if model is None or not _may_put_on_agenda(actor, group, model):
                model = None
                check.add("case", "Choose a case from the list.")
    check.raise_if_any()
    position = max((i.position for i in meeting.agenda_items), default=0) + 1
    item = AgendaItem(
        title=title,
        notes=notes,
        position=position,
        speaker_id=model.id if isinstance(model, Speaker) else None,
        event_id=model.id if isinstance(model, Event) else None,
        case_org_id=model.owner_org_id if model is not None else None,
        added_by_id=actor.person_id,
    )
    meeting.agenda_items.append(item)
    db.session.flush()
    subjects = []
    if isinstance(model, Speaker):
        subjects = [("speaker", str(model.id))]
    elif isinstance(model, Event):
        subjects = [("speaker", str(link.speaker_id)) for link in model.speakers]
    record(
        actor,
        MEETING_AGENDA_ADD,
        meeting,
        item=item.id,
        case_type=item.case_type or "none",
        case_org=str(item.case_org_id) if item.case_org_id else "",
        subjects=subjects,
    )
    return item


def _may_put_on_agenda(actor: Actor, group: WorkingGroup, model: Speaker | Event) -> bool:
    owner = str(model.owner_org_id)
    if not permissions.is_member_org(group, owner):
        return False
    if owner == actor.org_id:
        return True
    if not permissions.is_manager(actor, group):
        return False
    record = _shareable(model)
    return record.id in agreements.would_disclose(actor, [record], PURPOSE)


def remove_agenda_item(actor: Actor, meeting: Meeting, item_id: Any) -> None:
    """Take an item off the agenda (decisions that referred to it stay, unlinked)."""
    require_manager(actor, meeting.group, "meeting.agenda.remove")
    if meeting.minutes_status == MinutesStatus.APPROVED:
        raise Conflict("The minutes are approved: the agenda can no longer change.")
    item = next((i for i in meeting.agenda_items if str(i.id) == str(item_id)), None)
    if item is None:
        raise NotFound("There is no such agenda item.")
    for decision in meeting.decisions:
        if decision.agenda_item_id == item.id:
            decision.agenda_item_id = None
    meeting.agenda_items.remove(item)
    db.session.flush()
    record(actor, MEETING_AGENDA_REMOVE, meeting, item=item.id)


@dataclass
class CaseView:
    """A case item as one viewer sees it now.

    `state`: "own" (the viewer's organisation holds it), "shared" (disclosed at the viewer's
    level), "existence_only", "withheld" (nothing in force gives it to the viewer) or "gone"
    (the record was erased or merged away).
    """

    item: AgendaItem
    state: str
    record: Disclosed | None = None
    reason: str = ""


def case_views(actor: Actor, meeting: Meeting, now: datetime | None = None) -> dict[int, CaseView]:
    """Every case item of the meeting as `actor` may see it now, through `disclose()` at the
    actor's organisation's level. While the group's agreement does not cover every member, the
    group holds no shared data: only a viewer's own organisation's cases are shown."""
    now = now or utcnow()
    items = [i for i in meeting.agenda_items if i.case_type]
    if not items:
        return {}
    covered = coverage(meeting.group, now).covered
    views: dict[int, CaseView] = {}
    wanted: dict[str, ShareableRecord] = {}
    pending: list[tuple[AgendaItem, str]] = []
    for item in items:
        kind = item.case_type or ""
        model = _case_model(kind, item.speaker_id or item.event_id)
        if model is None:
            views[item.id] = CaseView(item, "gone")
            continue
        record = _shareable(model)
        if record.owner_org_id != actor.org_id and not covered:
            views[item.id] = CaseView(item, "withheld", reason="group_not_covered")
            continue
        wanted.setdefault(record.id, record)
        pending.append((item, record.id))
    disclosed = (
        {d.id: d for d in agreements.disclose(actor, list(wanted.values()), PURPOSE, now=now)}
        if wanted
        else {}
    )
    for item, record_id in pending:
        shown = disclosed.get(record_id)
        if shown is None:
            views[item.id] = CaseView(item, "withheld", reason="no_agreement")
        elif shown.disclosed_under is None:
            views[item.id] = CaseView(item, "own", shown)
        elif shown.existence_only:
            views[item.id] = CaseView(item, "existence_only", shown)
        else:
            views[item.id] = CaseView(item, "shared", shown)
    return views
