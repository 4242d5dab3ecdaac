"""A window of one region (北京, 110000) verifying another's licenses (重庆, 500000) beside its
own (跨省通办): each region's status from its own source, its node online or its snapshot
offline, in one ``eseal verify``."""

from __future__ import annotations

import hashlib
import json
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from nacl.signing import SigningKey

from eseal.agencies import Principal, add_agency
from eseal.licenses import IssueRequest, change_status, issue
from eseal.node import Node, init_node
from eseal.trust_export import export_bundle, export_snapshot
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import BUSINESS, MARKET, NOW, PASSPHRASE, business_request, make_region
from tests.eseal.conftest import run_eseal as run
from verifier.base45 import b45encode
from verifier.claims import StampBody, StampClaims
from verifier.cose import cose_sign1_bytes
from verifier.document import decode, encode_stamp

BEIJING_MARKET = "11110000MB01234562"


@dataclass
class Side:
    node: Node
    url: str
    license_id: str
    qr_text: str
    bundle: Path
    snapshot: Path
    #: A second license, issued before the files were cut, for a test to revoke (the first
    #: stays valid for every other test of the module, whatever their order).
    spare_id: str
    spare_qr_text: str

    @property
    def pin(self) -> str:
        return f"{self.node.config.region}={self.node.root_key_id.hex()}"


@dataclass
class Regions:
    cq: Side
    bj: Side


def _side(
    node: Node, agency: str, request: IssueRequest, files: Path
) -> tuple[Side, tuple[Any, Any]]:
    issued = issue(node, Principal("agency", agency), agency, request, now=NOW)
    spare = issue(node, Principal("agency", agency), agency, request, now=NOW)
    server, thread, url = serve_app(node)
    region = node.config.region
    bundle, snapshot = files / f"{region}.json", files / f"{region}-rev.json"
    bundle.write_bytes(export_bundle(node, now=int(time.time())))
    snapshot.write_bytes(export_snapshot(node, now=int(time.time())))
    side = Side(node, url, issued.id, issued.qr_text, bundle, snapshot, spare.id, spare.qr_text)
    return side, (server, thread)


@pytest.fixture(scope="module")
def regions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Regions]:
    files = tmp_path_factory.mktemp("window")
    cq_region = make_region(tmp_path_factory.mktemp("cq"))
    bj_node = init_node(
        tmp_path_factory.mktemp("bj"),
        region="110000",
        name="北京市",
        passphrase=PASSPHRASE,
        now=NOW,
    )
    add_agency(bj_node, code=BEIJING_MARKET, name="北京市市场监督管理局", types=[BUSINESS], now=NOW)
    beijing = IssueRequest(
        BUSINESS,
        "北京小面餐饮有限公司",
        "91110000MA0012345C",
        {
            **business_request().fields,
            "address": "北京市东城区",
        },
    )
    cq, cq_server = _side(cq_region.node, MARKET, business_request(), files)
    bj, bj_server = _side(bj_node, BEIJING_MARKET, beijing, files)
    try:
        yield Regions(cq, bj)
    finally:
        for server, thread in (cq_server, bj_server):
            server.should_exit = True
            thread.join(timeout=20)
        cq_region.node.close()
        bj_node.close()


def _verify(
    text: str,
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, dict[str, object], str]:
    code, said, err = run(["--json", "verify", text, *args], capsys, monkeypatch)
    return code, json.loads(said) if said else {}, err


def _files(*sides: Side) -> list[str]:
    return [a for s in sides for a in ("--bundle", str(s.bundle), "--pin", s.pin)]


def test_own_region_online_and_another_offline_in_one_command(
    regions: Regions, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beijing's window asks its own node and holds Chongqing's snapshot: it was told to give
    --online or --revocations, not both, so it had to tell the licenses apart first."""
    cq, bj = regions.cq, regions.bj
    args = [*_files(bj, cq), "--online", bj.url, "--revocations", str(cq.snapshot)]
    code, theirs, err = _verify(cq.qr_text, args, capsys, monkeypatch)
    assert code == 0, err
    assert theirs["colour"] == "green", theirs
    assert theirs["freshness"]["status_source"] == "offline"  # type: ignore[index]
    code, ours, err = _verify(bj.qr_text, args, capsys, monkeypatch)
    assert code == 0, err
    assert ours["colour"] == "green", ours
    assert ours["freshness"]["status_source"] == "online"  # type: ignore[index]
    assert ours["freshness"]["ledger_included"] is True  # type: ignore[index]


def test_a_snapshot_of_a_region_whose_node_is_asked_is_refused(
    regions: Regions, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cq, bj = regions.cq, regions.bj
    args = [*_files(bj, cq), "--online", cq.url, "--revocations", str(cq.snapshot)]
    code, said, err = _verify(cq.qr_text, args, capsys, monkeypatch)
    assert code == 2, said
    assert f"--revocations {cq.snapshot} is of region 500000" in err
    assert "not both" in err


def test_two_nodes_of_one_region_are_refused(
    regions: Regions, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cq = regions.cq
    args = ["--pin", cq.pin, "--online", cq.url, "--online", cq.url + "/"]
    code, said, err = _verify(cq.qr_text, args, capsys, monkeypatch)
    assert code == 2, said
    assert "are both nodes of region 500000" in err


def test_each_regions_node_answers_for_its_own_and_a_revocation_is_known_at_once(
    regions: Regions,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both nodes named: each license's status from its own region's node, with ledger
    proofs; Chongqing revoking its license is known online from the next request, offline
    only from a snapshot cut after it."""
    cq, bj = regions.cq, regions.bj
    online = ["--pin", bj.pin, "--pin", cq.pin, "--online", bj.url, "--online", cq.url]
    code, ours, err = _verify(bj.qr_text, online, capsys, monkeypatch)
    assert code == 0, err
    assert ours["freshness"]["status_source"] == "online"  # type: ignore[index]

    change_status(
        cq.node, Principal("agency", MARKET), cq.spare_id, "revoke", reason="吊销", now=NOW + 10
    )
    code, theirs, err = _verify(cq.spare_qr_text, online, capsys, monkeypatch)
    assert code == 1, err
    assert theirs["status"] == "REVOKED", theirs
    assert theirs["freshness"]["status_source"] == "online"  # type: ignore[index]
    assert theirs["freshness"]["status_reason"] == "吊销"  # type: ignore[index]
    code, ours, err = _verify(bj.qr_text, online, capsys, monkeypatch)
    assert code == 0, err

    offline = [*_files(bj, cq), "--revocations", str(bj.snapshot)]
    code, old, err = _verify(
        cq.spare_qr_text, [*offline, "--revocations", str(cq.snapshot)], capsys, monkeypatch
    )
    assert code == 0, err  # the snapshot held was cut before the revocation
    assert old["freshness"]["status_source"] == "offline"  # type: ignore[index]
    fresh = tmp_path / "cq-rev.json"
    fresh.write_bytes(export_snapshot(cq.node, now=int(time.time()), margin=0))
    code, new, err = _verify(
        cq.spare_qr_text, [*offline, "--revocations", str(fresh)], capsys, monkeypatch
    )
    assert code == 1, err
    assert new["status"] == "REVOKED", new
    assert new["freshness"]["status_source"] == "offline"  # type: ignore[index]


def test_another_regions_license_without_its_bundle_says_how_to_get_it(
    regions: Regions, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beijing's window given only its own bundle: Chongqing's license is UNKNOWN_ISSUER, and
    the summary says it was issued in another region and what to add, where it said only
    "no trusted agency key … (regions trusted: 110000)", leaving the clerk to think of
    fetching that region's bundle. A license of a region trusted gets no such line."""
    cq, bj = regions.cq, regions.bj
    args = ["verify", cq.qr_text, "--bundle", str(bj.bundle), "--pin", bj.pin]
    code, said, err = run(args, capsys, monkeypatch)
    assert code == 1, err
    lines = said.splitlines()
    assert lines[0] == "✘ 未知签发机关 Unknown issuer"
    assert lines[-1] == (
        "  hint: 其他地区签发 a license of region 500000, whose trust bundle was not given: "
        "add its --bundle FILE (eseal bundle fetch its node's URL --pin ITS_ROOT_KEY_ID --out "
        "FILE) and its --revocations FILE, or --online its node's URL"
    )
    assert not any(line.startswith("  说明 Why:") for line in lines)  # not "possibly forged"
    for text in (bj.qr_text, cq.qr_text):  # of a region whose bundle is given: no hint
        code, said, err = run(["verify", text, *_files(bj, cq)], capsys, monkeypatch)
        assert code == 0, err
        assert "hint:" not in said
        assert "说明 Why:" not in said


def _unknown_seal_stamp(agency: str) -> str:
    """A stamp by a seal of ``agency`` whose key no region lists (a forgery, or a seal of
    a region whose bundle the window lacks: the window cannot tell which)."""
    seal = f"{agency}.0123456789AB"
    body = StampBody(seal, hashlib.sha256(b"notice").digest(), "notice.txt", 6)
    claims = StampClaims(agency, NOW, NOW, f"{seal}.0000000001", body)
    return encode_stamp(claims, SigningKey.generate())


def test_a_stamp_of_another_regions_seal_is_not_said_to_be_forged(
    regions: Regions, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stamp names no region, but its seal's agency does, by its credit code: a stamp of
    a Chongqing seal unknown to Beijing's bundle, the only one given, is of a region whose
    bundle was not given, and the summary says what to add, where it said "possibly
    forged". Given Chongqing's bundle too, the seal is unknown to its own region's list: then
    it may be forged. A central government agency's seal may be on any region's list."""
    bj, cq = regions.bj, regions.cq
    stamp = _unknown_seal_stamp(MARKET)
    code, said, err = run(["verify", stamp, *_files(bj)], capsys, monkeypatch)
    assert code == 1, err
    lines = said.splitlines()
    assert lines[0] == "✘ 未知签发机关 Unknown issuer"
    assert not any(line.startswith("  说明 Why:") for line in lines), said
    assert lines[-1] == (
        "  hint: 盖章标明的用章单位属其他地区 the stamp names a seal of an agency of region "
        "500000, whose trust bundle was not given: add the --bundle FILE of the region whose "
        "node registered it (eseal bundle "
        "fetch its node's URL --pin ITS_ROOT_KEY_ID --out FILE) and its --revocations FILE, or "
        "--online its node's URL"
    )
    assert "a seal of an agency of region 500000 (regions trusted: 110000)" in said
    code, said, err = run(["verify", stamp, *_files(bj, cq)], capsys, monkeypatch)
    assert code == 1, err
    assert said.splitlines()[1] == (
        "  说明 Why: 该印章不在所给的信任名单中：可能是伪造的 the seal is on none of the trusted "
        "lists given: possibly forged"
    )
    assert "hint:" not in said
    code, said, err = run(
        ["verify", _unknown_seal_stamp("111000000000PH001J"), *_files(bj, cq)], capsys, monkeypatch
    )
    assert code == 1, err
    assert "说明 Why:" not in said
    assert said.splitlines()[-1].startswith(
        "  hint: 盖章标明的用章单位为中央国家机关，其印章可能登记在未提供信任名单的地区 the "
        "stamp names a seal of a central government agency, which the bundle of any region may "
        "list, and none given does: "
    )


def test_the_summary_says_why_in_the_clerks_words(
    regions: Regions, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A red verdict's summary says, Chinese first, what it means for the license (the
    pipeline's own reason, in English, follows), as the window page does."""
    bj = regions.bj
    files = ["--bundle", str(bj.bundle), "--pin", bj.pin]
    # The same protected header and claims under a signature of zeros: decodable, and only
    # the signature fails.
    doc = decode(bj.qr_text)
    cose = cose_sign1_bytes(doc.protected, doc.payload, bytes(64))
    forged = "EL1:" + b45encode(zlib.compress(cose, 9))
    code, said, err = run(["verify", forged, *files], capsys, monkeypatch)
    assert code == 1, err
    lines = said.splitlines()
    assert lines[:2] == [
        "✘ 签名无效 Bad signature",
        "  说明 Why: 数字签名与内容不符：内容可能被篡改或伪造 the signature does not match the "
        "content: altered or forged",
    ]
    code, said, err = run(["verify", "EL1:" + "A" * 40, *files], capsys, monkeypatch)
    assert code == 1, err
    assert said.splitlines()[1].startswith("  说明 Why: 证照码无法解析")
