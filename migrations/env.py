"""Alembic environment: runs migrations against the URL the hub is configured with."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import pool

import hub.models  # noqa: F401  (registers every table on Base.metadata)
from audit.models import APPEND_ONLY_TABLES
from core.config import Settings
from core.db import Base, make_engine
from core.migrations import include_object

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    settings = Settings.from_environ()
    settings.finalise()
    return settings.database_url


def run_migrations_offline() -> None:
    """Emit SQL without a database connection (`alembic upgrade --sql`)."""
    context.configure(
        url=_url(), target_metadata=target_metadata, literal_binds=True, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on a live connection, one transaction for the lot."""
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = make_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
        _grant_application_role(connection)


def _grant_application_role(connection) -> None:  # type: ignore[no-untyped-def]
    """Where migrations run as their own role, the application's role (`HUB_DB_APP_ROLE`) may
    read and write the hub's tables but only SELECT and INSERT the audit record."""
    role = os.environ.get("HUB_DB_APP_ROLE")
    if not role or connection.dialect.name != "postgresql":
        return
    quoted = connection.dialect.identifier_preparer.quote(role)
    connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {quoted}")
    connection.exec_driver_sql(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}"
    )
    connection.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}")
    for table in APPEND_ONLY_TABLES:
        connection.exec_driver_sql(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {quoted}")
        connection.exec_driver_sql(f"GRANT SELECT, INSERT ON {table} TO {quoted}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
