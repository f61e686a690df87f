"""Bulk import of speakers and events from CSV: every row checked, then all saved or none.

A file is read whole (at most `MAX_BYTES`), as UTF-8 (a spreadsheet's byte-order mark is
allowed), with a header row naming the columns in any order. Rows are numbered as a
spreadsheet shows them: the header is row 1, the first record row 2. Each row is checked with
the same rules as the speakers and events services; any problem anywhere means nothing is
saved, and the report names each problem's row, column and message.

Speakers are written in batches of 5,000 rows (one COPY per table on PostgreSQL, one
executemany per table on SQLite; not one ORM flush per speaker) so that 100,000 speakers
import in well under a minute. Their audit entries are batched too: each `speaker.import`
entry names up to `AUDIT_BATCH` created speakers, every one by its id (`resource_ids`) and its
subject pseudonym (`subjects`), in the same transaction as the rows. So each created record
is still in exactly one entry that says who created it, when, for which organisation, and a
DPO's subject history finds it like any other; one entry per speaker would cost a round trip
each (about half of the time budget at 100,000 rows).
Events go through the events service one by one (an import of events is small), inside a
savepoint that is rolled back if any row fails.

Speakers already recorded are not recorded twice: a row whose speaker is likely someone the
organisation already holds (the one duplicate check, `speakers.require_new_people`, as the
speaker and event forms and the API ask it) is not created but reported in the result with
the records it is like, unless its `confirm_new` column says yes. An event's speakers are
found by the one finder (`search.search_speakers`, through the same check's bar), so a
misspelt or reordered name is reported with the record it probably means.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from audit import services as audit
from audit.actions import EVENT_IMPORT, SPEAKER_IMPORT
from core.db import db, utcnow
from core.errors import PermissionDenied, ValidationFailed
from core.security import Actor, ActorKind
from core.validation import Checker
from hub.records import permissions
from hub.records.events import services as events
from hub.records.models import (
    DEFAULT_DISTRIBUTION,
    AliasKind,
    Distribution,
    RecordStatus,
    Speaker,
    SpeakerAlias,
    SpeakerName,
    SpeakerTopic,
)
from hub.records.speakers import search
from hub.records.speakers import services as speakers
from partners import signin

#: The largest file the import reads.
MAX_BYTES = 20 * 1024 * 1024
#: Several values in one cell (aliases, topics, speakers) are separated by this.
SEPARATOR = ";"
#: Rows written per INSERT statement batch.
BATCH = 5000
#: Created speakers named by one `speaker.import` audit entry (see `_insert_speakers`).
AUDIT_BATCH = 200
#: A report lists at most this many problems (the count says how many there were).
REPORT_LIMIT = 1000


@dataclass(frozen=True)
class Layout:
    """The columns of one kind of import file."""

    kind: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    help: str


SPEAKERS = Layout(
    "speakers",
    ("display_name", "aliases", "distribution", "retention_until", "topics", "confirm_new"),
    ("display_name",),
    """Columns (header row required, any order; only display_name must be present):

\b
  display_name     the speaker's name (required, up to 200 characters)
  aliases          other names, separated by ';' (each up to 200 characters)
  distribution     internal or shareable (default shareable)
  retention_until  keep the record until this date, YYYY-MM-DD, in the future
                   (default: 6 years from today)
  topics           topics the speaker speaks on, separated by ';' (each up to 100)
  confirm_new      yes to create the record even if the speaker is likely someone
                   already recorded (default no: such a row is not created, and the
                   report names the records it is like)
""",
)

EVENTS = Layout(
    "events",
    (
        "title",
        "synopsis",
        "organiser_type",
        "organiser_name",
        "starts_at",
        "ends_at",
        "venue_kind",
        "venue_place",
        "audience",
        "expected_size",
        "branded_or_funded",
        "speakers",
    ),
    (
        "title",
        "synopsis",
        "organiser_type",
        "organiser_name",
        "starts_at",
        "ends_at",
        "venue_kind",
        "audience",
        "expected_size",
    ),
    """Columns (header row required, any order):

\b
  title              the event's title (required)
  synopsis           a short description of the event (required by the events
                     service, up to 10,000 characters)
  organiser_type     staff, society, students_union or external_hirer (required)
  organiser_name     the society, department or hirer (required)
  starts_at          start, UK local time, YYYY-MM-DDTHH:MM (required)
  ends_at            end, after the start, same format (required)
  venue_kind         on_campus, off_campus, online or hybrid (required)
  venue_place        building and room or address (required unless online)
  audience           internal, public or ticketed (required)
  expected_size      whole number (required)
  branded_or_funded  yes or no (default no)
  speakers           speakers' names, separated by ';', each the name or an alias of
                     exactly one speaker already in the organisation's records (a name
                     that is only like one is reported with the record it is like)
Events are created as drafts.
""",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file: where (row and column) and what."""

    row: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"row {self.row}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class ImportRejected(ValidationFailed):
    """The file had problems; nothing was saved. `problems` lists every one found."""

    def __init__(self, problems: list[Problem], name: str = "the file") -> None:
        self.problems = problems
        count = len(problems)
        detail = f"Nothing was imported: {count} problem{'s' if count != 1 else ''} in {name}."
        errors: dict[str, list[str]] = {}
        for problem in problems[:REPORT_LIMIT]:
            errors.setdefault(problem.column or "_file", []).append(str(problem))
        super().__init__(detail, errors=errors)

    def report(self) -> str:
        """The report for the command line: the summary, then one line per problem."""
        lines = [self.detail]
        lines.extend(str(problem) for problem in self.problems[:REPORT_LIMIT])
        if len(self.problems) > REPORT_LIMIT:
            lines.append(f"... and {len(self.problems) - REPORT_LIMIT:,} more.")
        return "\n".join(lines)


@dataclass
class Parsed:
    """The file's records, each with its row number and values keyed by column name."""

    layout: Layout
    name: str = "the file"
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)


@dataclass(frozen=True)
class LikelyDuplicateRow:
    """A row not imported: its speaker is likely someone already recorded."""

    row: int
    name: str
    matches: list[search.SpeakerMatch]

    def __str__(self) -> str:
        like = "; ".join(
            f"{m.display_name} ({m.speaker_id}, {round(m.score * 100)}% match)"
            for m in self.matches
        )
        return f"row {self.row}: '{self.name}' is likely already recorded as {like}"


@dataclass
class ImportResult:
    """What an import created, and the rows it left out as likely duplicates."""

    kind: str
    created: int
    ids: list[str]
    duplicates: list[LikelyDuplicateRow] = field(default_factory=list)

    def left_out(self) -> list[str]:
        """The report's lines on the rows left out as likely duplicates (none: no lines)."""
        if not self.duplicates:
            return []
        count = len(self.duplicates)
        lines = [
            f"{count:,} row{'s were' if count != 1 else ' was'} not imported: the speaker is "
            "likely already recorded. Use the existing record, or set confirm_new to yes on "
            "the row and import it again to create a new record anyway."
        ]
        lines.extend(str(row) for row in self.duplicates[:REPORT_LIMIT])
        if count > REPORT_LIMIT:
            lines.append(f"... and {count - REPORT_LIMIT:,} more.")
        return lines


Progress = Callable[[int], Any]


def _no_progress(_steps: int) -> None:
    return None


# --- reading the file ---------------------------------------------------------------------


def read_file(path: str | Path) -> bytes:
    """The file's bytes, refusing one over `MAX_BYTES` before reading it."""
    path = Path(path)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise ImportRejected(
            [
                Problem(
                    0,
                    "",
                    f"The file is {size / 1024 / 1024:.1f} MB; the import takes files of up to "
                    f"{MAX_BYTES // 1024 // 1024} MB. Split it into smaller files.",
                )
            ],
            path.name,
        )
    return path.read_bytes()


def parse(data: bytes, layout: Layout, name: str = "the file") -> Parsed:
    """The records of a CSV file with `layout`'s header; every malformed part is reported."""
    if len(data) > MAX_BYTES:
        raise ImportRejected(
            [Problem(0, "", f"The file is larger than {MAX_BYTES // 1024 // 1024} MB.")], name
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            [
                Problem(
                    line,
                    "",
                    f"The file is not UTF-8 text: the byte at position {exc.start} (line {line}) "
                    "cannot be read. Save the file as 'CSV UTF-8' and try again.",
                )
            ],
            name,
        ) from exc
    if "\x00" in text:
        raise ImportRejected(
            [Problem(1, "", "The file contains NUL characters: it is not a CSV text file.")], name
        )
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    problems: list[Problem] = []
    parsed = Parsed(layout, name)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise ImportRejected([Problem(1, "", "The file is empty: it has no header row.")], name)
        columns = [cell.strip().lower() for cell in header]
        problems.extend(_check_header(columns, layout))
        if problems:
            raise ImportRejected(problems, name)
        for number, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are allowed and skipped
            if len(cells) != len(columns):
                problems.append(
                    Problem(
                        number,
                        "",
                        f"This row has {len(cells)} values but the header has {len(columns)} "
                        "columns (check for a missing or extra comma, or an unquoted comma "
                        "inside a value).",
                    )
                )
                continue
            parsed.rows.append((number, dict(zip(columns, cells, strict=True))))
    except csv.Error as exc:
        problems.append(
            Problem(reader.line_num, "", f"Line {reader.line_num} is not valid CSV: {exc}.")
        )
    if problems:
        raise ImportRejected(problems, name)
    if not parsed.rows:
        raise ImportRejected([Problem(2, "", "The file has a header but no rows.")], name)
    return parsed


def _check_header(columns: list[str], layout: Layout) -> list[Problem]:
    problems = []
    known = ", ".join(layout.columns)
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            problems.append(Problem(1, column, f"The column '{column}' appears twice."))
        seen.add(column)
    unknown = [c for c in columns if c not in layout.columns]
    if unknown:
        problems.append(
            Problem(
                1,
                "",
                f"The header has unknown column(s): {', '.join(unknown) or '(blank)'}. "
                f"A {layout.kind} file has the columns: {known}.",
            )
        )
    missing = [c for c in layout.required if c not in seen]
    if missing:
        problems.append(
            Problem(
                1,
                "",
                f"The header is missing the column(s): {', '.join(missing)}. "
                f"A {layout.kind} file has the columns: {known}.",
            )
        )
    return problems


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(SEPARATOR) if part.strip()]


def _problems_of(number: int, errors: dict[str, list[str]], rename: dict[str, str]) -> list:
    return [
        Problem(number, rename.get(key, key), message)
        for key, messages in errors.items()
        for message in messages
    ]


# --- speakers -----------------------------------------------------------------------------


def _read_speaker(values: dict[str, str], today: date) -> tuple[dict[str, Any], Checker]:
    """One row checked with `speakers.create_speaker`'s rules (plus topics)."""
    check = Checker(
        {**values, "aliases": _split(values.get("aliases")), "topics": _split(values.get("topics"))}
    )
    name = check.text("display_name", "the speaker's name")
    distribution = (
        check.choice(
            "distribution", Distribution, "how far this record may be shared", required=False
        )
        or DEFAULT_DISTRIBUTION
    )
    retention = check.date("retention_until", "the date to keep this record until", required=False)
    if retention is None and check.ok("retention_until"):
        retention = today + speakers.DEFAULT_RETENTION
    elif retention is not None and retention <= today:
        check.add("retention_until", "The date to keep this record until must be in the future.")
    aliases = check.strings("aliases", "aliases", max_length=200)
    topics = check.strings("topics", "topics", max_items=20, max_length=100)
    confirm_new = check.boolean("confirm_new", "whether to create the record anyway")
    return {
        "display_name": name,
        "distribution": distribution,
        "retention_until": retention,
        "aliases": aliases,
        "topics": topics,
        "confirm_new": confirm_new,
    }, check


def import_speakers(actor: Actor, parsed: Parsed, progress: Progress = _no_progress) -> Any:
    """Create every speaker of the file in the actor's organisation, or none (see module)."""
    if not permissions.can_create_records(actor):
        raise PermissionDenied(
            "Only events officers and Prevent leads record speakers.",
            reason="not_permitted",
            audit={"action": SPEAKER_IMPORT, "resource_type": "speaker"},
        )
    today = utcnow().date()  # as `create_speaker` judges retention dates
    problems: list[Problem] = []
    clean: list[dict[str, Any]] = []
    for number, values in parsed.rows:
        row, check = _read_speaker(values, today)
        if check.errors:
            problems.extend(_problems_of(number, check.errors, {}))
        else:
            clean.append({**row, "row": number})
        progress(1)
    if problems:
        raise ImportRejected(problems, parsed.name)
    clean, duplicates = _leave_out_duplicates(actor, clean)
    ids = _insert_speakers(actor, clean, progress)
    return ImportResult("speakers", len(ids), [str(i) for i in ids], duplicates)


def _leave_out_duplicates(
    actor: Actor, rows: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[LikelyDuplicateRow]]:
    """The rows to create, and those left out because their speaker is likely already
    recorded (the one duplicate check), unless the row confirms a new person."""
    if not _holds_speakers(actor):
        # Nothing recorded yet, so nothing to repeat: a first import of 100,000 rows does not
        # ask the finder 100,000 times for nothing.
        return rows, []
    kept: list[dict[str, Any]] = []
    left_out: list[LikelyDuplicateRow] = []
    for row in rows:
        if not row["confirm_new"]:
            name = row["display_name"]
            try:
                speakers.require_new_people(actor, {name: row["aliases"]})
            except speakers.LikelyDuplicates as exc:
                left_out.append(LikelyDuplicateRow(row["row"], name, exc.found[name]))
                continue
        kept.append(row)
    return kept, left_out


def _holds_speakers(actor: Actor) -> bool:
    """Whether the actor's organisation holds any active speaker record."""
    return (
        db.session.scalar(
            sa.select(Speaker.id)
            .where(
                Speaker.owner_org_id == uuid.UUID(actor.org_id),
                Speaker.status == RecordStatus.ACTIVE,
            )
            .limit(1)
        )
        is not None
    )


def _chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert_speakers(
    actor: Actor, rows: list[dict[str, Any]], progress: Progress
) -> list[uuid.UUID]:
    owner = uuid.UUID(actor.org_id)
    creator = actor.person_id
    now = utcnow()
    import_id = str(uuid.uuid4())
    ids: list[uuid.UUID] = []
    for chunk in _chunks(rows):
        speaker_rows, alias_rows, topic_rows, name_rows = [], [], [], []
        for row in chunk:
            speaker_id = uuid.uuid4()
            ids.append(speaker_id)
            speaker_rows.append(
                {
                    "id": speaker_id,
                    "owner_org_id": owner,
                    "distribution": row["distribution"],
                    "display_name": row["display_name"],
                    "status": RecordStatus.ACTIVE,
                    "merged_into_id": None,
                    "retention_until": row["retention_until"],
                    "created_by_id": creator,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            alias_rows.extend(
                {"speaker_id": speaker_id, "name": alias, "kind": AliasKind.ALIAS}
                for alias in row["aliases"]
            )
            topic_rows.extend(
                {"speaker_id": speaker_id, "topic": topic}
                # A topic once per speaker, however it is capitalised (it is part of the key).
                for topic in {t.casefold(): t for t in row["topics"]}.values()
            )
            name_rows.extend(
                search.name_rows(speaker_id, owner, [row["display_name"], *row["aliases"]])
            )
        for model, values in (
            (Speaker, speaker_rows),
            (SpeakerAlias, alias_rows),
            (SpeakerTopic, topic_rows),
            (SpeakerName, name_rows),
        ):
            _insert_many(model.__table__, values)
        chunk_ids = ids[-len(chunk) :]
        for start in range(0, len(chunk_ids), AUDIT_BATCH):
            batch = chunk_ids[start : start + AUDIT_BATCH]
            audit.record(
                actor,
                SPEAKER_IMPORT,
                "granted",
                resource_type="speaker",
                resource_ids=[str(i) for i in batch],
                resource_org=actor.org_id,
                subjects=[("speaker", str(i)) for i in batch],
                import_id=import_id,
                created=len(batch),
            )
        progress(len(chunk))
    return ids


def _insert_many(table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """INSERT the rows in the session's transaction: COPY on PostgreSQL, one executemany
    (Core, not the ORM: no per-object bookkeeping) elsewhere."""
    if not rows:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(table.insert(), rows)
        return
    # psycopg's executemany sends one statement per row; COPY streams them all at once.
    columns = list(rows[0])
    statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"  # names from the model
    driver = connection.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([_copy_value(row[column]) for column in columns])


def _copy_value(value: Any) -> Any:
    # Enums are stored as their string values (non-native enums with a CHECK constraint).
    return value.value if isinstance(value, Enum) else value


# --- events -------------------------------------------------------------------------------


def _find_speaker(actor: Actor, name: str) -> tuple[uuid.UUID | None, str | None]:
    """The one speaker of the organisation named `name` (its name or an alias, as the finder
    normalises them: case, accents and punctuation aside), or why there is none: no such
    speaker, several, or only speakers whose name is like it (named, to be used instead)."""
    matches = speakers.likely_duplicates(actor, name)
    wanted = search.normalise(name)
    exact = [m for m in matches if search.normalise(m.matched_name) == wanted]
    if len(exact) == 1:
        return exact[0].speaker_id, None
    if len(exact) > 1:
        return None, (
            f"{len(exact)} speakers in your organisation's records are called '{name}'; "
            "add this event's speakers by hand."
        )
    if matches:
        like = "', '".join(m.display_name for m in matches)
        return None, (
            f"There is no speaker called '{name}' in your organisation's records, but there "
            f"is '{like}': if that is who you mean, use the name as the record gives it."
        )
    return None, (
        f"There is no speaker called '{name}' in your organisation's records. "
        "Import or add the speaker first."
    )


def import_events(actor: Actor, parsed: Parsed, progress: Progress = _no_progress) -> Any:
    """Create every event of the file as a draft, through the events service, or none."""
    if not permissions.can_host_events(actor):
        raise PermissionDenied(
            "Only events officers and Prevent leads of a university or students' union record "
            "events.",
            reason="not_permitted",
            audit={"action": EVENT_IMPORT, "resource_type": "event"},
        )
    problems: list[Problem] = []
    ids: list[str] = []
    savepoint = db.session.begin_nested()
    for number, values in parsed.rows:
        speaker_ids = []
        for name in _split(values.get("speakers")):
            found, problem = _find_speaker(actor, name)
            if found is None:
                problems.append(Problem(number, "speakers", problem or ""))
            else:
                speaker_ids.append(str(found))
        data = {key: value for key, value in values.items() if key != "speakers"}
        data["speaker_ids"] = speaker_ids
        try:
            with db.session.begin_nested():
                event = events.create_event(actor, data)
        except ValidationFailed as exc:
            problems.extend(_problems_of(number, exc.errors, {"speaker_ids": "speakers"}))
        else:
            ids.append(str(event.id))
        progress(1)
    if problems:
        savepoint.rollback()
        raise ImportRejected(problems, parsed.name)
    savepoint.commit()
    return ImportResult("events", len(ids), ids)


def import_actor(org: Any, person: Any = None) -> Actor:
    """Who an import acts as: a named person of the organisation, or the operator for it."""
    if person is not None:
        return signin.actor_for(person)
    role = "events_officer" if org.kind in permissions.HOST_KINDS else "prevent_lead"
    return Actor(
        kind=ActorKind.SYSTEM,
        label="cli-import",
        org_id=str(org.id),
        org_slug=org.slug,
        org_kind=str(org.kind),
        roles=frozenset({role}),
    )
