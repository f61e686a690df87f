"""What the pages of groups and of their meetings share: a form's change committed or its errors
shown, a one-button change, and the helpers their templates read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect

from agreements.purposes import PURPOSES
from audit.refusals import keep_refusal
from core.errors import Conflict, ValidationFailed
from core.request import current_actor
from hub.groups import actions, calendar, services
from hub.groups.models import MembershipStatus
from hub.records.sharing.views import field_map, shown_fields

MEMBERSHIP_COLOURS = {
    MembershipStatus.INVITED: "blue",
    MembershipStatus.ACCEPTED: "green",
    MembershipStatus.DECLINED: "grey",
    MembershipStatus.LEFT: "grey",
    MembershipStatus.REMOVED: "grey",
}


def template_helpers() -> dict[str, Any]:
    """How the templates of groups and meetings show times, states and case records."""
    return {
        "day": calendar.long_day,
        "moment": calendar.long_moment,
        "clock": calendar.clock,
        "cadence_labels": services.CADENCE_LABELS,
        "membership_labels": services.MEMBERSHIP_LABELS,
        "membership_colours": MEMBERSHIP_COLOURS,
        "action_labels": actions.STATUS_LABELS,
        "action_colours": actions.STATUS_COLOURS,
        "shown_fields": shown_fields,
        "field_map": field_map,
        "purposes": PURPOSES,
        "is_overdue": actions.is_overdue,
    }


def attempt(change: Callable[[], Any]) -> tuple[Any, dict[str, list[str]]]:
    """Run a service change: commit it, or undo it and return the form's errors."""
    try:
        result = change()
    except (ValidationFailed, Conflict) as exc:
        keep_refusal(current_actor(), exc)
        return None, exc.errors or {"_form": [exc.detail]}
    return result, {}


def act(change: Callable[[], Any], success: str, target: str) -> Any:
    """A one-button change: commit and say so, or explain the clash; back to `target`."""
    try:
        change()
    except Conflict as exc:
        keep_refusal(current_actor(), exc)
        flash(exc.detail, "error")
        return redirect(target)
    flash(success, "success")
    return redirect(target)
