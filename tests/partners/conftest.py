"""The live hub (tests/partners/live_hub.py) as a fixture, one per test module that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.partners.live_hub import LiveHub, serving_a_seeded_hub


@pytest.fixture(scope="module")
def live_hub(database_server, tmp_path_factory) -> Iterator[LiveHub]:
    """One seeded hub for the module, served over HTTP on loopback."""
    with serving_a_seeded_hub(database_server, tmp_path_factory) as hub:
        yield hub
