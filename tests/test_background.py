"""Background work off the request's path (`core.background`): a commit that made work wakes
its thread; a savepoint's rollback keeps the wake-up, the transaction's rollback drops it."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from core import background


@pytest.fixture
def engine():
    """An engine of the test's own (the sessions here are bound to an engine, as a request's
    is, and stay off the suite's database and its locks)."""
    engine = sa.create_engine("sqlite://")
    yield engine
    engine.dispose()


def _kind(ran: threading.Event) -> background.Kind:
    def round_(_app) -> bool:
        ran.set()
        return False

    return background.Kind(
        name="test-work",
        round=round_,
        after_commit=lambda _app: True,
        interval=lambda _app: None,
    )


def test_a_commit_that_made_work_wakes_its_thread(app, engine):
    ran = threading.Event()
    kind = _kind(ran)
    try:
        with app.app_context(), Session(bind=engine) as session:
            session.execute(sa.text("SELECT 1"))
            background.wake_after_commit(session, kind)
            assert not ran.is_set()
            session.commit()
        assert ran.wait(10), "the work did not run after the commit"
    finally:
        background.stop(app, kind)


def test_a_rollback_drops_the_wake_up_and_a_savepoints_keeps_it(app, engine):
    ran = threading.Event()
    kind = _kind(ran)
    try:
        with app.app_context(), Session(bind=engine) as session:
            session.execute(sa.text("SELECT 1"))
            background.wake_after_commit(session, kind)
            savepoint = session.begin_nested()
            savepoint.rollback()
            assert kind.name in session.info[background._WAKE]
            session.rollback()
            assert background._WAKE not in session.info
            session.execute(sa.text("SELECT 1"))
            session.commit()
        assert not ran.wait(0.5), "a rolled-back transaction's work ran"
    finally:
        background.stop(app, kind)
