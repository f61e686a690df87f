"""Tests for the RFC 9162 Merkle tree: known answers, RFC 6962 vectors and properties."""

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    compute_root,
    consistency_proof,
    consistency_proof_nodes,
    frontier_nodes,
    inclusion_proof,
    inclusion_proof_nodes,
    leaf_hash,
    levels_above,
    node_hash,
    root_from_inclusion_proof,
    root_from_leaf_hashes,
    subtree_hash,
    subtree_nodes,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).parent / "data" / "rfc6962-vectors"
INCLUSION_FILES = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY_FILES = sorted((VECTORS / "consistency").rglob("*.json"))

# The leaves behind the vectors' happy paths (the RFC 6962 reference test tree).
VECTOR_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]


def _b64(value: str) -> bytes:
    return base64.b64decode(value)


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(VECTORS)) for p in paths]


def _store_for(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    store: dict[tuple[int, int], bytes] = {}
    compact = CompactRange()
    for leaf in leaves:
        for level, index, h in compact.append(leaf_hash(leaf)):
            store[level, index] = h
    return store


def _getter(store: dict[tuple[int, int], bytes]):
    return lambda level, index: store[level, index]


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# --- the RFC 6962 / 9162 vectors ---------------------------------------------------------------


def test_every_vector_file_was_copied():
    # A partial copy would silently shrink the parametrized tests below.
    assert len(INCLUSION_FILES) == 98
    assert len(CONSISTENCY_FILES) == 98
    assert (VECTORS / "README.md").is_file()
    assert (VECTORS / "LICENSE").is_file()


@pytest.mark.parametrize("path", INCLUSION_FILES, ids=_ids(INCLUSION_FILES))
def test_inclusion_vector(path):
    v = _load(path)
    args = (
        v["leafIdx"],
        v["treeSize"],
        _b64(v["leafHash"]),
        [_b64(p) for p in v["proof"] or []],
        _b64(v["root"]),
    )
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY_FILES, ids=_ids(CONSISTENCY_FILES))
def test_consistency_vector(path):
    v = _load(path)
    args = (
        v["size1"],
        v["size2"],
        _b64(v["root1"]),
        _b64(v["root2"]),
        [_b64(p) for p in v["proof"] or []],
    )
    if v["wantErr"]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


def test_reference_roots_match_the_vectors():
    hashes = [leaf_hash(leaf) for leaf in VECTOR_LEAVES]
    seen = 0
    for path in INCLUSION_FILES + CONSISTENCY_FILES:
        v = _load(path)
        if v["wantErr"] or path.parent.name in {"additional", "single-entry"}:
            continue
        sizes = (
            [(v["treeSize"], v["root"])]
            if "treeSize" in v
            else [(v["size1"], v["root1"]), (v["size2"], v["root2"])]
        )
        for size, root in sizes:
            assert root_from_leaf_hashes(hashes[:size]) == _b64(root), path
            assert compute_root(hashes[:size]) == _b64(root), path
            seen += 1
    assert seen == 15


@pytest.mark.parametrize(
    "path",
    [p for p in INCLUSION_FILES if p.name == "happy-path.json"],
    ids=lambda p: str(p.relative_to(VECTORS)),
)
def test_generated_inclusion_proofs_equal_the_vectors(path):
    v = _load(path)
    get = _getter(_store_for(VECTOR_LEAVES))
    want = [_b64(p) for p in v["proof"] or []]
    assert inclusion_proof(v["leafIdx"], v["treeSize"], get) == want


@pytest.mark.parametrize(
    "path",
    [p for p in CONSISTENCY_FILES if p.name == "happy-path.json"],
    ids=lambda p: str(p.relative_to(VECTORS)),
)
def test_generated_consistency_proofs_equal_the_vectors(path):
    v = _load(path)
    get = _getter(_store_for(VECTOR_LEAVES))
    want = [_b64(p) for p in v["proof"] or []]
    assert consistency_proof(v["size1"], v["size2"], get) == want


# --- hashing and the compact range -------------------------------------------------------------


def test_hash_definitions():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"L" * 32, b"R" * 32) == hashlib.sha256(b"\x01" + b"L" * 32 + b"R" * 32).digest()
    )
    assert root_from_leaf_hashes([]) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert compute_root([]) == EMPTY_ROOT


@pytest.mark.parametrize(
    ("size", "want"),
    [
        (0, []),
        (1, [(0, 0)]),
        (2, [(1, 0)]),
        (6, [(2, 0), (1, 2)]),
        (7, [(2, 0), (1, 2), (0, 6)]),
        (8, [(3, 0)]),
        (13, [(3, 0), (2, 2), (0, 12)]),
    ],
)
def test_frontier_nodes(size, want):
    assert frontier_nodes(size) == want


def test_append_reports_every_completed_subtree():
    hashes = [leaf_hash(bytes([i])) for i in range(4)]
    compact = CompactRange()
    assert compact.append(hashes[0]) == [(0, 0, hashes[0])]
    n01 = node_hash(hashes[0], hashes[1])
    assert compact.append(hashes[1]) == [(0, 1, hashes[1]), (1, 0, n01)]
    assert compact.append(hashes[2]) == [(0, 2, hashes[2])]
    n23 = node_hash(hashes[2], hashes[3])
    assert compact.append(hashes[3]) == [
        (0, 3, hashes[3]),
        (1, 1, n23),
        (2, 0, node_hash(n01, n23)),
    ]
    assert compact.size == 4
    assert compact.hashes == (node_hash(n01, n23),)


def test_append_batch_equals_appends_and_extend_equals_both():
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(37)]
    one, batch, fast = CompactRange(), CompactRange(), CompactRange()
    nodes = [n for h in hashes for n in one.append(h)]
    assert batch.append_batch(hashes) == nodes
    fast.extend(hashes)
    assert one.root() == batch.root() == fast.root() == root_from_leaf_hashes(hashes)
    assert one.hashes == fast.hashes
    # Every complete subtree of the 37-leaf tree, each reported exactly once.
    assert len(nodes) == len({(lv, i) for lv, i, _ in nodes}) == 37 + 18 + 9 + 4 + 2 + 1


def test_compact_range_rejects_bad_input_without_corrupting_state():
    compact = CompactRange()
    compact.extend([leaf_hash(b"a")])
    with pytest.raises(ValueError, match="32 bytes"):
        compact.append(b"short")
    with pytest.raises(ValueError, match="not 32 bytes"):
        compact.extend([leaf_hash(b"b"), b"x" * 33])
    # The good leaf before the bad one went in; nothing else did.
    assert compact.size == 2
    assert compact.root() == root_from_leaf_hashes([leaf_hash(b"a"), leaf_hash(b"b")])
    with pytest.raises(ValueError, match="not 32 bytes"):
        compact.extend(["s" * 32])
    assert compact.size == 2
    assert compact.root() == root_from_leaf_hashes([leaf_hash(b"a"), leaf_hash(b"b")])


def test_compact_range_constructor_checks_the_frontier():
    with pytest.raises(ValueError, match="frontier of 2 hashes"):
        CompactRange(3, [b"\x00" * 32])
    with pytest.raises(ValueError, match="negative"):
        CompactRange(-1, [])
    with pytest.raises(ValueError, match="32-byte"):
        CompactRange(1, [b"\x00" * 31])


def test_subtree_nodes_and_alignment():
    assert subtree_nodes(4, 7) == [(1, 2), (0, 6)]
    assert subtree_nodes(0, 8) == [(3, 0)]
    assert subtree_nodes(8, 13) == [(2, 2), (0, 12)]
    for start, end in [(1, 3), (2, 6), (3, 3), (5, 4), (-1, 2)]:
        with pytest.raises(ValueError):  # noqa: PT011 - messages differ per case
            subtree_nodes(start, end)


def test_subtree_hash_equals_reference_for_aligned_ranges():
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(45)]
    get = _getter(_store_for([i.to_bytes(2, "big") for i in range(45)]))
    for start, end in [(0, 45), (32, 45), (40, 45), (16, 29), (44, 45), (0, 1)]:
        assert subtree_hash(start, end, get) == root_from_leaf_hashes(hashes[start:end])


@pytest.mark.parametrize("count", [0, 1, 2, 3, 7, 8, 9, 45, 64])
def test_levels_above_hold_every_complete_subtree_of_the_reference_tree(count):
    hashes = [leaf_hash(i.to_bytes(2, "big")) for i in range(count)]
    levels = list(levels_above(b"".join(hashes)))
    assert len(levels) == max(count.bit_length() - 1, 0)
    for level, computed in enumerate(levels, start=1):
        width = 1 << level
        assert len(computed) == 32 * (count // width)
        for idx in range(count // width):
            reference = root_from_leaf_hashes(hashes[idx * width : (idx + 1) * width])
            assert computed[32 * idx : 32 * idx + 32] == reference


def test_corrupt_stored_node_is_reported():
    with pytest.raises(ValueError, match=r"\(1, 0\)"):
        subtree_hash(0, 2, lambda level, index: b"short")


def test_proof_generation_rejects_impossible_arguments():
    get = _getter(_store_for([b"a", b"b", b"c"]))
    for index, size in [(3, 3), (0, 0), (-1, 3)]:
        with pytest.raises(ValueError, match="not in a tree"):
            inclusion_proof(index, size, get)
    for old, new in [(0, 3), (4, 3), (-1, 3)]:
        with pytest.raises(ValueError, match="old_size"):
            consistency_proof(old, new, get)
    assert consistency_proof(3, 3, get) == []


@pytest.mark.parametrize("size", [1_000_000, 2**20, 2**20 + 1, 999_999, 2**40 - 1])
def test_proofs_read_logarithmically_many_nodes(size):
    # Proof generation must stay O(log n) node reads even when it has to rebuild incomplete
    # right-edge subtrees, which is what keeps it fast against a database at a million entries.
    reads = []

    def get(level, index):
        reads.append((level, index))
        return hashlib.sha256(f"{level}/{index}".encode()).digest()

    log2 = size.bit_length()
    for index in (0, size // 3, size - 1):
        reads.clear()
        proof = inclusion_proof(index, size, get)
        assert len(proof) <= log2
        assert len(reads) <= 2 * log2
        assert len(set(reads)) == len(reads)
    for old in (1, size // 2 + 1, size - 1):
        reads.clear()
        consistency_proof(old, size, get)
        assert len(reads) <= 3 * log2
    # Nodes are only ever read inside [0, size), i.e. complete subtrees.
    for nodes in inclusion_proof_nodes(size - 1, size) + consistency_proof_nodes(3, size):
        for level, index in nodes:
            assert (index + 1) << level <= size


# --- verification edge cases --------------------------------------------------------------------


_LEAVES7 = [leaf_hash(bytes([i])) for i in range(7)]
_GET7 = _getter(_store_for([bytes([i]) for i in range(7)]))
_R3, _R5, _R7 = (root_from_leaf_hashes(_LEAVES7[:n]) for n in (3, 5, 7))
_INC = inclusion_proof(2, 5, _GET7)
_CON = consistency_proof(3, 7, _GET7)


def test_good_proofs_for_the_shape_cases_verify():
    verify_inclusion(2, 5, _LEAVES7[2], _INC, _R5)
    assert root_from_inclusion_proof(2, 5, _LEAVES7[2], _INC) == _R5
    verify_consistency(3, 7, _R3, _R7, _CON)
    verify_consistency(7, 7, _R7, _R7, [])


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((2, 5, _LEAVES7[2], _INC, _R5[:31]), id="root-length"),
        pytest.param((2, 5, _LEAVES7[2] + b"\x00", _INC, _R5), id="leaf-length"),
        pytest.param((2, 5, _LEAVES7[2], [*_INC[:-1], _INC[-1][:16]], _R5), id="element-length"),
        pytest.param((2, 5, _LEAVES7[2], [*_INC[:-1], "x" * 32], _R5), id="element-type"),
        pytest.param((5, 5, _LEAVES7[2], _INC, _R5), id="index-is-size"),
        pytest.param((-1, 5, _LEAVES7[2], _INC, _R5), id="negative-index"),
        pytest.param((2, 5, _LEAVES7[2], _INC[:-1], _R5), id="missing-element"),
        pytest.param((2, 5, _LEAVES7[2], [*_INC, _R5], _R5), id="extra-element"),
        pytest.param((2, 5, _LEAVES7[3], _INC, _R5), id="wrong-leaf"),
        pytest.param((2, 9, _LEAVES7[2], _INC, _R5), id="wrong-size"),
        pytest.param((3, 5, _LEAVES7[2], _INC, _R5), id="wrong-index"),
        pytest.param((2, 5, _LEAVES7[2], _INC, _R7), id="wrong-root"),
    ],
)
def test_verify_inclusion_rejects(args):
    with pytest.raises(ProofError):
        verify_inclusion(*args)


@pytest.mark.parametrize(
    "args",
    [
        pytest.param((3, 7, _R3[:-1], _R7, _CON), id="old-root-length"),
        pytest.param((3, 7, _R3, _R7 + b"\x00", _CON), id="new-root-length"),
        pytest.param((3, 7, _R3, _R7, [_CON[0] + b"\x00", *_CON[1:]]), id="element-length"),
        pytest.param((3, 7, _R3, _R7, _CON[:-1]), id="missing-element"),
        pytest.param((3, 7, _R3, _R7, [*_CON, _R7]), id="extra-element"),
        pytest.param((3, 7, _R3, _R7, [_R7, *_CON]), id="preceding-element"),
        pytest.param((3, 7, _R3, _R7, []), id="empty-proof"),
        pytest.param((0, 7, EMPTY_ROOT, _R7, _CON), id="old-is-zero"),
        pytest.param((0, 0, EMPTY_ROOT, EMPTY_ROOT, []), id="both-zero"),
        pytest.param((7, 3, _R7, _R3, _CON), id="old-larger"),
        pytest.param((3, 7, _R7, _R3, _CON), id="swapped-roots"),
        pytest.param((3, 17, _R3, _R7, _CON), id="wrong-new-size"),
        pytest.param((7, 7, _R7, _R3, []), id="equal-sizes-different-roots"),
        pytest.param((7, 7, _R7, _R7, _CON), id="equal-sizes-non-empty-proof"),
        pytest.param((-3, 7, _R3, _R7, _CON), id="negative"),
    ],
)
def test_verify_consistency_rejects(args):
    with pytest.raises(ProofError):
        verify_consistency(*args)


def test_wrong_length_hashes_are_rejected_for_their_length():
    # Checked up front, not left to a root mismatch: a 31- or 33-byte "hash" is a caller bug
    # or an attack on the encoding, and the message should say so.
    with pytest.raises(ProofError, match="leaf hash must be 32 bytes, got 33"):
        verify_inclusion(2, 5, _LEAVES7[2] + b"\x00", _INC, _R5)
    with pytest.raises(ProofError, match="leaf hash must be 32 bytes, got 0"):
        verify_inclusion(0, 1, b"", [], _LEAVES7[0])
    with pytest.raises(ProofError, match="root must be 32 bytes, got 31"):
        verify_inclusion(2, 5, _LEAVES7[2], _INC, _R5[:31])
    with pytest.raises(ProofError, match="proof element 1 must be 32 bytes"):
        verify_inclusion(2, 5, _LEAVES7[2], [_INC[0], _INC[1][:1], _INC[2]], _R5)
    with pytest.raises(ProofError, match="old root must be 32 bytes"):
        verify_consistency(3, 7, _R3[:-1], _R7, _CON)
    with pytest.raises(ProofError, match="proof element 0 must be 32 bytes"):
        verify_consistency(3, 7, _R3, _R7, [_CON[0] + b"\x00", *_CON[1:]])


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.integers(0, 40), max_size=30), data=st.data())
def test_incremental_tree_matches_reference_and_its_proofs_verify(batches, data):
    store: dict[tuple[int, int], bytes] = {}
    compact = CompactRange()
    hashes: list[bytes] = []
    for batch in batches:
        new = [leaf_hash(len(hashes).to_bytes(4, "big") + bytes([i])) for i in range(batch)]
        hashes.extend(new)
        for level, index, h in compact.append_batch(new):
            # Each complete subtree is reported once and never changes afterwards.
            assert (level, index) not in store
            store[level, index] = h
        assert compact.size == len(hashes)
        assert compact.root() == root_from_leaf_hashes(hashes)

    n = len(hashes)
    get = _getter(store)
    # Exactly the complete subtrees of the final tree were persisted.
    assert len(store) == sum(n >> level for level in range(n.bit_length()))
    if n == 0:
        return
    roots = {size: root_from_leaf_hashes(hashes[:size]) for size in range(n + 1)}

    for _ in range(3):
        size = data.draw(st.integers(1, n), label="size")
        assert CompactRange.load(size, get).root() == roots[size]
        index = data.draw(st.integers(0, size - 1), label="index")
        proof = inclusion_proof(index, size, get)
        verify_inclusion(index, size, hashes[index], proof, roots[size])
        if proof:
            i = data.draw(st.integers(0, len(proof) - 1), label="flip element")
            bit = data.draw(st.integers(0, 255), label="flip bit")
            bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
            with pytest.raises(ProofError):
                verify_inclusion(index, size, hashes[index], bad, roots[size])

        old = data.draw(st.integers(1, size), label="old")
        proof = consistency_proof(old, size, get)
        verify_consistency(old, size, roots[old], roots[size], proof)
        if proof:
            i = data.draw(st.integers(0, len(proof) - 1), label="flip element")
            bit = data.draw(st.integers(0, 255), label="flip bit")
            bad = [*proof[:i], _flip(proof[i], bit), *proof[i + 1 :]]
            with pytest.raises(ProofError):
                verify_consistency(old, size, roots[old], roots[size], bad)
        if old < size:
            # A tree that differs in any leaf before `old` is not consistent with this one.
            with pytest.raises(ProofError):
                verify_consistency(old, size, _flip(roots[old], 0), roots[size], proof)


@settings(max_examples=200, deadline=None)
@given(size=st.integers(1, 2**64 - 1), data=st.data())
def test_proof_plans_only_use_aligned_complete_subtrees(size, data):
    index = data.draw(st.integers(0, size - 1))
    old = data.draw(st.integers(1, size))
    plans = inclusion_proof_nodes(index, size) + consistency_proof_nodes(old, size)
    for nodes in plans:
        for level, idx in nodes:
            assert (idx + 1) << level <= size
    assert len(inclusion_proof_nodes(index, size)) <= size.bit_length()
