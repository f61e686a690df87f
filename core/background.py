"""Work a web process does off the request's path (integrating audit entries, sending email):
one daemon thread per process, app and kind of work, woken soon after a commit that made work
for it, and on a timer.

A request only sets an event, so the work never adds to its latency; what is committed while a
round runs is picked up by the next round, in one batch. The timer (at start-up and every
`interval` seconds) catches what a crash or another process left behind on an idle hub. After
a fork (gunicorn's workers) the inherited thread is not alive, so a poke starts a fresh one.

A kind of work is declared once, by the module that owns it (`Kind`); the module marks a
session whose commit should wake it (`wake_after_commit`), and the application factory starts
it (`start`). A savepoint's rollback keeps the mark; the whole transaction's rollback drops it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import click
import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

PAUSE = 0.1  # seconds between rounds: lets work committed together go in one round
_WAKE = "hub_background_wake"
_POKE = "hub_background_poke"


@dataclass(frozen=True)
class Kind:
    """A kind of background work: its name, one round of it (True when more is due at once),
    whether commits wake it in this app, and its timer (seconds; None or 0: none)."""

    name: str
    round: Callable[[Flask], bool]
    after_commit: Callable[[Flask], bool]
    interval: Callable[[Flask], float | None]


class _Worker:
    """The thread that runs one kind of work for one app in this process."""

    def __init__(self, app: Flask, kind: Kind) -> None:
        self.app = app
        self.kind = kind
        self.wanted = threading.Event()
        self.thread: threading.Thread | None = None
        self.guard = threading.Lock()
        seconds = kind.interval(app)
        self.interval: float | None = seconds if seconds and seconds > 0 else None
        self.stopped = False

    def poke(self) -> None:
        self.wanted.set()
        with self.guard:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name=self.kind.name, daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while not self.stopped:
            self.wanted.clear()
            if self.kind.round(self.app):
                continue  # more is due: go on at once
            time.sleep(PAUSE)
            self.wanted.wait(self.interval)

    def stop(self) -> None:
        """End the thread after its current round (an app being shut down)."""
        self.stopped = True
        self.wanted.set()
        if self.thread is not None:
            self.thread.join(timeout=30)


_workers: dict[tuple[int, str], _Worker] = {}
_workers_guard = threading.Lock()


def _worker(app: Flask, kind: Kind) -> _Worker:
    key = (id(app), kind.name)
    with _workers_guard:
        worker = _workers.get(key)
        if worker is None or worker.app is not app:
            worker = _workers[key] = _Worker(app, kind)
        return worker


def poke(app: Flask, kind: Kind) -> None:
    """Wake the kind's thread for `app` now (starting it if need be)."""
    _worker(app, kind).poke()


def start(app: Flask, kind: Kind) -> None:
    """Run a round now and then on the timer, in this process and in every process forked
    from it; not in a `flask ...` command (the commands that do this work do it themselves),
    nor when commits do not wake it here (a dedicated process does the work) or it has no
    timer (commits alone wake it)."""
    if not kind.after_commit(app) or not kind.interval(app):
        return
    if click.get_current_context(silent=True) is not None:
        return
    poke(app, kind)
    os.register_at_fork(after_in_child=lambda: poke(app, kind))


def stop(app: Flask, kind: Kind) -> None:
    """Stop this process's thread of this kind for `app` (before its engine is disposed)."""
    with _workers_guard:
        worker = _workers.pop((id(app), kind.name), None)
    if worker is not None and worker.app is app:
        worker.stop()


def stop_all(app: Flask) -> None:
    """Stop this process's threads of every kind for `app` (before its engine is disposed, so
    that no round is left holding one of its connections)."""
    with _workers_guard:
        found = [key for key, worker in _workers.items() if worker.app is app]
        workers = [_workers.pop(key) for key in found]
    for worker in workers:
        worker.stop()


# --- waking after commit ----------------------------------------------------------------


def wake_after_commit(session: Session, kind: Kind) -> None:
    """Note that this transaction made work of this kind: its commit wakes the thread."""
    session.info.setdefault(_WAKE, {})[kind.name] = kind


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    kinds = session.info.pop(_WAKE, None)
    if not kinds:
        return
    if not isinstance(session.get_bind(), sa.Engine) or not has_app_context():
        return  # bound to a connection (tests): the work is called explicitly
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    due = [kind for kind in kinds.values() if kind.after_commit(app)]
    if due:  # else a dedicated process does the work
        session.info[_POKE] = (app, due)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    found = session.info.pop(_POKE, None)
    if found is not None:
        app, kinds = found
        for kind in kinds:
            poke(app, kind)


@event.listens_for(Session, "after_soft_rollback")
def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    # Only the whole transaction's rollback takes its work with it; a savepoint's does not.
    if not previous_transaction.nested:
        session.info.pop(_WAKE, None)
