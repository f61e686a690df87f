"""Rate-limit budgets leased from a shared counter (`core.budgets`): never more than the limit
across processes, exact for small limits, one trip to the store per lease, a new budget each
window, and counting in-process when the store is lost."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from limits.storage import MemoryStorage

from core import budgets
from core.budgets import Budgets

NOW = 1_800_000_000.0  # the start of a minute


def _processes(count: int) -> list[Budgets]:
    """`count` processes sharing one counter store."""
    shared = MemoryStorage()
    processes = [Budgets("memory://", prefix="test") for _ in range(count)]
    for process in processes:
        process.shared = shared
    return processes


def _outstanding(process: Budgets) -> int:
    return sum(window.leased for window in process._windows.values())


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=2_000),
    calls=st.lists(st.integers(min_value=0, max_value=3), max_size=400),
)
def test_processes_together_never_admit_more_than_the_limit(limit, calls):
    processes = _processes(4)
    admitted = refused = 0
    for n in calls:
        decision = processes[n].spend("client:a", f"{limit} per minute", now=lambda: NOW)
        admitted += decision.admitted
        refused += not decision.admitted
        assert 0 <= decision.remaining <= limit
    assert admitted <= limit
    if refused:
        # Refused only once the whole budget was reserved: what was not admitted is held in
        # another process's lease, not lost.
        assert admitted + sum(_outstanding(p) for p in processes) == limit
    else:
        assert admitted == len(calls)


@settings(max_examples=100, deadline=None)
@given(limit=st.integers(min_value=1, max_value=300), calls=st.integers(0, 400))
def test_one_process_admits_exactly_the_limit(limit, calls):
    [process] = _processes(1)
    answers = [
        process.spend("client:a", f"{limit} per minute", now=lambda: NOW) for _ in range(calls)
    ]
    assert [a.admitted for a in answers] == [n < limit for n in range(calls)]
    assert [a.remaining for a in answers] == [max(0, limit - n - 1) for n in range(calls)]


def test_small_budgets_are_reserved_one_call_at_a_time_across_processes():
    first, second = _processes(2)
    answers = [
        (first if n % 2 else second).spend("client:a", "5 per minute", now=lambda: NOW).admitted
        for n in range(7)
    ]
    assert answers == [True] * 5 + [False] * 2


def test_a_large_budget_asks_the_shared_store_once_per_lease():
    [process] = _processes(1)
    asked = []
    incr = process.shared.incr
    process.shared.incr = lambda *args, **kwargs: (
        asked.append(kwargs["amount"]) or incr(*args, **kwargs)
    )
    for _ in range(1_000):
        assert process.spend("client:a", "1000000 per minute", now=lambda: NOW).admitted
    assert asked == [budgets.MAX_LEASE] * (1_000 // budgets.MAX_LEASE)


def test_each_window_has_a_budget_of_its_own_and_says_when_it_ends():
    [process] = _processes(1)
    assert process.spend("client:a", "1 per minute", now=lambda: NOW).reset_at == NOW + 60
    assert not process.spend("client:a", "1 per minute", now=lambda: NOW + 59.9).admitted
    later = process.spend("client:a", "1 per minute", now=lambda: NOW + 60)
    assert later.admitted and later.reset_at == NOW + 120


def test_each_key_has_a_budget_of_its_own():
    [process] = _processes(1)
    assert process.spend("client:a", "1 per minute", now=lambda: NOW).admitted
    assert not process.spend("client:a", "1 per minute", now=lambda: NOW).admitted
    assert process.spend("client:b", "1 per minute", now=lambda: NOW).admitted


def test_a_lost_store_is_replaced_by_counting_in_this_process(caplog):
    process = Budgets("redis://127.0.0.1:9/0", prefix="test")  # nothing listens on port 9
    answers = [process.spend("client:a", "2 per minute", now=lambda: NOW) for _ in range(3)]
    assert [a.admitted for a in answers] == [True, True, False]
    assert "counting in this process" in caplog.text


def test_a_process_forgets_windows_that_have_ended(monkeypatch):
    monkeypatch.setattr(budgets, "REMEMBERED", 4)
    [process] = _processes(1)
    for n in range(4):
        process.spend(f"client:{n}", "1 per minute", now=lambda: NOW)
    process.spend("client:late", "1 per minute", now=lambda: NOW + 60)
    assert len(process._windows) == 1


@pytest.mark.parametrize("limit", ["0 per minute"])
def test_a_budget_of_nothing_admits_nothing(limit):
    [process] = _processes(1)
    assert not process.spend("client:a", limit, now=lambda: NOW).admitted
