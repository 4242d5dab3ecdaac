"""A reader that knows its witness policy chooses the checkpoint of an online status answer:
北京's log (110000) is cosigned by 广东 (gd) and 江苏 (js) at A; 江苏 is then down, and 广东
alone cosigns B > A; entries recorded since make the latest C. ``?witnessed=1`` adds A (most
cosigned) for every reader, so a license or seal recorded between A and B gets no status
from a reader needing 广东 alone, whose quorum did cosign B. ``OnlineStatus`` with a policy
reads the node's list of cosigned checkpoints (``GET /v1/ledger/cosigned``), picks the
newest its quorum met and asks the status ``?at=SIZE``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from nacl.signing import SigningKey

from eseal.agencies import Principal
from eseal.api.app import create_app
from eseal.licenses import IssueRequest, change_status, issue
from eseal.node import Node
from eseal.seals import create_seal
from eseal.trust_export import export_bundle
from eseal.witness import add_log, require_witness_key
from eseal.witness_ask import add_witness, ask, cosigned_checkpoint
from ledger.checkpoint import parse_verifier_key
from ledger.cosignature import cosigner_key
from ledger.merkle import verify_consistency
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import NOW, run_eseal
from tests.eseal.test_peer_witnesses import BEIJING_MARKET, GD, JS, beijing, witness_nodes
from tests.vectors.independent import open_checkpoint
from verifier import online
from verifier.online import NodeAnswerUnproven, OnlineStatus
from verifier.pipeline import VerifyContext, verify_text
from verifier.trust import TrustBundle, TrustStore, open_bundle
from verifier.verdict import Status
from verifier.witness_policy import parse_policy


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("down", request=request)


@dataclass
class Drifted:
    bj: Node
    agent: Principal
    request: IssueRequest
    witnesses: dict[str, Node]  # by URL
    keys: dict[str, str]  # the witnesses' verifier keys, by URL
    url: str  # 北京's node, served over HTTP
    early: Any  # a license recorded before A
    between: Any  # a license recorded between A and B
    seal: Any  # a seal created between A and B
    a: int  # cosigned by both
    b: int  # cosigned by gd alone

    def ask(self, *urls: str) -> None:
        """Ask the witnesses at ``urls`` (the others are down) to cosign the latest."""

        def client(u: str) -> httpx.Client:
            if u in urls:
                return TestClient(create_app(self.witnesses[u]), base_url=u)
            return httpx.Client(transport=httpx.MockTransport(_down))

        done = {d.url: d.outcome for d in ask(self.bj, now=NOW + 3, client_for=client)}
        assert all(done[u] == "cosigned" for u in urls), done

    def issue(self, name: str) -> Any:
        request = IssueRequest(
            self.request.type_code, name, self.request.holder_id, self.request.fields
        )
        return issue(self.bj, self.agent, BEIJING_MARKET, request, now=NOW + 2)

    def bundle(self) -> TrustBundle:
        raw = export_bundle(self.bj, now=NOW + 2)
        return open_bundle(raw, pinned_roots={self.bj.root_key_id})

    def policy(self, path: Path, *names: str) -> str:
        """A policy file holding 北京's log to all of the witnesses ``names`` (gd, js)."""
        urls = {"gd": GD, "js": JS}
        lines = [f"log {self.bj.config.log_verifier}"]
        lines += [f"witness {n} {self.keys[urls[n]]}" for n in names]
        lines += [f"group need all {' '.join(names)}", "quorum need"]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return str(path)

    def reader(self, path: Path, *names: str, client: httpx.Client | None = None) -> OnlineStatus:
        policies = parse_policy(Path(self.policy(path, *names)).read_bytes())
        return OnlineStatus(
            self.url,
            region="110000",
            client=client or httpx.Client(base_url=self.url),
            witnesses=policies,
        )

    def verify(self, text: str, status: OnlineStatus) -> Any:
        return verify_text(text, VerifyContext(TrustStore([self.bundle()]), NOW + 3, status=status))


def _drifted(factory: pytest.TempPathFactory) -> Iterator[Drifted]:
    bj, agent, request = beijing(factory.mktemp("bj"))
    early = issue(bj, agent, BEIJING_MARKET, request, now=NOW)
    witnesses = witness_nodes(factory, GD, JS)
    keys = {url: require_witness_key(node).verifier_key for url, node in witnesses.items()}
    for url in (GD, JS):
        add_log(witnesses[url], bj.config.origin, bj.config.log_verifier, now=NOW)
        add_witness(bj, url, keys[url], now=NOW)
    server, thread, url = serve_app(bj)
    d = Drifted(bj, agent, request, witnesses, keys, url, early, None, None, 0, 0)
    try:
        d.ask(GD, JS)
        d.a = bj.log.size()
        d.between = d.issue("北京后来的餐饮有限公司")
        d.seal = create_seal(
            bj,
            agent,
            agency_code=BEIJING_MARKET,
            name="公章",
            seal_type="official",
            image=None,
            now=NOW + 2,
        )
        d.ask(GD)  # 江苏 is down
        d.b = bj.log.size()
        d.issue("北京另一家餐饮有限公司")  # the latest, C, is cosigned by no one
        assert d.a < d.b < bj.log.size()
        yield d
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        bj.close()
        for node in witnesses.values():
            node.close()


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drifted]:
    yield from _drifted(tmp_path_factory)


def _recorded(d: Drifted, asked: list[str]) -> httpx.Client:
    """A client of 北京's node recording the path and query of each request in ``asked``."""

    def record(request: httpx.Request) -> None:
        asked.append(request.url.raw_path.decode())

    return httpx.Client(base_url=d.url, event_hooks={"request": [record]})


def _status_path(d: Drifted, kind: str) -> str:
    return (
        f"/v1/licenses/{d.between.id}/status"
        if kind == "license"
        else (f"/v1/seals/{d.seal.id}/status")
    )


# --- the node ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["license", "seal"])
def test_a_status_answer_carries_the_checkpoint_at_a_size_asked(
    drifted: Drifted, kind: str
) -> None:
    """``?at=B`` (or A) adds the stored checkpoint of that size with its witnesses' lines and
    the consistency proof from it to the latest; at the latest, nothing is added. Refused:
    a size the log stores no checkpoint of (404 unknown-checkpoint), ``at`` with
    ``witnessed`` (400 invalid-input), a size not plain decimal from 1 (422)."""
    d = drifted
    path = _status_path(d, kind)
    latest = d.bj.log.size()
    with httpx.Client(base_url=d.url) as client:
        plain = client.get(path).json()
        for size in (d.a, d.b):
            r = client.get(path, params={"at": str(size)})
            assert r.status_code == 200, r.text
            asked = r.json()
            assert asked["checkpoint"] == plain["checkpoint"]  # still proved under the latest
            assert asked["witnessed_checkpoint"] == cosigned_checkpoint(d.bj, size)
            got, root = open_checkpoint(asked["witnessed_checkpoint"], d.bj.config.log_verifier)
            assert (got, root) == (size, d.bj.log.root_hash(size))
            proof = [base64.b64decode(h) for h in asked["witnessed_consistency_proof"]]
            verify_consistency(size, latest, proof, root, d.bj.log.root_hash())
            rest = set(asked) - {"witnessed_checkpoint", "witnessed_consistency_proof", "as_of"}
            assert {k: asked[k] for k in rest} == {k: plain[k] for k in rest}
        # The node's own pick differs: A, the most cosigned.
        witnessed = client.get(path, params={"witnessed": "1"}).json()
        assert open_checkpoint(witnessed["witnessed_checkpoint"], d.bj.config.log_verifier)[0] == (
            d.a
        )
        at_latest = client.get(path, params={"at": str(latest)}).json()
        assert "witnessed_checkpoint" not in at_latest
        assert "witnessed_consistency_proof" not in at_latest
        unstored = [n for n in range(1, d.a) if d.bj.log.store.checkpoint(n) is None]
        for size in [latest + 1, *unstored[:1]]:
            r = client.get(path, params={"at": str(size)})
            assert r.status_code == 404, (size, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"].endswith("/unknown-checkpoint")
            assert f"no checkpoint of size {size}" in r.json()["detail"]
        r = client.get(path, params={"at": str(d.b), "witnessed": "1"})
        assert r.status_code == 400, r.text
        assert r.json()["type"].endswith("/invalid-input")
        for bad in ("0", "01", "-1", "+3", "1.0", "x", "", str(2**53 + 1)):
            r = client.get(path, params={"at": bad})
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["type"].endswith("/invalid-request")


# --- the reader ----------------------------------------------------------------------------


def test_a_reader_gets_the_status_witnessed_where_its_quorum_cosigned(
    drifted: Drifted,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Needing 广东 alone: the license and the seal recorded between A and B are believed
    (status 01, witnessed on B, extended to the latest), where ``?witnessed=1`` gave A and
    no status. Through the command line over HTTP, and the library."""
    d = drifted
    latest = d.bj.log.size()
    pin = f"110000={d.bj.root_key_id.hex()}"
    policy = d.policy(tmp_path / "gd.policy", "gd")
    args = ["--online", d.url, "--pin", pin, "--witness-policy", policy]
    code, said, err = run_eseal(["--json", "verify", d.between.qr_text, *args], capsys, monkeypatch)
    assert code == 0, err
    verdict = json.loads(said)
    assert (verdict["status"], verdict["warnings"]) == ("VALID", [])
    witnessed = verdict["freshness"]["witnessed"]
    assert (witnessed["checkpoint_size"], witnessed["extended_to"]) == (d.b, latest)
    assert witnessed["met"] is True
    assert witnessed["cosigners"] == ["gd"]

    asked: list[str] = []
    reader = d.reader(tmp_path / "p", "gd", client=_recorded(d, asked))
    result = d.verify(d.between.qr_text, reader)
    assert (result.status, result.warnings) == (Status.VALID, [])
    seal = reader.seal_status(d.bundle(), d.seal.id)
    assert seal is not None
    assert seal.code == "01"
    assert seal.witnessing is not None
    assert seal.witnessing.met
    assert (seal.witnessing.size, seal.witnessing.extended_to) == (d.b, latest)
    # The list once (kept for the seal's question), then each status at B.
    assert asked == [
        "/v1/ledger/cosigned",
        f"/v1/licenses/{d.between.id}/status?at={d.b}",
        f"/v1/seals/{d.seal.id}/status?at={d.b}",
    ]


def test_a_reader_needing_the_down_witness_is_asked_at_the_older_checkpoint(
    drifted: Drifted, tmp_path: Path
) -> None:
    """Needing 江苏 too: the newest checkpoint its quorum met is A, so the license recorded
    before A is believed and the one after is not (NO_STATUS, the detail saying how A was
    witnessed and what lies beyond it)."""
    d = drifted
    asked: list[str] = []
    reader = d.reader(tmp_path / "p", "gd", "js", client=_recorded(d, asked))
    believed = d.verify(d.early.qr_text, reader)
    assert (believed.status, believed.warnings) == (Status.VALID, [])
    waiting = d.verify(d.between.qr_text, reader)
    assert (waiting.status, waiting.warnings) == (Status.VALID, ["NO_STATUS"])
    (check,) = [c for c in waiting.checks if c.step == "status"]
    assert f"checkpoint of size {d.a} cosigned by 2 of 2 witness keys (gd, js)" in check.detail
    assert "was recorded after it" in check.detail
    statuses = [a for a in asked if "/status" in a]
    assert all(a.endswith(f"?at={d.a}") for a in statuses), asked


def test_a_reader_whose_quorum_met_no_listed_checkpoint_asks_the_witnessed_one(
    drifted: Drifted, tmp_path: Path
) -> None:
    """A policy no listed checkpoint meets (needing a witness that never cosigned): the node
    is asked ``?witnessed=1``, and the good news withheld, the detail saying how its
    checkpoint was witnessed."""
    d = drifted
    asked: list[str] = []
    path = tmp_path / "zj.policy"
    lines = [f"log {d.bj.config.log_verifier}", f"witness zj {_other_witness_key()}"]
    path.write_text("\n".join([*lines, "quorum zj", ""]), encoding="utf-8")
    reader = OnlineStatus(
        d.url,
        region="110000",
        client=_recorded(d, asked),
        witnesses=parse_policy(path.read_bytes()),
    )
    result = d.verify(d.early.qr_text, reader)
    assert (result.status, result.warnings) == (Status.VALID, ["NO_STATUS"])
    (check,) = [c for c in result.checks if c.step == "status"]
    assert check.detail.startswith("the node's checkpoint is not witnessed as required")
    assert asked == ["/v1/ledger/cosigned", f"/v1/licenses/{d.early.id}/status?witnessed=1"]


def _other_witness_key() -> str:
    """The cosignature/v1 verifier key of a witness that never cosigned 北京's log."""
    return cosigner_key("zj.test/witness", bytes(SigningKey.generate().verify_key))


def _proxy(d: Drifted, route: Callable[[httpx.Request], httpx.Response | None]) -> httpx.Client:
    """A client of 北京's node through a proxy: ``route`` answers a request itself, or
    None to pass it on."""
    node = TestClient(create_app(d.bj), base_url=d.url)

    def proxied(request: httpx.Request) -> httpx.Response:
        answered = route(request)
        if answered is not None:
            return answered
        r = node.get(request.url.path, params=request.url.params)
        return httpx.Response(r.status_code, headers=r.headers, content=r.content)

    return httpx.Client(base_url=d.url, transport=httpx.MockTransport(proxied))


def test_a_node_without_the_list_is_asked_witnessed(
    drifted: Drifted, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node of before the list answers it 404 (its problem for a path it has no route
    for): the reader asks ``?witnessed=1``, A then, as before."""
    d = drifted
    asked: list[str] = []

    def older(request: httpx.Request) -> httpx.Response | None:
        asked.append(request.url.raw_path.decode())
        if request.url.path == "/v1/ledger/cosigned":
            return httpx.Response(
                404,
                json={"type": "about:blank", "title": "Not Found", "status": 404},
                headers={"content-type": "application/problem+json"},
            )
        return None

    reader = d.reader(tmp_path / "p", "gd", client=_proxy(d, older))
    believed = d.verify(d.early.qr_text, reader)
    assert (believed.status, believed.warnings) == (Status.VALID, [])
    waiting = d.verify(d.between.qr_text, reader)
    assert (waiting.status, waiting.warnings) == (Status.VALID, ["NO_STATUS"])
    (check,) = [c for c in waiting.checks if c.step == "status"]
    assert f"checkpoint of size {d.a} cosigned by 2 of 2" not in check.detail  # gd alone named
    assert f"checkpoint of size {d.a} cosigned by 1 of 1 witness keys (gd)" in check.detail
    assert asked == [
        "/v1/ledger/cosigned",
        f"/v1/licenses/{d.early.id}/status?witnessed=1",
        # Kept 30 s, the 404 too; the answer fell short, but the list kept is not
        # COSIGNED_REREAD_SECONDS old: not read again.
        f"/v1/licenses/{d.between.id}/status?witnessed=1",
    ]
    monkeypatch.setattr(online, "COSIGNED_REREAD_SECONDS", 0.0)
    asked.clear()
    waiting = d.verify(d.between.qr_text, reader)
    assert (waiting.status, waiting.warnings) == (Status.VALID, ["NO_STATUS"])
    assert asked == [f"/v1/licenses/{d.between.id}/status?witnessed=1", "/v1/ledger/cosigned"]


def test_an_answer_adding_another_checkpoint_than_asked_does_not_check_out(
    drifted: Drifted, tmp_path: Path
) -> None:
    """Asked ``?at=B``, a node (or a cache before it) answering as asked ``?witnessed=1``
    (adding A, which 广东 cosigned too) is refused: the reader chose B. One dropping the
    query altogether (a node of before ``?at=``) adds nothing, and is held to its latest
    checkpoint alone: no status for the license recorded between A and B."""
    d = drifted

    def rewritten(query: dict[str, str]) -> Callable[[httpx.Request], httpx.Response | None]:
        node = TestClient(create_app(d.bj), base_url=d.url)

        def route(request: httpx.Request) -> httpx.Response | None:
            if not request.url.path.endswith("/status"):
                return None
            r = node.get(request.url.path, params=query)
            return httpx.Response(r.status_code, headers=r.headers, content=r.content)

        return route

    reader = d.reader(tmp_path / "p", "gd", client=_proxy(d, rewritten({"witnessed": "1"})))
    with pytest.raises(NodeAnswerUnproven, match=f"asked for the checkpoint of size {d.b}"):
        d.verify(d.between.qr_text, reader)
    reader = d.reader(tmp_path / "p", "gd", client=_proxy(d, rewritten({})))
    result = d.verify(d.between.qr_text, reader)
    assert (result.status, result.warnings) == (Status.VALID, ["NO_STATUS"])


def test_a_checkpoint_picked_that_the_node_does_not_store_is_asked_witnessed(
    drifted: Drifted, tmp_path: Path
) -> None:
    """A node answering ``?at=B`` 404 unknown-checkpoint (one behind a proxy whose database
    lags the one that listed B): the reader asks ``?witnessed=1``, and reads the list anew
    for its next question."""
    d = drifted
    asked: list[str] = []

    def lagging(request: httpx.Request) -> httpx.Response | None:
        asked.append(request.url.raw_path.decode())
        if "at" not in request.url.params:
            return None
        problem = {"type": "https://eseal.invalid/problems/unknown-checkpoint", "status": 404}
        return httpx.Response(
            404, json=problem, headers={"content-type": "application/problem+json"}
        )

    reader = d.reader(tmp_path / "p", "gd", client=_proxy(d, lagging))
    for _ in range(2):
        result = d.verify(d.early.qr_text, reader)
        assert (result.status, result.warnings) == (Status.VALID, [])
    status = f"/v1/licenses/{d.early.id}/status"
    assert (
        asked
        == [
            "/v1/ledger/cosigned",
            f"{status}?at={d.b}",
            f"{status}?witnessed=1",
        ]
        * 2
    )


def test_a_listed_checkpoint_whose_line_does_not_verify_is_refused(
    drifted: Drifted, tmp_path: Path
) -> None:
    """A line of a witness the quorum counts that does not verify on a listed checkpoint
    (a cosignature moved from another): the node's answer does not check out."""
    d = drifted
    node = TestClient(create_app(d.bj), base_url=d.url)

    def moved(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v1/ledger/cosigned":
            return None
        listed = node.get("/v1/ledger/cosigned").json()
        b, a = listed["checkpoints"]
        gd_line = b["checkpoint"].splitlines(keepends=True)[-1]
        plain_a = a["checkpoint"].split("\n\n", 1)[0] + "\n\n"
        log_line = a["checkpoint"][len(plain_a) :].splitlines(keepends=True)[0]
        a["checkpoint"] = plain_a + log_line + gd_line  # 广东's line on B, moved onto A
        return httpx.Response(200, json={"checkpoints": [a]})

    reader = d.reader(tmp_path / "p", "gd", client=_proxy(d, moved))
    with pytest.raises(NodeAnswerUnproven, match=f"checkpoint of size {d.a} does not check out"):
        d.verify(d.early.qr_text, reader)


# --- the list kept -------------------------------------------------------------------------


def test_the_list_is_kept_and_read_again_when_an_answer_lies_beyond_the_pick(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A window verifying many documents reads the list once in its keeping time (30 s); an
    answer relying on an entry at or beyond the checkpoint picked has it read again at
    once (once the list kept is COSIGNED_REREAD_SECONDS old), and is asked again at the
    newer checkpoint the witnesses cosigned meanwhile."""
    assert online.COSIGNED_LIST_SECONDS == 30.0
    assert online.COSIGNED_REREAD_SECONDS == 5.0
    # Read again on a short answer however young the list kept (the questions below come
    # within seconds; the bound on that: test_answers_falling_short_read_the_list_again_…).
    monkeypatch.setattr(online, "COSIGNED_REREAD_SECONDS", 0.0)
    for d in _drifted(tmp_path_factory):
        asked: list[str] = []
        reader = d.reader(tmp_path / "p", "gd", client=_recorded(d, asked))
        for _ in range(3):
            result = d.verify(d.early.qr_text, reader)
            assert (result.status, result.warnings) == (Status.VALID, [])
        assert asked.count("/v1/ledger/cosigned") == 1
        # 广东 cosigns again: D, past a license recorded since; then another entry makes the
        # latest one it has not cosigned. The reader still keeps B.
        later = d.issue("北京最后的餐饮有限公司")
        d.ask(GD)
        size_d = d.bj.log.size()
        d.issue("北京又一家餐饮有限公司")
        asked.clear()
        result = d.verify(later.qr_text, reader)
        assert (result.status, result.warnings) == (Status.VALID, [])
        assert asked == [
            f"/v1/licenses/{later.id}/status?at={d.b}",
            "/v1/ledger/cosigned",
            f"/v1/licenses/{later.id}/status?at={size_d}",
        ]
        # Past its keeping time the list is read again for any question.
        monkeypatch.setattr(online, "COSIGNED_LIST_SECONDS", 0.0)
        asked.clear()
        result = d.verify(d.early.qr_text, reader)
        assert (result.status, result.warnings) == (Status.VALID, [])
        assert asked == ["/v1/ledger/cosigned", f"/v1/licenses/{d.early.id}/status?at={size_d}"]
        # A fresh list falls short too (a license recorded since D): asked once, no refetch.
        newest = d.issue("北京更新的餐饮有限公司")
        monkeypatch.setattr(online, "COSIGNED_LIST_SECONDS", 30.0)
        asked.clear()
        reader = d.reader(tmp_path / "q", "gd", client=_recorded(d, asked))
        result = d.verify(newest.qr_text, reader)
        assert (result.status, result.warnings) == (Status.VALID, ["NO_STATUS"])
        assert asked == ["/v1/ledger/cosigned", f"/v1/licenses/{newest.id}/status?at={size_d}"]
        log = parse_verifier_key(d.bj.config.log_verifier)
        assert [s for s, _ in online.fetch_cosigned(d.url, log) or []][:2] == [size_d, d.b]


def test_answers_falling_short_read_the_list_again_at_most_once_a_while(
    drifted: Drifted, tmp_path: Path
) -> None:
    """A window scanning a pile of licenses recorded after the checkpoint its quorum met
    (each answer falls short) reads the list once, not once a scan: it is read again on a
    short answer only where the one kept is :data:`online.COSIGNED_REREAD_SECONDS` old."""
    d = drifted
    asked: list[str] = []
    reader = d.reader(tmp_path / "p", "gd", "js", client=_recorded(d, asked))
    for _ in range(4):
        result = d.verify(d.between.qr_text, reader)
        assert (result.status, result.warnings) == (Status.VALID, ["NO_STATUS"])
    assert asked.count("/v1/ledger/cosigned") == 1, asked
    assert asked.count(f"/v1/licenses/{d.between.id}/status?at={d.a}") == 4, asked


def test_a_revocation_proved_is_not_lost_to_the_list_read_again(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revocation the ledger proves counts whatever the witnessing, so its answer does not
    have the list read again: a list that fails then (a 503 of a proxy) does not turn the
    REVOKED verdict into an error."""
    monkeypatch.setattr(online, "COSIGNED_REREAD_SECONDS", 0.0)
    reads: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response | None:
        if request.url.path != "/v1/ledger/cosigned":
            return None
        reads.append(request.url.path)
        return httpx.Response(503) if len(reads) > 1 else None

    for d in _drifted(tmp_path_factory):
        reader = d.reader(tmp_path / "p", "gd", "js", client=_proxy(d, flaky))
        assert d.verify(d.early.qr_text, reader).status is Status.VALID
        change_status(d.bj, d.agent, d.between.id, "revoke", reason="吊销", now=NOW + 2)
        result = d.verify(d.between.qr_text, reader)
        assert result.status is Status.REVOKED
        assert reads == ["/v1/ledger/cosigned"]
