"""Several processes appending at once: indexes stay contiguous and the log verifies."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa

from tests.conftest import app_config, dispose_database, fresh_database_url

WRITERS = 4
ENTRIES_EACH = 60


def _writer(url: str, instance: str, number: int, barrier) -> None:  # type: ignore[no-untyped-def]
    """Append entries one transaction at a time, as request handlers do."""
    from audit import services as audit
    from hub.app import create_app
    from hub.core.db import db
    from hub.core.security import Actor

    app = create_app(app_config(url, instance))
    barrier.wait()
    for i in range(ENTRIES_EACH):
        with app.app_context():
            audit.record(
                Actor.system(f"writer-{number}"),
                "test.concurrent",
                "granted",
                resource_ids=[f"{number}-{i}"],
            )
            db.session.commit()  # integration is attempted after each commit, under a try-lock


@pytest.mark.slow
def test_concurrent_writers_get_contiguous_indexes_and_a_verifiable_log(database_server, tmp_path):
    from audit import log
    from audit import verify as verification
    from audit.models import AuditLeaf, AuditPending
    from hub.app import create_app
    from hub.core import migrations
    from hub.core.db import db

    url = fresh_database_url(database_server, tmp_path, "concurrency")
    instance = tmp_path / "instance"
    app = create_app(app_config(url, instance))
    with app.app_context():
        migrations.upgrade(url)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WRITERS)
    processes = [
        context.Process(target=_writer, args=(url, str(instance), n, barrier))
        for n in range(WRITERS)
    ]
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join(timeout=180)
            assert process.exitcode == 0
        with app.app_context():
            session = db.session()
            log.integrate(session, force_checkpoint=True)
            session.commit()
            indexes = session.scalars(sa.select(AuditLeaf.idx).order_by(AuditLeaf.idx)).all()
            assert indexes == list(range(WRITERS * ENTRIES_EACH))
            assert session.scalar(sa.select(sa.func.count()).select_from(AuditPending)) == 0
            seqs = session.scalars(sa.select(AuditLeaf.entry_seq)).all()
            assert len(set(seqs)) == len(seqs)
            report = verification.verify(session, log.verifier_key())
            assert report.ok, report.summary()
            assert report.checkpoints >= 1
            session.rollback()
    finally:
        for process in processes:
            if process.is_alive():
                process.kill()
        db.session.remove()
        app.extensions["hub_db_engine"].dispose()
        dispose_database(database_server, url)
