"""Witnessing on the verifier's side: a node's status answers carry the cosignature lines its
witnesses gave for the checkpoint they are proved under, and ``eseal verify --online URL
--witness VKEY … [--quorum K]`` believes a status 01 only under a checkpoint a quorum of
those witnesses cosigned. Chongqing's node (the log, served over HTTP); Beijing and Shanghai
its witnesses (in process, through their ASGI apps)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from eseal.agencies import Principal
from eseal.api.app import create_app
from eseal.licenses import change_status, issue
from eseal.node import Node, init_node
from eseal.seals import create_seal, stamp
from eseal.trust_export import build_bundle
from eseal.witness import add_log, require_witness_key
from eseal.witness_ask import Asked, add_witness, ask
from ledger.cosignature import parse_cosigner_key, verify_witnessed
from ledger.merkle import verify_consistency
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import MARKET, NOW, PASSPHRASE, business_request, make_region, run_eseal
from tests.eseal.test_postgres import postgres_node
from tests.postgres import postgres_url
from tests.vectors.independent import open_checkpoint
from tests.verifier.test_online import _other_spelling
from verifier.online import NodeAnswerMalformed, NodeAnswerUnproven, OnlineStatus, fetch_bundle
from verifier.pipeline import VerifyContext, verify_text
from verifier.trust import TrustStore, open_bundle
from verifier.verdict import Status
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
    # And as data, for the window page to say in the clerk's words.
    assert verdict["freshness"]["witnessed"] == {
        "checkpoint_size": size,
        "cosigners": [BJ_NAME],
        "witnesses": 1,
        "quorum": 1,
        "rule": None,
        "met": True,
        "extended_to": None,
        "unwitnessed": None,
    }

    # Both named, no --quorum: both are required, and both cosigned.
    both = _witness_args(BEIJING, SHANGHAI, world=world)
    code, verdict, err = _verify(world, both, capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert _status_check(verdict)["detail"].endswith(
        f"cosigned by 2 of 2 witnesses ({BJ_NAME}, {SH_NAME}), 2 required"
    )
    witnessed = verdict["freshness"]["witnessed"]
    assert (witnessed["cosigners"], witnessed["witnesses"], witnessed["quorum"]) == (
        [BJ_NAME, SH_NAME],
        2,
        2,
    )
    assert witnessed["met"] is True
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
    # The verdict says why as data: no status believed, the witnessing short of its quorum.
    assert verdict["freshness"]["status_source"] == "none"
    assert verdict["freshness"]["witnessed"] == {
        "checkpoint_size": size,
        "cosigners": [BJ_NAME],
        "witnesses": 2,
        "quorum": 2,
        "rule": None,
        "met": False,
        "extended_to": None,
        "unwitnessed": None,
    }
    code, said, err = run_eseal(
        ["verify", world.qr_text, "--online", world.url, "--pin", world.pin, *both],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert "见证 Witnessed: 1/2 个见证方联署（需 2 个），未达要求 not enough" in said
    assert "warning: 未核验状态 the status was not checked" in said
    assert "the node's witnesses have not cosigned its checkpoint: verify again once" in said
    # A seal's stamp (its seal_status answer) is withheld alike, and says so as data.
    code, stamped, err = _verify(world, both, capsys, monkeypatch, text=world.stamp_text)
    assert code == 0, err
    assert stamped["status"] == "VALID"
    assert "NO_STATUS" in stamped["warnings"]
    assert stamped["freshness"]["status_source"] == "none"
    assert stamped["freshness"]["witnessed"] == verdict["freshness"]["witnessed"]

    code, verdict, err = _verify(world, [*both, "--quorum", "1"], capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert _status_check(verdict)["detail"].endswith(
        f"cosigned by 1 of 2 witnesses ({BJ_NAME}), 1 required"
    )
    assert verdict["freshness"]["witnessed"]["met"] is True
    assert verdict["freshness"]["witnessed"]["quorum"] == 1


def _proxy(world: World, edit: Any) -> OnlineStatus:
    """A verifier asking the node, requiring both witnesses, through a proxy that hands
    each status answer's JSON body to ``edit`` first (the list of cosigned checkpoints
    passes as it is)."""
    node_app = TestClient(create_app(world.log))

    def proxied(request: httpx.Request) -> httpx.Response:
        body = node_app.get(request.url.path, params=request.url.params).json()
        if request.url.path.endswith("/status"):
            edit(body)
        return httpx.Response(200, json=body)

    return OnlineStatus(
        "http://cq.test",
        region="500000",
        client=httpx.Client(transport=httpx.MockTransport(proxied)),
        witnesses=WitnessPolicy.parse([world.keys[BEIJING], world.keys[SHANGHAI]]),
    )


def _context(world: World, online: OnlineStatus) -> VerifyContext:
    return VerifyContext(TrustStore([open_bundle(fetch_bundle(world.url))]), NOW + 3, status=online)


def test_answers_rest_on_the_history_the_witnesses_cosigned(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both cosigned; then the ledger grows (other licenses issued), and its newest
    checkpoint, which status answers are proved under, is cosigned by no one. Asked
    ``?witnessed=1`` (as a verifier with witnesses asks), the node adds the checkpoint its
    witnesses cosigned and the consistency proof from it to the latest: the license's and the
    seal's entries lie in the witnessed history, so status 01 with the quorum met. Without
    the parameter, the answer is as before."""
    world.ask()
    witnessed = world.log.log.size()
    for n in range(2):
        issue(world.log, AGENT, MARKET, business_request(f"重庆另一家餐饮有限公司{n}"), now=NOW + 2)
    latest = world.log.log.size()
    said = (
        f"checkpoint of size {witnessed} cosigned by 2 of 2 witnesses ({BJ_NAME}, {SH_NAME}), "
        f"2 required, extended by the answer's checkpoint of size {latest}"
    )
    both = _witness_args(BEIJING, SHANGHAI, world=world)
    for document in (world.qr_text, world.stamp_text):
        code, verdict, err = _verify(world, both, capsys, monkeypatch, text=document)
        assert code == 0, err
        assert verdict["status"] == "VALID"
        assert "NO_STATUS" not in verdict["warnings"]
        assert _status_check(verdict)["detail"].endswith(said)
        assert verdict["freshness"]["witnessed"]["checkpoint_size"] == witnessed
        assert verdict["freshness"]["witnessed"]["extended_to"] == latest
        assert verdict["freshness"]["witnessed"]["met"] is True

    path = f"/v1/licenses/{world.license_id}/status"
    asked = world.get(path + "?witnessed=1").json()
    assert asked["checkpoint"] == world.log.log.checkpoint()  # proved under the latest
    note = asked["witnessed_checkpoint"]
    assert note.count("\n\u2014 ") == 3  # the log's line and both cosignatures
    size, root = open_checkpoint(note, world.log.config.log_verifier)
    assert (size, root) == (witnessed, world.log.log.root_hash(witnessed))
    proof = [base64.b64decode(h) for h in asked["witnessed_consistency_proof"]]
    verify_consistency(witnessed, latest, proof, root, world.log.log.root_hash())
    # Without the parameter (a verifier without witnesses): the old answer, no new field.
    plain = world.get(path).json()
    assert set(plain) == set(asked) - {"witnessed_checkpoint", "witnessed_consistency_proof"}
    assert plain["checkpoint"] == asked["checkpoint"]
    code, verdict, err = _verify(world, [], capsys, monkeypatch)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    assert "cosigned" not in _status_check(verdict)["detail"]
    assert verdict["freshness"]["witnessed"] is None  # no policy: nothing to say
    bad = world.get(path + "?witnessed=yes")
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")

    # The witnesses' lines on another root than the log's at that size are never served.
    with world.log.sql.write_engine.begin() as conn:
        for table in ("log_witness", "log_witness_cosignature"):  # the latest, the history
            conn.execute(sa.text(f"UPDATE {table} SET root_hash = :r"), {"r": b"\x00" * 32})  # noqa: S608
    assert "witnessed_checkpoint" not in world.get(path + "?witnessed=1").json()


def test_a_checkpoint_that_carries_the_quorum_needs_nothing_more(world: World) -> None:
    """Asked right after the witnesses cosigned, the latest checkpoint carries their lines:
    the answer adds nothing."""
    world.ask()
    asked = world.get(f"/v1/seals/{world.seal_id}/status?witnessed=1").json()
    assert asked["checkpoint"].count("\n\u2014 ") == 3
    assert "witnessed_checkpoint" not in asked
    assert "witnessed_consistency_proof" not in asked


def test_a_license_issued_after_the_witnessed_checkpoint_is_not_yet_witnessed(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its issuance lies beyond the history the witnesses saw: its status 01 is not
    believed (NO_STATUS), the detail naming the entry; once they cosign again, it is."""
    world.ask()
    witnessed = world.log.log.size()
    later = issue(world.log, AGENT, MARKET, business_request("重庆后来的餐饮有限公司"), now=NOW + 2)
    issue(world.log, AGENT, MARKET, business_request("重庆另一家餐饮有限公司"), now=NOW + 2)
    index = world.get(f"/v1/licenses/{later.id}/status").json()["ledger_index"]
    assert index >= witnessed
    both = _witness_args(BEIJING, SHANGHAI, world=world)
    code, verdict, err = _verify(world, both, capsys, monkeypatch, text=later.qr_text)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", ["NO_STATUS"])
    assert _status_check(verdict)["detail"] == (
        "the node's checkpoint is not witnessed as required: checkpoint of size "
        f"{witnessed} cosigned by 2 of 2 witnesses ({BJ_NAME}, {SH_NAME}), 2 required, "
        f"extended by the answer's checkpoint of size {world.log.log.size()}; but its "
        f"issuance entry {index} was recorded after it"
    )
    assert verdict["freshness"]["witnessed"] == {
        "checkpoint_size": witnessed,
        "cosigners": [BJ_NAME, SH_NAME],
        "witnesses": 2,
        "quorum": 2,
        "rule": None,
        "met": False,  # the quorum cosigned, but not what the answer relies on
        "extended_to": world.log.log.size(),
        "unwitnessed": f"its issuance entry {index} was recorded after it",
    }
    code, said, err = run_eseal(
        ["verify", later.qr_text, "--online", world.url, "--pin", world.pin, *both],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert (
        "this document's latest entry is newer than the checkpoint its witnesses cosigned: "
        "verify again once its operator has run eseal witness ask"
    ) in said
    world.ask()
    code, verdict, err = _verify(world, both, capsys, monkeypatch, text=later.qr_text)
    assert code == 0, err
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])


def test_a_suspension_after_the_witnessed_checkpoint_counts(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unrelated entries, then the license suspended, after the witnesses cosigned: adverse
    news the region's signed ledger proves counts at once (SUSPENDED, exit 1), the reason
    saying the suspension lies beyond the witnessed history."""
    world.ask()
    witnessed = world.log.log.size()
    issue(world.log, AGENT, MARKET, business_request("重庆另一家餐饮有限公司"), now=NOW + 2)
    change_status(world.log, AGENT, world.license_id, "suspend", reason="停业整顿", now=NOW + 2)
    both = _witness_args(BEIJING, SHANGHAI, world=world)
    code, verdict, err = _verify(world, both, capsys, monkeypatch)
    assert code == 1, err
    assert verdict["status"] == "SUSPENDED"
    (reason,) = verdict["reasons"]
    latest = world.log.log.size()
    assert reason.endswith(
        f"checkpoint of size {witnessed} cosigned by 2 of 2 witnesses ({BJ_NAME}, {SH_NAME}), "
        f"2 required, extended by the answer's checkpoint of size {latest}; but its status "
        f"entry {latest - 1} was recorded after it"
    )
    # Adverse news counted short of the witnesses: the verdict says so as data too.
    assert verdict["freshness"]["status_source"] == "online"
    assert verdict["freshness"]["witnessed"]["met"] is False
    assert verdict["freshness"]["witnessed"]["unwitnessed"] == (
        f"its status entry {latest - 1} was recorded after it"
    )


def _flip(hashes: list[str], at: int) -> None:
    raw = bytearray(base64.b64decode(hashes[at]))
    raw[0] ^= 1
    hashes[at] = base64.b64encode(bytes(raw)).decode()


def test_a_witnessed_checkpoint_the_answer_does_not_prove_is_refused(world: World) -> None:
    """A consistency proof tampered with (a hash changed, one added, none), a witnessed
    checkpoint no older than the answer's, or a listed witness's line that does not verify
    on it: the node's answer does not check out (exit 2), whatever the status."""
    done = world.ask()
    for n in range(3):
        issue(world.log, AGENT, MARKET, business_request(f"重庆另一家餐饮有限公司{n}"), now=NOW + 2)
    old_line = next(d.cosignature for d in done if d.url == BEIJING)
    assert old_line is not None

    def flipped(body: dict[str, Any]) -> None:
        _flip(body["witnessed_consistency_proof"], -1)

    def lengthened(body: dict[str, Any]) -> None:
        body["witnessed_consistency_proof"].append(base64.b64encode(b"\x01" * 32).decode())

    def emptied(body: dict[str, Any]) -> None:
        body["witnessed_consistency_proof"] = []

    def latest_as_witnessed(body: dict[str, Any]) -> None:
        body["witnessed_checkpoint"] = body["checkpoint"] + old_line
        body["witnessed_consistency_proof"] = []

    def bad_line(body: dict[str, Any]) -> None:
        note = body["witnessed_checkpoint"]
        body["witnessed_checkpoint"] = note.replace(old_line, old_line[:-3] + "AA\n")

    for edit, says in [
        (flipped, "proof does not lead to root"),
        (lengthened, "does not check out: proof"),
        (emptied, "empty proof"),
        (latest_as_witnessed, "does not check out"),
        (bad_line, "does not check out"),
    ]:
        with pytest.raises(NodeAnswerUnproven, match=says):
            verify_text(world.qr_text, _context(world, _proxy(world, edit)))

    # A hash of the proof spelled otherwise (the same bytes to a lax base64 decoder), or
    # the proof as a JSON object of its hashes: not an answer in its one shape.
    def respelled(body: dict[str, Any]) -> None:
        body["witnessed_consistency_proof"][0] = _other_spelling(
            body["witnessed_consistency_proof"][0]
        )

    def as_an_object(body: dict[str, Any]) -> None:
        body["witnessed_consistency_proof"] = dict.fromkeys(body["witnessed_consistency_proof"])

    for edit in (respelled, as_an_object):
        with pytest.raises(NodeAnswerMalformed):
            verify_text(world.qr_text, _context(world, _proxy(world, edit)))
    # Untouched, the same path believes it.
    assert verify_text(world.qr_text, _context(world, _proxy(world, lambda b: None))).status is (
        Status.VALID
    )


def test_an_answer_older_than_the_bundle_is_still_refused(world: World) -> None:
    """The replay check is the same with witnesses: an answer under the checkpoint they
    cosigned (the quorum met on it), replayed after the license was revoked and the bundle
    cut at a newer checkpoint, is refused."""
    world.ask()
    path = f"/v1/licenses/{world.license_id}/status?witnessed=1"
    old = world.get(path).json()
    assert old["checkpoint"].count("\n\u2014 ") == 3
    change_status(world.log, AGENT, world.license_id, "revoke", reason="吊销", now=NOW + 2)

    def replayed(body: dict[str, Any]) -> None:
        body.clear()
        body.update(old)

    with pytest.raises(NodeAnswerUnproven, match="older than the trust bundle's"):
        verify_text(world.qr_text, _context(world, _proxy(world, replayed)))


def test_a_cosignature_moved_onto_a_newer_checkpoint_is_caught(world: World) -> None:
    """Both cosigned; then the ledger grows: a node (or proxy) that moves a line of the
    older checkpoint onto the newer one is caught lying (a known witness's line that does
    not verify)."""
    done = world.ask()
    issue(world.log, AGENT, MARKET, business_request("重庆另一家餐饮有限公司"), now=NOW + 2)
    old_line = next(d.cosignature for d in done if d.url == BEIJING)
    assert old_line is not None

    def moving_the_old_line(body: dict[str, Any]) -> None:
        body["checkpoint"] += old_line

    with pytest.raises(NodeAnswerUnproven, match="does not check out"):
        verify_text(world.qr_text, _context(world, _proxy(world, moving_the_old_line)))


def test_a_revocation_counts_without_the_quorum(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only good news waits for the witnesses: a revocation the region's signed ledger
    proves, recorded after they last cosigned, is REVOKED at once (the detail says how the
    checkpoint was witnessed)."""
    world.ask(BEIJING)
    witnessed = world.log.log.size()
    change_status(world.log, AGENT, world.license_id, "revoke", reason="吊销", now=NOW + 2)
    code, verdict, err = _verify(world, _witness_args(BEIJING, world=world), capsys, monkeypatch)
    assert code == 1, err
    assert verdict["status"] == "REVOKED"
    (reason,) = verdict["reasons"]
    assert reason.startswith("status 07 (online, as of ")
    assert reason.endswith(
        f"checkpoint of size {witnessed} cosigned by 1 of 1 witnesses ({BJ_NAME}), 1 required, "
        f"extended by the answer's checkpoint of size {world.log.log.size()}; but its status "
        f"entry {witnessed} was recorded after it"
    )


@pytest.mark.postgres
def test_the_witnessed_history_is_served_from_postgres(tmp_path: Path) -> None:
    """On PostgreSQL too: the node picks the checkpoint its witnesses cosigned (grouping
    their stored lines), adds it with the consistency proof to the latest, and a verifier
    requiring the witness believes the license issued before it, not the one after."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    log = postgres_node(tmp_path / "cq", url)
    witness = init_node(
        tmp_path / "bj", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW
    )
    try:
        add_log(witness, log.config.origin, log.config.log_verifier, now=NOW)
        key = require_witness_key(witness).verifier_key
        add_witness(log, BEIJING, key, now=NOW)
        before = issue(log, AGENT, MARKET, business_request(), now=NOW)
        (done,) = ask(
            log, now=NOW + 1, client_for=lambda u: TestClient(create_app(witness), base_url=u)
        )
        assert done.outcome == "cosigned"
        witnessed = log.log.size()
        after = issue(log, AGENT, MARKET, business_request("重庆后来的餐饮有限公司"), now=NOW + 2)
        latest = log.log.size()
        node_app = TestClient(create_app(log), base_url="http://cq.test")
        asked = node_app.get(f"/v1/licenses/{before.id}/status?witnessed=1").json()
        assert open_checkpoint(asked["checkpoint"], log.config.log_verifier)[0] == latest
        size, root = open_checkpoint(asked["witnessed_checkpoint"], log.config.log_verifier)
        assert size == witnessed
        proof = [base64.b64decode(h) for h in asked["witnessed_consistency_proof"]]
        verify_consistency(witnessed, latest, proof, root, log.log.root_hash())
        assert "witnessed_checkpoint" not in node_app.get(f"/v1/licenses/{before.id}/status").json()
        # Asked at that size (a reader that picked it from the cosigned list): the same.
        at = node_app.get(f"/v1/licenses/{before.id}/status", params={"at": str(witnessed)})
        assert at.json()["witnessed_checkpoint"] == asked["witnessed_checkpoint"]

        online = OnlineStatus(
            "http://cq.test",
            region="500000",
            client=node_app,
            witnesses=WitnessPolicy.parse([key]),
        )
        ctx = VerifyContext(TrustStore([build_bundle(log, now=NOW + 2)]), NOW + 3, status=online)
        believed = verify_text(before.qr_text, ctx)
        assert (believed.status, believed.warnings) == (Status.VALID, [])
        waiting = verify_text(after.qr_text, ctx)
        assert (waiting.status, waiting.warnings) == (Status.VALID, ["NO_STATUS"])
    finally:
        witness.close()
        log.close()
