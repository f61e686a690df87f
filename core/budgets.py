"""Rate-limit budgets shared by every process of the hub, counted without a round trip to the
shared store on every request.

A budget is `limit` admissions per fixed window of `seconds` (windows aligned to the epoch, so
every process agrees where one ends). The shared store (Redis in production, through the
`limits` library's storages) holds one counter per budget and window: the admissions *reserved*
by every process. A process reserves a lease of several admissions at once (one increment of
the counter) and spends it locally; it goes back to the store only when its lease runs out.

- **Never more than the limit.** Every admission is covered by a reservation in the shared
  counter, and a process uses only the part of a lease that fits under the limit, so the
  admissions of all processes together never pass it.
- **Leases shrink as the window fills.** A lease is a sixteenth of what was left when the
  process last asked (at most `MAX_LEASE`, at least 1), so near the limit every admission is
  reserved one at a time, and a budget of a few calls a minute is exact.
- **The cost of sharing.** A lease another process holds and does not spend before the window
  ends is lost to the caller: it may be refused a little before the limit when its calls stop
  reaching the process that holds it (at most the outstanding leases: a few admissions per
  process near the end of a window).
- **A full window is refused locally.** Once a process has seen the shared counter reach the
  limit, it refuses the rest of that window without asking again.

If the shared store cannot be reached, budgets are counted in this process alone for
`FALLBACK_SECONDS` (logged), then the store is tried again: a lost Redis never fails a request.

Refusals are audited in aggregate (`first_refusal`): the first refusal of each window of a
budget, with how many refusals since that budget's last recorded one went unrecorded, so a
flood of refused calls cannot flood the audit log.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from limits import RateLimitItem, parse
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string

#: A lease is this fraction of what was left of the budget when the process last asked...
LEASE_SHARE = 16
#: ...and never more than this many admissions.
MAX_LEASE = 50
#: How long budgets are counted in-process after the shared store failed.
FALLBACK_SECONDS = 30.0
#: The shared store's socket deadlines (seconds): a slow store must not hold a request long.
STORE_TIMEOUT = 1.0
_STORE_OPTIONS = {"socket_timeout": STORE_TIMEOUT, "socket_connect_timeout": STORE_TIMEOUT}
#: Where refusals are counted (`first_refusal`).
REFUSALS = "hub-throttled"
#: Windows a process remembers before it forgets those that have ended.
REMEMBERED = 10_000

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Decision:
    """The answer for one request: admitted or not, and what the headers tell the caller."""

    admitted: bool
    limit: int
    remaining: int
    #: When the window ends (seconds since the epoch).
    reset_at: int


@dataclass
class _Window:
    """A process's view of one budget's window."""

    #: Admissions this process has reserved and not spent yet.
    leased: int = 0
    #: The shared counter when this process last reserved (every process's reservations).
    reserved: int = 0


def lease_size(limit: int, reserved: int) -> int:
    """How many admissions to reserve, when the shared counter stood at `reserved`."""
    return max(1, min(MAX_LEASE, (limit - reserved) // LEASE_SHARE))


class Budgets:
    """The budgets of one process, shared through `storage_uri` (`memory://`: this process)."""

    def __init__(self, storage_uri: str, prefix: str) -> None:
        options = _STORE_OPTIONS if storage_uri.startswith(("redis", "valkey")) else {}
        self.shared: Storage = storage_from_string(storage_uri, wrap_exceptions=True, **options)
        self.prefix = prefix
        self._local = MemoryStorage()
        self._fallback_until = 0.0
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def spend(self, key: str, limit: str, now: Callable[[], float] = time.time) -> Decision:
        """Spend one admission of `key`'s budget of `limit` ("600 per minute"), if there is one."""
        item = _parsed(limit)
        seconds = item.get_expiry()
        index = int(now() // seconds)
        reset_at = (index + 1) * seconds
        name = f"{self.prefix}/{key}/{item.amount}/{seconds}/{index}"
        with self._lock:
            window = self._window(name, index)
            if window.leased:  # the common case: spend from this process's lease
                window.leased -= 1
                return Decision(True, item.amount, self._remaining(window, item), reset_at)
            full = window.reserved >= item.amount  # seen full: refused without asking again
            size = 0 if full else lease_size(item.amount, window.reserved)
        if size:
            # Outside the lock: another thread of this process may reserve at the same time;
            # both leases are kept.
            reserved = self._counted(lambda store: store.incr(name, seconds + 2, amount=size))
            with self._lock:
                window = self._window(name, index)
                window.reserved = max(window.reserved, reserved)
                window.leased += max(0, min(size, item.amount - (reserved - size)))
        with self._lock:
            window = self._window(name, index)
            admitted = window.leased > 0
            if admitted:
                window.leased -= 1
            return Decision(admitted, item.amount, self._remaining(window, item), reset_at)

    def first_refusal(self, key: str, decision: Decision, limit: str) -> int | None:
        """`first_refusal` for a refusal of `key`'s budget of `limit`, counted where its
        admissions are."""
        seconds = _parsed(limit).get_expiry()
        budget = f"{self.prefix}/{key}"
        return self._counted(lambda store: first_refusal(store, budget, decision.reset_at, seconds))

    def reset(self) -> None:
        """Forget every budget (tests)."""
        with self._lock:
            self._windows.clear()
        self._local.reset()
        self.shared.reset()

    def _window(self, name: str, index: int) -> _Window:
        window = self._windows.get(name)
        if window is None:
            if len(self._windows) >= REMEMBERED:
                self._forget_before(index)
            window = self._windows[name] = _Window()
        return window

    def _forget_before(self, index: int) -> None:
        for name in [n for n in self._windows if int(n.rsplit("/", 1)[1]) < index]:
            del self._windows[name]
        if len(self._windows) >= REMEMBERED:  # all current: forget the oldest half
            for name in list(self._windows)[: REMEMBERED // 2]:
                del self._windows[name]

    @staticmethod
    def _remaining(window: _Window, item: RateLimitItem) -> int:
        return window.leased + max(0, item.amount - window.reserved)

    def _counted(self, count: Callable[[Storage], T]) -> T:
        """`count` done on the shared store; in this process while the store is away.

        A counter in the shared store outlives its window by a little (`spend` gives it two
        seconds more), so it cannot expire and start again from nothing while the window runs.
        """
        if time.monotonic() >= self._fallback_until:
            try:
                return count(self.shared)
            except StorageError as exc:
                self._fallback_until = time.monotonic() + FALLBACK_SECONDS
                log.warning(
                    "rate limits: the shared store failed (%s); counting in this process "
                    "for %.0f s",
                    exc,
                    FALLBACK_SECONDS,
                )
        return count(self._local)


def first_refusal(storage: Storage, budget: str, window_end: int, seconds: int) -> int | None:
    """Count a refusal of `budget` in the window ending at `window_end`. For the window's first
    refusal, how many refusals of the budget went unrecorded since its last recorded one (the
    caller records this one, with that number); None for the others (counted, not recorded)."""
    counter = f"{REFUSALS}/{budget}/count"
    refused = storage.incr(counter, 24 * 3600)
    if storage.incr(f"{REFUSALS}/{budget}/{window_end}", seconds + 60) != 1:
        return None
    storage.clear(counter)
    return refused - 1


@functools.lru_cache(maxsize=64)
def _parsed(limit: str) -> RateLimitItem:
    return parse(limit)
