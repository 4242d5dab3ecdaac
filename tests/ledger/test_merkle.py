"""Properties of RFC 9162 proofs generated from stored subtrees, checked against the RFC text."""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keys.errors import CheckFailed, InvalidInput
from ledger.merkle import (
    EMPTY_ROOT,
    ConsistencyProofInvalid,
    HashLengthInvalid,
    InclusionProofInvalid,
    MemoryTree,
    ProofTooLong,
    SubtreeReadMismatch,
    TreePositionInvalid,
    consistency_proof,
    consistency_ranges,
    inclusion_proof,
    inclusion_ranges,
    leaf_hash,
    range_nodes,
    root_from_leaf_hashes,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

MAX_SIZE = 2000


# --- an independent, naive implementation written from the RFC 9162 §2.1 text -----------


def _naive_mth(d: Sequence[bytes]) -> bytes:
    """MTH over leaf hashes: MTH({d0}) is the leaf hash, MTH(D[n]) hashes the two halves."""
    if len(d) == 1:
        return d[0]
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + _naive_mth(d[:k]) + _naive_mth(d[k:])).digest()


def _naive_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m < k:
        return [*_naive_path(m, d[:k]), _naive_mth(d[k:])]
    return [*_naive_path(m - k, d[k:]), _naive_mth(d[:k])]


def _naive_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [_naive_mth(d)]
    k = 1
    while k * 2 < len(d):
        k *= 2
    if m <= k:
        return [*_naive_subproof(m, d[:k], b), _naive_mth(d[k:])]
    return [*_naive_subproof(m - k, d[k:], False), _naive_mth(d[:k])]


# --- one shared tree; every size up to MAX_SIZE is a prefix of it --------------------------


@functools.cache
def _leaves() -> tuple[bytes, ...]:
    return tuple(leaf_hash(i.to_bytes(4, "big")) for i in range(MAX_SIZE))


@functools.cache
def _tree() -> MemoryTree:
    return MemoryTree(_leaves())


def _tree_leaf(index: int) -> bytes:
    return _leaves()[index]


def _flip(value: bytes, bit: int) -> bytes:
    out = bytearray(value)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def _one_read(tree: MemoryTree, before: int, size: int) -> list[tuple[int, int]]:
    """The proof cost exactly one batched read of at most 2·log2(size) + 2 nodes."""
    assert len(tree.reads) == before + 1
    nodes = tree.reads[-1]
    assert len(nodes) == len(set(nodes))
    assert len(nodes) <= 2 * math.log2(size) + 2
    return nodes


sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def leaf_positions(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@st.composite
def size_pairs(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(sizes)
    return draw(st.integers(min_value=1, max_value=size2)), size2


@given(leaf_positions())
@settings(deadline=None, max_examples=300)
def test_inclusion_proof_verifies_and_matches_the_rfc(position: tuple[int, int]) -> None:
    index, size = position
    tree, leaves = _tree(), _leaves()
    before = len(tree.reads)
    proof = inclusion_proof(index, size, tree)
    if size > 1:
        _one_read(tree, before, size)
    else:
        assert proof == []
    root = root_hash(size, tree)
    assert root == root_from_leaf_hashes(leaves[:size]) == _naive_mth(leaves[:size])
    assert proof == _naive_path(index, leaves[:size])
    verify_inclusion(leaves[index], index, size, proof, root)


@given(size_pairs())
@settings(deadline=None, max_examples=300)
def test_consistency_proof_verifies_and_matches_the_rfc(pair: tuple[int, int]) -> None:
    size1, size2 = pair
    tree, leaves = _tree(), _leaves()
    before = len(tree.reads)
    proof = consistency_proof(size1, size2, tree)
    if size1 < size2:
        _one_read(tree, before, size2)
    else:
        assert proof == []
        assert len(tree.reads) == before
    assert proof == _naive_subproof(size1, leaves[:size2], True)
    root1, root2 = root_hash(size1, tree), root_hash(size2, tree)
    assert root2 == root_from_leaf_hashes(leaves[:size2])
    verify_consistency(size1, size2, proof, root1, root2)


@given(leaf_positions(), st.data())
@settings(deadline=None)
def test_any_flipped_bit_breaks_inclusion(position: tuple[int, int], data: st.DataObject) -> None:
    index, size = position
    tree = _tree()
    proof = inclusion_proof(index, size, tree)
    values = [_tree_leaf(index), root_hash(size, tree), *proof]
    target = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    values[target] = _flip(values[target], data.draw(st.integers(min_value=0, max_value=255)))
    with pytest.raises(InclusionProofInvalid):
        verify_inclusion(values[0], index, size, values[2:], values[1])


@given(size_pairs(), st.data())
@settings(deadline=None)
def test_any_flipped_bit_breaks_consistency(pair: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = pair
    tree = _tree()
    proof = consistency_proof(size1, size2, tree)
    values = [root_hash(size1, tree), root_hash(size2, tree), *proof]
    target = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    values[target] = _flip(values[target], data.draw(st.integers(min_value=0, max_value=255)))
    with pytest.raises(ConsistencyProofInvalid):
        verify_consistency(size1, size2, values[2:], values[0], values[1])


def test_every_bit_of_every_hash_matters_in_a_small_tree() -> None:
    size = 13
    tree = MemoryTree(_leaves()[:size])
    root = root_hash(size, tree)
    for index in range(size):
        proof = inclusion_proof(index, size, tree)
        values = [_tree_leaf(index), root, *proof]
        for target in range(len(values)):
            for bit in range(256):
                bad = list(values)
                bad[target] = _flip(bad[target], bit)
                with pytest.raises(InclusionProofInvalid):
                    verify_inclusion(bad[0], index, size, bad[2:], bad[1])
    for size1 in range(1, size):
        proof = consistency_proof(size1, size, tree)
        values = [root_hash(size1, tree), root, *proof]
        for target in range(len(values)):
            for bit in range(256):
                bad = list(values)
                bad[target] = _flip(bad[target], bit)
                with pytest.raises(ConsistencyProofInvalid):
                    verify_consistency(size1, size, bad[2:], bad[0], bad[1])


@given(leaf_positions(), st.data())
@settings(deadline=None)
def test_proof_for_another_index_or_size_fails(
    position: tuple[int, int], data: st.DataObject
) -> None:
    index, size = position
    tree = _tree()
    proof = inclusion_proof(index, size, tree)
    leaf = _tree_leaf(index)
    if size > 1:
        other = data.draw(st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index))
        with pytest.raises(InclusionProofInvalid):
            verify_inclusion(leaf, other, size, proof, root_hash(size, tree))
    other_size = data.draw(sizes.filter(lambda s: s != size and s > index))
    with pytest.raises((CheckFailed, InvalidInput)):
        verify_inclusion(leaf, index, other_size, proof, root_hash(other_size, tree))


@given(size_pairs(), st.data())
@settings(deadline=None)
def test_consistency_proof_for_other_sizes_fails(
    pair: tuple[int, int], data: st.DataObject
) -> None:
    size1, size2 = pair
    tree = _tree()
    proof = consistency_proof(size1, size2, tree)
    root1, root2 = root_hash(size1, tree), root_hash(size2, tree)
    if size2 > 1:
        other1 = data.draw(st.integers(1, size2).filter(lambda s: s != size1))
        with pytest.raises((CheckFailed, InvalidInput)):
            verify_consistency(other1, size2, proof, root_hash(other1, tree), root2)
    other2 = data.draw(st.integers(size1, MAX_SIZE).filter(lambda s: s != size2))
    with pytest.raises((CheckFailed, InvalidInput)):
        verify_consistency(size1, other2, proof, root1, root_hash(other2, tree))


def test_ranges_tile_into_aligned_subtrees() -> None:
    assert inclusion_ranges(0, 1) == []
    assert inclusion_ranges(2, 7) == [(3, 4), (0, 2), (4, 7)]
    assert consistency_ranges(3, 7) == [(2, 3), (3, 4), (0, 2), (4, 7)]
    assert consistency_ranges(4, 7) == [(4, 7)]
    assert range_nodes(4, 7) == [(1, 2), (0, 6)]
    assert range_nodes(0, 13) == [(3, 0), (2, 2), (0, 12)]
    with pytest.raises(TreePositionInvalid):
        range_nodes(2, 6)  # a 4-leaf range starting at 2 is no subtree
    with pytest.raises(TreePositionInvalid):
        range_nodes(3, 3)


def test_malformed_arguments_are_invalid_input() -> None:
    h = bytes(32)
    with pytest.raises(HashLengthInvalid):
        verify_inclusion(h[:31], 0, 1, [], h)
    with pytest.raises(HashLengthInvalid):
        verify_inclusion(h, 0, 2, [h + b"\x00"], h)
    with pytest.raises(TreePositionInvalid):
        verify_inclusion(h, 1, 1, [], h)
    with pytest.raises(TreePositionInvalid):
        verify_inclusion(h, 0, 0, [], h)
    with pytest.raises(TreePositionInvalid):
        verify_inclusion(h, -1, 1, [], h)
    with pytest.raises(TreePositionInvalid):
        verify_inclusion(h, 0, 2**64, [], h)
    with pytest.raises(ProofTooLong):
        verify_inclusion(h, 0, 2**64 - 1, [h] * 65, h)
    with pytest.raises(TreePositionInvalid):
        verify_consistency(2, 1, [h], h, h)
    with pytest.raises(TreePositionInvalid):
        verify_consistency(0, 1, [], EMPTY_ROOT, h)
    with pytest.raises(ProofTooLong):
        verify_consistency(1, 2**64 - 1, [h] * 65, h, h)
    with pytest.raises(TreePositionInvalid):
        inclusion_proof(5, 5, _tree())
    with pytest.raises(TreePositionInvalid):
        consistency_proof(0, 5, _tree())


def test_proof_beyond_the_stored_tree_is_refused() -> None:
    with pytest.raises(TreePositionInvalid):
        inclusion_proof(0, MAX_SIZE + 1, _tree())


class _ShortReader:
    def subtree_hashes(self, nodes: Sequence[tuple[int, int]]) -> list[bytes]:
        return [bytes(32)] * (len(nodes) - 1)


def test_a_short_answer_from_storage_is_an_external_failure() -> None:
    with pytest.raises(SubtreeReadMismatch):
        root_hash(3, _ShortReader())


def test_memory_tree_keeps_exactly_the_complete_subtrees() -> None:
    tree = MemoryTree(_leaves()[:5])
    assert tree.size == 5
    assert tree.subtree_hashes([(2, 0)]) == [root_from_leaf_hashes(_leaves()[:4])]
    with pytest.raises(TreePositionInvalid):
        tree.subtree_hashes([(1, 2)])  # leaves [4, 6): leaf 5 is not there yet
    assert tree.append(_leaves()[5]) == 5
    assert tree.subtree_hashes([(1, 2)]) == [root_from_leaf_hashes(_leaves()[4:6])]
