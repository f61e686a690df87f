"""Alembic, driven from code: the only way the schema is made."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.config import PROJECT_ROOT
from core.db import db


def alembic_config(url: str | None = None) -> Config:
    """An Alembic Config for `url` (default: the app's engine URL)."""
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    if url is None:
        assert db.engine is not None, "database used before init_app"
        url = db.engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


#: Search structures each engine keeps beside the models (SQLite's FTS5 table and its shadow
#: tables, PostgreSQL's trigram indexes); the model/migration comparison leaves them out.
UNMODELLED_TABLE_PREFIXES = ("speaker_names_fts",)
UNMODELLED_INDEX_SUFFIXES = ("_trgm",)


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # type: ignore[no-untyped-def]
    """Alembic's filter: compare everything except the engine-specific search structures."""
    if type_ == "index" and (name or "").endswith(UNMODELLED_INDEX_SUFFIXES):
        return False
    table = obj.name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
    return not (table or "").startswith(UNMODELLED_TABLE_PREFIXES)


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the schema at `url` up to `revision`."""
    command.upgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest migration in `migrations/versions`."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: sa.Connection | None = None) -> str | None:
    """The migration the connected database is at (None if it has none)."""
    connection = connection if connection is not None else db.session.connection()
    return MigrationContext.configure(connection).get_current_revision()
