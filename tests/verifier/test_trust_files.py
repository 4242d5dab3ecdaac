"""Offline trust files from outside (a bundle, a revocation snapshot): what a hostile file
costs a window before it is refused. A signature is checked before the bytes it covers are
parsed wherever the key is known beforehand (a pinned root, the trusted log keys), and what
is parsed before it is bounded by counts taken first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import nacl.signing
import pytest

import verifier.trust
from eseal.trust_export import build_bundle, export_bundle, export_snapshot
from tests.eseal.conftest import NOW, Region, make_region
from tests.verifier.conftest import forged_bundle, traced, values_bomb
from verifier.envelope import (
    EnvelopeSignatureInvalid,
    MalformedEnvelope,
    json_values,
    read_envelope,
    seal_envelope,
)
from verifier.revocation import (
    MAX_SNAPSHOT,
    SNAPSHOT_TYPE,
    MalformedSnapshot,
    SnapshotTooLarge,
    build_snapshot,
    open_snapshot,
    sign_snapshot,
)
from verifier.trust import (
    BUNDLE_TYPE,
    MAX_BUNDLE_VALUES,
    BundleNotPinned,
    BundleTooLarge,
    MalformedBundle,
    TrustStore,
    open_bundle,
)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    r = make_region(tmp_path_factory.mktemp("trust-files"))
    yield r
    r.node.close()


def unparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, parsing a bundle's JSON payload fails the test."""

    def loads(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("the payload was parsed")

    monkeypatch.setattr(verifier.trust, "loads_strict", loads)


def test_a_pinned_bundle_is_checked_before_its_payload_is_parsed(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bundle claiming the pinned root, even naming its key, but signed by another key, is
    refused before its payload is parsed: 900,000 small values (under every count a bundle
    may hold) parsed to some 55 MB, ten times the file, before the signature was checked."""
    root = region.node.root_key_id
    good = export_bundle(region.node, now=NOW)
    assert open_bundle(good, pinned_root_key_id=root).root_key_id == root
    assert open_bundle(good, pinned_roots={bytes(8), root}).region == "500000"
    root_hex = region.node.config.root_public_key.hex()
    bomb = values_bomb(900_000, root_hex)
    assert json_values(bomb) < MAX_BUNDLE_VALUES
    decoy = forged_bundle(bomb, root)
    unparsed(monkeypatch)
    with (
        traced() as peak,
        pytest.raises(
            EnvelopeSignatureInvalid, match=f"not signed by the pinned root key {root.hex()}"
        ),
    ):
        open_bundle(decoy, pinned_root_key_id=root)
    assert peak.bytes < 4 * len(decoy)  # the envelope and its payload, not 900,000 strings
    # Not naming the pinned key, or claiming another: refused as unpinned, unparsed too.
    with pytest.raises(BundleNotPinned, match="does not name the pinned root key"):
        open_bundle(forged_bundle(values_bomb(1000, "ab" * 32), root), pinned_root_key_id=root)
    with pytest.raises(BundleNotPinned, match=f"is not the pinned {root.hex()}"):
        open_bundle(forged_bundle(bomb, bytes(8)), pinned_root_key_id=root)
    with pytest.raises(BundleNotPinned, match="is not any of the pinned"):
        open_bundle(forged_bundle(bomb, bytes(8)), pinned_roots={root, bytes([1] * 8)})


def test_a_pinned_root_finds_its_key_however_json_spaces_it_and_not_by_decoys(
    region: Region,
) -> None:
    """The pinned root's key is read from the payload's bytes before it is parsed: JSON's
    white space around the colon is read, and decoys (a nested root_public_key holding the
    pinned key, say) signed by the pinned root cannot pass the bundle off as another root's."""
    root_key = region.node.require_root_key()
    raw = build_bundle(region.node, now=NOW).to_json()
    spaced = json.dumps(raw, ensure_ascii=False, indent=2).encode()
    assert b'"root_public_key": "' in spaced
    signed = seal_envelope(BUNDLE_TYPE, spaced, root_key)
    assert open_bundle(signed, pinned_root_key_id=region.node.root_key_id).region == "500000"
    # The pinned root signed a bundle whose root is another key: a decoy names the pinned
    # key first. Refused once parsed (and its own root never signed it anyway).
    other = nacl.signing.SigningKey.generate()
    decoy = {"root_public_key": region.node.config.root_public_key.hex()}
    raw["license_types"][0]["labels"] = decoy
    raw["root_public_key"] = bytes(other.verify_key).hex()
    payload = json.dumps(raw, ensure_ascii=False, sort_keys=True).encode()
    assert payload.index(b'"root_public_key": "') < payload.rindex(b'"root_public_key": "')
    with pytest.raises(BundleNotPinned, match=r"is not the pinned \w+, which signed it"):
        open_bundle(
            seal_envelope(BUNDLE_TYPE, payload, root_key),
            pinned_root_key_id=region.node.root_key_id,
        )


def test_an_unpinned_bundle_of_many_small_values_is_refused_before_it_is_parsed() -> None:
    """Without a pin the bundle's own key is all there is to check its signature with, so
    the payload is parsed first, and may have been signed by whoever wrote the file: two
    million two-letter strings in one list (not one container too many) parsed to some
    120 MB. Its values are counted first."""
    bomb = values_bomb(2_000_000)
    key = nacl.signing.SigningKey.generate()
    data = seal_envelope(BUNDLE_TYPE, bomb, key)
    with (
        traced() as peak,
        pytest.raises(MalformedBundle, match="more than 1,000,000 values"),
    ):
        open_bundle(data)
    assert peak.bytes < 4 * len(data)  # the file and its payload, not two million strings


def test_a_node_signs_no_bundle_windows_would_refuse_for_its_values(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = read_envelope(export_bundle(region.node, now=NOW), BUNDLE_TYPE)[0]
    held = json_values(payload)
    assert 50 < held < 1000  # a real bundle: some 12 values an agency, 5 and 2 a field a type
    monkeypatch.setattr(verifier.trust, "MAX_BUNDLE_VALUES", held - 1)
    with pytest.raises(BundleTooLarge, match=f"would hold {held:,} values"):
        export_bundle(region.node, now=NOW)
    with pytest.raises(MalformedBundle, match="values"):
        open_bundle(seal_envelope(BUNDLE_TYPE, payload, region.node.require_root_key()))
    monkeypatch.setattr(verifier.trust, "MAX_BUNDLE_VALUES", held)
    assert open_bundle(export_bundle(region.node, now=NOW)).region == "500000"


def test_an_envelope_naming_a_key_twice_is_refused(region: Region) -> None:
    """An envelope with a second payload (or type, or signature list) would carry two signed
    things, the first read by one parser and the last by another: refused, naming the key."""
    good = export_bundle(region.node, now=NOW)
    assert open_bundle(good).region == "500000"
    twice = good.replace(b'{"payloadType":', b'{"payload":"e30=","payloadType":', 1)
    assert twice != good
    with pytest.raises(
        MalformedEnvelope, match="the envelope is not JSON \\(duplicate key 'payload'\\)"
    ):
        open_bundle(twice)


def test_a_file_larger_than_any_snapshot_is_refused_unread(region: Region) -> None:
    """A snapshot is compact (10^6 revoked among 10^8 issued: 2.3 MB signed): a larger file
    is refused by its length, before its envelope is read or any signature checked."""
    store = TrustStore([build_bundle(region.node, now=NOW)])
    good = export_snapshot(region.node, now=NOW, margin=0)
    assert open_snapshot(good, store).region == "500000"
    assert MAX_SNAPSHOT >= 8 * 2_300_000
    log_kid = read_envelope(good, SNAPSHOT_TYPE)[1][0][0]  # claimed, as a forger may
    chars = (MAX_SNAPSHOT // 4 + 1) * 4  # base64 of a payload that is all zero bytes
    junk = json.dumps(
        {
            "payloadType": SNAPSHOT_TYPE,
            "payload": "A" * chars,
            "signatures": [{"keyid": log_kid.hex(), "sig": "A" * 86 + "=="}],
        }
    ).encode()
    with (
        traced() as peak,
        pytest.raises(MalformedSnapshot, match="a revocation snapshot is at most 32 MiB"),
    ):
        open_snapshot(junk, store)
    assert peak.bytes < 1_000_000


def test_a_node_signs_no_snapshot_windows_would_refuse_for_its_size(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    import verifier.revocation

    note = region.node.log.checkpoint()
    snapshot = build_snapshot(region="500000", as_of=NOW, checkpoint=note, licenses=[])
    log_key = region.node.require_log_key()
    size = len(sign_snapshot(snapshot, log_key))
    monkeypatch.setattr(verifier.revocation, "MAX_SNAPSHOT", size - 1)
    with pytest.raises(SnapshotTooLarge, match="over the 0 MiB windows accept"):
        sign_snapshot(snapshot, log_key)
    monkeypatch.setattr(verifier.revocation, "MAX_SNAPSHOT", size)
    store = TrustStore([build_bundle(region.node, now=NOW)])
    assert open_snapshot(sign_snapshot(snapshot, log_key), store) == snapshot
