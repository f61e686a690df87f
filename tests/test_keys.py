"""The one loader of the hub's keys (`core.keys.instance_secret`): from the environment, else
made once into instance/, even when several processes start together."""

from __future__ import annotations

import base64
import stat
import threading

import pytest

from core.keys import instance_key, instance_secret


def test_workers_starting_together_share_one_key(tmp_path):
    start = threading.Barrier(12)
    found: list[bytes | BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            found.append(instance_key(tmp_path, "field-encryption", "HUB_TEST_UNSET_KEY"))
        except BaseException as exc:  # kept for the assertion below
            found.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(found) == 12 and len(set(found)) == 1, found
    assert len(found[0]) == 32
    path = tmp_path / "field-encryption.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["field-encryption.key"]  # no drafts left


def test_the_environment_wins_and_is_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_TEST_KEY", base64.b64encode(b"k" * 32).decode())
    assert instance_key(tmp_path, "x", "HUB_TEST_KEY") == b"k" * 32
    monkeypatch.setenv("HUB_TEST_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="32 bytes"):
        instance_key(tmp_path, "x", "HUB_TEST_KEY")
    assert not (tmp_path / "x.key").exists()


def test_a_made_secret_is_kept_for_the_next_start(tmp_path):
    first = instance_secret(tmp_path, "s.signer", "HUB_TEST_UNSET_KEY", lambda: "one")
    again = instance_secret(tmp_path, "s.signer", "HUB_TEST_UNSET_KEY", lambda: "two")
    assert first == again == "one"
