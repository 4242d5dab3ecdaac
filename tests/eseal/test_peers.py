"""Peer regions (跨省通办): a node of 重庆 (500000) keeps 北京's (110000) bundle and
snapshot, synced from 北京's node, and verifies 北京's licenses at its own window."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from eseal.agencies import Principal, add_agency
from eseal.api.app import create_app
from eseal.cli_common import utc_time
from eseal.licenses import IssueRequest, change_status, issue
from eseal.node import Node, init_node
from eseal.peer_sync import Synced, add_peer, sync_peers
from eseal.peers import PEER_TABLE, load_peer_trust, remove_peer
from eseal.trust_export import build_bundle, export_bundle, export_snapshot
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import (
    BUSINESS,
    NOW,
    PASSPHRASE,
    Region,
    business_request,
    make_region,
    run_eseal,
)
from tests.eseal.test_postgres import postgres_node
from tests.postgres import postgres_url
from verifier import online
from verifier.online import NodeUnreachable
from verifier.revocation import RevocationSnapshot, open_snapshot
from verifier.trust import TrustBundle, TrustStore, open_bundle, sign_bundle

Run = Callable[..., tuple[int, str, str]]
BEIJING_MARKET = "11110000MB01234562"


@dataclass
class Pair:
    cq: Region
    cq_dir: Path
    bj: Node
    bj_dir: Path
    bj_url: str
    valid_qr: str
    revoked_qr: str

    @property
    def bj_pin(self) -> str:
        return self.bj.root_key_id.hex()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    cq_dir, bj_dir = tmp_path_factory.mktemp("cq"), tmp_path_factory.mktemp("bj")
    cq = make_region(cq_dir)
    bj = init_node(bj_dir, region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW)
    add_agency(bj, code=BEIJING_MARKET, name="北京市市场监督管理局", types=[BUSINESS], now=NOW)
    request = IssueRequest(
        BUSINESS,
        "北京小面餐饮有限公司",
        "91110000MA0012345C",
        {**business_request().fields, "address": "北京市东城区"},
    )
    agent = Principal("agency", BEIJING_MARKET)
    valid = issue(bj, agent, BEIJING_MARKET, request, now=NOW)
    revoked = issue(bj, agent, BEIJING_MARKET, request, now=NOW)
    change_status(bj, agent, revoked.id, "revoke", reason="吊销", now=NOW + 1)
    server, thread, url = serve_app(bj)
    try:
        yield Pair(cq, cq_dir, bj, bj_dir, url, valid.qr_text, revoked.qr_text)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        cq.node.close()
        bj.close()


@pytest.fixture
def run(
    pair: Pair, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Run]:
    """``eseal --data <重庆> ARGS`` as (exit code, stdout, stderr); the peers are removed
    after the test."""

    def run(*args: str) -> tuple[int, str, str]:
        return run_eseal(["--data", str(pair.cq_dir), *args], capsys, monkeypatch)

    yield run
    with pair.cq.node.sql.write_engine.begin() as conn:
        conn.execute(PEER_TABLE.delete())


def _row(pair: Pair) -> dict[str, Any]:
    with pair.cq.node.sql.read_engine.connect() as conn:
        row = conn.execute(select(PEER_TABLE).where(PEER_TABLE.c.region == "110000")).one()
    return dict(row._mapping)


def test_a_peer_is_added_only_with_its_pin_and_once(pair: Pair, run: Run) -> None:
    code, said, err = run("peer", "add", pair.bj_url, "--pin", "00" * 8)
    assert code == 2, said
    assert "is not the pinned 0000000000000000" in err
    code, said, err = run("peer", "list", "--json")
    assert json.loads(said) == []
    code, said, err = run("peer", "add", pair.bj_url, "--pin", "xyz")
    assert code == 2
    assert "not a hex key id" in err
    code, said, err = run("peer", "add", pair.bj_url + "?x", "--pin", pair.bj_pin)
    assert code == 2
    assert "a query" in err

    code, said, err = run("--json", "peer", "add", pair.bj_url, "--pin", pair.bj_pin)
    assert code == 0, err
    added = json.loads(said)
    assert added["region"] == "110000"
    assert added["name"] == "北京市"
    assert added["root_key_id"] == pair.bj_pin
    assert added["snapshot_as_of"] is None
    code, said, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
    assert code == 2
    assert "region 110000 is a peer already" in err
    code, said, err = run("peer", "list")
    assert code == 0
    assert "110000 北京市" in said
    assert pair.bj_url in said

    code, said, err = run("peer", "remove", "110000")
    assert code == 0, err
    code, said, err = run("peer", "remove", "110000")
    assert code == 2
    assert "region '110000' is no peer" in err


@pytest.mark.parametrize(
    "url",
    [
        "http://clerk:secret@{host}",  # credentials: stored, listed and in every report
        "http://clerk@{host}",
        "http://{host}\\@other.example",
        "http:///{host}",  # no host
        "http://{host}:99999",  # no port
    ],
)
def test_a_peer_url_with_credentials_or_no_host_is_refused(pair: Pair, run: Run, url: str) -> None:
    host = pair.bj_url.split("://", 1)[1]
    if url.endswith(":99999"):
        host = host.rsplit(":", 1)[0]
    code, said, err = run("peer", "add", url.format(host=host), "--pin", pair.bj_pin)
    assert code == 2, said
    assert "the peer URL" in err
    code, said, err = run("peer", "list", "--json")
    assert json.loads(said) == []


def test_a_node_of_its_own_region_is_no_peer(
    pair: Pair, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--data", str(pair.bj_dir), "peer", "add", pair.bj_url, "--pin", pair.bj_pin]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 2, said
    assert "own region 110000" in err


def test_sync_stores_once_and_refuses_an_older_bundle_or_snapshot(
    pair: Pair, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, said, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
    assert code == 0, err
    code, said, err = run("--json", "peer", "sync")
    assert code == 0, err
    (synced,) = json.loads(said)
    assert synced["ok"] is True
    assert synced["snapshot_stored"] is True
    stored = _row(pair)
    assert stored["snapshot"] is not None
    assert stored["snapshot_as_of"] == synced["snapshot_as_of"]

    # The node serves the same files again: nothing is stored, and the cache is not dropped.
    bundle, snapshot = bytes(stored["bundle"]), bytes(stored["snapshot"])
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: bundle)
    monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: snapshot)
    trust = load_peer_trust(pair.cq.node)
    code, said, err = run("--json", "peer", "sync")
    assert code == 0, err
    (again,) = json.loads(said)
    assert (again["bundle_stored"], again["snapshot_stored"]) == (False, False)
    assert _row(pair)["changes"] == stored["changes"]
    assert load_peer_trust(pair.cq.node, trust) is trust

    # An older bundle, as a node whose clock went back signs it, or replayed: refused.
    old_bundle = export_bundle(pair.bj, now=int(stored["bundle_issued_at"]) - 60)
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: old_bundle)
    code, said, err = run("peer", "sync")
    assert code == 1, said
    assert "110000 FAILED" in err
    assert "before the one held" in err
    assert _row(pair)["bundle"] == bundle
    # Another bundle signed in the same second as the one held (a replay of the other of
    # two bundles signed in one second): refused, the held one stays.
    held = build_bundle(pair.bj, now=int(stored["bundle_issued_at"]))
    other = sign_bundle(replace(held, name=held.name + "（另一份）"), pair.bj.require_root_key())
    assert other != bundle
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: other)
    code, said, err = run("peer", "sync")
    assert code == 1, said
    assert "signed in the same second" in err
    assert _row(pair)["bundle"] == bundle
    # An older snapshot likewise, with a newer bundle: neither is stored.
    new_bundle = export_bundle(pair.bj, now=int(stored["bundle_issued_at"]) + 60)
    old_snapshot = export_snapshot(pair.bj, now=int(stored["snapshot_as_of"]) + 60)
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: new_bundle)
    monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: old_snapshot)
    code, said, err = run("--json", "peer", "sync")
    assert code == 1
    (refused,) = json.loads(said)
    assert refused["ok"] is False
    assert "snapshot" in refused["error"]
    after = _row(pair)
    assert (after["bundle"], after["snapshot"]) == (bundle, snapshot)
    assert after["error"] == refused["error"]
    code, said, err = run("peer", "list")
    assert "last error: the snapshot of" in said


def test_a_second_sync_is_answered_304_and_stores_nothing(
    pair: Pair, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot stored is named to the peer (If-None-Match, its hash): while it is the
    peer's current one, the peer answers 304 without it, and the sync says the snapshot is
    unchanged (not a failure), the peer's bookkeeping as for nothing newer."""
    code, said, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
    assert code == 0, err
    held: list[bytes | None] = []
    real = online.fetch_revocations

    def recorded(url: str, **kwargs: Any) -> bytes | None:
        held.append(kwargs.get("held"))
        answered: bytes | None = real(url, **kwargs)
        return answered

    monkeypatch.setattr(online, "fetch_revocations", recorded)
    code, said, err = run("--json", "peer", "sync")
    assert code == 0, err
    (first,) = json.loads(said)
    assert (first["snapshot_stored"], first["snapshot_not_modified"]) == (True, False)
    stored = _row(pair)
    with pair.cq.node.sql.write_engine.begin() as conn:  # a sync before, to see it marked
        conn.execute(update(PEER_TABLE).values(synced_at=1, tried_at=1, error="earlier"))
    code, said, err = run("--json", "peer", "sync")
    assert code == 0, err
    (again,) = json.loads(said)
    assert held == [None, bytes(stored["snapshot"])]
    assert again["ok"] is True
    assert (again["snapshot_stored"], again["snapshot_not_modified"]) == (False, True)
    assert again["snapshot_as_of"] == first["snapshot_as_of"]
    row = _row(pair)
    assert row["snapshot"] == stored["snapshot"]
    # The node signs its bundle anew when asked: a later second's is stored, nothing else.
    assert row["changes"] == stored["changes"] + again["bundle_stored"]
    assert row["synced_at"] >= stored["synced_at"]
    assert row["tried_at"] == row["synced_at"]
    assert row["error"] is None
    code, said, err = run("peer", "sync")
    assert code == 0, err
    assert "unchanged snapshot (not modified: the peer's current one is the one held)" in said


def test_a_bundle_or_snapshot_signed_ahead_of_the_clock_is_refused(
    pair: Pair, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stored, a file dated days ahead would stand for ever: no file signed at the right
    time may replace it (none older than the one held), and the peer's revocations since
    would never be seen."""
    ahead = int(time.time()) + 3 * 86400
    with monkeypatch.context() as m:
        m.setattr("verifier.online.fetch_bundle", lambda _url: export_bundle(pair.bj, now=ahead))
        code, said, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
        assert code == 2, said
        assert "more than a day after this node's clock" in err
    code, said, err = run("peer", "list", "--json")
    assert json.loads(said) == []

    code, _, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
    assert code == 0, err
    code, _, err = run("peer", "sync")
    assert code == 0, err
    held = _row(pair)
    for bundle_at, snapshot_at in ((ahead, None), (None, ahead)):
        with monkeypatch.context() as m:
            if bundle_at is not None:
                future = export_bundle(pair.bj, now=bundle_at)
                m.setattr("verifier.online.fetch_bundle", lambda _url, f=future: f)
            if snapshot_at is not None:
                later = export_snapshot(pair.bj, now=snapshot_at)
                m.setattr("verifier.online.fetch_revocations", lambda _url, f=later, **_kw: f)
            code, said, err = run("peer", "sync")
        assert code == 1, said
        assert "more than a day after this node's clock" in err
        row = _row(pair)
        assert (row["bundle"], row["snapshot"]) == (held["bundle"], held["snapshot"])
    # A file a few minutes ahead (two clocks a little apart) is taken.
    soon = export_bundle(pair.bj, now=int(time.time()) + 300)
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: soon)
    code, _, err = run("peer", "sync")
    assert code == 0, err
    assert _row(pair)["bundle"] == soon


def test_a_peer_removed_and_added_again_is_read_anew(
    pair: Pair, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verify cache reopens the peers' files when a peer was removed and added again
    meanwhile (the change counter starts anew with it)."""
    old = export_bundle(pair.bj, now=int(time.time()) - 100)
    with monkeypatch.context() as m:
        m.setattr("verifier.online.fetch_bundle", lambda _url: old)
        code, _, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
        assert code == 0, err
    trust = load_peer_trust(pair.cq.node)
    assert [b.issued_at for b in trust.bundles] == [_row(pair)["bundle_issued_at"]]
    code, _, err = run("peer", "remove", "110000")
    assert code == 0, err
    code, _, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
    assert code == 0, err
    again = load_peer_trust(pair.cq.node, trust)
    assert again is not trust
    assert again.bundles[0].issued_at == _row(pair)["bundle_issued_at"] > trust.bundles[0].issued_at


def test_a_peer_removed_and_added_again_in_the_same_second_is_read_anew(
    pair: Pair, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A peer removed and added again in the second it was first added (a script, or a
    clock set back), then synced as often, has the row's times and change count it had,
    but the snapshot stored may be another of the same second: one that revokes a license
    the first said valid. The verify cache opens it anew, never keeping the first."""
    sh = init_node(tmp_path / "sh", region="310000", name="上海市", passphrase=PASSPHRASE, now=NOW)
    try:
        add_agency(sh, code=SHANGHAI_MARKET, name="上海市市场监督管理局", types=[BUSINESS], now=NOW)
        agent = Principal("agency", SHANGHAI_MARKET)
        lic = issue(sh, agent, SHANGHAI_MARKET, business_request(), now=NOW)
        now = int(time.time())
        served = {"bundle": export_bundle(sh, now=now), "snapshot": export_snapshot(sh, now=now)}
        change_status(sh, agent, lic.id, "revoke", reason="吊销", now=NOW + 1)
        revoked = export_snapshot(sh, now=now)  # as of the same second as the first
    finally:
        sh.close()
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: served["bundle"])
    monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: served["snapshot"])
    node, url = pair.cq.node, "http://sh.invalid"
    add_peer(node, url, sh.root_key_id.hex(), now=now)
    assert [s.ok for s in sync_peers(node, now=now)] == [True]
    trust = load_peer_trust(node)
    assert trust.opened["310000"].snapshot is not None
    assert trust.opened["310000"].snapshot.status_of(lic.id) == "01"

    remove_peer(node, "310000")
    served["snapshot"] = revoked
    add_peer(node, url, sh.root_key_id.hex(), now=now)
    assert [s.snapshot_stored for s in sync_peers(node, now=now)] == [True]
    stored = load_peer_trust(node).opened["310000"].snapshot  # the row read afresh
    assert stored is not None
    assert stored.status_of(lic.id) != "01"
    again = load_peer_trust(node, trust)
    kept = again.opened["310000"].snapshot
    assert kept is not None
    assert kept.status_of(lic.id) == stored.status_of(lic.id)


def test_one_failing_peer_does_not_stop_the_others(
    pair: Pair, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sh = init_node(tmp_path / "sh", region="310000", name="上海市", passphrase=PASSPHRASE, now=NOW)
    try:
        sh_bundle = export_bundle(sh, now=int(time.time()))
    finally:
        sh.close()
    code, said, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
    assert code == 0, err
    real = __import__("verifier.online", fromlist=["fetch_bundle"]).fetch_bundle
    sh_url = "http://sh.invalid"

    def fetch_bundle(url: str) -> bytes:
        return sh_bundle if url == sh_url else real(url)

    monkeypatch.setattr("verifier.online.fetch_bundle", fetch_bundle)
    code, said, err = run("peer", "add", sh_url, "--pin", sh.root_key_id.hex())
    assert code == 0, err
    code, said, err = run("peer", "sync")
    assert code == 1
    assert "110000 ok: " in said
    assert "bundle, stored snapshot" in said
    assert "310000 FAILED: cannot reach http://sh.invalid" in err
    assert "1 of 2 peers failed: 310000" in err
    assert _row(pair)["snapshot"] is not None


def test_unreachable_is_reported(pair: Pair, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
    assert code == 0, err

    def down(url: str, **_kw: object) -> bytes:
        raise NodeUnreachable(f"cannot reach {url}: down")

    monkeypatch.setattr("verifier.online.fetch_revocations", down)
    code, said, err = run("--json", "peer", "sync")
    assert code == 1
    assert json.loads(said)[0]["error"].startswith("cannot reach")
    assert _row(pair)["snapshot"] is None


def _verify(client: TestClient, text: str) -> dict[str, object]:
    answer = client.post("/v1/verify", json={"text": text})
    assert answer.status_code == 200, answer.text
    verdict = answer.json()
    assert isinstance(verdict, dict)
    return verdict


def test_the_node_verifies_a_peers_licenses_with_its_snapshot(
    pair: Pair, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eseal.trust_export.BUNDLE_CACHE_SECONDS", 0)  # rebuilt each time
    with TestClient(create_app(pair.cq.node)) as client:
        before = _verify(client, pair.valid_qr)
        assert before["status"] == "UNKNOWN_ISSUER", before
        assert client.get("/healthz").json()["peers"] == []

        code, _, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
        assert code == 0, err
        unsynced = _verify(client, pair.valid_qr)  # the bundle, no snapshot yet
        assert unsynced["status"] == "VALID", unsynced
        assert "NO_STATUS" in unsynced["warnings"]  # type: ignore[operator]

        code, _, err = run("peer", "sync")
        assert code == 0, err
        valid = _verify(client, pair.valid_qr)
        assert valid["status"] == "VALID", valid
        assert valid["colour"] == "green", valid
        assert valid["issuer"]["region"] == "110000"  # type: ignore[index]
        assert valid["issuer"]["agency_code"] == BEIJING_MARKET  # type: ignore[index]
        fresh = valid["freshness"]
        assert fresh["status_source"] == "offline"  # type: ignore[index]
        assert fresh["status_as_of"] == _row(pair)["snapshot_as_of"]  # type: ignore[index]
        revoked = _verify(client, pair.revoked_qr)
        assert revoked["status"] == "REVOKED", revoked
        assert client.get("/healthz").json()["peers"] == ["110000"]

        # Its own region's licenses are still answered online from its own database.
        own = issue(
            pair.cq.node,
            Principal("agency", pair.cq.market.code),
            pair.cq.market.code,
            business_request(),
            now=NOW,
        )
        ours = _verify(client, own.qr_text)
        assert ours["status"] == "VALID", ours
        assert ours["freshness"]["status_source"] == "online"  # type: ignore[index]

        code, _, err = run("peer", "remove", "110000")
        assert code == 0, err
        assert _verify(client, pair.valid_qr)["status"] == "UNKNOWN_ISSUER"


def test_a_peers_snapshot_goes_stale_after_the_max_age(
    pair: Pair, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("eseal.trust_export.BUNDLE_CACHE_SECONDS", 0)
    old = int(time.time()) - 10 * 86400
    monkeypatch.setattr(
        "verifier.online.fetch_bundle", lambda _url: export_bundle(pair.bj, now=old)
    )
    monkeypatch.setattr(
        "verifier.online.fetch_revocations", lambda _url, **_kw: export_snapshot(pair.bj, now=old)
    )
    code, _, err = run("peer", "add", pair.bj_url, "--pin", pair.bj_pin)
    assert code == 0, err
    code, _, err = run("peer", "sync")
    assert code == 0, err
    with TestClient(create_app(pair.cq.node)) as client:
        verdict = _verify(client, pair.valid_qr)
    assert verdict["status"] == "VALID", verdict
    assert "STALE_STATUS" in verdict["warnings"]  # type: ignore[operator]
    assert verdict["colour"] != "green"


SHANGHAI_MARKET = "11310000MB0123456F"


def test_a_sync_reopens_only_the_peers_whose_files_changed(
    pair: Pair, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verify cache rebuilt after a sync that stored something new for one peer of two
    reads and opens that peer's files alone (a stored file is up to 32 MiB); the other's
    stay as opened, and both peers' licenses are still VALID and REVOKED. A peer removed
    and added again is opened anew."""
    monkeypatch.setattr("eseal.trust_export.BUNDLE_CACHE_SECONDS", 0)  # rebuilt each time
    sh = init_node(tmp_path / "sh", region="310000", name="上海市", passphrase=PASSPHRASE, now=NOW)
    try:
        add_agency(sh, code=SHANGHAI_MARKET, name="上海市市场监督管理局", types=[BUSINESS], now=NOW)
        request = IssueRequest(
            BUSINESS,
            "上海小面餐饮有限公司",
            "91110000MA0012345C",
            {**business_request().fields, "address": "上海市黄浦区"},
        )
        agent = Principal("agency", SHANGHAI_MARKET)
        sh_valid = issue(sh, agent, SHANGHAI_MARKET, request, now=NOW).qr_text
        sh_revoked = issue(sh, agent, SHANGHAI_MARKET, request, now=NOW)
        change_status(sh, agent, sh_revoked.id, "revoke", reason="吊销", now=NOW + 1)
        now = int(time.time())
        sh_pin = sh.root_key_id.hex()
        sh_url = "http://sh.invalid"
        # Each node's files as its URL serves them (fixed bytes: a sync stores only news).
        served = {
            (sh_url, "bundle"): export_bundle(sh, now=now),
            (sh_url, "snapshot"): export_snapshot(sh, now=now),
            (pair.bj_url, "bundle"): export_bundle(pair.bj, now=now),
            (pair.bj_url, "snapshot"): export_snapshot(pair.bj, now=now),
        }
    finally:
        sh.close()
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda url: served[url, "bundle"])
    monkeypatch.setattr(
        "verifier.online.fetch_revocations", lambda url, **_kw: served[url, "snapshot"]
    )
    for url, pin in ((pair.bj_url, pair.bj_pin), (sh_url, sh_pin)):
        code, _, err = run("peer", "add", url, "--pin", pin)
        assert code == 0, err
    code, _, err = run("peer", "sync")
    assert code == 0, err

    opened: list[str] = []  # the region of each stored file opened, in order

    def counted_bundle(data: bytes, **kwargs: Any) -> TrustBundle:
        bundle = open_bundle(data, **kwargs)
        opened.append(f"{bundle.region} bundle")
        return bundle

    def counted_snapshot(data: bytes, store: TrustStore) -> RevocationSnapshot:
        snapshot = open_snapshot(data, store)
        opened.append(f"{snapshot.region} snapshot")
        return snapshot

    monkeypatch.setattr("eseal.peers.open_bundle", counted_bundle)
    monkeypatch.setattr("eseal.peers.open_snapshot", counted_snapshot)
    both = ["VALID", "REVOKED", "VALID", "REVOKED"]
    with TestClient(create_app(pair.cq.node)) as client:

        def verdicts() -> list[object]:
            texts = (pair.valid_qr, pair.revoked_qr, sh_valid, sh_revoked.qr_text)
            return [_verify(client, text)["status"] for text in texts]

        assert verdicts() == both
        assert sorted(opened) == [
            "110000 bundle",
            "110000 snapshot",
            "310000 bundle",
            "310000 snapshot",
        ]
        opened.clear()
        assert verdicts() == both
        assert opened == []  # nothing stored since: nothing read again

        # 北京's node has a newer snapshot; 上海's files are as held.
        served[pair.bj_url, "snapshot"] = export_snapshot(pair.bj, now=now + 60)
        code, said, err = run("--json", "peer", "sync")
        assert code == 0, said
        stored = {s["region"]: s["snapshot_stored"] for s in json.loads(said)}
        assert stored == {"110000": True, "310000": False}
        assert verdicts() == both
        assert opened == ["110000 bundle", "110000 snapshot"]
        opened.clear()

        # 上海 removed: its licenses have an unknown issuer, nothing opened; added again
        # (no snapshot until its sync): its bundle opened anew, then its snapshot.
        code, _, err = run("peer", "remove", "310000")
        assert code == 0, err
        assert _verify(client, sh_valid)["status"] == "UNKNOWN_ISSUER"
        assert _verify(client, pair.revoked_qr)["status"] == "REVOKED"
        assert opened == []
        code, _, err = run("peer", "add", sh_url, "--pin", sh_pin)
        assert code == 0, err
        unsynced = _verify(client, sh_revoked.qr_text)
        assert unsynced["status"] == "VALID", unsynced
        assert "NO_STATUS" in unsynced["warnings"]  # type: ignore[operator]
        assert opened == ["310000 bundle"]
        opened.clear()
        code, _, err = run("peer", "sync")
        assert code == 0, err
        assert verdicts() == both
        assert opened == ["310000 bundle", "310000 snapshot"]


@pytest.mark.postgres
def test_peers_on_postgres(
    pair: Pair,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same on PostgreSQL, where a sync locks the peer's row (SELECT … FOR UPDATE)."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "pg", url)
    try:
        data = ["--data", str(tmp_path / "pg")]
        code, _, err = run_eseal(
            [*data, "peer", "add", pair.bj_url, "--pin", pair.bj_pin], capsys, monkeypatch
        )
        assert code == 0, err
        code, _, err = run_eseal([*data, "peer", "sync"], capsys, monkeypatch)
        assert code == 0, err
        with node.sql.read_engine.connect() as conn:
            held = conn.execute(select(PEER_TABLE.c.bundle_issued_at)).scalar_one()
        old = export_bundle(pair.bj, now=held - 60)
        monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: old)
        code, _, err = run_eseal([*data, "peer", "sync"], capsys, monkeypatch)
        assert code == 1
        assert "before the one held" in err
        with TestClient(create_app(node)) as client:
            assert _verify(client, pair.valid_qr)["colour"] == "green"
            assert _verify(client, pair.revoked_qr)["status"] == "REVOKED"
    finally:
        node.close()


def _sync_overtaken(
    node: Node,
    bj: Node,
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    *,
    bundle_too: bool,
    cli: Run | None = None,
) -> None:
    """Two syncs of one peer at once (cron and an operator): the second fetches later files
    (a later snapshot; and a later bundle, ``bundle_too``) and stores them while the first
    is between reading the files it holds and storing its own. The first then finds the
    newer files already held: no error (no replay happened), nothing of its own stored, and
    it reports the files held (``cli``: the first is ``eseal peer sync``, which says so)."""
    start = int(time.time())
    held = {"bundle": export_bundle(bj, now=start - 60), "snapshot": export_snapshot(bj, now=start)}
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: held["bundle"])
    monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: held["snapshot"])
    add_peer(node, url, bj.root_key_id.hex(), now=start)
    (first,) = sync_peers(node, now=start)
    assert first.ok, first.error
    # The first sync fetches the bundle and snapshot the peer serves now...
    older = {"bundle": export_bundle(bj, now=start), "snapshot": export_snapshot(bj, now=start + 1)}
    newer = {
        "bundle": export_bundle(bj, now=start + 1) if bundle_too else older["bundle"],
        "snapshot": export_snapshot(bj, now=start + 2),
    }
    served = dict(older)
    overtaken: list[list[Synced]] = []
    asked: list[bool] = []

    def fetch_revocations(_url: str, **_kw: object) -> bytes:
        if not asked:  # ...while another sync stores the peer's later files
            asked.append(True)
            served.update(newer)
            overtaken.append(sync_peers(node, now=start + 2))
            served.update(older)
        return served["snapshot"]

    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: served["bundle"])
    monkeypatch.setattr("verifier.online.fetch_revocations", fetch_revocations)
    if cli is None:
        (synced,) = sync_peers(node, now=start + 2)
    else:
        code, said, err = cli("peer", "sync")
        assert code == 0, err
    ((other,),) = overtaken
    assert (other.ok, other.bundle_stored, other.snapshot_stored) == (True, True, True)
    assert other.bundle_issued_at == start + bundle_too
    if cli is None:
        assert synced.error is None
        assert (synced.bundle_stored, synced.snapshot_stored) == (False, False)
        assert synced.superseded
        assert (synced.bundle_issued_at, synced.snapshot_as_of) == (
            other.bundle_issued_at,
            other.snapshot_as_of,
        )
    else:
        signed = utc_time(other.bundle_issued_at or 0)
        assert (
            f"110000 ok: another sync stored newer files meanwhile, held (bundle signed {signed}"
            in said
        )
    with node.sql.read_engine.connect() as conn:
        row = conn.execute(select(PEER_TABLE).where(PEER_TABLE.c.region == "110000")).one()
    assert (row.bundle, row.snapshot, row.error) == (newer["bundle"], newer["snapshot"], None)
    # Without another sync storing meanwhile, the same older files are still refused.
    (replayed,) = sync_peers(node, now=start + 2)
    assert replayed.error is not None
    assert "before the one held" in replayed.error
    assert not replayed.superseded


@pytest.mark.parametrize("bundle_too", [False, True], ids=["snapshot", "bundle-and-snapshot"])
@pytest.mark.parametrize("through_cli", [False, True], ids=["call", "cli"])
def test_a_sync_overtaken_by_another_reports_the_newer_files_held(
    pair: Pair, run: Run, monkeypatch: pytest.MonkeyPatch, bundle_too: bool, through_cli: bool
) -> None:
    cli = run if through_cli else None
    _sync_overtaken(pair.cq.node, pair.bj, pair.bj_url, monkeypatch, bundle_too=bundle_too, cli=cli)


@pytest.mark.postgres
def test_a_sync_overtaken_by_another_on_postgres(
    pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same on PostgreSQL, where the row read in the transaction is locked."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "pg", url)
    try:
        _sync_overtaken(node, pair.bj, pair.bj_url, monkeypatch, bundle_too=False)
    finally:
        node.close()


@pytest.mark.parametrize(
    "replayed", ["snapshot", "bundle", "snapshot-bundle-unchanged", "bundle-of-its-second"]
)
def test_a_replay_is_refused_though_another_sync_stored_meanwhile(
    pair: Pair, run: Run, monkeypatch: pytest.MonkeyPatch, replayed: str
) -> None:
    """A sync is answered a file older than the one held when it started (an old file
    replayed over plain HTTP; for a bundle, also another signed in the same second as the
    one held), while another sync of the peer stores the peer's later files (a later
    snapshot under the same bundle, ``snapshot-bundle-unchanged``): the row changed
    meanwhile, but the file is older than what this sync held before it asked, so it is a
    replay all the same, refused and recorded on the peer, not dropped as overtaken."""
    node, bj, start = pair.cq.node, pair.bj, int(time.time())
    held = {"bundle": export_bundle(bj, now=start - 60), "snapshot": export_snapshot(bj, now=start)}
    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: held["bundle"])
    monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: held["snapshot"])
    add_peer(node, pair.bj_url, bj.root_key_id.hex(), now=start)
    (first,) = sync_peers(node, now=start)
    assert first.ok, first.error
    old_bundle = {
        "bundle": export_bundle(bj, now=start - 120),
        "bundle-of-its-second": sign_bundle(
            replace(build_bundle(bj, now=start - 60), name="另一份"), bj.require_root_key()
        ),
    }.get(replayed, held["bundle"])
    assert (old_bundle == held["bundle"]) == replayed.startswith("snapshot")
    old = {
        "bundle": old_bundle,
        "snapshot": export_snapshot(bj, now=start - 30 if "snapshot" in replayed else start + 1),
    }
    newer = {
        "bundle": held["bundle"]
        if replayed.endswith("unchanged")
        else export_bundle(bj, now=start + 1),
        "snapshot": export_snapshot(bj, now=start + 2),
    }
    served = dict(old)
    overtaken: list[list[Synced]] = []
    asked: list[bool] = []

    def fetch_revocations(_url: str, **_kw: object) -> bytes:
        if not asked:  # another sync stores the peer's later files meanwhile
            asked.append(True)
            served.update(newer)
            overtaken.append(sync_peers(node, now=start + 2))
            served.update(old)
        return served["snapshot"]

    monkeypatch.setattr("verifier.online.fetch_bundle", lambda _url: served["bundle"])
    monkeypatch.setattr("verifier.online.fetch_revocations", fetch_revocations)
    (synced,) = sync_peers(node, now=start + 2)
    ((other,),) = overtaken
    assert other.ok, other.error
    assert synced.error is not None
    assert "before the one held" in synced.error
    assert not synced.superseded
    row = _row(pair)
    assert (row["bundle"], row["snapshot"]) == (newer["bundle"], newer["snapshot"])
    assert row["error"] == synced.error
