"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify

from core.db import DEADLINE_OPTION, db
from core.migrations import current_revision, head_revision

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Any:
    """The process is up and answering."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> Any:
    """The database answers within its short deadline and its schema is at the latest
    migration. Always JSON: 200 when ready, 503 (with Retry-After) when not, whatever the
    database does meanwhile."""
    settings = current_app.config["HUB_SETTINGS"]
    checks: dict[str, Any] = {}
    ready = True
    try:
        connection = db.session.connection(
            execution_options={DEADLINE_OPTION: settings.db_ready_timeout}
        )
        connection.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
        current = current_revision(connection)
        head = head_revision()
        checks["migrations"] = {"current": current, "head": head}
        if current != head:
            ready = False
            checks["migrations"]["status"] = "behind"
        else:
            checks["migrations"]["status"] = "ok"
    except Exception as exc:  # any database failure means "not ready", reported, not raised
        ready = False
        checks["database"] = f"unreachable: {type(exc).__name__}"
    finally:
        try:
            db.session.rollback()
        except Exception:  # the connection died: throw the session away, still answer
            db.session.remove()
    response = jsonify(status="ok" if ready else "unavailable", checks=checks)
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = str(settings.retry_after_seconds)
    return response
