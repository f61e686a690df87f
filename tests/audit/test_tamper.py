"""Tampering that gets past the triggers (a superuser, a restored backup) is caught by verify.

Each test first disables the append-only triggers, as someone with full database access would.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from audit import log, notes
from audit import services as audit
from audit import verify as verification
from audit.models import APPEND_ONLY_TABLES, AuditCheckpoint, AuditEntry, AuditLeaf
from core.db import db

SIZE = 12


@pytest.fixture
def log_of_twelve(system):
    for i in range(SIZE):
        audit.record(
            system, "test.entry", "granted", resource_ids=[str(i)], subjects=[("speaker", str(i))]
        )
    db.session.flush()
    head = log.integrate(db.session(), force_checkpoint=True)
    assert head.size >= SIZE
    return head


def _disable_triggers() -> None:
    session = db.session()
    if db.dialect == "postgresql":
        for table in APPEND_ONLY_TABLES:
            session.execute(sa.text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    else:
        names = session.scalars(
            sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).all()
        for name in names:
            session.execute(sa.text(f'DROP TRIGGER "{name}"'))


def _entry_at(index: int) -> AuditEntry:
    return db.session.scalar(
        sa.select(AuditEntry)
        .join(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
        .where(AuditLeaf.idx == index)
    )


def _verify(**kwargs) -> verification.Report:
    db.session.expire_all()
    return verification.verify(db.session(), log.verifier_key(), **kwargs)


def test_an_untouched_log_verifies(log_of_twelve):
    report = _verify()
    assert report.ok, report.summary()
    assert report.tree_size == log_of_twelve.size
    assert report.summary().startswith("OK:")


def test_edited_body_is_caught_at_its_index(log_of_twelve):
    _disable_triggers()
    entry = _entry_at(5)
    forged = entry.leaf.replace(b'"test.entry"', b'"test.other"')
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == entry.seq).values(leaf=forged))
    report = _verify()
    assert not report.ok
    assert report.first_bad_index == 5
    assert "First bad index: 5" in report.summary()


def test_body_and_leaf_hash_edited_together_is_caught(log_of_twelve):
    _disable_triggers()
    entry = _entry_at(3)
    forged = entry.leaf.replace(b'"test.entry"', b'"test.other"')
    db.session.execute(
        sa.update(AuditEntry)
        .where(AuditEntry.seq == entry.seq)
        .values(leaf=forged, leaf_hash=log.merkle.leaf_hash(forged), action="test.other")
    )
    report = _verify()
    assert report.first_bad_index == 3
    assert any("leaf node" in p.message for p in report.problems)


def test_column_edited_alone_is_caught(log_of_twelve):
    _disable_triggers()
    entry = _entry_at(7)
    db.session.execute(
        sa.update(AuditEntry).where(AuditEntry.seq == entry.seq).values(outcome="denied")
    )
    report = _verify()
    assert report.first_bad_index == 7
    assert any("outcome" in p.message for p in report.problems)


def _delete_tail(keep: int) -> None:
    session = db.session()
    seqs = session.scalars(sa.select(AuditLeaf.entry_seq).where(AuditLeaf.idx >= keep)).all()
    session.execute(sa.delete(AuditLeaf).where(AuditLeaf.idx >= keep))
    for table in ("audit_entry_subjects", "audit_entry_resources"):
        session.execute(
            sa.text(f"DELETE FROM {table} WHERE entry_seq IN :s").bindparams(
                sa.bindparam("s", expanding=True)
            ),
            {"s": seqs},
        )
    session.execute(sa.delete(AuditEntry).where(AuditEntry.seq.in_(seqs)))
    for level in range(20):
        session.execute(
            sa.text("DELETE FROM audit_tree_nodes WHERE level = :l AND (idx + 1) * :w > :keep"),
            {"l": level, "w": 2**level, "keep": keep},
        )


def test_deleted_tail_is_caught_by_the_stored_checkpoint(log_of_twelve):
    _disable_triggers()
    keep = log_of_twelve.size - 3
    _delete_tail(keep)
    report = _verify()
    assert not report.ok
    assert report.first_bad_index == keep
    assert any("removed" in p.message for p in report.problems)


def test_deleted_tail_and_checkpoints_is_caught_by_a_checkpoint_held_outside(log_of_twelve):
    outside = log.latest_checkpoint(db.session()).note
    _disable_triggers()
    keep = log_of_twelve.size - 3
    _delete_tail(keep)
    db.session.execute(sa.delete(AuditCheckpoint))
    assert _verify().ok  # the database alone now looks consistent...
    report = _verify(external_checkpoint=outside)
    assert not report.ok  # ...but not to anyone holding an earlier checkpoint
    assert report.first_bad_index == keep


def test_two_entries_swapped_are_caught(log_of_twelve):
    _disable_triggers()
    first, second = _entry_at(2), _entry_at(9)
    a = (first.leaf, first.leaf_hash)
    b = (second.leaf, second.leaf_hash)
    db.session.execute(
        sa.update(AuditEntry).where(AuditEntry.seq == first.seq).values(leaf=b[0], leaf_hash=b[1])
    )
    db.session.execute(
        sa.update(AuditEntry).where(AuditEntry.seq == second.seq).values(leaf=a[0], leaf_hash=a[1])
    )
    report = _verify()
    assert report.first_bad_index == 2
    assert {p.index for p in report.problems} >= {2, 9}


def test_checkpoint_resigned_with_another_key_is_caught(log_of_twelve):
    _disable_triggers()
    checkpoint = log.latest_checkpoint(db.session())
    text = notes.split_note(checkpoint.note)[0]
    impostor = notes.make_signer_key(log.origin())  # same name, different key
    db.session.execute(
        sa.update(AuditCheckpoint)
        .where(AuditCheckpoint.id == checkpoint.id)
        .values(note=notes.sign_note(text, impostor))
    )
    report = _verify()
    assert not report.ok
    assert any(
        f"checkpoint {checkpoint.id}" in p.message and "does not verify" in p.message
        for p in report.problems
    )


def test_rewritten_tree_node_is_caught(log_of_twelve):
    _disable_triggers()
    db.session.execute(
        sa.text("UPDATE audit_tree_nodes SET hash = :h WHERE level = 2 AND idx = 1"),
        {"h": b"\x07" * 32},
    )
    report = _verify()
    assert any("(2, 1)" in p.message for p in report.problems)
    assert report.first_bad_index == 4


def test_cli_verify_exits_non_zero_and_names_the_index(cli, log_of_twelve, tmp_path):
    outside = tmp_path / "checkpoint.txt"
    outside.write_text(log.latest_checkpoint(db.session()).note)
    ok = cli.invoke(args=["audit", "verify", "--checkpoint", str(outside)])
    assert ok.exit_code == 0, ok.output
    assert "agrees with the checkpoint file" in ok.output
    _disable_triggers()
    entry = _entry_at(4)
    db.session.execute(
        sa.update(AuditEntry)
        .where(AuditEntry.seq == entry.seq)
        .values(leaf=entry.leaf.replace(b"test.entry", b"test.forge"))
    )
    db.session.flush()
    result = cli.invoke(args=["audit", "verify", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["first_bad_index"] == 4
