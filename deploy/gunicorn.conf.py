"""gunicorn settings for the hub (`gunicorn -c deploy/gunicorn.conf.py wsgi:app`).

Used by deploy/prevent-hub-web.service. Anything here can be overridden per host with
GUNICORN_CMD_ARGS in the unit's environment file (e.g. GUNICORN_CMD_ARGS=--bind=0.0.0.0:8000),
or on the command line; both win over this file.
"""

import os

# A TLS-terminating proxy on this host forwards to gunicorn; nothing else should reach it.
bind = "127.0.0.1:8000"

# Threads share a process's database pool and background audit integrator; argon2id hashing
# (64 MiB each by default) runs in the request's thread, so memory grows with workers x threads.
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = 4
# Named, not implied by `threads`: the gthread worker notices a dead master within a second
# (below); the sync worker only every timeout / 2 seconds.
worker_class = "gthread"

# The master kills a worker whose heartbeat stops for this long. A gthread worker beats from
# its event loop about once a second, whatever its requests are doing, so this catches a
# stuck process, not a slow request (statements have their own deadline, HUB_DB_STATEMENT_TIMEOUT).
timeout = 30
# On SIGTERM (systemctl stop/restart) workers stop accepting and finish what they are serving
# for at most this long; TimeoutStopSec in the unit is longer, so systemd's SIGKILL comes last.
graceful_timeout = 25
# Behind a proxy that reuses connections; short enough that a stopping worker is not held up.
keepalive = 5

# A worker whose master dies (SIGKILL, OOM) notices its parent changed within about a second
# (the gthread loop compares os.getppid() with the master's pid on every turn, waiting at most
# 1 s for events), finishes its in-flight requests (at most graceful_timeout), lets idle
# kept-alive connections linger 2 s, and exits, closing its copy of the listening socket.
# Measured (tests/test_deploy.py): the port is free 1-2 s after the master's SIGKILL. Under
# systemd, KillMode=mixed also SIGKILLs any worker left behind as soon as the master is gone.

# Logs go to stdout/stderr, i.e. the journal. The access log names the path but never the query
# string, the referrer or the user agent: a query string can carry a speaker's name
# (?q=...) and a referrer the same from another page. The request id ties a line to the audit
# log's entries for that request.
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'

# gunicorn's runtime control socket would be created under $HOME, which the unit makes
# read-only (ProtectHome); the hub does not use gunicornc.
control_socket_disable = True

# X-Forwarded-* are believed only from the local proxy.
forwarded_allow_ips = "127.0.0.1,::1"
