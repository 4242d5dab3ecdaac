"""Offline status from a signed revocation snapshot: exact for what was issued before the
cut, honest about what came after, stale after its maximum age, refused when forged."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from eseal import trust_export, witness_ask
from eseal.agencies import Principal
from eseal.licenses import change_status, issue
from eseal.node import Node
from eseal.seals import create_seal, get_seal, revoke_seal
from eseal.trust_export import LocalStatus, build_bundle, export_snapshot
from keys.errors import CheckFailed, InvalidInput
from ledger.checkpoint import verify_checkpoint
from tests.eseal.conftest import MARKET, NOW, Region, business_request, make_region
from tests.verifier.conftest import traced
from verifier.claims import MAX_TIME
from verifier.document import StampBody, StampClaims, sign_stamp
from verifier.envelope import seal_envelope
from verifier.pipeline import VerifyContext, verify_text
from verifier.revocation import MalformedSnapshot, SnapshotStatus, _parse, open_snapshot
from verifier.trust import TrustStore
from verifier.verdict import NO_STATUS, STALE_STATUS, Status
from verifier.witnessing import Witnessing

AGENT = Principal("agency", MARKET)


@pytest.fixture(scope="module")
def region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Region]:
    r = make_region(tmp_path_factory.mktemp("revocation"))
    yield r
    r.node.close()


def test_offline_verdicts_follow_the_snapshot(region: Region) -> None:
    node = region.node
    valid = issue(node, AGENT, MARKET, business_request(), now=NOW)
    revoked = issue(node, AGENT, MARKET, business_request(), now=NOW)
    suspended = issue(node, AGENT, MARKET, business_request(), now=NOW)
    change_status(node, AGENT, revoked.id, "revoke", reason="x", now=NOW + 1)
    change_status(node, AGENT, suspended.id, "suspend", reason="x", now=NOW + 1)
    store = TrustStore([build_bundle(node, now=NOW + 2)])
    snapshot = open_snapshot(export_snapshot(node, now=NOW + 2, margin=0), store)
    later = issue(node, AGENT, MARKET, business_request(), now=NOW + 3)
    ctx = VerifyContext(store, NOW + 10, status=SnapshotStatus([snapshot]))
    assert verify_text(valid.qr_text, ctx).status is Status.VALID
    assert verify_text(revoked.qr_text, ctx).status is Status.REVOKED
    assert verify_text(suspended.qr_text, ctx).status is Status.SUSPENDED
    after = verify_text(later.qr_text, ctx)
    assert after.status is Status.VALID
    assert NO_STATUS in after.warnings
    stale_ctx = VerifyContext(store, NOW + 30 * 86400, status=SnapshotStatus([snapshot]))
    stale = verify_text(valid.qr_text, stale_ctx)
    assert stale.status is Status.VALID
    assert STALE_STATUS in stale.warnings
    assert stale.colour == "amber"


def test_snapshot_is_exact_for_every_issued_license(region: Region) -> None:
    node = region.node
    ids = [issue(node, AGENT, MARKET, business_request(), now=NOW).id for _ in range(60)]
    for lic in ids[::3]:
        change_status(node, AGENT, lic, "revoke", reason="x", now=NOW + 1)
    store = TrustStore([build_bundle(node, now=NOW + 2)])
    snapshot = open_snapshot(export_snapshot(node, now=NOW + 2, margin=0), store)
    for i, lic in enumerate(ids):
        assert snapshot.status_of(lic) == ("07" if i % 3 == 0 else "01")


def test_forged_or_foreign_snapshots_are_refused(
    region: Region, tmp_path_factory: pytest.TempPathFactory
) -> None:
    node = region.node
    store = TrustStore([build_bundle(node, now=NOW)])
    data = export_snapshot(node, now=NOW)
    with pytest.raises((CheckFailed, InvalidInput)):
        open_snapshot(data.replace(b'"payload":"', b'"payload":"A', 1), store)
    other = make_region(tmp_path_factory.mktemp("other-region"))
    try:
        foreign = export_snapshot(other.node, now=NOW)  # same region code, other log key
        with pytest.raises(CheckFailed):
            open_snapshot(foreign, store)
    finally:
        other.node.close()
    with pytest.raises(InvalidInput):
        open_snapshot(data, TrustStore())


def test_a_snapshot_is_decoded_only_once_its_signature_checks_out(region: Region) -> None:
    """Found by review: the payload was decoded before its signature was checked (to find
    its region), so a file signed by no one, of a few MiB of empty CBOR arrays, cost the
    window gigabytes (40 MiB: 2.9 GB, 12 s). Now every trusted log key is tried first."""
    import nacl.signing

    from verifier.envelope import EnvelopeSignatureInvalid
    from verifier.revocation import SNAPSHOT_TYPE, build_snapshot, sign_snapshot

    store = TrustStore([build_bundle(region.node, now=NOW)])
    bomb = b"\x9f" + b"\x80" * 1_000_000 + b"\xff"
    data = seal_envelope(SNAPSHOT_TYPE, bomb, nacl.signing.SigningKey.generate())
    with (
        traced() as peak,
        pytest.raises(EnvelopeSignatureInvalid, match=r"any region trusted \(500000\)"),
    ):
        open_snapshot(data, store)
    assert peak.bytes < 8 * len(data)  # the envelope and its payload, not a million lists
    # Signed by this region's log key, a snapshot naming another region is still refused.
    note = region.node.log.checkpoint()
    other = build_snapshot(region="110000", as_of=NOW, checkpoint=note, licenses=[])
    signed = sign_snapshot(other, region.node.require_log_key())
    with pytest.raises(EnvelopeSignatureInvalid, match="region 110000 is not signed by"):
        open_snapshot(signed, store)


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("d8641b7fffffffffffffff"),  # tag 100 (epoch days) overflowing
        bytes.fromhex("c4821b7fffffffffffffff02"),  # tag 4 (decimal fraction), huge exponent
        bytes.fromhex("a1666973737565641b7fffffffffffffff"),  # {"issued": 2^63-1}, no format
        b"\x9f" * 5000,  # nested indefinite arrays
        bytes.fromhex("a167737461747573657a"),  # not a snapshot at all
        bytes.fromhex("d81c80"),  # value sharing
    ],
)
def test_a_hostile_snapshot_payload_is_malformed(payload: bytes) -> None:
    with pytest.raises(MalformedSnapshot):
        _parse(payload)


def test_a_license_committed_after_the_cut_is_not_judged_by_the_snapshot(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot's cascades know only the licenses before its checkpoint. One that
    commits after the checkpoint is read (signed, say, while the export runs) must fall
    after the snapshot's as_of, so the window says 'not checked' instead of guessing."""
    r = make_region(tmp_path_factory.mktemp("cut"))
    node = r.node
    try:
        before = [issue(node, AGENT, MARKET, business_request(), now=NOW) for _ in range(20)]
        for lic in before[::2]:
            change_status(node, AGENT, lic.id, "revoke", reason="x", now=NOW + 1)
        old_checkpoint = node.log.checkpoint()
        late = issue(node, AGENT, MARKET, business_request(), now=NOW + 5)
        # The exporter reads the checkpoint it cuts at (with its witnesses' lines) once.
        monkeypatch.setattr(
            "eseal.trust_export.cosigned_checkpoint", lambda *a, **k: old_checkpoint
        )
        store = TrustStore([build_bundle(node, now=NOW + 1000)])
        snapshot = open_snapshot(export_snapshot(node, now=NOW + 1000, margin=0), store)
        assert snapshot.as_of == NOW + 4  # just before the late license's iat
        ctx = VerifyContext(store, NOW + 1100, status=SnapshotStatus([snapshot]))
        verdict = verify_text(late.qr_text, ctx)
        assert verdict.status is Status.VALID
        assert NO_STATUS in verdict.warnings
        assert verify_text(before[0].qr_text, ctx).status is Status.REVOKED
        assert verify_text(before[1].qr_text, ctx).status is Status.VALID
    finally:
        node.close()


def test_a_stamp_naming_another_seal_is_not_vouched_for_by_this_one(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Found by review: a stamp signed with seal X's key (revoked, its key leaked) naming
    the same agency's active seal Y must not pass as Y's. The signer must be the seal the
    stamp names, whatever the bundle's age."""
    r = make_region(tmp_path_factory.mktemp("seals"))
    node = r.node
    try:
        x = create_seal(
            node, AGENT, agency_code=MARKET, name="公章X", seal_type="official", image=None, now=NOW
        )
        y = create_seal(
            node,
            AGENT,
            agency_code=MARKET,
            name="合同章Y",
            seal_type="contract",
            image=None,
            now=NOW,
        )
        old_store = TrustStore([build_bundle(node, now=NOW + 5)])  # synced before the revocation
        revoke_seal(node, AGENT, x.id, reason="key leaked", now=NOW + 10)
        document = b"forged contract"

        def stamp_naming(seal_id: str) -> str:
            claims = StampClaims(
                issuer=MARKET,
                issued_at=NOW + 20,
                not_before=NOW + 20,
                stamp_id=f"{seal_id}.AAAAAAAAAA",
                body=StampBody(
                    seal_id=seal_id,
                    document_sha256=hashlib.sha256(document).digest(),
                    file_name="c.txt",
                    size=len(document),
                ),
            )
            x_key = node.signing_key(bytes.fromhex(get_seal(node, x.id).key_id))
            return sign_stamp(claims, x_key).text

        snapshot = open_snapshot(export_snapshot(node, now=NOW + 1000, margin=0), old_store)
        for status in (SnapshotStatus([snapshot]), LocalStatus(node)):
            ctx = VerifyContext(old_store, NOW + 1000, status=status)
            forged = verify_text(stamp_naming(y.id), ctx, document=document)
            assert forged.status is Status.UNKNOWN_ISSUER, forged.reasons
            assert not forged.valid
            own = verify_text(stamp_naming(x.id), ctx, document=document)
            assert own.status is Status.REVOKED
    finally:
        node.close()


def test_a_key_revoked_since_the_bundle_is_known_from_the_snapshot(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """An offline window holding last week's bundle and today's snapshot: an agency key
    revoked in between is listed in the snapshot, and its licenses are KEY_REVOKED."""
    from eseal.agencies import revoke_key, rotate_key
    from verifier.document import decode

    fresh = make_region(tmp_path_factory.mktemp("late-key"))
    try:
        node = fresh.node
        agent = Principal("agency", MARKET)
        issued = issue(node, agent, MARKET, business_request(), now=NOW)
        old_bundle = build_bundle(node, now=NOW + 5)
        kid = decode(issued.qr_text).kid.hex()
        rotate_key(node, MARKET, now=NOW + 10)
        revoke_key(node, MARKET, kid, reason="leaked", now=NOW + 20)
        store = TrustStore([old_bundle])
        snapshot = open_snapshot(export_snapshot(node, now=NOW + 600), store)
        assert snapshot.keys_revoked == {kid}
        ctx = VerifyContext(store, NOW + 700, status=SnapshotStatus([snapshot]))
        verdict = verify_text(issued.qr_text, ctx)
        assert verdict.status is Status.KEY_REVOKED, verdict.reasons
        assert verdict.checks[-1].step == "status"
        # Without the snapshot the old bundle alone cannot know: valid, status not checked.
        assert verify_text(issued.qr_text, VerifyContext(store, NOW + 700)).valid

        # A peer's snapshot held to a witness policy (met or not: adverse news counts): the
        # verdict says how its checkpoint was witnessed, as for a revoked license, in its
        # reason and as data (freshness.witnessed), the status from the snapshot.
        size = verify_checkpoint(snapshot.checkpoint, node.log_verifier).size
        for witnessing in (Witnessing(size, ("gd",), 1, 1), Witnessing(size, (), 2, 2)):
            held = SnapshotStatus([snapshot], {snapshot.region: witnessing})
            verdict = verify_text(issued.qr_text, VerifyContext(store, NOW + 700, status=held))
            assert verdict.status is Status.KEY_REVOKED, verdict.reasons
            assert verdict.reasons[0].endswith(f"; {witnessing.describe()}")
            fr = verdict.to_json()["freshness"]
            assert (fr["status_source"], fr["status_as_of"]) == ("offline", snapshot.as_of)
            assert fr["witnessed"] == witnessing.to_json()
        # Without a policy: no witnessing said, as before; but the status is the snapshot's
        # word as of its cut, as for a revoked license, not "not checked".
        verdict = verify_text(issued.qr_text, ctx)
        assert verdict.freshness.witnessing is None
        assert "cosigned" not in verdict.reasons[0]
        fr = verdict.to_json()["freshness"]
        assert (fr["status_source"], fr["status_as_of"]) == ("offline", snapshot.as_of)
    finally:
        fresh.node.close()


@pytest.mark.parametrize("keys", [["ABCDEF0123456789"], ["abc"], "0123456789abcdef", [7]])
def test_keys_revoked_is_parsed_strictly(region: Region, keys: object) -> None:
    import cbor2

    from verifier.envelope import read_envelope
    from verifier.revocation import SNAPSHOT_TYPE

    payload, _ = read_envelope(export_snapshot(region.node, now=NOW + 600), SNAPSHOT_TYPE)
    raw = cbor2.loads(payload)
    raw["keys_revoked"] = keys
    with pytest.raises(MalformedSnapshot, match="keys_revoked"):
        _parse(cbor2.dumps(raw, canonical=True))
    del raw["keys_revoked"]  # a snapshot made before the list existed still reads
    assert _parse(cbor2.dumps(raw, canonical=True)).keys_revoked == frozenset()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("statuses", {"07": 2**60}),  # bytes(2**60) would allocate before any size check
        ("statuses", {7: b"ESC1"}),
        ("statuses", [b"ESC1"]),
        ("region", 500000),
        # Found by review: the region is named in refusals (escape codes reached the
        # terminal); it is a region code, as a bundle's.
        ("region", "\x1b]0;pwned\x07\x1b[2J500000"),
        ("region", "500000\u202e"),
        ("region", "5" * 257),
        ("region", "beijing"),
        ("region", "５０００００"),
        ("as_of", "1700000000"),
        ("as_of", 1.5),
        # Found by review: as_of is a Unix time a claim may hold; 2^64 - 1, signed by a
        # region's log key, hung the window naming its day.
        ("as_of", -1),
        ("as_of", MAX_TIME + 1),
        ("as_of", 2**64 - 1),
        ("issued", -1),
        ("checkpoint", b"note"),
        ("issued", True),
        ("seals_revoked", [7]),
    ],
)
def test_snapshot_fields_are_typed_strictly(region: Region, field: str, value: object) -> None:
    """Nothing in a snapshot is converted: a field of the wrong type is refused (an integer
    where cascade bytes belong used to be allocated as that many bytes)."""
    import cbor2

    from verifier.envelope import read_envelope
    from verifier.revocation import SNAPSHOT_TYPE

    payload, _ = read_envelope(export_snapshot(region.node, now=NOW + 600), SNAPSHOT_TYPE)
    raw = cbor2.loads(payload)
    assert _parse(payload).region == raw["region"]
    raw[field] = value
    with pytest.raises(MalformedSnapshot):
        _parse(cbor2.dumps(raw, canonical=True))
    del raw[field]
    with pytest.raises(MalformedSnapshot, match=f"'{field}' is missing"):
        _parse(cbor2.dumps(raw, canonical=True))


def test_a_signed_snapshot_is_read_in_its_one_encoding(region: Region) -> None:
    """Signed by the region's log key, a snapshot whose map repeats a key (here ``issued``,
    which cbor2 reads as its last value) is refused: another verifier could read the same
    signed bytes otherwise. So is one in any other encoding than the deterministic one."""
    import cbor2

    from verifier.revocation import SNAPSHOT_TYPE, build_snapshot

    store = TrustStore([build_bundle(region.node, now=NOW)])
    note = region.node.log.checkpoint()
    snapshot = build_snapshot(region="500000", as_of=NOW, checkpoint=note, licenses=[])
    payload = snapshot.payload()
    log_key = region.node.require_log_key()
    assert open_snapshot(seal_envelope(SNAPSHOT_TYPE, payload, log_key), store) == snapshot
    count = payload[0] - 0xA0  # a map of fewer than 24 entries: its count in the first byte
    repeated = bytes([payload[0] + 1]) + payload[1:] + cbor2.dumps("issued") + cbor2.dumps(7)
    assert cbor2.loads(repeated)["issued"] == 7
    assert len(cbor2.loads(repeated)) == count
    with pytest.raises(MalformedSnapshot, match="repeats a key"):
        open_snapshot(seal_envelope(SNAPSHOT_TYPE, repeated, log_key), store)
    longer = b"\xb8" + bytes([count]) + payload[1:]  # the entry count in a longer form
    with pytest.raises(MalformedSnapshot, match="not deterministic CBOR"):
        open_snapshot(seal_envelope(SNAPSHOT_TYPE, longer, log_key), store)


def test_a_region_whose_log_key_is_unreadable_stops_no_other_regions_snapshot(
    region: Region,
) -> None:
    """Found by review: a snapshot's signature is tried against the log key of every
    trusted bundle, and a bundle's log key is first read there; one region's bundle whose
    log key did not parse (root-signed, a broken or hostile region) made every region's
    snapshot refused. It stops only its own region's."""
    import dataclasses

    own = build_bundle(region.node, now=NOW)
    broken = dataclasses.replace(
        own, region="110000", name="北京市", agencies=(), seals=(), log_verifier="beijing+x"
    )
    data = export_snapshot(region.node, now=NOW + 300)
    for bundles in ([broken, own], [own, broken]):
        assert open_snapshot(data, TrustStore(bundles)).region == "500000"
    with pytest.raises(CheckFailed, match=r"region 110000 is unreadable \(verifier key is not"):
        open_snapshot(data, TrustStore([broken]))


def test_a_signed_snapshot_of_too_many_items_is_not_decoded(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signed by the region's log key, a payload of many tiny CBOR items (empty arrays,
    here) is refused by its count of items before cbor2 builds them: a few megabytes of
    them decoded to gigabytes."""
    import verifier.revocation
    from verifier.revocation import SNAPSHOT_TYPE, build_snapshot, sign_snapshot

    store = TrustStore([build_bundle(region.node, now=NOW)])
    log_key = region.node.require_log_key()
    monkeypatch.setattr(verifier.revocation, "MAX_SNAPSHOT_ITEMS", 10_000)
    bomb = b"\x9f" + b"\x80" * 100_000 + b"\xff"
    data = seal_envelope(SNAPSHOT_TYPE, bomb, log_key)
    with (
        traced() as peak,
        pytest.raises(MalformedSnapshot, match="more than 10,000 CBOR items"),
    ):
        open_snapshot(data, store)
    assert peak.bytes < 8 * len(data)  # the file and its payload, not 100,000 lists
    note = region.node.log.checkpoint()  # a real one, of a few items, is read
    snapshot = build_snapshot(region="500000", as_of=NOW, checkpoint=note, licenses=[])
    assert open_snapshot(sign_snapshot(snapshot, log_key), store) == snapshot


def test_a_snapshot_reads_its_checkpoint_and_statuses_in_one_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revocation committed while the export runs, after it read the checkpoint it cuts
    at, is not in that snapshot: its statuses are those the checkpoint speaks for. Before,
    two connections read them, and the revocation landed under the older checkpoint: a
    window holding the snapshot made a moment before at the same cut would keep it (the
    same cut is no newer) and not learn of the revocation. (On PostgreSQL too:
    tests/eseal/test_postgres.py.)"""
    r = make_region(tmp_path_factory.mktemp("one-state"))
    try:
        snapshot_racing_a_revocation(r.node, monkeypatch)
    finally:
        r.node.close()


def snapshot_racing_a_revocation(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """Export a snapshot while a revocation commits after its checkpoint is read: the
    snapshot is of the state before, the next one of the state after."""
    lic = issue(node, AGENT, MARKET, business_request(), now=NOW)
    size = node.log.size()
    real = witness_ask.cosigned_checkpoint

    def revoked_meanwhile(*args: Any, **kwargs: Any) -> str:
        note = real(*args, **kwargs)
        revoking = threading.Thread(
            target=change_status,
            args=(node, AGENT, lic.id, "revoke"),
            kwargs={"reason": "x", "now": NOW + 1},
        )
        revoking.start()
        revoking.join()
        return note

    store = TrustStore([build_bundle(node, now=NOW + 2)])
    with monkeypatch.context() as patch:
        patch.setattr(trust_export, "cosigned_checkpoint", revoked_meanwhile)
        made = open_snapshot(export_snapshot(node, now=NOW + 2, margin=0), store)
    assert node.log.size() == size + 1  # the revocation did commit meanwhile
    assert made.cut[1] == size
    assert made.status_of(lic.id) == "01"
    after = open_snapshot(export_snapshot(node, now=NOW + 3, margin=0), store)
    assert (after.cut[1], after.status_of(lic.id)) == (size + 1, "07")
