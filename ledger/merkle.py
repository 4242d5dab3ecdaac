"""RFC 9162 §2.1 Merkle tree hashes, inclusion and consistency proofs: verify and generate.

Pure: proofs are generated from stored complete-subtree hashes in one batched read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Protocol

from keys.errors import CheckFailed, ExternalFailure, InvalidInput

HASH_SIZE = 32
#: A tree size is a uint64, so no proof needs more than 64 hashes.
MAX_PROOF_HASHES = 64
MAX_TREE_SIZE = 2**64 - 1
#: The largest entry index or tree size a node's API takes in a query, or a reader asks it:
#: the integers a JSON number holds exactly (2^53), far above any ledger's size.
MAX_INDEX = 2**53

#: MTH({}) = SHA-256()
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]
"""(level, index): the complete subtree over leaves [index·2^level, (index+1)·2^level)."""

Range = tuple[int, int]
"""[a, b): the leaves whose MTH a proof hash is."""


class HashLengthInvalid(InvalidInput):
    """A hash (leaf, root, proof element) is not 32 bytes."""

    code = "merkle-hash-length-invalid"


class TreePositionInvalid(InvalidInput):
    """An index, tree size or leaf range is out of bounds or misaligned."""

    code = "merkle-position-invalid"


class ProofTooLong(InvalidInput):
    """A proof has more hashes than any uint64-sized tree needs."""

    code = "merkle-proof-too-long"


class InclusionProofInvalid(CheckFailed):
    """The inclusion proof does not lead from the leaf to the root."""

    code = "inclusion-proof-invalid"


class ConsistencyProofInvalid(CheckFailed):
    """The consistency proof does not show the older tree is a prefix of the newer one."""

    code = "consistency-proof-invalid"


class SubtreeReadMismatch(ExternalFailure):
    """The subtree store answered with the wrong number or length of hashes."""

    code = "subtree-read-mismatch"


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d0}) = SHA-256(0x00 || d0)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """k: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        length = len(value) if isinstance(value, bytes) else type(value).__name__
        raise HashLengthInvalid(f"{what} must be {HASH_SIZE} bytes, got {length}")


def _check_proof(proof: Sequence[bytes]) -> None:
    if len(proof) > MAX_PROOF_HASHES:
        raise ProofTooLong(f"proof has {len(proof)} hashes, at most {MAX_PROOF_HASHES} allowed")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")


def _check_size(size: int, what: str, *, minimum: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or not minimum <= size <= MAX_TREE_SIZE:
        raise TreePositionInvalid(f"{what} must be an integer in [{minimum}, 2^64), got {size!r}")


def _check_leaf(index: int, size: int) -> None:
    _check_size(size, "tree size", minimum=1)
    _check_size(index, "leaf index", minimum=0)
    if index >= size:
        raise TreePositionInvalid(f"leaf index {index} is not below tree size {size}")


def _check_sizes(size1: int, size2: int) -> None:
    _check_size(size1, "size1", minimum=1)
    _check_size(size2, "size2", minimum=1)
    if size1 > size2:
        raise TreePositionInvalid(f"size1 {size1} is greater than size2 {size2}")


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The reference MTH over all leaf hashes (recursive, O(n)): for tests and small trees."""
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        _check_hash(hashes[0], "leaf hash")
        return hashes[0]
    k = _split(n)
    return node_hash(root_from_leaf_hashes(hashes[:k]), root_from_leaf_hashes(hashes[k:]))


def _shift_until_odd_or_zero(fn: int, sn: int) -> tuple[int, int]:
    """Right-shift fn and sn equally until LSB(fn) is set or fn is 0."""
    while fn & 1 == 0 and fn != 0:
        fn, sn = fn >> 1, sn >> 1
    return fn, sn


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2: check that ``leaf_hash`` is leaf ``index`` of the tree ``root``."""
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root")
    _check_proof(proof)
    _check_leaf(index, size)
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise InclusionProofInvalid(f"proof is longer than the path to leaf {index}")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)  # r = HASH(0x01 || p || r)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            r = node_hash(r, p)  # r = HASH(0x01 || r || p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise InclusionProofInvalid(f"proof is shorter than the path to leaf {index}")
    if r != root:
        raise InclusionProofInvalid(f"leaf {index} does not lead to the root of size {size}")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """RFC 9162 §2.1.4.2: check that the tree ``root1`` of ``size1`` is a prefix of ``root2``."""
    _check_proof(proof)
    _check_sizes(size1, size2)
    if size1 == size2:
        # Equal trees: nothing to hash, the roots must simply be the same bytes (the
        # transparency-dev vectors expect this to hold whatever the roots' length).
        if proof:
            raise ConsistencyProofInvalid("equal tree sizes need an empty proof")
        if root1 != root2:
            raise ConsistencyProofInvalid(f"two different roots for tree size {size1}")
        return
    _check_hash(root1, "root1")
    _check_hash(root2, "root2")
    if not proof:
        raise ConsistencyProofInvalid("empty proof between different tree sizes")
    # If size1 is an exact power of 2, prepend root1 to the path.
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:  # right-shift both until LSB(fn) is not set
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ConsistencyProofInvalid("proof is longer than needed")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)  # fr = HASH(0x01 || c || fr)
            sr = node_hash(c, sr)  # sr = HASH(0x01 || c || sr)
            fn, sn = _shift_until_odd_or_zero(fn, sn)
        else:
            sr = node_hash(sr, c)  # sr = HASH(0x01 || sr || c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ConsistencyProofInvalid("proof is shorter than needed")
    if fr != root1:
        raise ConsistencyProofInvalid(f"proof does not lead to root1 of size {size1}")
    if sr != root2:
        raise ConsistencyProofInvalid(f"proof does not lead to root2 of size {size2}")


class SubtreeReader(Protocol):
    """Stored complete-subtree hashes: the one read a proof needs."""

    def subtree_hashes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        """The MTH of each (level, index) node, in order."""
        ...


def inclusion_ranges(index: int, size: int) -> list[Range]:
    """The leaf ranges whose MTHs form PATH(index, D[0:size]), in proof order.

    PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])      if m < k
                  = PATH(m - k, D[k:n]) : MTH(D[0:k])  if m >= k
    """
    _check_leaf(index, size)
    ranges: list[Range] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()  # the recursion appends on the way out: deepest sibling first
    return ranges


def consistency_ranges(size1: int, size2: int) -> list[Range]:
    """The leaf ranges whose MTHs form PROOF(size1, D[0:size2]), in proof order.

    SUBPROOF(m, D[m], true) = {};  SUBPROOF(m, D[m], false) = {MTH(D[m])}
    SUBPROOF(m, D[n], b) = SUBPROOF(m, D[0:k], b) : MTH(D[k:n])          if m <= k
                         = SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])  if m > k
    """
    _check_sizes(size1, size2)
    ranges: list[Range] = []
    lo, hi, b = 0, size2, True
    if size1 == size2:
        return ranges
    while size1 - lo != hi - lo:
        k = _split(hi - lo)
        if size1 - lo <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo, b = lo + k, False
    if not b:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def range_nodes(a: int, b: int) -> list[Node]:
    """The complete subtrees tiling [a, b), largest first, following the binary digits of b - a.

    MTH(D[a:b]) folds them right to left with node_hash; ``a`` must be a multiple of the
    largest one (always true of the ranges in RFC 9162 proofs).
    """
    if not 0 <= a < b <= MAX_TREE_SIZE:
        raise TreePositionInvalid(f"leaf range [{a}, {b}) is empty or out of bounds")
    n = b - a
    top = n.bit_length() - 1
    if a % (1 << top):
        raise TreePositionInvalid(f"leaf range [{a}, {b}) is not aligned to 2^{top}")
    nodes: list[Node] = []
    for level in range(top, -1, -1):
        if n >> level & 1:
            nodes.append((level, a >> level))
            a += 1 << level
    return nodes


def _range_hashes(ranges: Sequence[Range], reader: SubtreeReader) -> list[bytes]:
    """MTH of each range, from one batched, deduplicated read of its complete subtrees."""
    per_range = [range_nodes(a, b) for a, b in ranges]
    wanted = list(dict.fromkeys(node for nodes in per_range for node in nodes))
    if not wanted:
        return []
    hashes = reader.subtree_hashes(wanted)
    if len(hashes) != len(wanted) or any(len(h) != HASH_SIZE for h in hashes):
        raise SubtreeReadMismatch(
            f"asked for {len(wanted)} subtree hashes of {HASH_SIZE} bytes, got a different answer"
        )
    table = dict(zip(wanted, hashes, strict=True))
    result = []
    for nodes in per_range:
        acc = table[nodes[-1]]
        for node in reversed(nodes[:-1]):
            acc = node_hash(table[node], acc)
        result.append(acc)
    return result


def inclusion_proof(index: int, size: int, reader: SubtreeReader) -> list[bytes]:
    """PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), in one read of O(log size) nodes."""
    return _range_hashes(inclusion_ranges(index, size), reader)


def consistency_proof(size1: int, size2: int, reader: SubtreeReader) -> list[bytes]:
    """PROOF(size1, D[0:size2]) (RFC 9162 §2.1.4.1), in one read of O(log size2) nodes."""
    return _range_hashes(consistency_ranges(size1, size2), reader)


def root_hash(size: int, reader: SubtreeReader) -> bytes:
    """MTH(D[0:size]), in one read of at most log2(size) + 1 nodes (none for size 0)."""
    _check_size(size, "tree size", minimum=0)
    if size == 0:
        return EMPTY_ROOT
    return _range_hashes([(0, size)], reader)[0]


class MemoryTree:
    """An in-memory :class:`SubtreeReader`: leaf hashes and every complete subtree, per level.

    Records each read in ``reads`` so tests can count them.
    """

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[list[bytes]] = [[]]
        self.reads: list[list[Node]] = []
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def append(self, leaf_hash: bytes) -> int:
        """Add a leaf hash; complete the subtrees it closes. Returns its index."""
        _check_hash(leaf_hash, "leaf hash")
        index = self.size
        self._levels[0].append(leaf_hash)
        level, i, h = 0, index, leaf_hash
        while i & 1:  # a right child closes its parent
            h = node_hash(self._levels[level][i - 1], h)
            level, i = level + 1, i >> 1
            if level == len(self._levels):
                self._levels.append([])
            self._levels[level].append(h)
        return index

    def subtree_hashes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        self.reads.append(list(nodes))
        result = []
        for level, index in nodes:
            if not (0 <= level < len(self._levels) and 0 <= index < len(self._levels[level])):
                raise TreePositionInvalid(f"no complete subtree ({level}, {index}) in this tree")
            result.append(self._levels[level][index])
        return result
