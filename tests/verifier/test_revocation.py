"""Offline status from a signed revocation snapshot: exact for what was issued before the
cut, honest about what came after, stale after its maximum age, refused when forged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eseal.agencies import Principal
from eseal.licenses import change_status, issue
from eseal.trust_export import build_bundle, export_snapshot
from keys.errors import CheckFailed, InvalidInput
from tests.eseal.conftest import MARKET, NOW, Region, business_request, make_region
from verifier.pipeline import VerifyContext, verify_text
from verifier.revocation import MalformedSnapshot, SnapshotStatus, _parse, open_snapshot
from verifier.trust import TrustStore
from verifier.verdict import NO_STATUS, STALE_STATUS, Status

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


@pytest.mark.parametrize(
    "payload",
    [
        bytes.fromhex("d8641b7fffffffffffffff"),  # tag 100 (epoch days) overflowing
        bytes.fromhex("c4821b7fffffffffffffff02"),  # tag 4 (decimal fraction), huge exponent
        bytes.fromhex("a1666973737565641b7fffffffffffffff"),  # {"issued": 2^63-1}, no format
        b"\x9f" * 5000,  # nested indefinite arrays
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
        monkeypatch.setattr(node.log, "checkpoint", lambda *a, **k: old_checkpoint)
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
