"""One unit of work per request: pages, like API endpoints, never commit themselves; the edge
commits once after the view returned (`hub.web.edge`), and a refusal the page answers itself
is rolled back and audited by `audit.refusals.keep_refusal`."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

PROJECT = Path(__file__).resolve().parents[1]
#: The functions that may end a request's transaction.
EDGE = {"commit_request", "commit_api_request", "keep", "load_signed_in_person"}


def _committer() -> str:
    """The project's function that called `commit()` (the first frame outside SQLAlchemy)."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = Path(frame.filename)
        if PROJECT in path.parents and "site-packages" not in path.parts:
            return f"{path.relative_to(PROJECT)}:{frame.name}"
    return "?"


@pytest.fixture
def committers() -> Iterator[list[str]]:
    seen: list[str] = []

    def note(session: Session) -> None:
        if not session.in_nested_transaction():  # a savepoint is part of the request's unit
            seen.append(_committer())

    event.listen(Session, "before_commit", note)
    try:
        yield seen
    finally:
        event.remove(Session, "before_commit", note)


def test_pages_commit_only_at_the_edge(new_client, make_org, make_person, committers):
    person = make_person(make_org(), roles=["events_officer"])
    client = new_client()
    client.sign_in(person)
    response = client.submit(
        "/speakers/new",
        {"display_name": "Edgeworth Quillane", "distribution": "internal", "confirm_new": "yes"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    refused = client.submit("/speakers/new", {"display_name": "", "distribution": "internal"})
    assert refused.status_code in {200, 400, 422}
    assert committers, "no request committed"
    outside = [name for name in committers if name.rsplit(":", 1)[1] not in EDGE]
    assert outside == []
