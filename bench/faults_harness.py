"""The faults benchmark's stage (bench/faults_bench.py): its settings, the TCP proxy that makes
each fault real on the wire, and the hub under gunicorn."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import select
import socket
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import (
    ROOT,
    free_port,
)

ISSUER = "http://127.0.0.1:8000"  # the hub's base URL: what client assertions name as audience
PURPOSE = "speaker_due_diligence"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DATABASE = "hub_bench_faults"
APP_NAME = "faults-bench-hub"  # application_name of the hub's connections (to terminate them)
NAME_PREFIX = "Faults bench speaker"

# The hub's deadlines for this run (seconds), set through its HUB_* settings.
STATEMENT, CONNECT, READY, POOL, RETRY_AFTER, INTEGRATE_EVERY = 5, 2, 1, 5, 5, 5
WORKERS = 2  # x 4 threads each, from deploy/gunicorn.conf.py
READERS, WRITERS = 4, 2
SHARED_SPEAKERS = 20
CLIENT_TIMEOUT = 40  # a request unanswered after this long has hung (gunicorn's timeout is 30)
REPLAY_EVERY = 10  # every n-th successful create is sent again with its key (must replay)
REFUSED_SHARE = 0.1  # reads of a speaker no agreement discloses (404, the refusal audited)

# The schedule, in seconds from the start of the load.
KILL_AT, TERMINATE_AT, OUTAGE_AT = 20, 55, 90
# pg_terminate_backend rounds, this far apart: one round catches a request inside its COMMIT
# only by chance; three give the fault more chances to land anywhere in a request.
TERMINATE_ROUNDS, TERMINATE_EVERY = 3, 5
REFUSE_FOR, BLACKHOLE_FOR = 15, 15
END_AT = 200
CATCH_UP_LIMIT = 60.0  # give up measuring a catch-up after this long


# --- the proxy (a child process) -------------------------------------------------------------


class FaultProxy:
    """A TCP proxy to PostgreSQL: "pass" forwards; "refuse" closes each new connection at once;
    "blackhole" accepts and reads every byte (TCP acknowledges them) and never answers.
    Modelled on tests/test_faults.py's FaultyProxy."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: set[socket.socket] = set()
        self.guard = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def set_mode(self, mode: str, drop: bool) -> None:
        self.mode = mode
        if drop:
            self.drop_all()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.counts[f"accepted while {self.mode}"] += 1
            if self.mode == "refuse":
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, *socks: socket.socket) -> None:
        with self.guard:
            self.open.update(socks)

    def _serve(self, client: socket.socket) -> None:
        # A socket closed by drop_all() under select() raises ValueError or OSError: either
        # way this connection is over.
        with contextlib.suppress(OSError, ValueError):
            self._pump(client)

    def _pump(self, client: socket.socket) -> None:
        self._track(client)
        if self.mode == "blackhole":
            try:
                while client.recv(65536):  # read and acknowledge; never answer
                    pass
            finally:
                self._close(client)
            return
        server = socket.create_connection(self.upstream)
        self._track(server)
        try:
            while not self.stopped.is_set():
                ready, _, _ = select.select([client, server], [], [], 0.5)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    if self.mode == "blackhole":
                        continue  # swallowed in both directions
                    (server if source is client else client).sendall(data)
        finally:
            self._close(client, server)

    def _close(self, *socks: socket.socket) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            with self.guard:
                self.open.discard(sock)

    def drop_all(self) -> None:
        """Close every connection through the proxy (as a restart of the database would)."""
        with self.guard:
            socks = list(self.open)
        self._close(*socks)

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()
        self.drop_all()


def _proxy_main(upstream: tuple[str, int], pipe: Any) -> None:
    """The proxy process: serve, and obey ("mode", name, drop) / ("counts",) / ("stop",)."""
    proxy = FaultProxy(upstream)
    pipe.send(proxy.port)
    while True:
        command, *args = pipe.recv()
        if command == "mode":
            proxy.set_mode(*args)
            pipe.send(proxy.mode)
        elif command == "counts":
            pipe.send(dict(proxy.counts))
        elif command == "stop":
            proxy.close()
            pipe.send("stopped")
            return


class ProxyProcess:
    """The proxy in its own process (so its forwarding never competes for the load's GIL)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_proxy_main, args=(upstream, child), daemon=True)
        self.process.start()
        self.port: int = self.pipe.recv()
        self.guard = threading.Lock()

    def _ask(self, *command: Any) -> Any:
        with self.guard:
            self.pipe.send(command)
            return self.pipe.recv()

    def mode(self, name: str, drop: bool = False) -> None:
        self._ask("mode", name, drop)

    def counts(self) -> dict[str, int]:
        return self._ask("counts")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._ask("stop")
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


# --- the hub under gunicorn -------------------------------------------------------------------


class Server:
    """gunicorn with deploy/gunicorn.conf.py on a free port, its output in `folder`."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = folder / "gunicorn.log"
        self.access_path = folder / "access.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/gunicorn"),
                "-c",
                str(ROOT / "deploy/gunicorn.conf.py"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(WORKERS),
                "--access-logfile",
                str(self.access_path),
                "--error-logfile",
                "-",
                "wsgi:app",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        import requests

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn did not start; see {self.log_path}")

    def workers(self) -> list[int]:
        """The master's worker processes, by pid (from /proc)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    found.append(int(entry.name))
        return sorted(found)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()
