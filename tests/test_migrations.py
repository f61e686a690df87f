"""Migrations are the only way the schema is made: they must agree with the models, both ways."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import hub.models  # noqa: F401  (every table on the metadata)
from hub.core import migrations
from hub.core.db import Base, make_engine
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
