"""The records tests' scenes (tests/records/worlds.py) as fixtures."""

from __future__ import annotations

import pytest

from tests.records import worlds


@pytest.fixture
def speaker_world(make_org, make_person) -> worlds.SpeakerWorld:
    return worlds.speaker_world(make_org, make_person)


@pytest.fixture
def event_world(make_org, make_person) -> worlds.EventWorld:
    return worlds.event_world(make_org, make_person)


@pytest.fixture
def advisory_world(make_org, make_person, make_speaker) -> worlds.AdvisoryWorld:
    return worlds.advisory_world(make_org, make_person, make_speaker)


@pytest.fixture
def sharing_world(make_org, make_person, make_agreement) -> worlds.SharingWorld:
    return worlds.sharing_world(make_org, make_person, make_agreement)
