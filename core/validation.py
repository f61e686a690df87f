"""Reading untrusted input into clean values, collecting a specific message per field.

Services validate with a `Checker` whatever the caller (page, API, CLI, import): each field is
read once, every problem is collected, and `raise_if_any()` raises one `ValidationFailed`
naming them all, so nothing is saved halfway and the page can show a complete error summary.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from email_validator import EmailNotValidError, validate_email

from core.errors import ValidationFailed

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")

#: Times people type are UK local times; the hub stores UTC.
LOCAL_ZONE = ZoneInfo("Europe/London")
TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", "n", ""})


def normalise_email(value: str) -> str:
    """The form an email address is stored and compared in (validated, lower-case)."""
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(
            "Enter a valid email address.",
            errors={"email": [f"Enter a valid email address: {exc}"]},
        ) from exc
    return result.normalized.lower()


def _capitalise(label: str) -> str:
    return label[:1].upper() + label[1:]


class Checker:
    """Collects field errors while reading `data` (a dict from a form, JSON body or CSV row)."""

    def __init__(self, data: Mapping[str, Any] | None) -> None:
        self.data: Mapping[str, Any] = data or {}
        self.errors: dict[str, list[str]] = {}

    # -- bookkeeping -------------------------------------------------------------------------

    def add(self, key: str, message: str) -> None:
        """Record a problem with field `key`."""
        self.errors.setdefault(key, []).append(message)

    def ok(self, *keys: str) -> bool:
        """True if none of `keys` has an error so far (to skip checks that depend on them)."""
        return not any(key in self.errors for key in keys)

    def raise_if_any(self) -> None:
        """Raise one ValidationFailed naming every problem, if there were any."""
        if self.errors:
            first = next(iter(self.errors.values()))[0]
            raise ValidationFailed(first, errors=self.errors)

    def _raw(self, key: str) -> Any:
        value = self.data.get(key)
        return value.strip() if isinstance(value, str) else value

    def _missing(self, value: Any) -> bool:
        return value is None or value == "" or value == [] or value == {}

    # -- readers -----------------------------------------------------------------------------

    def text(self, key: str, label: str, *, required: bool = True, max_length: int = 200) -> str:
        """A string, trimmed; `label` reads in a sentence ("the speaker's name")."""
        value = self._raw(key)
        if self._missing(value):
            if required:
                self.add(key, f"Enter {label}.")
            return ""
        if not isinstance(value, str):
            self.add(key, f"{_capitalise(label)} must be text.")
            return ""
        if len(value) > max_length:
            self.add(key, f"{_capitalise(label)} must be {max_length:,} characters or fewer.")
        if "\x00" in value:
            self.add(key, f"{_capitalise(label)} contains a character that is not allowed.")
        return value

    def email(self, key: str, label: str, *, required: bool = True) -> str:
        """An email address, normalised."""
        value = self._raw(key)
        if self._missing(value):
            if required:
                self.add(key, f"Enter {label}.")
            return ""
        try:
            return normalise_email(str(value))
        except ValidationFailed:
            self.add(key, f"Enter {label} in the correct format, like name@example.ac.uk.")
            return ""

    def choice(self, key: str, enum_cls: type[E], label: str, *, required: bool = True) -> E | None:
        """One of an enum's values."""
        value = self._raw(key)
        if self._missing(value):
            if required:
                self.add(key, f"Choose {label}.")
            return None
        try:
            return enum_cls(value)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in enum_cls)
            self.add(key, f"Choose {label} from: {allowed}.")
            return None

    def picked(self, key: str, label: str, *, max_length: int = 64) -> str:
        """The identifier a select or radios sent, as text: "Choose {label}." when nothing was
        picked (the caller looks the record up, as it may be one the actor cannot see)."""
        if self._missing(self._raw(key)):
            self.add(key, f"Choose {label}.")
            return ""
        return self.text(key, label, max_length=max_length)

    def one_of(
        self, key: str, options: Mapping[str, T], label: str, *, refusal: str = ""
    ) -> T | None:
        """One of `options` picked by its key (a select or radios whose options are records, such
        as people): "Choose {label}." when nothing was picked, `refusal` (or "Choose {label} from
        the list.") when the key is not one of them."""
        value = self._raw(key)
        if self._missing(value):
            self.add(key, f"Choose {label}.")
            return None
        chosen = options.get(str(value))
        if chosen is None:
            self.add(key, refusal or f"Choose {label} from the list.")
        return chosen

    def choices(
        self, key: str, enum_cls: type[E], label: str, *, required: bool = False
    ) -> list[E]:
        """Several of an enum's values (a list, or a comma-separated string)."""
        values = self._list(key)
        chosen: list[E] = []
        for value in values:
            try:
                member = enum_cls(value)
            except ValueError:
                self.add(key, f"'{value}' is not one of the {label}.")
                continue
            if member not in chosen:
                chosen.append(member)
        if required and not values:
            self.add(key, f"Choose at least one of the {label}.")
        return chosen

    def boolean(self, key: str, label: str = "") -> bool:
        """A yes/no value (checkbox, JSON boolean or a word like yes/no)."""
        value = self._raw(key)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        word = str(value).strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        self.add(key, f"Answer yes or no{' for ' + label if label else ''}.")
        return False

    def integer(
        self,
        key: str,
        label: str,
        *,
        required: bool = True,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int | None:
        """A whole number within bounds."""
        value = self._raw(key)
        if self._missing(value):
            if required:
                self.add(key, f"Enter {label}.")
            return None
        if isinstance(value, bool):
            self.add(key, f"{_capitalise(label)} must be a whole number.")
            return None
        try:
            number = int(str(value).replace(",", ""))
        except ValueError:
            self.add(key, f"{_capitalise(label)} must be a whole number, like 120.")
            return None
        if minimum is not None and number < minimum:
            self.add(key, f"{_capitalise(label)} must be {minimum:,} or more.")
        elif maximum is not None and number > maximum:
            self.add(key, f"{_capitalise(label)} must be {maximum:,} or less.")
        return number

    def date(self, key: str, label: str, *, required: bool = True) -> date | None:
        """A calendar date: a date or an ISO string (2026-03-14). A page's day, month and year
        fields arrive joined into one (`hub.web.input`)."""
        value = self._raw(key)
        if self._missing(value):
            if required:
                self.add(key, f"Enter {label}.")
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.add(key, f"{_capitalise(label)} must be a real date, like 2026-03-14.")
            return None

    def moment(self, key: str, label: str, *, required: bool = True) -> datetime | None:
        """A date and time: ISO with an offset, or a local UK time without one; stored in UTC."""
        value = self._raw(key)
        if self._missing(value):
            if required:
                self.add(key, f"Enter {label}.")
            return None
        if isinstance(value, datetime):
            moment = value
        else:
            try:
                moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            except ValueError:
                self.add(
                    key,
                    f"{_capitalise(label)} must be a real date and time, like 2026-03-14T18:30.",
                )
                return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=LOCAL_ZONE)
        return moment.astimezone(UTC)

    def url(self, key: str, label: str, *, required: bool = True) -> str:
        """A web address (http or https only)."""
        value = self.text(key, label, required=required, max_length=2000)
        if value:
            parts = urlsplit(value)
            if parts.scheme not in {"http", "https"} or not parts.netloc:
                self.add(
                    key,
                    f"{_capitalise(label)} must be a web address starting with "
                    "https:// or http://.",
                )
                return ""
        return value

    def strings(
        self, key: str, label: str, *, max_items: int = 50, max_length: int = 100
    ) -> list[str]:
        """A list of short strings (a list, or one string split on commas and new lines)."""
        values = self._list(key)
        if len(values) > max_items:
            self.add(key, f"Give at most {max_items} {label}.")
            return values[:max_items]
        for value in values:
            if len(value) > max_length:
                self.add(key, f"Each of the {label} must be {max_length} characters or fewer.")
                break
        return values

    def _list(self, key: str) -> list[str]:
        value = self.data.get(key)
        if value is None or value == "":
            return []
        items: Iterable[Any]
        if isinstance(value, str):
            items = value.replace("\n", ",").split(",")
        elif isinstance(value, list | tuple):
            items = value
        else:
            self.add(key, "Give a list.")
            return []
        cleaned = []
        for item in items:
            text = str(item).strip()
            if "\x00" in text:
                self.add(key, "An item contains a character that is not allowed.")
                continue
            if text and text not in cleaned:
                cleaned.append(text)
        return cleaned
