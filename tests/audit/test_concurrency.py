"""Several processes appending at once: indexes stay contiguous and the log verifies."""

from __future__ import annotations

import multiprocessing

import pytest
import sqlalchemy as sa

from tests.conftest import app_config, close_app, dispose_database, fresh_database_url

WRITERS = 4
ENTRIES_EACH = 60
#: Entries the log must grow by while it is verified over and over (10 writer batches).
GROWTH = 200


def _writer(url: str, instance: str, number: int, barrier) -> None:  # type: ignore[no-untyped-def]
    """Append entries one transaction at a time, as request handlers do."""
    from audit import services as audit
    from core.db import db
    from core.security import Actor
    from hub.app import create_app

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
    from core import migrations
    from core.db import db
    from hub.app import create_app

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
        close_app(app)
        dispose_database(database_server, url)


def _busy_writer(url: str, instance: str, stop, started) -> None:  # type: ignore[no-untyped-def]
    """Append and integrate (with checkpoints) as fast as it can until told to stop."""
    from audit import log
    from audit import services as audit
    from core.db import db
    from core.security import Actor
    from hub.app import create_app

    app = create_app(app_config(url, instance, audit_integrate_after_commit=False))
    n = 0
    while not stop.is_set():
        with app.app_context():
            for _ in range(20):
                audit.record(Actor.system("busy"), "test.busy", "granted", resource_ids=[str(n)])
                n += 1
            db.session.commit()
            log.integrate_now(force_checkpoint=True)
        started.set()


@pytest.mark.slow
def test_verify_passes_a_healthy_log_while_entries_are_integrated(database_server, tmp_path):
    """`audit verify` reads in several statements while the integrator adds leaves, nodes and
    checkpoints: it verifies the tree as it was when it started, and never reports a healthy
    log as broken."""
    from audit import log
    from audit import verify as verification
    from core import migrations
    from core.db import db, read_only
    from hub.app import create_app

    url = fresh_database_url(database_server, tmp_path, "verify_live")
    instance = tmp_path / "instance"
    app = create_app(app_config(url, instance, audit_integrate_after_commit=False))
    with app.app_context():
        migrations.upgrade(url)
    context = multiprocessing.get_context("spawn")
    stop, started = context.Event(), context.Event()
    writers = [
        context.Process(target=_busy_writer, args=(url, str(instance), stop, started))
        for _ in range(2)
    ]
    try:
        for writer in writers:
            writer.start()
        assert started.wait(60)
        with app.app_context():
            sizes: list[int] = []
            # Verify again and again while the writers go on, until the log has grown by
            # several integrated batches under the verifier's feet (how fast depends on the
            # machine; what matters is that every run passes while it grows).
            while len(sizes) < 1000 and (not sizes or sizes[-1] < sizes[0] + GROWTH):
                session = read_only(db.session())  # as `audit verify` reads
                report = verification.verify(session, log.verifier_key())
                session.rollback()
                assert report.ok, report.summary()
                sizes.append(report.tree_size)
            assert sizes[-1] >= sizes[0] + GROWTH, "the log did not grow while it was verified"
    finally:
        stop.set()
        for writer in writers:
            writer.join(timeout=60)
            if writer.is_alive():
                writer.kill()
        db.session.remove()
        close_app(app)
        dispose_database(database_server, url)
