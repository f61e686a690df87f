"""Migrations are the only way the schema is made: they must agree with the models, both ways."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import hub.models  # noqa: F401  (every table on the metadata)
from core import migrations
from core.db import Base, make_engine
from tests.conftest import dispose_database, fresh_database_url


@pytest.fixture
def empty_database(database_server, tmp_path):
    url = fresh_database_url(database_server, tmp_path, "migrations")
    yield url
    dispose_database(database_server, url)


def _differences(url: str) -> list:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "include_object": migrations.include_object},
            )
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_models_and_migrations_agree(app, empty_database):
    with app.app_context():
        migrations.upgrade(empty_database)
    assert _differences(empty_database) == []


def _where_in_database(connection: sa.Connection, name: str) -> str | None:
    """An index's WHERE condition as the database keeps it (None for a whole-table index)."""
    if connection.dialect.name == "postgresql":
        definition = connection.execute(
            sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = :name"), {"name": name}
        ).scalar_one()
    else:
        definition = connection.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = :name"),
            {"name": name},
        ).scalar_one()
    _, where, condition = definition.partition(" WHERE ")
    return condition if where else None


def _normal(condition: str) -> str:
    """A condition in one spelling, whatever the database's (PostgreSQL adds parentheses and
    casts: `((outcome)::text <> 'granted'::text)`)."""
    condition = re.sub(r"::[a-z ]+?(?=[ )]|$)", "", condition.lower())
    return " ".join(condition.replace("(", " ").replace(")", " ").split())


def test_partial_indexes_keep_their_conditions_in_the_migrations(app, empty_database):
    """Autogenerate does not compare an index's WHERE: a migration that made a partial index
    whole (or another condition) would pass the comparison above."""
    with app.app_context():
        migrations.upgrade(empty_database)
    engine = make_engine(empty_database)
    try:
        with engine.connect() as connection:
            dialect = connection.dialect.name
            for table in Base.metadata.tables.values():
                for index in table.indexes:
                    where = index.dialect_options[dialect].get("where")
                    stored = _where_in_database(connection, index.name)
                    if where is None:
                        assert stored is None, index.name
                    else:
                        assert stored is not None, index.name
                        assert _normal(str(where)) == _normal(stored), (index.name, stored)
    finally:
        engine.dispose()


def test_migrations_downgrade_to_nothing_and_up_again(app, empty_database):
    from alembic import command

    with app.app_context():
        migrations.upgrade(empty_database)
        command.downgrade(migrations.alembic_config(empty_database), "base")
        engine = make_engine(empty_database)
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names()) - {"alembic_version"}
        engine.dispose()
        assert tables == set()
        migrations.upgrade(empty_database)
    assert _differences(empty_database) == []


def test_each_email_domain_keeps_one_provider_when_domains_move_to_their_own_table(
    app, empty_database
):
    """Providers' domain lists become claims; a domain two providers listed goes to neither."""
    import uuid
    from datetime import UTC, datetime

    from alembic import command

    config = migrations.alembic_config(empty_database)
    organisations = sa.table(
        "organisations",
        *(sa.column(name) for name in ("name", "slug", "kind", "region", "status")),
        *(sa.column(name) for name in ("dp_contact_name", "dp_contact_email")),
        sa.column("id", sa.Uuid()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    providers = sa.table(
        "identity_providers",
        *(sa.column(name) for name in ("issuer", "client_id", "client_auth_method")),
        *(sa.column(name) for name in ("allowed_domains", "scopes", "role_policy")),
        sa.column("id", sa.Uuid()),
        sa.column("organisation_id", sa.Uuid()),
        sa.column("credential_encrypted", sa.LargeBinary()),
        sa.column("role_mapping", sa.JSON()),
        sa.column("enabled", sa.Boolean()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    ids = {name: uuid.uuid4() for name in ("north", "south")}
    with app.app_context():
        command.upgrade(config, "90d133220e1a")
        engine = make_engine(empty_database)
        with engine.begin() as connection:
            for name, provider_id in ids.items():
                org_id = uuid.uuid4()
                connection.execute(
                    organisations.insert().values(
                        id=org_id,
                        name=name,
                        slug=name,
                        kind="university",
                        region="r",
                        status="active",
                        dp_contact_name="x",
                        dp_contact_email="x@x.example",
                        created_at=now,
                        updated_at=now,
                    )
                )
                connection.execute(
                    providers.insert().values(
                        id=provider_id,
                        organisation_id=org_id,
                        issuer=f"https://{name}.example",
                        client_id="c",
                        client_auth_method="client_secret_basic",
                        credential_encrypted=b"x",
                        allowed_domains=f"{name}.example shared.example",
                        scopes="openid",
                        role_policy="hub",
                        role_mapping={},
                        enabled=True,
                        created_at=now,
                        updated_at=now,
                    )
                )
        with pytest.warns(UserWarning, match="shared.example was listed by 2"):
            migrations.upgrade(empty_database)
        with engine.connect() as connection:
            claims = (
                connection.execute(
                    sa.text("SELECT domain FROM identity_provider_domains ORDER BY domain")
                )
                .scalars()
                .all()
            )
        engine.dispose()
    assert claims == ["north.example", "south.example"]
