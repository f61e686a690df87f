"""What SQL an engine runs: for tests that hold a request or a service to a number of
statements (the shared read's reads and audit writes, the policy cache's one read)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa


@contextmanager
def statements_run(engine: sa.Engine) -> Iterator[list[str]]:
    """The statements `engine` sends inside the block, in order (the list fills as they run)."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)
