"""Every backend sequences, stores and proves the same ledger."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cbor2
import pytest

from ledger.audit import audit
from ledger.checkpoint import verify_checkpoint
from ledger.entries import ZERO_HASH, Act, Entry, MalformedEntry, decode_entry, stored_entry_act
from ledger.merkle import (
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)
from ledger.sql import SqlStore, sqlite_url
from ledger.store import BadRange, LedgerStore
from tests.ledger.conftest import draft, log_verifier, make_log
from tests.postgres import postgres_url, reset_postgres


def test_appends_chain_and_checkpoint(store: LedgerStore) -> None:
    log = make_log(store)
    first = log.append([draft(0)])
    second = log.append([draft(i) for i in range(1, 300)])
    assert (first.first_index, second.first_index, second.size) == (0, 1, 300)
    assert len(log.entries(0)) == 300
    assert decode_entry(log.entry(0)).prev == ZERO_HASH
    for i in range(1, 300):
        assert decode_entry(log.entry(i)).prev == leaf_hash(log.entry(i - 1))
    hashes = [leaf_hash(e) for e in log.entries(0)]
    assert second.root == root_from_leaf_hashes(hashes)
    cp = verify_checkpoint(log.checkpoint(), log_verifier())
    assert (cp.size, cp.root_hash) == (300, second.root)
    assert [s for s, _ in store.checkpoints()] == [1, 300]


@pytest.mark.parametrize("batches", [[1] * 5, [255, 1, 256, 1], [700], [3, 510, 2, 66_000]])
def test_proofs_from_tiles_match_reference(store: LedgerStore, batches: list[int]) -> None:
    log = make_log(store)
    hashes: list[bytes] = []
    n = 0
    for b in batches:
        appended = log.append([draft(n + i) for i in range(b)])
        hashes += appended.leaf_hashes
        n += b
        assert appended.root == root_from_leaf_hashes(hashes)
    root = log.root_hash()
    assert [leaf_hash(e) for e in _all(log, n)] == hashes
    assert root == root_from_leaf_hashes(hashes)
    for index in {0, 1, n // 2, n - 1}:
        for size in {index + 1, n}:
            got_size, proof = log.inclusion_proof(index, size)
            verify_inclusion(leaf_hash(log.entry(index)), index, size, proof, log.root_hash(size))
            assert got_size == size
    for first in {1, n // 3 or 1, n - 1 or 1}:
        proof = log.consistency_proof(first, n)
        verify_consistency(first, n, proof, log.root_hash(first), root)


def _all(log: object, n: int) -> list[bytes]:
    from ledger.log import MAX_PAGE, Log

    assert isinstance(log, Log)
    out: list[bytes] = []
    while len(out) < n:
        out += log.entries(len(out), min(n, len(out) + MAX_PAGE))
    return out


def test_bad_ranges_are_refused(store: LedgerStore) -> None:
    log = make_log(store)
    log.append([draft(i) for i in range(5)])
    for call in (
        lambda: log.entry(5),
        lambda: log.entry(-1),
        lambda: log.inclusion_proof(5),
        lambda: log.inclusion_proof(3, 3),
        lambda: log.inclusion_proof(0, 6),
        lambda: log.inclusion_proof(0, 0),
        lambda: log.consistency_proof(0, 5),
        lambda: log.consistency_proof(3, 6),
        lambda: log.consistency_proof(4, 3),
        lambda: log.entries(5),
        lambda: log.entries(2, 2),
    ):
        with pytest.raises(BadRange):
            call()
    assert log.size() == 5


def test_fresh_ledger_audits_clean(store: LedgerStore) -> None:
    log = make_log(store)
    for b in (1, 2, 300, 17):
        log.append([draft(i) for i in range(b)])
    report = audit(store, log_verifier())
    assert report.ok, report.problems
    assert (report.entries_checked, report.checkpoints_checked) == (320, 4)


def test_work_done_with_an_append_commits_or_aborts_with_it(store: LedgerStore) -> None:
    log = make_log(store)
    log.append([draft(0)])
    seen: list[int] = []

    def refuse(_conn: object, first: int) -> None:
        seen.append(first)
        raise BadRange("refused by the caller's own check")

    with pytest.raises(BadRange):
        log.append([draft(1), draft(2)], also=refuse)
    assert seen == [1]
    assert log.size() == 1
    assert [s for s, _ in store.checkpoints()] == [1]
    appended = log.append([draft(1)], also=lambda _c, first: seen.append(first))
    assert (appended.first_index, seen[-1]) == (1, 1)
    assert audit(store, log_verifier()).ok


def test_batch_of_proofs_equals_single_proofs(store: LedgerStore) -> None:
    log = make_log(store)
    log.append([draft(i) for i in range(700)])
    indexes = [0, 5, 255, 256, 400, 699]
    batch = log.inclusion_proofs(indexes, 700)
    assert batch == [log.inclusion_proof(i, 700)[1] for i in indexes]
    with pytest.raises(BadRange):
        log.inclusion_proofs([700], 700)


@pytest.mark.parametrize(
    "tail",
    [
        bytes.fromhex("d8641b7fffffffffffffff"),  # tag 100 (epoch days) overflowing
        bytes.fromhex("c4821b7fffffffffffffff02"),  # tag 4 with an exponent too large
        b"\x9f" * 5000,  # deep nesting
    ],
)
def test_hostile_entry_bytes_are_malformed_not_a_crash(tail: bytes) -> None:
    """An entry from a hostile node: a prev hash, then CBOR that cbor2 fails on."""
    data = b"\xa9\x00\x58\x20" + bytes(32) + b"\x01" + tail
    for strict in (True, False):
        with pytest.raises(MalformedEntry):
            decode_entry(data, strict=strict)
    with pytest.raises(MalformedEntry):
        stored_entry_act(data)


def test_a_stored_entry_is_read_as_far_as_a_node_needs() -> None:
    """The node's light read of its own entry (what it looks back through for a status
    change): the act, with the entry's keys and kind checked; anything else is malformed."""
    digest = hashlib.sha256(b"document").digest()
    entry = Entry("license.issue", 1_700_000_000, "500000", "L1", digest, bytes(8), prev=ZERO_HASH)
    data = entry.encode()
    assert stored_entry_act(data) == Act("license.issue", "L1", 1_700_000_000)
    m = cbor2.loads(data)
    without_key = {k: v for k, v in m.items() if k != 6}
    spoiled = [
        cbor2.dumps(m | change, canonical=True)
        for change in ({1: "license.nonsense"}, {1: ["license.issue"]}, {99: 1})
    ]
    for bad in [*spoiled, cbor2.dumps(without_key, canonical=True), data[:-1]]:
        with pytest.raises(MalformedEntry):
            stored_entry_act(bad)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_the_audit_of_a_ledger_being_appended_to_sees_one_state_of_it(
    backend: str, tmp_path: Path
) -> None:
    """``eseal ledger verify`` beside a serving node: appends committed (by another process)
    between the audit's reads of the head, checkpoints, entries and tiles are not taken
    for tampering; the audit checks the ledger as it was when it began."""
    if backend == "sqlite":
        url = sqlite_url(tmp_path)
    else:
        pg = postgres_url()
        if pg is None:
            pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
        reset_postgres(pg)
        url = pg
    audited, writer = SqlStore(url), SqlStore(url)
    try:
        make_log(writer).append([draft(i) for i in range(250)])
        read_checkpoints = audited.checkpoints

        def checkpoints_then_appends() -> list[tuple[int, str]]:
            stored = read_checkpoints()
            # another node process appends, across a tile boundary, while the audit runs
            make_log(writer).append([draft(250 + i) for i in range(20)])
            return stored

        audited.checkpoints = checkpoints_then_appends  # type: ignore[method-assign]
        report = audit(audited, log_verifier())
        assert report.ok, report.problems
        assert (report.size, report.entries_checked, report.checkpoints_checked) == (250, 250, 1)
        audited.checkpoints = read_checkpoints  # type: ignore[method-assign]
        after = audit(audited, log_verifier())
        assert after.ok, after.problems
        assert (after.size, after.checkpoints_checked) == (270, 2)
    finally:
        audited.close()
        writer.close()
