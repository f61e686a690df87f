"""RFC 9162 section 2.1 Merkle tree: hashing, an incremental compact range, proofs, verification."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# A stored complete subtree: (level, index, hash). The node at (L, i) covers leaves
# [i * 2**L, (i + 1) * 2**L), so level 0 holds the leaf hashes themselves.
Node = tuple[int, int, bytes]
NodeId = tuple[int, int]
GetNode = Callable[[int, int], bytes]

_sha256 = hashlib.sha256
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class ProofError(ValueError):
    """A Merkle proof, or the hashes and sizes it is checked against, do not verify."""


def leaf_hash(leaf: bytes) -> bytes:
    """Return the RFC 9162 leaf hash SHA-256(0x00 || leaf)."""
    return _sha256(_LEAF_PREFIX + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 9162 interior node hash SHA-256(0x01 || left || right)."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """Return the largest power of two strictly less than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """Return MTH over the leaf hashes by the recursive RFC 9162 definition (reference code)."""

    def mth(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return hashes[lo]
        mid = lo + _split(hi - lo)
        return node_hash(mth(lo, mid), mth(mid, hi))

    if not hashes:
        return EMPTY_ROOT
    return mth(0, len(hashes))


def compute_root(leaf_hashes: Iterable[bytes]) -> bytes:
    """Return the tree root over a stream of leaf hashes in O(log n) memory."""
    compact = CompactRange()
    compact.extend(leaf_hashes)
    return compact.root()


def frontier_nodes(size: int) -> list[NodeId]:
    """Return the (level, index) of the perfect subtrees covering [0, size), highest level first."""
    if size < 0:
        raise ValueError(f"tree size must not be negative, got {size}")
    nodes: list[NodeId] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            nodes.append((level, start >> level))
            start += 1 << level
    return nodes


class CompactRange:
    """The frontier of a tree of `size` leaves: one perfect-subtree hash per set bit of size."""

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        """Start from a tree of `size` leaves whose frontier (see frontier_nodes) is `hashes`."""
        hashes = list(hashes)
        if size < 0:
            raise ValueError(f"tree size must not be negative, got {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has a frontier of {size.bit_count()} hashes, "
                f"got {len(hashes)}"
            )
        for h in hashes:
            _check_stored(h)
        self._size = size
        # Highest level first, so the smallest subtree (the one appends merge into) is last.
        self._hashes = hashes

    @classmethod
    def load(cls, size: int, get_node: GetNode) -> CompactRange:
        """Rebuild the frontier of a tree of `size` leaves from stored complete subtrees."""
        return cls(size, [get_node(level, index) for level, index in frontier_nodes(size)])

    @property
    def size(self) -> int:
        """Return the number of leaves appended so far."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """Return the frontier hashes, highest level first, matching frontier_nodes(size)."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[Node]:
        """Append one leaf hash; return every subtree it completes, the leaf itself first."""
        _check_leaf(leaf_hash)
        hashes = self._hashes
        index = self._size
        h = leaf_hash
        level = 0
        nodes = [(0, index, h)]
        # Each trailing one bit of the old size is a perfect subtree of that level that the
        # new leaf now completes into one twice as big.
        while index & 1:
            h = _sha256(_NODE_PREFIX + hashes.pop() + h).digest()
            index >>= 1
            level += 1
            nodes.append((level, index, h))
        hashes.append(h)
        self._size += 1
        return nodes

    def append_batch(self, leaf_hashes: Iterable[bytes]) -> list[Node]:
        """Append leaf hashes in order; return every completed subtree, in completion order."""
        nodes: list[Node] = []
        for h in leaf_hashes:
            nodes.extend(self.append(h))
        return nodes

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append leaf hashes without reporting nodes: the fast path for recomputing a root."""
        hashes = self._hashes
        size = self._size
        sha256 = _sha256
        prefix = _NODE_PREFIX
        try:
            for h in leaf_hashes:
                if type(h) is not bytes or len(h) != HASH_SIZE:
                    raise ValueError(f"leaf hash {size} is not {HASH_SIZE} bytes: {h!r:.80}")
                n = size
                while n & 1:
                    h = sha256(prefix + hashes.pop() + h).digest()
                    n >>= 1
                hashes.append(h)
                size += 1
        finally:
            # Keep size consistent with the frontier even if the iterable raised midway.
            self._size = size

    def root(self) -> bytes:
        """Return the RFC 9162 root of the current tree, folding the frontier right to left."""
        hashes = self._hashes
        if not hashes:
            return EMPTY_ROOT
        h = hashes[-1]
        for left in reversed(hashes[:-1]):
            h = _sha256(_NODE_PREFIX + left + h).digest()
        return h

    def __repr__(self) -> str:
        """Show the size and root, not the frontier hashes."""
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


def levels_above(hashes: bytes | bytearray) -> Iterator[bytes]:
    """Each level of complete subtrees above a level of them (32-byte hashes in index order),
    lowest first: each pair hashed into its parent; an odd last hash has no complete parent."""
    sha256 = _sha256
    prefix = _NODE_PREFIX
    below = hashes
    while len(below) >= 2 * HASH_SIZE:
        below = b"".join(
            [sha256(prefix + below[i : i + 64]).digest() for i in range(0, len(below) - 63, 64)]
        )
        yield below


def subtree_nodes(start: int, end: int) -> list[NodeId]:
    """Return the stored complete subtrees, left to right, whose fold is MTH(D[start:end])."""
    if not 0 <= start < end:
        raise ValueError(f"need 0 <= start < end, got [{start}, {end})")
    n = end - start
    top = n.bit_length() - 1
    # RFC proofs only ever hash ranges starting on a multiple of their largest power-of-two
    # part; anything else does not decompose into stored nodes with the same hash.
    if start & ((1 << top) - 1):
        raise ValueError(f"range [{start}, {end}) is not aligned to a {1 << top}-leaf subtree")
    nodes: list[NodeId] = []
    pos = start
    for level in range(top, -1, -1):
        if n >> level & 1:
            nodes.append((level, pos >> level))
            pos += 1 << level
    return nodes


def hash_nodes(nodes: Sequence[NodeId], get_node: GetNode) -> bytes:
    """Fold the hashes of stored nodes (as from subtree_nodes) right to left into one hash."""
    h = _check_stored(get_node(*nodes[-1]), nodes[-1])
    for node in reversed(nodes[:-1]):
        h = node_hash(_check_stored(get_node(*node), node), h)
    return h


def subtree_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """Return MTH(D[start:end]) of a left-aligned range from stored complete subtrees."""
    return hash_nodes(subtree_nodes(start, end), get_node)


def inclusion_proof_nodes(index: int, size: int) -> list[list[NodeId]]:
    """Return, per RFC 9162 PATH element (leaf upwards), the stored nodes that fold into it."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    siblings: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            siblings.append((mid, hi))
            hi = mid
        else:
            siblings.append((lo, mid))
            lo = mid
    # The descent found siblings root-first; the proof lists them leaf-first.
    return [subtree_nodes(a, b) for a, b in reversed(siblings)]


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """Return the RFC 9162 inclusion proof PATH(index, D[0:size]) from stored subtrees."""
    return [hash_nodes(nodes, get_node) for nodes in inclusion_proof_nodes(index, size)]


def consistency_proof_nodes(old_size: int, new_size: int) -> list[list[NodeId]]:
    """Return, per RFC 9162 consistency proof element, the stored nodes that fold into it."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"need 0 < old_size <= new_size, got {old_size} and {new_size}")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, new_size
    while old_size != hi:
        mid = lo + _split(hi - lo)
        if old_size <= mid:
            ranges.append((mid, hi))
            hi = mid
        else:
            ranges.append((lo, mid))
            lo = mid
    # SUBPROOF's b flag is simply lo == 0: the final [lo, hi) is then the whole old tree,
    # whose root the verifier already has, so it is left out of the proof.
    if lo != 0:
        ranges.append((lo, hi))
    return [subtree_nodes(a, b) for a, b in reversed(ranges)]


def consistency_proof(old_size: int, new_size: int, get_node: GetNode) -> list[bytes]:
    """Return the RFC 9162 consistency proof PROOF(old_size, D[0:new_size]) from stored subtrees."""
    return [hash_nodes(nodes, get_node) for nodes in consistency_proof_nodes(old_size, new_size)]


def root_from_inclusion_proof(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes]
) -> bytes:
    """Return the root an inclusion proof implies (RFC 9162 2.1.3.2), or raise ProofError."""
    if index < 0 or size < 0:
        raise ProofError(f"index and size must not be negative, got {index} and {size}")
    if index >= size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    _check_hash(leaf_hash, "leaf hash")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof element {i}")
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError(f"inclusion proof has too many hashes ({len(proof)})")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            # On the right edge, levels where this node has no sibling are skipped.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"inclusion proof has too few hashes ({len(proof)})")
    return r


def verify_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that leaf_hash is at index in the tree of size with root, or raise ProofError."""
    _check_hash(root, "root")
    if root_from_inclusion_proof(index, size, leaf_hash, proof) != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the tree {size} root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the old tree is a prefix of the new (RFC 9162 2.1.4.2), or raise ProofError."""
    if old_size < 0 or new_size < 0:
        raise ProofError(f"sizes must not be negative, got {old_size} and {new_size}")
    if old_size == 0:
        # Every tree extends the empty tree, so such a "proof" says nothing; callers that
        # accept it have usually mixed up which checkpoint they trust.
        raise ProofError("a consistency proof from an empty tree proves nothing")
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        # Equal sizes need nothing but equal roots. Their length is deliberately not checked
        # here: the RFC 6962 vectors require accepting equal roots of any length in this case.
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    for i, c in enumerate(proof):
        _check_hash(c, f"proof element {i}")
    if not proof:
        raise ProofError("consistency proof is empty")

    # When the old tree is perfect, its root is itself a node of the new tree, and the
    # proof leaves it out because the verifier already has it.
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof has too many hashes")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError(f"consistency proof has too few hashes ({len(proof)})")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the tree {old_size} root")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the tree {new_size} root")


def _check_hash(h: bytes, what: str) -> None:
    """Raise ProofError unless h is a SHA-256 hash."""
    if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
        got = f"{len(h)} bytes" if isinstance(h, bytes | bytearray) else type(h).__name__
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {got}")


def _check_leaf(h: bytes) -> None:
    """Raise ValueError unless h can be appended as a leaf hash."""
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        raise ValueError(f"leaf hash must be {HASH_SIZE} bytes, got {h!r:.80}")


def _check_stored(h: bytes, node: NodeId | None = None) -> bytes:
    """Return h if it is a plausible stored hash; a wrong length means a corrupt store."""
    if not isinstance(h, bytes) or len(h) != HASH_SIZE:
        where = f" at (level, index) {node}" if node is not None else ""
        raise ValueError(f"stored node{where} is not a {HASH_SIZE}-byte hash: {h!r:.80}")
    return h
