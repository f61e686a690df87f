"""Single-use ids (DPoP proofs, client assertions) are spent with the request's one commit, and
stay spent when the request is refused and rolled back (`partners.oauth.replay`)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from audit import services as audit
from core.db import db, utcnow
from core.security import Actor
from partners.models import UsedJti
from partners.oauth import replay


def _spent(jti: str) -> bool:
    return db.session.scalar(sa.select(sa.func.count()).where(UsedJti.jti == jti)) == 1


def test_an_id_is_accepted_once(app):
    jti = uuid.uuid4().hex
    replay.claim("dpop", jti, utcnow() + timedelta(minutes=2))
    with pytest.raises(replay.Replayed):
        replay.claim("dpop", jti, utcnow() + timedelta(minutes=2))


def test_an_id_spent_on_a_refused_request_stays_spent(app):
    jti = uuid.uuid4().hex
    replay.claim("dpop", jti, utcnow() + timedelta(minutes=2))
    db.session.rollback()  # the request is refused: its changes are undone...
    assert not _spent(jti)  # (claiming committed nothing: authentication never commits)
    audit.record(Actor.system("test"), "api.access", "denied", reason="refused")
    db.session.commit()  # ...and the refusal's own commit spends the id again
    assert _spent(jti)
    with pytest.raises(replay.Replayed):
        replay.claim("dpop", jti, utcnow() + timedelta(minutes=2))
