"""DDL that makes audit tables append-only on SQLite and PostgreSQL (used by migrations)."""

from __future__ import annotations

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION hub_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def append_only_statements(
    dialect: str, table: str, unique_keys: tuple[tuple[str, ...], ...]
) -> list[str]:
    """Statements that make `table` reject UPDATE, DELETE, TRUNCATE and overwriting inserts.

    `unique_keys` are its primary key and unique constraints, each a tuple of columns: on SQLite an
    `INSERT OR REPLACE` (or `REPLACE INTO`) deletes the clashing row without firing DELETE
    triggers, so an insert whose key already exists is refused before it can do that.
    """
    if dialect == "postgresql":
        return [
            PG_FUNCTION,
            f"CREATE TRIGGER {table}_append_only_rows BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION hub_audit_append_only()",
            f"CREATE TRIGGER {table}_append_only_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION hub_audit_append_only()",
            # ALWAYS: the triggers fire even under session_replication_role = replica.
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only_rows",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_append_only_truncate",
        ]
    if dialect == "sqlite":
        clash = " OR ".join(
            "(" + " AND ".join(f"{column} = NEW.{column}" for column in key) + ")"
            for key in unique_keys
        )
        return [
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'audit table {table} is append-only: UPDATE refused'); END",
            f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} BEGIN "
            f"SELECT RAISE(ABORT, 'audit table {table} is append-only: DELETE refused'); END",
            # Table and column names come from migrations, never from input.
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "  # noqa: S608
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE {clash}) BEGIN "
            f"SELECT RAISE(ABORT, 'audit table {table} is append-only: overwrite refused'); END",
        ]
    raise ValueError(f"no append-only DDL for dialect {dialect!r}")


def drop_statements(dialect: str, table: str) -> list[str]:
    """Statements that remove what `append_only_statements` made (for downgrades)."""
    if dialect == "postgresql":
        return [
            f"DROP TRIGGER IF EXISTS {table}_append_only_rows ON {table}",
            f"DROP TRIGGER IF EXISTS {table}_append_only_truncate ON {table}",
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_{name}"
        for name in ("no_update", "no_delete", "no_replace")
    ]
