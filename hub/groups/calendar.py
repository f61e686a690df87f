"""Calendar files for meetings (iCalendar, RFC 5545) and the way meeting times read.

Written by hand: one VEVENT needs a handful of properties, escaped and folded as the RFC says,
and no dependency is worth that. Times are UTC (the `Z` form), which every calendar shows in
its owner's zone. A changed or cancelled meeting keeps its UID and raises its SEQUENCE, so an
imported file replaces the earlier entry.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from core.validation import LOCAL_ZONE

if TYPE_CHECKING:
    from hub.groups.models import Meeting

PRODUCT = "-//Prevent Information Sharing Hub//Working groups//EN"
UID_DOMAIN = "prevent-hub.example"
#: Content lines are folded at 75 octets (RFC 5545 section 3.1).
LINE_OCTETS = 75


def long_day(value: date | datetime) -> str:
    """14 March 2026 (a UTC time shown on its UK date)."""
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL_ZONE)
    return f"{value.day} {value:%B %Y}"


def clock(value: datetime) -> str:
    """6:30pm, 10am (UK local time)."""
    local = value.astimezone(LOCAL_ZONE)
    hour = local.hour % 12 or 12
    minutes = f":{local.minute:02d}" if local.minute else ""
    return f"{hour}{minutes}{'am' if local.hour < 12 else 'pm'}"


def long_moment(value: datetime) -> str:
    """14 March 2026 at 6:30pm (UK local time)."""
    return f"{long_day(value)} at {clock(value)}"


def escape_text(value: str) -> str:
    """A TEXT value: backslash, semicolon and comma escaped, new lines as \\n."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def fold(line: str) -> str:
    """Split a content line into lines of at most 75 octets, each continuation starting with a
    space, never inside a UTF-8 character."""
    pieces: list[str] = []
    current = ""
    limit = LINE_OCTETS
    for char in line:
        if len((current + char).encode()) > limit:
            pieces.append(current)
            current = char
            limit = LINE_OCTETS - 1  # the leading space of a continuation counts
        else:
            current += char
    pieces.append(current)
    return "\r\n ".join(pieces)


def utc_stamp(moment: datetime) -> str:
    """20260314T183000Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def meeting_ics(meeting: Meeting, base_url: str, *, now: datetime) -> str:
    """The meeting as a one-event calendar: when, where, and a link to its page."""
    group = meeting.group
    page = f"{base_url}/groups/{group.id}/meetings/{meeting.id}"
    description = (
        f"Meeting of the {group.name} working group. The agenda, papers and minutes are in "
        f"the hub: {page}"
    )
    where = meeting.location or ""
    if meeting.online_link:
        where = f"{where} (online: {meeting.online_link})" if where else meeting.online_link
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODUCT}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        "BEGIN:VEVENT",
        f"UID:meeting-{meeting.id}@{UID_DOMAIN}",
        f"SEQUENCE:{meeting.sequence}",
        f"DTSTAMP:{utc_stamp(now)}",
        f"DTSTART:{utc_stamp(meeting.starts_at)}",
        f"DTEND:{utc_stamp(meeting.ends_at)}",
        f"SUMMARY:{escape_text(f'{group.name}: working group meeting')}",
        f"DESCRIPTION:{escape_text(description)}",
        f"URL:{page}",
        "STATUS:CANCELLED" if meeting.cancelled_at else "STATUS:CONFIRMED",
    ]
    if where:
        lines.append(f"LOCATION:{escape_text(where)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold(line) + "\r\n" for line in lines)
