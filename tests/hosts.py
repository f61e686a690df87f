"""Two hubs on one database (as two hosts, or two workers, would be): each an application
with its own process-level state (policy cache, rate-limit fallback), over HTTP through Flask's
test client, with a partner sharing a speaker between two organisations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import (
    app_config,
    clear_of_a_window_end,
    close_app,
    dispose_database,
    fresh_database_url,
)
from tests.oauth_helpers import ISSUER, assertion

PURPOSE = "speaker_due_diligence"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class Hub:
    """One worker: an application of its own (its own policy cache) on the shared database."""

    def __init__(self, url: str, instance: Any, **settings: Any) -> None:
        from hub.app import create_app

        self.app = create_app(app_config(url, instance, base_url=ISSUER, **settings))
        self.http = self.app.test_client()

    def token(self, client_id: str, key: Any) -> Any:
        return self.http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "scope": "speakers:read",
                "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": assertion(client_id, key),
            },
        )

    def read(self, token: str, speaker_id: str) -> Any:
        return self.http.get(
            f"/api/v1/shared/speakers/{speaker_id}",
            headers={
                "Authorization": f"Bearer {token}",
                "Hub-Purpose": PURPOSE,
                "Hub-On-Behalf-Of": "staff-policy",
            },
        )

    def close(self) -> None:
        close_app(self.app)


def two_hubs(database_server: str | None, tmp_path: Any, **settings: Any) -> Any:
    """Two hubs on one new database with a partner sharing a speaker: yields (hub A, hub B,
    the speaker's id, the client's id, its key), and drops the database after."""
    from bench.common import seed_partner_sharing
    from core import migrations

    url = fresh_database_url(database_server, tmp_path, "hosts")
    a = Hub(url, tmp_path / "instance", **settings)
    b = Hub(url, tmp_path / "instance", **settings)
    with a.app.app_context():
        migrations.upgrade(url)
        [speaker_id], client_id, key = seed_partner_sharing(
            [{"display_name": "Dr Policy Fictional", "distribution": "shareable"}],
            purpose=PURPOSE,
            scopes=["speakers:read"],
        )
    yield a, b, speaker_id, client_id, key
    a.close()
    b.close()
    dispose_database(database_server, url)


@contextmanager
def rate_limited_hubs(
    database_server: str | None, tmp_path: Any, redis_url: str, api_rate_limit: str
) -> Iterator[tuple[Hub, Hub, str, str, Any]]:
    """`two_hubs` with the API's rate limit on, counted in Redis (the authorization server's
    set out of the way), entered clear of a window's end: calls counted up to the limit fall in
    one window."""
    hubs = two_hubs(
        database_server,
        tmp_path,
        RATELIMIT_ENABLED=True,
        ratelimit_storage_uri=redis_url,
        api_rate_limit=api_rate_limit,
        oauth_rate_limit="100 per minute",
    )
    try:
        found = next(hubs)
        clear_of_a_window_end()
        yield found
    finally:
        hubs.close()


def warm(hub: Hub, client_id: str, key: Any, speaker_id: str) -> str:
    """A token from `hub` and a read through it, so every policy answer is cached there."""
    response = hub.token(client_id, key)
    assert response.status_code == 200, response.get_data(as_text=True)
    token = response.get_json()["access_token"]
    assert hub.read(token, speaker_id).status_code == 200
    return token
