"""Deactivating an agency (merged into another, dissolved): it acts no more, and what it
signed before stays valid at every window."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from eseal.agencies import (
    OPERATOR,
    AgencyKeyUnusable,
    Forbidden,
    NotAuthenticated,
    Principal,
    agency,
    agency_keys,
    authenticate,
    deactivate_agency,
    new_credential,
    revoke_key,
    rotate_key,
)
from eseal.licenses import change_status, get_license, issue, issue_many, renew
from eseal.seals import create_seal, stamp
from eseal.trust_export import build_bundle
from keys.errors import InvalidInput
from ledger.entries import decode_entry
from tests.eseal.conftest import MARKET, NOW, business_request, make_region, run_eseal
from verifier.claims import LicenseClaims
from verifier.document import decode, encode_license
from verifier.pipeline import VerifyContext, verify_text
from verifier.trust import TrustStore
from verifier.verdict import Status

AGENT = Principal("agency", MARKET)
REASON = "机构改革，职责划入重庆市市场监督管理局"


def test_a_deactivated_agency_acts_no_more_and_what_it_signed_stays_valid(
    tmp_path: Path,
) -> None:
    region = make_region(tmp_path / "node")
    node = region.node
    try:
        before = issue(node, AGENT, MARKET, business_request(), now=NOW)
        seal = create_seal(
            node,
            AGENT,
            agency_code=MARKET,
            name="合同专用章",
            seal_type="contract",
            image=None,
            now=NOW,
        )
        stamped = stamp(node, AGENT, seal.id, document=b"a notice", document_name="n.txt", now=NOW)
        token = new_credential(node, role="agency", agency_code=MARKET, now=NOW)
        key = next(k for k in agency_keys(node, MARKET) if k.status == "active")
        size = node.log.size()

        done = deactivate_agency(node, MARKET, reason=REASON, now=NOW + 10)

        assert done.keys_retired == [key.key_id]
        assert done.credentials_revoked >= 1
        assert agency(node, MARKET).status == "inactive"
        entry = decode_entry(node.log.entry(size))
        assert (entry.kind, entry.subject, entry.reason) == ("key.retire", key.key_id, REASON)
        assert node.log.size() == size + 1
        with pytest.raises(Forbidden, match="not active"):
            issue(node, AGENT, MARKET, business_request(), now=NOW + 20)
        with pytest.raises(Forbidden, match="not active"):
            stamp(node, AGENT, seal.id, document=b"later", document_name="l.txt", now=NOW + 20)
        with pytest.raises(Forbidden, match="not active"):
            issue(node, OPERATOR, MARKET, business_request(), now=NOW + 20)
        with pytest.raises(Forbidden, match="not active"):
            rotate_key(node, MARKET, now=NOW + 20)
        with pytest.raises(NotAuthenticated):
            authenticate(node, token)
        with pytest.raises(Forbidden, match="no credential"):
            new_credential(node, role="agency", agency_code=MARKET, now=NOW + 20)
        with pytest.raises(InvalidInput, match="not active"):
            deactivate_agency(node, MARKET, reason=REASON, now=NOW + 30)
        assert node.log.size() == size + 1

        # At a window: what it signed before stays valid; a document its retired key signed
        # afterwards (the key stolen, say) is not.
        ctx = VerifyContext(TrustStore([build_bundle(node, now=NOW + 60)]), NOW + 60)
        assert verify_text(before.qr_text, ctx).status is Status.VALID
        assert verify_text(stamped.qr_text, ctx).valid
        claims = decode(before.qr_text).claims
        assert isinstance(claims, LicenseClaims)
        late = dataclasses.replace(claims, issued_at=NOW + 20, not_before=NOW + 20)
        forged = encode_license(late, node.signing_key(bytes.fromhex(key.key_id)))
        assert verify_text(forged, ctx).status is Status.ISSUER_NOT_AUTHORISED
    finally:
        node.close()


def test_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "node"
    make_region(data).node.close()
    monkeypatch.setenv("ESEAL_PASSPHRASE", "test passphrase")
    args = ["--data", str(data), "agency", "deactivate", MARKET]
    code, said, err = run_eseal([*args, "--reason", " "], capsys, monkeypatch)
    assert (code, said) == (2, "")
    assert "give a reason" in err
    code, said, err = run_eseal([*args, "--reason", REASON], capsys, monkeypatch)
    assert code == 0, err
    assert f"agency {MARKET} deactivated: 1 key(s) retired" in said
    code, said, err = run_eseal([*args, "--reason", REASON], capsys, monkeypatch)
    assert code == 2
    assert "not active" in err


@pytest.mark.parametrize("meanwhile", ["deactivate", "revoke-key"])
@pytest.mark.parametrize("act", ["issue", "batch", "renew", "suspend"])
def test_an_agency_deactivated_while_its_act_is_recorded_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, act: str, meanwhile: str
) -> None:
    """An act read the agency active and its key usable, and signed; the agency is
    deactivated (or the key revoked) before the act is appended. The act is refused in its
    transaction, nothing of it recorded: a batch whose holders took seconds to hash, or a
    renewal, would otherwise be recorded after the deactivation, dated before it and so
    valid everywhere, from an agency that issues no more."""
    region = make_region(tmp_path)
    node = region.node
    agent = Principal("agency", MARKET)
    license_id = issue(node, agent, MARKET, business_request(), now=NOW).id
    original = node.append

    def racing(drafts: Any, *, also: Any = None) -> Any:
        monkeypatch.setattr(node, "append", original)
        if meanwhile == "deactivate":
            deactivate_agency(node, MARKET, reason="并入新机构", now=NOW + 1)
        else:
            revoke_key(node, MARKET, region.market.key_id, reason="密钥泄露", now=NOW + 1)
        return original(drafts, also=also)

    acts: dict[str, Callable[[], object]] = {
        "issue": lambda: issue(node, agent, MARKET, business_request(), now=NOW + 1),
        "batch": lambda: issue_many(node, agent, MARKET, [business_request()] * 2, now=NOW + 1),
        "renew": lambda: renew(node, agent, license_id, now=NOW + 1),
        "suspend": lambda: change_status(
            node, agent, license_id, "suspend", reason="检查", now=NOW + 1
        ),
    }
    monkeypatch.setattr(node, "append", racing)
    with pytest.raises(Forbidden if meanwhile == "deactivate" else AgencyKeyUnusable):
        acts[act]()
    size = node.log.size()
    with node.sql.read_engine.connect() as conn:
        entries = [decode_entry(node.log.entry(i)).kind for i in range(size)]
        licenses = conn.execute(text("select count(*) from license")).scalar()
    assert entries[-1] in ("key.retire", "key.revoke")  # the race's, and nothing after it
    assert licenses == 1
    assert get_license(node, license_id).status == "01"
    node.close()


@pytest.mark.parametrize("act", ["seal", "stamp"])
def test_a_seal_made_or_used_while_its_agency_is_deactivated_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, act: str
) -> None:
    """As for licenses: a seal made, or a document stamped, by an agency deactivated
    before the act was appended is refused in its transaction (a stamp dated before the
    deactivation, by a seal left active, would be valid everywhere)."""
    region = make_region(tmp_path)
    node = region.node
    agent = Principal("agency", MARKET)
    seal_id = create_seal(
        node,
        agent,
        agency_code=MARKET,
        name="合同专用章",
        seal_type="contract",
        image=None,
        now=NOW,
    ).id
    original = node.append

    def racing(drafts: Any, *, also: Any = None) -> Any:
        monkeypatch.setattr(node, "append", original)
        deactivate_agency(node, MARKET, reason="并入新机构", now=NOW + 1)
        return original(drafts, also=also)

    acts: dict[str, Callable[[], object]] = {
        "seal": lambda: create_seal(
            node,
            agent,
            agency_code=MARKET,
            name="财务专用章",
            seal_type="finance",
            image=None,
            now=NOW + 1,
        ),
        "stamp": lambda: stamp(
            node, agent, seal_id, document=b"x", document_name="a.txt", now=NOW + 1
        ),
    }
    monkeypatch.setattr(node, "append", racing)
    with pytest.raises(Forbidden):
        acts[act]()
    kinds = [decode_entry(node.log.entry(i)).kind for i in range(node.log.size())]
    assert kinds[-1] == "key.retire"
    assert kinds.count("seal.create") == 1
    assert "seal.stamp" not in kinds
    with node.sql.read_engine.connect() as conn:
        assert conn.execute(text("select count(*) from seal")).scalar() == 1
        assert conn.execute(text("select count(*) from stamp")).scalar() == 0
    node.close()
