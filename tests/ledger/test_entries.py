"""The entry encoding's optional ``to`` (key 9): a transfer's new license, round trip, the
refusals, and the entries recorded before it (none) still read and audited as before; and
an entry's kind that is not text, refused."""

from __future__ import annotations

import hashlib

import cbor2
import pytest

from ledger.audit import audit
from ledger.entries import (
    ZERO_HASH,
    Act,
    Entry,
    MalformedEntry,
    decode_entry,
    stored_entry_act,
    stored_entry_prev,
)
from ledger.store import MemoryStore
from tests.ledger.conftest import draft, log_verifier, make_log

OLD = "1.2.156.3005.2.111000000000PH001J001.11500000MB16135217.2025000001.001.5"
NEW = "1.2.156.3005.2.111000000000PH001J001.110000.2025000001.001.R"
DIGEST = hashlib.sha256(b"document").digest()


def _transfer(to: str = "", *, kind: str = "license.transfer") -> Entry:
    return Entry(kind, 1_790_000_000, "500000", OLD, DIGEST, bytes(8), reason="迁往北京", to=to)


def test_a_transfer_names_its_new_license_at_key_9_and_reads_back() -> None:
    entry = _transfer(NEW)
    data = entry.encode()
    assert cbor2.loads(data)[9] == NEW
    assert decode_entry(data) == entry
    assert decode_entry(data, strict=False).to == NEW
    assert entry.to_json()["to"] == NEW
    assert stored_entry_act(data) == Act("license.transfer", OLD, 1_790_000_000)
    assert stored_entry_prev(data) == ZERO_HASH


def test_a_transfer_without_one_is_encoded_as_before_and_stays_valid() -> None:
    """An old ledger's transfer: the map of keys 0-7 only, byte for byte what it was."""
    entry = _transfer()
    before = {
        0: ZERO_HASH,
        1: "license.transfer",
        2: 1_790_000_000,
        3: "500000",
        4: OLD,
        5: DIGEST,
        6: bytes(8),
        7: "迁往北京",
    }
    data = cbor2.dumps(before, canonical=True)
    assert entry.encode() == data
    assert decode_entry(data) == entry
    assert decode_entry(data).to == ""
    assert "to" not in entry.to_json()


@pytest.mark.parametrize(
    "change",
    [{9: ""}, {9: b"bytes"}, {9: 7}, {9: "x" * 257}, {1: "license.revoke", 9: NEW}],
    ids=["empty", "bytes", "integer", "too-long", "not-a-transfer"],
)
def test_a_to_that_is_not_a_transfers_license_id_text_is_malformed(
    change: dict[int, object],
) -> None:
    m = cbor2.loads(_transfer(NEW).encode()) | change
    with pytest.raises(MalformedEntry):
        decode_entry(cbor2.dumps(m, canonical=True))


def test_only_a_transfer_may_be_built_with_one() -> None:
    with pytest.raises(MalformedEntry, match=r"only a license\.transfer"):
        _transfer(NEW, kind="license.revoke")


def test_a_ledger_with_transfers_audits_clean() -> None:
    store = MemoryStore()
    log = make_log(store)
    log.append([draft(0), _transfer(NEW), _transfer()])
    log.append([draft(1)])
    report = audit(store, log_verifier())
    assert report.ok, report.problems
    assert report.entries_checked == 4
    assert decode_entry(log.entry(1)).to == NEW
    assert decode_entry(log.entry(2)).to == ""


@pytest.mark.parametrize(
    "kind",
    [["license.issue"], {"k": "license.issue"}, cbor2.CBORTag(6, [0]), 10**5000],
    ids=["list", "map", "tag-of-a-list", "integer-of-5000-digits"],
)
def test_an_entry_whose_kind_is_not_text_is_malformed(kind: object) -> None:
    # A node's status answer carries entries from outside: each is refused as malformed,
    # every time (hashing a tag of a list fails, and must not be tried).
    data = cbor2.dumps(cbor2.loads(_transfer().encode()) | {1: kind}, canonical=True)
    for strict in (True, False, True):
        with pytest.raises(MalformedEntry, match="unknown entry kind"):
            decode_entry(data, strict=strict)
    with pytest.raises(MalformedEntry, match="mistyped"):
        stored_entry_act(data)
