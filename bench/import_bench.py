"""Bulk import speed: `hub import speakers` with 100,000 rows, on PostgreSQL and SQLite.

The command is run exactly as an operator runs it (through the CLI, progress bar included),
against a freshly migrated database holding one university; the clock covers reading,
checking every row, writing speakers, aliases, topics, search rows and one audit entry per
speaker, and the commit. Integrating the audit entries into the Merkle tree is the
integrator's work after the commit (measured separately in the audit suite).
"""

from __future__ import annotations

import csv
import os
import random
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

from bench.common import Suite, fresh_database

ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "100000"))
TARGET_SECONDS = 60.0

SYLLABLES = [
    "ash",
    "bel",
    "cor",
    "dun",
    "el",
    "fen",
    "gar",
    "hol",
    "ith",
    "jas",
    "kel",
    "lor",
    "mar",
    "nev",
    "ol",
    "pen",
    "quil",
    "ros",
    "sel",
    "tam",
    "ul",
    "ver",
    "wen",
    "yar",
    "zel",
    "bram",
    "cal",
    "dor",
    "fay",
    "hart",
]
TITLES = ("Dr", "Professor", "Ms", "Mr", "Mx", "Revd", "")
TOPICS = ("history", "theology", "economics", "politics", "poetry", "science", "law", "music")


def _name(rng: random.Random) -> str:
    """An invented name (syllables, never a real person's)."""

    def word() -> str:
        return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()

    title = rng.choice(TITLES)
    return " ".join(part for part in (title, word(), word()) if part)


def write_csv(path: Path, rows: int, seed: int = 4) -> None:
    """A speakers file like an institution's export: a third with aliases, most with topics."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["display_name", "aliases", "distribution", "retention_until", "topics"])
        for _ in range(rows):
            aliases = ";".join(_name(rng) for _ in range(rng.choice((0, 0, 1, 2))))
            topics = ";".join(rng.sample(TOPICS, rng.randint(0, 3)))
            writer.writerow(
                [
                    _name(rng),
                    aliases,
                    rng.choice(("internal", "shareable", "")),
                    rng.choice(("", "2031-07-31", "2030-12-31")),
                    topics,
                ]
            )


def _measure(suite: Suite, label: str, url: str, csv_path: Path) -> None:
    from audit.models import AuditEntry, AuditEntrySubject
    from core import migrations
    from core.db import db
    from core.security import Actor
    from hub.app import create_app
    from hub.records.models import Speaker, SpeakerName
    from partners import services

    instance = Path(tempfile.mkdtemp(prefix="hub-bench-import-"))
    app = create_app(
        {
            "database_url": url,
            "instance_path": instance,
            "secret_key": "bench-only-secret",
            "audit_integrate_after_commit": False,
        }
    )
    with app.app_context():
        migrations.upgrade(url)
        services.create_organisation(
            Actor.system("bench"),
            {
                "name": "Bench University",
                "slug": "bench-university",
                "kind": "university",
                "region": "Benchshire",
                "dp_contact_name": "Bench Contact",
                "dp_contact_email": "dpo@bench.example",
            },
        )
        db.session.commit()
    runner = app.test_cli_runner()
    started = time.perf_counter()
    with app.app_context():  # as the `flask` command pushes one
        result = runner.invoke(
            args=["hub", "import", "speakers", str(csv_path), "--org", "bench-university"]
        )
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise RuntimeError(f"import failed ({result.exit_code}): {result.output[-2000:]}")
    with app.app_context():
        speakers = db.session.scalar(sa.select(sa.func.count()).select_from(Speaker))
        names = db.session.scalar(sa.select(sa.func.count()).select_from(SpeakerName))
        imported = sa.select(AuditEntry.seq).where(AuditEntry.action == "speaker.import")
        entries = db.session.scalar(sa.select(sa.func.count()).select_from(imported.subquery()))
        named = db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditEntrySubject)
            .where(AuditEntrySubject.entry_seq.in_(imported))
        )
        db.session.remove()
    app.extensions["hub_db_engine"].dispose()
    if speakers != ROWS or named != ROWS:
        raise RuntimeError(f"expected {ROWS:,} speakers named once each: {speakers}, {named}")
    suite.add(
        f"import {ROWS:,} speakers, {label}",
        elapsed,
        "s",
        f"< {TARGET_SECONDS:.0f} s",
        elapsed < TARGET_SECONDS if ROWS >= 100_000 else None,
    )
    suite.add(f"import rate, {label}", ROWS / elapsed, "speakers/s")
    suite.notes.append(
        f"{label}: {speakers:,} speakers and {names:,} search rows written by one "
        f"`hub import speakers` run, with {entries:,} `speaker.import` audit entries naming "
        f"each of the {named:,} speakers (id and subject pseudonym) exactly once."
    )


def run() -> Suite:
    """Import the same generated file into PostgreSQL and into SQLite."""
    suite = Suite("Bulk import of speakers (issue 4), PostgreSQL and SQLite")
    workdir = Path(tempfile.mkdtemp(prefix="hub-bench-import-"))
    csv_path = workdir / "speakers.csv"
    write_csv(csv_path, ROWS)
    size = csv_path.stat().st_size / 1024 / 1024
    suite.notes.append(
        f"Input: {ROWS:,} rows of invented names, {size:.1f} MB, a third with aliases, most "
        "with topics; the clock includes the CLI start, reading, checking and the commit."
    )
    _measure(suite, "PostgreSQL", fresh_database("hub_bench_import"), csv_path)
    _measure(suite, "SQLite", f"sqlite:///{workdir / 'bench.sqlite3'}", csv_path)
    suite.notes.append(
        "Rows are checked one by one with the speakers service's rules, then written in "
        "batches of 5,000 (for speakers, aliases, topics and search rows: one COPY per table "
        "on PostgreSQL, one executemany per table on SQLite); the audit entries, in the same "
        "transaction, name up to 200 created speakers each."
    )
    return suite


if __name__ == "__main__":
    run()
