"""Refusals kept: the one way the edge (a page, an API endpoint, the error handler) records a
refusal. The request's own changes are undone, then the refusal is written in a transaction of
its own, so that it is kept while the attempted change is not.

Every `HubError` that reaches the edge is a refusal: a permission denied, another
organisation's record answered as missing, a clash with the record's state, invalid input.
A service says what the refusal was about (`audit={"action": ..., "resource_type": ...}`);
one that says nothing is still recorded, as `request.refused` with the route template (never
the raw path, which a caller writes) and the method. Refusals that are not `HubError`s (the
authorization server's answers, rate limits) are kept by `keep`, the same way.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context, request

from audit.services import record
from core.db import db
from core.errors import HubError
from core.request import route_template
from core.security import Actor

log = logging.getLogger(__name__)

#: The action of a refusal whose service named none.
REFUSED = "request.refused"


def keep(
    actor: Actor, action: str, reason: str, *, outcome: str = "denied", **details: Any
) -> None:
    """Undo the request's changes and write one refusal entry in a transaction of its own (best
    effort: with the database gone the refusal still stands and is answered; the failure is
    logged). `details` are `audit.services.record` arguments."""
    try:
        db.session.rollback()
    except Exception:  # the connection died: a new session gets a new one
        db.session.remove()
    try:
        record(actor, action, outcome, reason=reason, **details)
        # Not the request's change: an error after this still says nothing was changed.
        db.session.info["hub_refusal"] = True
        db.session.commit()
    except Exception:  # the refusal still stands; log loudly rather than hide it
        db.session.rollback()
        log.exception("could not audit the refusal of %s", action)
    finally:
        db.session.info.pop("hub_refusal", None)


def keep_refusal(actor: Actor, exc: HubError, *, outcome: str = "denied") -> None:
    """Keep the refusal `exc` (see `keep`): what its service said to audit, or the route."""
    details = dict(exc.audit or {})
    action = details.pop("action", None) or REFUSED
    if exc.audit is None and has_request_context():
        details.update(route=route_template(), method=request.method)
    keep(actor, action, exc.reason, outcome=outcome, status=exc.status, **details)
