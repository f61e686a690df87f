"""What the edge does to input before any view reads it.

- Input no field of the hub can hold is refused: JSON nested deeper than any of the hub's
  schemas, and NUL characters (which PostgreSQL text cannot store) in a JSON body, a form or a
  query string. Each is a 400 with a specific message rather than a stack overflow or a
  database error deep inside a service.
- A GOV.UK date input's three fields (`due_on-day`, `due_on-month`, `due_on-year`) reach views
  and services as one ISO date field (`due_on`), so nothing below the web layer knows how a
  page asks for a date. The parts stay in the form for the page to show again.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from flask import Request, request
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from core.errors import BadRequest

#: The hub's deepest schema nests a few levels (an agreement's schedule: 4); this is generous.
MAX_JSON_DEPTH = 32
NUL = "\x00"
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
DATE_PARTS = ("year", "month", "day")


def _refuse(detail: str, reason: str) -> BadRequest:
    return BadRequest(detail, reason=reason, errors={"_body": [detail]})


def _walk(value: Any) -> None:
    """Check depth and NUL characters without recursion (an attacker chooses the depth)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                raise _refuse(
                    "The request contains a NUL character, which no field can hold.",
                    "nul_character",
                )
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise _refuse(
                f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.",
                "json_too_deep",
            )
        children: Iterable[Any] = [*item.keys(), *item.values()] if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)


def _has_nul(pairs: Iterable[tuple[str, str]]) -> bool:
    return any(NUL in key or NUL in value for key, value in pairs)


def check_request_input() -> None:
    """A before-request hook: refuse over-deep JSON and NUL characters anywhere."""
    if _has_nul(request.args.items(multi=True)):
        raise _refuse("The address contains a NUL character.", "nul_character")
    if request.method in {"GET", "HEAD", "OPTIONS"}:
        return
    if request.is_json:
        raw = request.get_data(cache=True)
        if not raw:
            return
        try:
            body = json.loads(raw)
        except RecursionError as exc:
            raise _refuse(
                f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.",
                "json_too_deep",
            ) from exc
        except ValueError:
            return  # not JSON at all: the endpoint's own parser says so
        _walk(body)
    elif request.mimetype in FORM_TYPES and _has_nul(request.form.items(multi=True)):
        raise _refuse("The form contains a NUL character.", "nul_character")


def join_date_parts(form: MultiDict[str, str]) -> MultiDict[str, str]:
    """`form` with each GOV.UK date input's parts also given as one `YYYY-MM-DD` field (empty if
    all three are; as typed, zero-padded, if not a real date, which the service then refuses
    with its own message). A field the form already fills is left as it is."""
    joined: dict[str, str] = {}
    for key in form:
        if not key.endswith("-day"):
            continue
        name = key[: -len("-day")]
        if form.get(name):
            continue
        parts = [(form.get(f"{name}-{part}") or "").strip() for part in DATE_PARTS]
        year, month, day = parts
        joined[name] = f"{year.zfill(4)}-{month.zfill(2)}-{day.zfill(2)}" if any(parts) else ""
    if not joined:
        return form
    result = MultiDict(form)
    for name, value in joined.items():
        result.setlist(name, [value])
    return ImmutableMultiDict(result)


class HubRequest(Request):
    """The hub's request: a form's date inputs arrive joined (`join_date_parts`)."""

    def _load_form_data(self) -> None:
        super()._load_form_data()
        self.form = join_date_parts(self.form)
