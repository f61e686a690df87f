"""Reading the stored tree for proofs and tree heads (`audit.log`), on the engine under test."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from audit import log, merkle
from audit import services as audit
from audit.models import AuditEntry, AuditLeaf, AuditTreeNode
from core.db import db

SIZE = 37  # not a power of two: proofs on the right edge fold several stored subtrees


@pytest.fixture
def tree(system) -> log.TreeHead:
    for i in range(SIZE):
        audit.record(system, "test.proof", "granted", resource_ids=[str(i)])
    db.session.flush()
    return log.integrate(db.session(), checkpoint=False)


def _leaf_hashes() -> list[bytes]:
    return list(
        db.session.scalars(
            sa.select(AuditEntry.leaf_hash)
            .join(AuditLeaf, AuditLeaf.entry_seq == AuditEntry.seq)
            .order_by(AuditLeaf.idx)
        )
    )


def test_fetch_nodes_returns_exactly_the_nodes_asked_for(tree):
    stored = {
        (level, idx): digest
        for level, idx, digest in db.session.execute(
            sa.select(AuditTreeNode.level, AuditTreeNode.idx, AuditTreeNode.hash)
        )
    }
    asked = sorted(stored, reverse=True)[::3]
    found = log.fetch_nodes(db.session(), [*asked, *asked[:4]])  # repeats are asked once
    assert found == {node: stored[node] for node in asked}
    assert log.fetch_nodes(db.session(), list(stored)) == stored
    assert log.fetch_nodes(db.session(), []) == {}


def test_fetch_nodes_names_what_the_store_lacks(tree):
    with pytest.raises(log.AuditIntegrityError, match=r"\(40, 0\)"):
        log.fetch_nodes(db.session(), [(0, 0), (40, 0)])


def test_tree_heads_and_proofs_at_every_size_match_the_reference_tree(tree):
    leaves = _leaf_hashes()
    assert log.tree_size(db.session()) == len(leaves) == tree.size
    roots = {size: merkle.root_from_leaf_hashes(leaves[:size]) for size in range(tree.size + 1)}
    for size in range(1, tree.size + 1):
        assert log.tree_head(db.session(), size) == log.TreeHead(size, roots[size])
        for index in range(size):
            leaf_hash, proof = log.inclusion_proof(db.session(), index, size)
            assert leaf_hash == leaves[index]
            merkle.verify_inclusion(index, size, leaf_hash, proof, roots[size])
        for old in range(1, size + 1):
            proof = log.consistency_proof(db.session(), old, size)
            merkle.verify_consistency(old, size, roots[old], roots[size], proof)
