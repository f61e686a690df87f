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
from audit.models import (
    APPEND_ONLY_TABLES,
    AuditCheckpoint,
    AuditEntry,
    AuditEntrySubject,
    AuditLeaf,
    AuditTreeNode,
)
from audit.services import LEAF_PREFIX, canonical_json
from audit.verify import leaves, tree
from core.db import db
from tests.conftest import close_app

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


def test_exact_problems_of_an_edited_leaf_in_their_order(log_of_twelve):
    _disable_triggers()
    entry = _entry_at(5)
    forged = entry.leaf.replace(b'"test.entry"', b'"test.other"')
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.seq == entry.seq).values(leaf=forged))
    checkpoint = log.latest_checkpoint(db.session())
    assert _verify().problems == [
        verification.Problem("index 5: the entry's leaf hash does not match its leaf bytes", 5),
        verification.Problem("index 5: the tree's leaf node does not match the entry", 5),
        verification.Problem("index 5: column action does not match the leaf", 5),
        verification.Problem(
            f"checkpoint {checkpoint.id} (size {checkpoint.size}): the entries no longer hash "
            "to its signed root"
        ),
    ]


def test_an_index_removed_from_the_middle_is_reported_where_the_gap_starts(log_of_twelve):
    _disable_triggers()
    entry = _entry_at(6)
    db.session.execute(sa.delete(AuditLeaf).where(AuditLeaf.idx == 6))
    checkpoint = log.latest_checkpoint(db.session())
    # The subtrees stored above the gap still hold, so none of them is blamed.
    assert _verify().problems == [
        verification.Problem("indexes jump from 5 to 7: entries are missing", 6),
        verification.Problem(
            f"checkpoint {checkpoint.id} (size {checkpoint.size}): the entries no longer hash "
            "to its signed root"
        ),
        verification.Problem(
            f"entry seq {entry.seq} is neither in the tree nor waiting to be integrated"
        ),
    ]


def test_a_rewritten_leaf_node_is_caught_and_the_signed_roots_still_come_from_the_leaves(
    log_of_twelve,
):
    _disable_triggers()
    db.session.execute(
        sa.text("UPDATE audit_tree_nodes SET hash = :h WHERE level = 0 AND idx = 4"),
        {"h": b"\x07" * 32},
    )
    problems = _verify().problems
    assert problems[0] == verification.Problem(
        "index 4: the tree's leaf node does not match the entry", 4
    )
    # Its ancestors were stored over the true leaf hash; no checkpoint is wrongly blamed.
    assert [p.message for p in problems[1:4]] == [
        f"tree node ({level}, {4 >> level}) is not the hash of the entries below it"
        for level in (1, 2, 3)
    ]
    assert not any("checkpoint" in p.message for p in problems)


@pytest.mark.parametrize("bulk", [1, 2, 1 << 16])
def test_subtrees_split_across_their_hashes_are_caught(log_of_twelve, monkeypatch, bulk):
    """Two stored hashes of the wrong lengths whose bytes together are the right ones."""
    monkeypatch.setattr(tree, "BULK", bulk)
    _disable_triggers()
    first, second = (
        db.session.scalar(
            sa.select(AuditTreeNode.hash).where(AuditTreeNode.level == 1, AuditTreeNode.idx == i)
        )
        for i in (0, 1)
    )
    for idx, forged in ((0, first + second[:1]), (1, second[1:])):
        db.session.execute(
            sa.update(AuditTreeNode)
            .where(AuditTreeNode.level == 1, AuditTreeNode.idx == idx)
            .values(hash=forged)
        )
    assert _verify().problems == [
        verification.Problem(
            f"tree node (1, {idx}) is not the hash of the entries below it", 2 * idx
        )
        for idx in (0, 1)
    ]


def test_every_checkpoint_is_checked_against_the_leaves_it_signed(log_of_twelve, system):
    for batch in (1, 2, 4, 8):
        for i in range(batch):
            audit.record(system, "test.entry", "granted", resource_ids=[f"more-{i}"])
        db.session.flush()
        log.integrate(db.session(), force_checkpoint=True)
    checkpoints = db.session.scalars(sa.select(AuditCheckpoint)).all()
    assert len({c.size for c in checkpoints}) >= 5
    assert _verify().ok
    _disable_triggers()
    bad = log_of_twelve.size + 2
    entry = _entry_at(bad)
    forged = entry.leaf.replace(b'"test.entry"', b'"test.other"')
    db.session.execute(
        sa.update(AuditEntry)
        .where(AuditEntry.seq == entry.seq)
        .values(leaf=forged, leaf_hash=log.merkle.leaf_hash(forged), action="test.other")
    )
    report = _verify()
    blamed = {p.message.split()[1] for p in report.problems if p.message.startswith("checkpoint")}
    assert blamed == {str(c.id) for c in checkpoints if c.size > bad}
    assert report.first_bad_index == bad


def _forge(system, changes: dict, columns: dict, *, leaf_text=None, subjects=None) -> int:
    """Append an entry, then, before it is integrated, rewrite its leaf (the entry's body with
    `changes`, None removing a key; `leaf_text` rewriting the JSON text) and `columns` as
    someone with full access could: its leaf hash, the tree and the checkpoint then all agree
    with the forged leaf. Returns its index."""
    written = audit.record(
        system, "test.forged", "granted", resource_ids=["0"], subjects=[("speaker", "s")]
    )
    db.session.flush()
    _disable_triggers()
    entry = db.session.get(AuditEntry, written.seq)
    body = json.loads(entry.leaf[len(LEAF_PREFIX) :]) | changes
    text = canonical_json({k: v for k, v in body.items() if v is not None}).decode()
    leaf = LEAF_PREFIX + (leaf_text(text) if leaf_text else text).encode()
    db.session.execute(
        sa.update(AuditEntry)
        .where(AuditEntry.seq == entry.seq)
        .values(leaf=leaf, leaf_hash=log.merkle.leaf_hash(leaf), **columns)
    )
    if subjects is not None:
        db.session.execute(
            sa.delete(AuditEntrySubject).where(AuditEntrySubject.entry_seq == entry.seq)
        )
        for pseudonym in subjects:
            db.session.add(AuditEntrySubject(entry_seq=entry.seq, pseudonym=pseudonym))
    db.session.flush()
    return log.integrate(db.session(), force_checkpoint=True).size - 1


# Columns that, written between quotes without escaping (or, for a JSON column, taken as one
# value without checking), would spell exactly their forged leaf: each must still be caught.
SPELLED = {
    "a quote in a column": (
        {"reason": "x", "reason2": "y"},
        {"reason": 'x","reason2":"y'},
        {},
        ["column reason does not match the leaf"],
    ),
    "a backslash in a column": (
        {"reason": "a\nb"},
        {"reason": "a\\nb"},
        {},
        ["column reason does not match the leaf"],
    ),
    "a control character in a column and in the leaf": (
        {"reason": "zz"},
        {"reason": "a\nb"},
        {"leaf_text": lambda text: text.replace('"zz"', '"a\nb"')},
        ["the leaf is not a hub-audit/v1 JSON entry"],
    ),
    "two JSON values in a JSON column": (
        {"resource_org": "evil"},
        {"resource_ids": '["0"],"resource_org":"evil"', "resource_org": None},
        {},
        [
            "column resource_org does not match the leaf",
            "column resource_ids does not match the leaf",
        ],
    ),
    "an empty JSON value the writer leaves out": (
        {},
        {"fields": "[]"},
        {"leaf_text": lambda text: text.replace('"id":', '"fields":[],"id":')},
        ["column fields does not match the leaf"],
    ),
    "a quote in a subject": (
        {"subjects": ["a", "b"]},
        {},
        {"subjects": ['a","b']},
        ["subject pseudonyms do not match the leaf"],
    ),
}


@pytest.mark.parametrize("case", SPELLED)
def test_columns_that_would_spell_their_forged_leaf_are_caught(log_of_twelve, system, case):
    changes, columns, options, expected = SPELLED[case]
    index = _forge(system, changes, columns, **options)
    assert _verify().problems == [
        verification.Problem(f"index {index}: {message}", index) for message in expected
    ]


def test_a_leaf_spelled_without_its_first_key_is_caught(log_of_twelve, system, database_server):
    """The leaf the columns say starts with `action`; with no action, it says nothing."""
    if database_server is None:
        pytest.skip("SQLite cannot drop a NOT NULL constraint in place")
    db.session.execute(sa.text("ALTER TABLE audit_entries ALTER COLUMN action DROP NOT NULL"))
    index = _forge(
        system,
        {"action": None},
        {"action": None},
        leaf_text=lambda text: "{," + text[1:],
    )
    assert _verify().problems == [
        verification.Problem(f"index {index}: the leaf is not a hub-audit/v1 JSON entry", index)
    ]


@pytest.mark.parametrize(
    ("column", "value"), [("actor", b"\x00\xff"), ("time_ms", "12x"), ("agreement_version", 1.5)]
)
def test_a_value_sqlite_stored_with_another_type_is_caught(
    log_of_twelve, system, database_server, column, value
):
    if database_server is not None:
        pytest.skip("PostgreSQL keeps each column's declared type")
    written = audit.record(system, "test.entry", "granted")
    db.session.flush()
    _disable_triggers()
    db.session.connection().exec_driver_sql(
        f"UPDATE audit_entries SET {column} = ? WHERE seq = ?",
        (value, written.seq),
    )
    index = log.integrate(db.session(), force_checkpoint=True).size - 1
    assert _verify().problems == [
        verification.Problem(f"index {index}: column {column} does not match the leaf", index)
    ]


def test_a_transaction_verifies_what_it_wrote_itself(log_of_twelve, monkeypatch):
    """A log this small is read in parallel only here: the entries are this transaction's, not
    committed, so other connections cannot see them and it must read them itself."""
    monkeypatch.setattr(verification, "PARALLEL_FROM", 0)
    report = _verify()
    assert report.ok, report.summary()
    assert report.tree_size == log_of_twelve.size


def _not_subtree_by_subtree(*args):
    raise AssertionError("an untouched tree was compared subtree by subtree")


def test_parallel_streams_in_small_chunks_report_what_one_stream_reports(
    database_server, tmp_path, monkeypatch
):
    """Streams over committed entries (PostgreSQL; SQLite reads in one), in chunks smaller
    than a stream and subtrees compared a few at a time, so that ranges and chunks end at
    every kind of problem."""
    from core import migrations
    from core.security import Actor
    from hub.app import create_app
    from tests.conftest import app_config, dispose_database, fresh_database_url

    monkeypatch.setattr(leaves, "CHUNK", 7)
    monkeypatch.setattr(tree, "BULK", 3)
    url = fresh_database_url(database_server, tmp_path, "verify_streams")
    app = create_app(app_config(url, tmp_path / "instance"))
    try:
        with app.app_context():
            migrations.upgrade(url)
            actor = Actor.system("streams")
            for n in range(45):
                audit.record(
                    actor,
                    "test.entry",
                    "granted",
                    resource_ids=[str(n)],
                    fields=["name"] if n % 3 else [],
                    subjects=[("speaker", str(n))] * (n % 2),
                    count=n,
                )
                if n % 10 == 9:
                    db.session.commit()
                    log.integrate_now(force_checkpoint=True)
            db.session.commit()
            log.integrate_now(force_checkpoint=True)
            with monkeypatch.context() as patched:
                if database_server is not None:  # a whole tree is compared in bulk there
                    patched.setattr(tree, "_stored_level", _not_subtree_by_subtree)
                for streams in (1, 3, 4):
                    report = verification.verify(db.session(), log.verifier_key(), streams=streams)
                    assert report.ok, report.summary()
                    assert report.tree_size == 45
                    db.session.rollback()
            _disable_triggers()
            for index, values in ((5, {"outcome": "denied"}), (17, {"leaf": b"hub-audit/v1\n{}"})):
                entry = _entry_at(index)
                db.session.execute(
                    sa.update(AuditEntry).where(AuditEntry.seq == entry.seq).values(**values)
                )
            db.session.execute(
                sa.text("UPDATE audit_tree_nodes SET hash = :h WHERE level = 1 AND idx = 13"),
                {"h": b"\x07" * 32},
            )
            db.session.execute(sa.delete(AuditLeaf).where(AuditLeaf.idx == 33))
            db.session.commit()
            reports = [
                verification.verify(db.session(), log.verifier_key(), streams=streams)
                for streams in (1, 3, 4)
            ]
            db.session.rollback()
            assert {p.index for p in reports[0].problems} >= {5, 17, 26, 33}
            assert reports[1].problems == reports[0].problems == reports[2].problems
    finally:
        with app.app_context():
            db.session.remove()
        close_app(app)
        dispose_database(database_server, url)
