"""Benchmark endpoints (bare reads and writes to measure the hub against), registered on the
hub by `bench.app` in `make bench` only."""

from __future__ import annotations

import random
import uuid
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify

from audit import services as audit
from bench.common import BENCH_ORGS
from core.db import db
from core.security import Actor
from hub.records.models import Speaker
from partners.models import Organisation

blueprint = Blueprint("bench", __name__)
ACTOR = Actor.system("bench")


def _organisation() -> Organisation:
    slug = f"bench-org-{random.randrange(BENCH_ORGS)}"
    return db.session.scalar(sa.select(Organisation).where(Organisation.slug == slug))


def _audit(organisation: Organisation, action: str) -> None:
    audit.record(
        ACTOR,
        action,
        "granted",
        resource_type="organisation",
        resource_ids=[str(organisation.id)],
        resource_org=str(organisation.id),
    )


@blueprint.get("/bench/read")
def read() -> Any:
    """Read one row and answer JSON."""
    organisation = _organisation()
    db.session.commit()
    return jsonify(id=str(organisation.id), name=organisation.name)


@blueprint.get("/bench/read-audited")
def read_audited() -> Any:
    """The same read, writing one audit entry (the only write of its transaction)."""
    organisation = _organisation()
    _audit(organisation, "bench.read")
    db.session.commit()
    return jsonify(id=str(organisation.id), name=organisation.name)


@blueprint.get("/bench/change")
def change() -> Any:
    """Change one row and answer JSON."""
    organisation = _organisation()
    organisation.region = f"Benchshire {random.randrange(1000)}"
    db.session.commit()
    return jsonify(id=str(organisation.id), region=organisation.region)


@blueprint.get("/bench/change-audited")
def change_audited() -> Any:
    """The same change, with its audit entry in the same transaction."""
    organisation = _organisation()
    organisation.region = f"Benchshire {random.randrange(1000)}"
    _audit(organisation, "bench.change")
    db.session.commit()
    return jsonify(id=str(organisation.id), region=organisation.region)


@blueprint.get("/bench/speaker-bare/<speaker_id>")
def speaker_bare(speaker_id: str) -> Any:
    """A speaker row read with a plain select and one audit entry written: the floor the
    partner API's shared speaker read (token, purpose, disclosure, audit) is measured against."""
    speaker = db.session.scalars(
        sa.select(Speaker).where(Speaker.id == uuid.UUID(speaker_id))
    ).one()
    audit.record(
        ACTOR,
        "bench.speaker_read",
        "granted",
        resource_type="speaker",
        resource_ids=[str(speaker.id)],
        resource_org=str(speaker.owner_org_id),
    )
    db.session.commit()
    return jsonify(id=str(speaker.id), display_name=speaker.display_name)
