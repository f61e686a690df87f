"""With a separate migration role, the application's role may only SELECT and INSERT audit rows."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from audit.models import APPEND_ONLY_TABLES
from tests.conftest import dispose_database, fresh_database_url


@pytest.fixture
def app_role_database(database_server, tmp_path, monkeypatch):
    if database_server is None:
        pytest.skip("roles and grants are PostgreSQL's")
    role = f"hub_app_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(database_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
    url = fresh_database_url(database_server, tmp_path, "grants")
    monkeypatch.setenv("HUB_DB_APP_ROLE", role)
    from core import migrations

    migrations.upgrade(url)
    app_url = sa.make_url(url).set(username=role, password=None)
    yield app_url
    dispose_database(database_server, url)
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
    admin.dispose()


def test_application_role_cannot_update_delete_or_truncate_audit_tables(app_role_database):
    engine = sa.create_engine(app_role_database)
    try:
        with engine.connect() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO audit_entries (uuid, time_ms, actor, action, outcome, leaf,"
                    " leaf_hash) VALUES ('u-1', 0, 'system:test', 'test.grant', 'granted',"
                    " '\\x00', '\\x00')"
                )
            )
            connection.commit()
            for table in APPEND_ONLY_TABLES:
                for statement in (
                    f"UPDATE {table} SET {_any_column(table)} = {_any_column(table)}",
                    f"DELETE FROM {table}",
                    f"TRUNCATE {table} CASCADE",
                ):
                    with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
                        connection.execute(sa.text(statement))
                    connection.rollback()
            # The application's other tables stay writable.
            connection.execute(sa.text("UPDATE audit_integrator_lock SET taken_at = 1"))
            connection.rollback()
    finally:
        engine.dispose()


def _any_column(table: str) -> str:
    return {
        "audit_entries": "action",
        "audit_entry_subjects": "pseudonym",
        "audit_entry_resources": "resource_id",
        "audit_leaves": "idx",
        "audit_tree_nodes": "hash",
        "audit_checkpoints": "note",
        "audit_cosignatures": "timestamp",
    }[table]
