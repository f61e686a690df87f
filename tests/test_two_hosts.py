"""More than one host on one PostgreSQL and Redis (issue 16): a partner's rate limit is one
budget whichever host answers, and one dedicated integrator at a time integrates the audit log
(the leader by advisory lock; a standby takes over when the leader goes)."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from tests.conftest import (
    app_config,
    close_app,
    dispose_database,
    fresh_database_url,
)
from tests.hosts import rate_limited_hubs, warm


def test_a_partners_rate_limit_is_one_budget_across_hosts(database_server, tmp_path, redis_url):
    with rate_limited_hubs(database_server, tmp_path, redis_url, "5 per minute") as hubs:
        a, b, speaker_id, client_id, key = hubs  # the six calls below fall in one window
        token = warm(a, client_id, key, speaker_id)  # one API call, on A
        answers = [(a if n % 2 else b).read(token, speaker_id).status_code for n in range(6)]
        # Four more pass (two on each host), then every call is refused, on either host.
        assert answers == [200, 200, 200, 200, 429, 429]
        refused = b.read(token, speaker_id)
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0


def test_one_dedicated_integrator_leads_and_a_standby_takes_over(database_server, tmp_path):
    if database_server is None:
        pytest.skip("one SQLite database is one host's; the lead is PostgreSQL's advisory lock")
    from audit import log
    from audit import services as audit
    from audit.models import AuditPending
    from core import migrations
    from core.db import db
    from core.security import Actor
    from hub.app import create_app

    url = fresh_database_url(database_server, tmp_path, "leader")
    settings = {"audit_integrate_after_commit": False}
    hosts = [create_app(app_config(url, tmp_path / "instance", **settings)) for _ in range(2)]
    with hosts[0].app_context():
        migrations.upgrade(url)
    stops = [threading.Event(), threading.Event()]
    by_host: dict[int, log.Leadership] = {}  # each host's Leadership, as its loop made it
    original = log.Leadership.held

    def held(self: log.Leadership) -> bool:
        by_host.setdefault(int(threading.current_thread().name), self)
        return original(self)

    def leading() -> list[int]:
        return [n for n, one in by_host.items() if one.connection is not None]

    def follow(n: int) -> None:
        with hosts[n].app_context():
            log.follow(0.05, stop=stops[n])

    def pending() -> int:
        with hosts[0].app_context():
            count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditPending))
            db.session.rollback()
            return count

    def write(label: str) -> None:
        with hosts[0].app_context():
            audit.record(Actor.system("two-hosts"), "test.leader", "granted", resource_ids=[label])
            db.session.commit()

    def wait_for(condition, seconds: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.05)
        return False

    log.Leadership.held = held  # type: ignore[method-assign]
    threads = [threading.Thread(target=follow, args=(n,), name=str(n)) for n in range(2)]
    try:
        for thread in threads:
            thread.start()
        assert wait_for(lambda: len(by_host) == 2 and len(leading()) == 1)
        [first] = leading()
        write(uuid.uuid4().hex)
        assert wait_for(lambda: pending() == 0)
        time.sleep(0.5)  # however long both run, one leads
        assert leading() == [first]

        stops[first].set()  # the leader goes; its lock goes with it
        threads[first].join(timeout=20)
        assert by_host[first].connection is None
        assert wait_for(lambda: leading() == [1 - first])
        write(uuid.uuid4().hex)
        assert wait_for(lambda: pending() == 0)
    finally:
        log.Leadership.held = original  # type: ignore[method-assign]
        for stop in stops:
            stop.set()
        for thread in threads:
            thread.join(timeout=20)
        for host in hosts:
            close_app(host)
        dispose_database(database_server, url)
