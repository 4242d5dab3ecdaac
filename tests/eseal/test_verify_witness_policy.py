"""``eseal verify --online … --witness-policy FILE``: each node's checkpoints held to the
quorum of the policy file that lists its log. Two regions' nodes served over HTTP, Chongqing
(500000) and Beijing (110000); three witnesses, Guangdong, Jiangsu and Zhejiang (in process,
through their ASGI apps): Chongqing's log asks Guangdong and Jiangsu, Beijing's Jiangsu and
Zhejiang."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from nacl.signing import SigningKey

from eseal.agencies import Principal, add_agency
from eseal.api.app import create_app
from eseal.licenses import IssueRequest, issue
from eseal.node import Node, init_node
from eseal.witness import add_log, require_witness_key
from eseal.witness_ask import add_witness, ask
from ledger.cosignature import cosigner_key
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import BUSINESS, MARKET, NOW, PASSPHRASE, business_request, make_region
from tests.eseal.conftest import run_eseal as run
from verifier.online import OnlineStatus, fetch_bundle
from verifier.pipeline import VerifyContext, verify_text
from verifier.trust import TrustStore, open_bundle
from verifier.verdict import Status
from verifier.witness_policy import WitnessPolicies, parse_policy

BEIJING_MARKET = "11110000MB01234562"
GD, JS, ZJ = "http://gd.test", "http://js.test", "http://zj.test"


@dataclass
class Log:
    node: Node
    url: str
    qr_text: str

    @property
    def pin(self) -> str:
        return f"{self.node.config.region}={self.node.root_key_id.hex()}"

    @property
    def key(self) -> str:
        return self.node.config.log_verifier


@dataclass
class World:
    cq: Log
    bj: Log
    keys: dict[str, str]  # the witnesses' cosignature/v1 verifier keys, by URL
    size: dict[str, int]  # each log's size when its witnesses cosigned

    @property
    def online(self) -> list[str]:
        return [
            *("--online", self.cq.url, "--online", self.bj.url),
            *("--pin", self.cq.pin, "--pin", self.bj.pin),
        ]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cq_node = make_region(tmp_path_factory.mktemp("cq")).node
    bj_node = init_node(
        tmp_path_factory.mktemp("bj"),
        region="110000",
        name="北京市",
        passphrase=PASSPHRASE,
        now=NOW,
    )
    add_agency(bj_node, code=BEIJING_MARKET, name="北京市市场监督管理局", types=[BUSINESS], now=NOW)
    cq_issued = issue(cq_node, Principal("agency", MARKET), MARKET, business_request(), now=NOW)
    beijing = IssueRequest(
        BUSINESS,
        "北京小面餐饮有限公司",
        "91110000MA0012345C",
        {**business_request().fields, "address": "北京市东城区"},
    )
    bj_issued = issue(
        bj_node, Principal("agency", BEIJING_MARKET), BEIJING_MARKET, beijing, now=NOW
    )
    witnesses = {
        url: init_node(
            tmp_path_factory.mktemp(code), region=code, name=name, passphrase=PASSPHRASE, now=NOW
        )
        for url, code, name in [
            (GD, "440000", "广东省"),
            (JS, "320000", "江苏省"),
            (ZJ, "330000", "浙江省"),
        ]
    }
    keys = {url: require_witness_key(node).verifier_key for url, node in witnesses.items()}
    for log, asked in ((cq_node, (GD, JS)), (bj_node, (JS, ZJ))):
        for url in asked:
            add_log(witnesses[url], log.config.origin, log.config.log_verifier, now=NOW)
            add_witness(log, url, keys[url], now=NOW)
        done = ask(
            log,
            now=NOW + 1,
            client_for=lambda u: TestClient(create_app(witnesses[u]), base_url=u),
        )
        assert [d.outcome for d in done] == ["cosigned", "cosigned"]
    served = [serve_app(node) for node in (cq_node, bj_node)]
    try:
        yield World(
            Log(cq_node, served[0][2], cq_issued.qr_text),
            Log(bj_node, served[1][2], bj_issued.qr_text),
            keys,
            {"cq": cq_node.log.size(), "bj": bj_node.log.size()},
        )
    finally:
        for server, thread, _url in served:
            server.should_exit = True
            thread.join(timeout=20)
        for node in (cq_node, bj_node, *witnesses.values()):
            node.close()


def _policy(path: Path, *lines: str) -> str:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def _cq_policy(world: World, tmp_path: Path) -> str:
    """Chongqing's log: both its witnesses."""
    return _policy(
        tmp_path / "cq.policy",
        "# 重庆市的账本",
        f"log {world.cq.key}",
        f"witness gd {world.keys[GD]}",
        f"witness js {world.keys[JS]}",
        "group cq all gd js",
        "quorum cq",
    )


def _verify(
    text: str, args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, dict[str, Any], str]:
    code, said, err = run(["--json", "verify", text, *args], capsys, monkeypatch)
    return code, json.loads(said) if said else {}, err


def _status_detail(verdict: dict[str, Any]) -> str:
    (check,) = [c for c in verdict["checks"] if c["step"] == "status"]
    detail: str = check["detail"]
    return detail


def test_each_log_is_held_to_the_quorum_of_its_own_file(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beijing's log needs Jiangsu and one of Guangdong and Zhejiang; Chongqing's both its
    witnesses: each license's status is believed under its own log's quorum, and the detail
    names who cosigned and what was required."""
    bj = _policy(
        tmp_path / "bj.policy",
        f"log {world.bj.key}",
        f"witness js {world.keys[JS]}",
        f"witness gd {world.keys[GD]}",
        f"witness zj {world.keys[ZJ]}",
        "group south any gd zj",
        "group bj all js south",
        "quorum bj",
    )
    args = [*world.online, "--witness-policy", _cq_policy(world, tmp_path), "--witness-policy", bj]
    code, verdict, err = _verify(world.cq.qr_text, args, capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert _status_detail(verdict).endswith(
        f"; checkpoint of size {world.size['cq']} cosigned by 2 of 2 witness keys (gd, js), "
        "required: quorum cq = all of (gd, js)"
    )
    code, verdict, err = _verify(world.bj.qr_text, args, capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert _status_detail(verdict).endswith(
        f"; checkpoint of size {world.size['bj']} cosigned by 2 of 3 witness keys (js, zj), "
        "required: quorum bj = all of (js, south = any of (gd, zj))"
    )
    code, said, err = run(["verify", world.bj.qr_text, *args], capsys, monkeypatch)
    assert code == 0, err
    assert "  见证 Witnessed: 2/3 个见证密钥联署（按见证策略 by the policy）: checkpoint of" in said


def test_one_logs_quorum_unmet_leaves_only_its_status_unchecked(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beijing's log held to Guangdong, which does not witness it: its license is VALID with
    NO_STATUS (the quorum not met, the hint pointing at the policy file), while Chongqing's,
    under its own file, is believed."""
    bj = _policy(
        tmp_path / "bj.policy",
        f"log {world.bj.key}",
        f"witness gd {world.keys[GD]}",
        f"witness js {world.keys[JS]}",
        "group bj all gd js",
        "quorum bj",
    )
    args = [*world.online, "--witness-policy", bj, "--witness-policy", _cq_policy(world, tmp_path)]
    code, verdict, err = _verify(world.bj.qr_text, args, capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", ["NO_STATUS"])
    assert _status_detail(verdict) == (
        "the node's checkpoint is not witnessed as required: checkpoint of size "
        f"{world.size['bj']} cosigned by 1 of 2 witness keys (js), required: quorum bj = all "
        "of (gd, js)"
    )
    code, said, err = run(["verify", world.bj.qr_text, *args], capsys, monkeypatch)
    assert code == 0, err
    assert "（按见证策略 by the policy），未达要求 not enough" in said
    assert "or ask with a looser quorum in the --witness-policy file" in said
    code, verdict, err = _verify(world.cq.qr_text, args, capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])


def test_a_rotated_witness_key_counts_under_any_of_its_keys(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Zhejiang's witness, listed with an old key (which no longer cosigns) and its current
    one, under one key name: a group of any of them counts it once, whichever cosigned. With
    its old key alone, it has not cosigned."""
    zj_name = world.keys[ZJ].split("+", 1)[0]
    old = cosigner_key(zj_name, bytes(SigningKey.generate().verify_key))
    lines = [
        f"log {world.bj.key}",
        f"witness js {world.keys[JS]}",
        f"witness zj-2024 {old}",
        f"witness zj-2025 {world.keys[ZJ]}",
        "group zj any zj-2024 zj-2025",
        "group bj all js zj",
        "quorum bj",
    ]
    rotated = _policy(tmp_path / "rotated.policy", *lines)
    args = [*world.online, "--witness-policy", rotated]
    code, verdict, err = _verify(
        world.bj.qr_text,
        [*args, "--witness-policy", _cq_policy(world, tmp_path)],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert _status_detail(verdict).endswith(
        "cosigned by 2 of 3 witness keys (js, zj-2025), required: quorum bj = all of "
        "(js, zj = any of (zj-2024, zj-2025))"
    )
    only_old = _policy(
        tmp_path / "old.policy",
        f"log {world.bj.key}",
        f"witness js {world.keys[JS]}",
        f"witness zj {old}",
        "group bj all js zj",
        "quorum bj",
    )
    code, verdict, err = _verify(
        world.bj.qr_text,
        [
            *world.online,
            "--witness-policy",
            only_old,
            "--witness-policy",
            _cq_policy(world, tmp_path),
        ],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", ["NO_STATUS"])


def test_quorum_none_asks_a_log_without_witnesses(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    none = _policy(tmp_path / "none.policy", f"log {world.bj.key}", "quorum none")
    args = [
        *world.online,
        "--witness-policy",
        none,
        "--witness-policy",
        _cq_policy(world, tmp_path),
    ]
    code, verdict, err = _verify(world.bj.qr_text, args, capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert _status_detail(verdict).endswith("none required (quorum none)")


def test_a_node_whose_log_no_file_names_is_refused_before_it_is_asked(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Beijing's node asked, no file naming its log: no quorum was said for it, and asking
    it without one would hold it to nothing. Refused (exit 2) before any status is asked,
    even for Chongqing's license, whose log is covered."""

    def asked(*_args: object) -> None:
        raise AssertionError("a status was asked")

    monkeypatch.setattr("verifier.online.OnlineStatus.license_status", asked)
    args = [*world.online, "--witness-policy", _cq_policy(world, tmp_path)]
    code, said, err = _verify(world.cq.qr_text, args, capsys, monkeypatch)
    assert code == 2, said
    assert f"the node at {world.bj.url} (region 110000) keeps the log {world.bj.key}" in err
    assert "which no --witness-policy file names" in err
    assert "'quorum none' in a file of its own" in err


def test_bad_policies_and_combinations_are_refused(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cq = _cq_policy(world, tmp_path)
    twice = _policy(tmp_path / "twice.policy", f"log {world.cq.key}", "quorum none")
    broken = _policy(
        tmp_path / "broken.policy",
        f"log {world.bj.key}",
        f"witness js {world.keys[JS]}",
        "group bj 2 js",
        "quorum bj",
    )
    online = world.online
    for args, says in [
        (
            [*online, "--witness-policy", cq, "--witness", world.keys[GD]],
            "--witness-policy and --witness/--quorum both say which witnesses",
        ),
        ([*online, "--witness-policy", cq, "--quorum", "1"], "give one of them"),
        (
            ["--pin", world.cq.pin, "--witness-policy", cq],
            "--witness-policy applies to the checkpoints of nodes asked online",
        ),
        (
            [*online, "--witness-policy", cq, "--witness-policy", broken],
            f"--witness-policy {broken}: line 3: group 'bj' threshold '2' is not all, any or "
            "a number from 1 to its 1 members",
        ),
        (
            [*online, "--witness-policy", cq, "--witness-policy", twice],
            f"--witness-policy {cq} and --witness-policy {twice} both name the log key",
        ),
        (
            [*online, "--witness-policy", str(tmp_path / "missing.policy")],
            f"witness policy {tmp_path / 'missing.policy'} does not exist",
        ),
    ]:
        code, said, err = _verify(world.cq.qr_text, args, capsys, monkeypatch)
        assert code == 2, (args, said)
        assert says in err, err


def test_online_status_does_not_ask_about_a_log_no_policy_covers(
    world: World, tmp_path: Path
) -> None:
    """The library asks the node nothing about a document whose log the policies name no
    quorum for: no status (NO_STATUS, amber), as for another region's document; the
    command line refuses such a node outright (above)."""
    cq = parse_policy(Path(_cq_policy(world, tmp_path)).read_bytes())
    requests: list[httpx.Request] = []

    def node(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500)

    online = OnlineStatus(
        "http://bj.test",
        region="110000",
        client=httpx.Client(transport=httpx.MockTransport(node)),
        witnesses=WitnessPolicies((cq,)),
    )
    store = TrustStore([open_bundle(fetch_bundle(world.bj.url))])
    verdict = verify_text(world.bj.qr_text, VerifyContext(store, NOW + 3, status=online))
    assert (verdict.status, verdict.warnings) == (Status.VALID, ["NO_STATUS"])
    (check,) = [c for c in verdict.checks if c.step == "status"]
    assert check.detail == f"not asked: no witness policy names the log key {world.bj.key}"
    # A seal of that region's: not asked either (a stamp's status comes the same way).
    (bundle,) = store.bundles
    answer = online.seal_status(bundle, "S-1")
    assert answer is not None
    assert (answer.code, answer.detail) == (None, check.detail)
    assert requests == []
