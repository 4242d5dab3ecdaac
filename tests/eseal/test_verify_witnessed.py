"""Witnessing on the verifier's side: a node's status answers carry the cosignature lines its
witnesses gave for the checkpoint they are proved under, and ``eseal verify --online URL
--witness VKEY … [--quorum K]`` believes a status 01 only under a checkpoint a quorum of
those witnesses cosigned. Chongqing's node (the log, served over HTTP); Beijing and Shanghai
its witnesses (in process, through their ASGI apps)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from eseal.agencies import Principal
from eseal.api.app import create_app
from eseal.licenses import change_status, issue
from eseal.node import Node, init_node
from eseal.seals import create_seal, stamp
from eseal.witness import add_log, require_witness_key
from eseal.witness_ask import Asked, add_witness, ask
from ledger.cosignature import parse_cosigner_key, verify_witnessed
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import MARKET, NOW, PASSPHRASE, business_request, make_region, run_eseal
from tests.vectors.independent import open_checkpoint
from verifier.online import NodeAnswerUnproven, OnlineStatus, fetch_bundle
from verifier.pipeline import VerifyContext, verify_text
from verifier.trust import TrustStore, open_bundle
from verifier.witnessing import WitnessPolicy

AGENT = Principal("agency", MARKET)
BEIJING, SHANGHAI = "http://beijing.test", "http://shanghai.test"
BJ_NAME, SH_NAME = "eseal/110000/witness", "eseal/310000/witness"


@dataclass
class World:
    log: Node
    url: str
    pin: str
    license_id: str
    qr_text: str
    seal_id: str
    stamp_text: str
    witnesses: dict[str, Node]  # by the URL the log asks them at
    keys: dict[str, str]  # their verifier keys, by the same URL

    def ask(self, *only: str) -> list[Asked]:
        """Ask the witnesses (those at the URLs ``only``, when given: the others are down)."""

        def client(url: str) -> httpx.Client:
            if only and url not in only:
                return httpx.Client(transport=httpx.MockTransport(_down))
            return TestClient(create_app(self.witnesses[url]), base_url=url)

        done = ask(self.log, now=NOW + 1, client_for=client)
        assert [d.outcome for d in done if not only or d.url in only] == ["cosigned"] * (
            len(only) or len(done)
        )
        return done

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path)


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("down", request=request)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    region = make_region(tmp_path / "cq")
    log = region.node
    issued = issue(log, AGENT, MARKET, business_request(), now=NOW)
    seal = create_seal(
        log, AGENT, agency_code=MARKET, name="公章", seal_type="official", image=None, now=NOW
    )
    stamped = stamp(log, AGENT, seal.id, document=b"%PDF", document_name="a.pdf", now=NOW)
    witnesses: dict[str, Node] = {}
    for url, code, name in [(BEIJING, "110000", "北京市"), (SHANGHAI, "310000", "上海市")]:
        node = init_node(tmp_path / code, region=code, name=name, passphrase=PASSPHRASE, now=NOW)
        add_log(node, log.config.origin, log.config.log_verifier, now=NOW)
        witnesses[url] = node
    keys = {url: require_witness_key(n).verifier_key for url, n in witnesses.items()}
    for url, key in keys.items():
        add_witness(log, url, key, now=NOW)
    server, thread, served = serve_app(log)
    try:
        yield World(
            log,
            served,
            f"500000={log.root_key_id.hex()}",
            issued.id,
            issued.qr_text,
            seal.id,
            stamped.qr_text,
            witnesses,
            keys,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        for node in witnesses.values():
            node.close()
        log.close()


def _verify(
    world: World,
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    *,
    text: str | None = None,
) -> tuple[int, dict[str, Any], str]:
    """``eseal --json verify`` of the license (or ``text``) online, the root pinned."""
    online = ["--online", world.url, "--pin", world.pin]
    code, said, err = run_eseal(
        ["--json", "verify", text or world.qr_text, *online, *args],
        capsys,
        monkeypatch,
    )
    return code, json.loads(said) if said else {}, err


def _status_check(verdict: dict[str, Any]) -> dict[str, Any]:
    checks: list[dict[str, Any]] = verdict["checks"]
    (check,) = [c for c in checks if c["step"] == "status"]
    return check


def _witness_args(*urls: str, world: World) -> list[str]:
    return [a for url in urls for a in ("--witness", world.keys[url])]


# --- the node ------------------------------------------------------------------------------


def test_status_answers_carry_the_cosignatures_of_their_checkpoint(world: World) -> None:
    """A license's and a seal's status answer carry the checkpoint as GET
    /v1/ledger/checkpoint serves it, with the lines of the witnesses that cosigned it; the
    readers of such an answer (eseal's verifier, an independent one) still take it."""
    assert world.get(f"/v1/licenses/{world.license_id}/status").json()["checkpoint"] == (
        world.log.log.checkpoint()  # no witness asked yet: the log's signature alone
    )
    world.ask()
    served = world.get("/v1/ledger/checkpoint").text
    assert served.count("\n\u2014 ") == 3  # the log's line and two cosignatures
    for path in [f"/v1/licenses/{world.license_id}/status", f"/v1/seals/{world.seal_id}/status"]:
        answer = world.get(path)
        assert answer.status_code == 200, answer.text
        note = answer.json()["checkpoint"]
        assert note == served, path
        witnessed = verify_witnessed(
            note, world.log.log_verifier, [parse_cosigner_key(k) for k in world.keys.values()], 2
        )
        assert {c.name for c in witnessed.cosignatures} == {BJ_NAME, SH_NAME}
        assert open_checkpoint(note, world.log.config.log_verifier) == (
            world.log.log.size(),
            world.log.log.root_hash(),
        )


# --- eseal verify --online --witness -------------------------------------------------------


def test_a_checkpoint_its_witnesses_cosigned_passes(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    world.ask()
    size = world.log.log.size()
    code, verdict, err = _verify(world, _witness_args(BEIJING, world=world), capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    check = _status_check(verdict)
    assert check["ok"]
    assert check["detail"].endswith(
        f"; checkpoint of size {size} cosigned by 1 of 1 witnesses ({BJ_NAME}), 1 required"
    )
    assert verdict["freshness"]["status_source"] == "online"

    # Both named, no --quorum: both are required, and both cosigned.
    both = _witness_args(BEIJING, SHANGHAI, world=world)
    code, verdict, err = _verify(world, both, capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert _status_check(verdict)["detail"].endswith(
        f"cosigned by 2 of 2 witnesses ({BJ_NAME}, {SH_NAME}), 2 required"
    )
    # The human summary says it, Chinese first.
    code, said, err = run_eseal(
        ["verify", world.qr_text, "--online", world.url, "--pin", world.pin, *both],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert "  见证 Witnessed: 2/2 个见证方联署（需 2 个）: checkpoint of size" in said

    # A seal's stamp: its status answer is held to the same witnesses.
    code, verdict, err = _verify(world, both, capsys, monkeypatch, text=world.stamp_text)
    assert code == 0, err
    assert verdict["status"] == "VALID"
    assert _status_check(verdict)["detail"].endswith(
        f"cosigned by 2 of 2 witnesses ({BJ_NAME}, {SH_NAME}), 2 required"
    )


def test_a_quorum_the_witnesses_did_not_meet_leaves_the_status_unchecked(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shanghai is down when the node asks: Beijing alone cosigned. Requiring both, the
    node's status 01 is not believed (NO_STATUS, amber, the detail naming who cosigned);
    requiring one of the two, it is."""
    world.ask(BEIJING)
    size = world.log.log.size()
    both = _witness_args(BEIJING, SHANGHAI, world=world)
    code, verdict, err = _verify(world, both, capsys, monkeypatch)
    assert code == 0, err  # valid with a warning, as with no status source at all
    assert (verdict["status"], verdict["warnings"]) == ("VALID", ["NO_STATUS"])
    check = _status_check(verdict)
    assert not check["ok"]
    assert check["detail"] == (
        "the node's checkpoint is not witnessed as required: checkpoint of size "
        f"{size} cosigned by 1 of 2 witnesses ({BJ_NAME}), 2 required"
    )
    assert not any(c["step"] == "ledger" for c in verdict["checks"])  # nothing believed
    code, said, err = run_eseal(
        ["verify", world.qr_text, "--online", world.url, "--pin", world.pin, *both],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert "见证 Witnessed: 1/2 个见证方联署（需 2 个），未达要求 not enough" in said
    assert "warning: 未核验状态 the status was not checked" in said
    assert "the node's witnesses have not cosigned its latest checkpoint" in said

    code, verdict, err = _verify(world, [*both, "--quorum", "1"], capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert _status_check(verdict)["detail"].endswith(
        f"cosigned by 1 of 2 witnesses ({BJ_NAME}), 1 required"
    )


def test_a_cosignature_on_an_older_checkpoint_does_not_count(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both cosigned; then the ledger grows (another license issued), and its newest
    checkpoint, which status answers are proved under, is cosigned by no one: the node
    serves no line of the older one, and a node (or proxy) that moves such a line onto the
    newer checkpoint is caught lying (a known witness's line that does not verify)."""
    done = world.ask()
    issue(world.log, AGENT, MARKET, business_request("重庆另一家餐饮有限公司"), now=NOW + 2)
    code, verdict, err = _verify(world, _witness_args(BEIJING, world=world), capsys, monkeypatch)
    assert code == 0, err
    assert verdict["warnings"] == ["NO_STATUS"]
    assert _status_check(verdict)["detail"].endswith(
        f"checkpoint of size {world.log.log.size()} cosigned by 0 of 1 witnesses, 1 required"
    )

    old_line = next(d.cosignature for d in done if d.url == BEIJING)
    assert old_line is not None
    node_app = TestClient(create_app(world.log))

    def moving_the_old_line(request: httpx.Request) -> httpx.Response:
        answer = node_app.get(request.url.path)
        body = answer.json()
        body["checkpoint"] += old_line
        return httpx.Response(200, json=body)

    bundle = open_bundle(fetch_bundle(world.url))
    online = OnlineStatus(
        "http://cq.test",
        region="500000",
        client=httpx.Client(transport=httpx.MockTransport(moving_the_old_line)),
        witnesses=WitnessPolicy.parse([world.keys[BEIJING]]),
    )
    ctx = VerifyContext(TrustStore([bundle]), NOW + 3, status=online)
    with pytest.raises(NodeAnswerUnproven, match="does not check out"):
        verify_text(world.qr_text, ctx)


def test_a_revocation_counts_without_the_quorum(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only good news waits for the witnesses: a revocation the region's signed ledger
    proves, recorded after they last cosigned, is REVOKED at once (the detail says how the
    checkpoint was witnessed)."""
    world.ask()
    change_status(world.log, AGENT, world.license_id, "revoke", reason="吊销", now=NOW + 2)
    code, verdict, err = _verify(world, _witness_args(BEIJING, world=world), capsys, monkeypatch)
    assert code == 1, err
    assert verdict["status"] == "REVOKED"
    (reason,) = verdict["reasons"]
    assert reason.startswith("status 07 (online, as of ")
    assert reason.endswith(
        f"checkpoint of size {world.log.log.size()} cosigned by 0 of 1 witnesses, 1 required"
    )
