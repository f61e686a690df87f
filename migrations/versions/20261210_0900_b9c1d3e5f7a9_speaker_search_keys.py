"""speaker search keys computed in Python and stored with each name (any script, nicknames)

The search keys of a name (its words, their transliteration skeletons and one-letter deletions,
its own script's words, behind the owner's prefix) were computed in SQL from a copy of the
skeleton rules; they are now computed once, by `hub.records.speakers.names.name_keys`, and
stored in `speaker_names.keys`. PostgreSQL indexes them with GIN (through a costly
function, so that the planner never splits them row by row), SQLite with an FTS5 table
whose tokens are the keys. Every name's Latin form is recomputed too: it now transliterates
any script (it used to drop every letter outside ASCII).

Revision ID: b9c1d3e5f7a9
Revises: a8b0c2d4e6f7
Create Date: 2026-12-10 09:00:00+00:00
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from hub.records.speakers import names

revision: str = "b9c1d3e5f7a9"
down_revision: str | None = "a8b0c2d4e6f7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000

#: The keys are tokens of their own: the tokenizer keeps the marks keys are made of, folds
#: case, keeps accents and combining marks (a name in its own script is matched as written).
SQLITE_KEYS_TABLE = (
    "CREATE VIRTUAL TABLE speaker_names_fts_keys USING fts5(keys, content='speaker_names', "
    "content_rowid='id', tokenize=\"unicode61 remove_diacritics 0 categories 'L* N* Co M*' "
    "tokenchars '=~:'\")"
)
SQLITE_TRIGGERS = [
    "CREATE TRIGGER speaker_names_fts_insert AFTER INSERT ON speaker_names BEGIN "
    "INSERT INTO speaker_names_fts(rowid, normalised, sorted_tokens) "
    "VALUES (new.id, new.normalised, new.sorted_tokens); "
    "INSERT INTO speaker_names_fts_keys(rowid, keys) VALUES (new.id, new.keys); END",
    "CREATE TRIGGER speaker_names_fts_delete AFTER DELETE ON speaker_names BEGIN "
    "INSERT INTO speaker_names_fts(speaker_names_fts, rowid, normalised, sorted_tokens) "
    "VALUES ('delete', old.id, old.normalised, old.sorted_tokens); "
    "INSERT INTO speaker_names_fts_keys(speaker_names_fts_keys, rowid, keys) "
    "VALUES ('delete', old.id, old.keys); END",
    "CREATE TRIGGER speaker_names_fts_update AFTER UPDATE ON speaker_names BEGIN "
    "INSERT INTO speaker_names_fts(speaker_names_fts, rowid, normalised, sorted_tokens) "
    "VALUES ('delete', old.id, old.normalised, old.sorted_tokens); "
    "INSERT INTO speaker_names_fts(rowid, normalised, sorted_tokens) "
    "VALUES (new.id, new.normalised, new.sorted_tokens); "
    "INSERT INTO speaker_names_fts_keys(speaker_names_fts_keys, rowid, keys) "
    "VALUES ('delete', old.id, old.keys); "
    "INSERT INTO speaker_names_fts_keys(rowid, keys) VALUES (new.id, new.keys); END",
]
TRIGGERS = ("speaker_names_fts_insert", "speaker_names_fts_delete", "speaker_names_fts_update")


def _earlier() -> object:
    """The institution-records migration, whose search structures a downgrade restores."""
    path = Path(__file__).with_name("20261122_0540_06becb8e7eb4_institution_records.py")
    spec = importlib.util.spec_from_file_location("institution_records", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _rekey(connection: sa.Connection) -> None:
    """Recompute every name's Latin form, sorted words and keys, in batches."""
    rows = connection.execute(sa.text("SELECT id, owner_org_id, name FROM speaker_names")).all()
    update = sa.text(
        "UPDATE speaker_names SET normalised = :normalised, sorted_tokens = :sorted, "
        "keys = :keys WHERE id = :id"
    )
    for start in range(0, len(rows), BATCH):
        batch = []
        for row_id, owner, name in rows[start : start + BATCH]:
            latin = names.latin(name)[:200]
            batch.append(
                {
                    "id": row_id,
                    "normalised": latin,
                    "sorted": names.sorted_words(latin)[:200],
                    "keys": names.name_keys(owner, name),
                }
            )
        connection.execute(update, batch)


def upgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("speaker_names", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keys", sa.Text(), nullable=False, server_default=""))
    if connection.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_speaker_names_keys_trgm")
        op.execute("DROP FUNCTION IF EXISTS speaker_name_keys(uuid, text)")
        op.execute("DROP FUNCTION IF EXISTS speaker_name_skeleton(text)")
        _rekey(connection)
        # The keys as an array, declared costly (and in PL/pgSQL, which is never inlined) so
        # that the planner always reads them through the index and never splits every row's
        # keys itself: with a cheap expression it chose to scan the whole table.
        op.execute(
            "CREATE FUNCTION speaker_name_key_array(keys text) RETURNS text[] "
            "LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE STRICT COST 10000 "
            "AS $$ BEGIN RETURN string_to_array(keys, ' '); END $$"
        )
        # (Not a trigram index: its name ends in _trgm so that the model/migration comparison
        # leaves it out, as it does every search index.)
        op.execute(
            "CREATE INDEX ix_speaker_names_keys_trgm ON speaker_names "
            "USING gin (speaker_name_key_array(keys))"
        )
        return
    for trigger in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS speaker_names_fts_skeleton")
    _rekey(connection)
    op.execute(SQLITE_KEYS_TABLE)
    op.execute("INSERT INTO speaker_names_fts(speaker_names_fts) VALUES ('rebuild')")
    op.execute("INSERT INTO speaker_names_fts_keys(speaker_names_fts_keys) VALUES ('rebuild')")
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    """Back to keys computed in SQL. On SQLite the earlier skeleton table starts empty (it has
    no content table to rebuild from): names are found by it again once re-indexed."""
    connection = op.get_bind()
    if connection.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_speaker_names_keys_trgm")
        op.execute("DROP FUNCTION IF EXISTS speaker_name_key_array(text)")
        op.execute("DROP INDEX IF EXISTS ix_speaker_names_owner_sorted_trgm")
    else:
        for trigger in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS speaker_names_fts_keys")
        op.execute("DROP TABLE IF EXISTS speaker_names_fts")
    with op.batch_alter_table("speaker_names", schema=None) as batch_op:
        batch_op.drop_column("keys")
    for statement in _earlier().search_index_statements(connection.dialect.name):
        op.execute(statement)
    if connection.dialect.name != "postgresql":
        op.execute("INSERT INTO speaker_names_fts(speaker_names_fts) VALUES ('rebuild')")
