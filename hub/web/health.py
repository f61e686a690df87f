"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify

from hub.core.db import db
from hub.core.migrations import current_revision, head_revision

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Any:
    """The process is up and answering."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> Any:
    """The database answers and its schema is at the latest migration."""
    checks: dict[str, Any] = {}
    ready = True
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
        current = current_revision()
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
        db.session.rollback()
    response = jsonify(status="ok" if ready else "unavailable", checks=checks)
    response.status_code = 200 if ready else 503
    return response
