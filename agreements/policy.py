"""Minimisation: projecting a record through a data schedule, field by field.

Pure functions, so that the one property that matters can be tested exhaustively: nothing a
schedule withholds, and no unmasked value of a field it masks, reaches the recipient.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from agreements.fields import EXISTENCE_ONLY, FIELDS, Level, Shape

MASK = "•••"
#: Expected sizes are shared as these bands when generalised.
SIZE_BANDS = ((0, 50), (51, 100), (101, 250), (251, 500), (501, 1000), (1001, 5000))


@dataclass(frozen=True)
class ShareableRecord:
    """A record as the sharing path sees it: its type, owner, distribution and field values.

    `values` hold Python values by field name (dates as date/datetime, lists as lists of
    strings); `subjects` are (kind, id) pairs naming the people it is about, for the audit log.
    """

    record_type: str
    id: str
    owner_org_id: str
    distribution: str
    values: Mapping[str, Any]
    subjects: tuple[tuple[str, str], ...] = ()
    matched_field: str | None = None  # for search hits: the name field that matched


@dataclass(frozen=True)
class Disclosed:
    """What a recipient gets: projected fields, and the agreement they were disclosed under."""

    record_type: str
    id: str
    owner_org_id: str
    data: dict[str, Any]
    disclosed_under: dict[str, Any] | None
    existence_only: bool = False
    fields: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape of a disclosed record."""
        body: dict[str, Any] = {
            "record_type": self.record_type,
            "id": self.id,
            "owner_org_id": self.owner_org_id,
            **self.data,
        }
        if self.existence_only:
            body["existence_only"] = True
        body["disclosed_under"] = self.disclosed_under
        return body


# --- field transformations --------------------------------------------------------------


def plain(value: Any) -> Any:
    """A value as JSON holds it (dates as ISO strings, tuples as lists)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def mask_text(value: str) -> str:
    """Initials only: "Ember Quillfeather" -> "E••• Q•••"; short values vanish entirely."""
    words = value.split()
    if len(value.strip()) < 4 or not words:
        return MASK
    return " ".join(word[0] + MASK for word in words)


def mask_url(value: str) -> str:
    """Nothing of the address: "https://example.org/a/b" -> "•••". A masked web address says
    only that the record cites one; its host alone (a person's own site, a forum, a local
    group's page) can identify them, so it is not kept either (see LEVEL_MEANINGS)."""
    return MASK


def pseudonym(key: bytes, record_type: str, field_name: str, value: Any) -> str:
    """HMAC-SHA256 of a value under the agreement's key: equal values give equal pseudonyms
    within one agreement, and nothing links them across agreements."""
    text = unicodedata.normalize("NFKC", str(plain(value))).casefold().strip()
    digest = hmac.new(key, f"{record_type}\x1f{field_name}\x1f{text}".encode(), hashlib.sha256)
    return "psn:" + digest.hexdigest()[:24]


def size_band(number: int) -> str:
    """An expected size as a band, e.g. 137 -> "101-250"."""
    for low, high in SIZE_BANDS:
        if low <= number <= high:
            return f"{low}-{high}"
    return f"over {SIZE_BANDS[-1][1]}"


def generalise(value: Any, shape: Shape) -> Any:
    """Dates to their month, numbers to bands."""
    if value is None:
        return None
    if shape in {Shape.DATE, Shape.DATETIME}:
        return value.strftime("%Y-%m")
    if shape == Shape.NUMBER:
        return size_band(int(value))
    raise ValueError(f"{shape} values cannot be generalised")


def transform(
    value: Any, shape: Shape, level: Level, key: bytes, record_type: str, field_name: str
) -> Any:
    """One field's value at one level (WITHHELD never reaches here)."""
    if value is None:
        return None
    if level == Level.FULL:
        return plain(value)
    if level == Level.GENERALISED:
        return generalise(value, shape)
    if level == Level.PSEUDONYMISED:
        if isinstance(value, list | tuple):
            return [pseudonym(key, record_type, field_name, item) for item in value]
        return pseudonym(key, record_type, field_name, value)
    if level == Level.MASKED:
        if shape == Shape.URL_LIST:
            items = value if isinstance(value, list | tuple) else [value]
            return [mask_url(str(item)) for item in items]
        if isinstance(value, list | tuple):
            return [mask_text(str(item)) for item in value]
        return mask_text(str(value))
    raise ValueError(f"no transformation for level {level}")


def project(record: ShareableRecord, levels: Mapping[str, str], key: bytes) -> dict[str, Any]:
    """The fields of `record` a schedule gives, each at its level; unnamed fields are withheld."""
    specs = FIELDS[record.record_type]
    data: dict[str, Any] = {}
    for name, spec in specs.items():
        level = Level(levels.get(name, Level.WITHHELD))
        if level == Level.WITHHELD or level not in spec.levels:
            continue
        if name in record.values:
            data[name] = transform(
                record.values[name], spec.shape, level, key, record.record_type, name
            )
    return data


def is_existence_only(schedule_entry: Mapping[str, Any]) -> bool:
    """True when a schedule gives a record type only at existence level."""
    return schedule_entry.get("level") == EXISTENCE_ONLY
