"""A peer held to witnesses: 北京's node (110000) has its log cosigned by two witnesses,
广东 and 江苏 (in process, through their ASGI apps); 重庆's node (500000) peers with it,
holding it to a witness policy file, and stores a snapshot of 北京's only when its
checkpoint carries the cosignatures of the policy's quorum. The snapshot's checkpoint note
carries the witnesses' lines, which readers that do not know their keys ignore."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from eseal import peer_sync
from eseal.agencies import Principal, add_agency
from eseal.api.app import create_app
from eseal.licenses import IssueRequest, change_status, issue
from eseal.node import Node, init_node
from eseal.peers import PEER_TABLE
from eseal.trust_export import build_bundle, export_bundle, export_snapshot
from eseal.witness import add_log, require_witness_key
from eseal.witness_ask import add_witness, ask, cosigned_checkpoint
from ledger.checkpoint import Checkpoint, signature_line, verify_checkpoint
from ledger.cosignature import parse_cosigner_key
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
from tests.vectors import independent
from verifier import online
from verifier.revocation import build_snapshot, open_snapshot, sign_snapshot
from verifier.trust import TrustStore, open_bundle, sign_bundle
from verifier.witness_policy import parse_policy

Run = Callable[..., tuple[int, str, str]]
BEIJING_MARKET = "11110000MB01234562"
GD, JS, ZJ = "http://gd.test", "http://js.test", "http://zj.test"


@dataclass
class World:
    cq: Region
    cq_dir: Path
    bj: Node
    bj_dir: Path
    bj_url: str
    keys: dict[str, str]  # the witnesses' cosignature/v1 verifier keys, by URL
    cosigned: int  # the size of the checkpoint both witnesses cosigned
    cosigned_export: bytes  # the snapshot exported while that was the latest checkpoint
    valid: Any
    revoked: Any
    later_at: int  # when a license recorded after the witnesses cosigned was issued

    @property
    def pin(self) -> str:
        return self.bj.root_key_id.hex()


def beijing(data_dir: Path) -> tuple[Node, Principal, IssueRequest]:
    """北京's node with its market agency: the node, the agency's principal, a license
    request of its."""
    bj = init_node(data_dir, region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW)
    add_agency(bj, code=BEIJING_MARKET, name="北京市市场监督管理局", types=[BUSINESS], now=NOW)
    request = IssueRequest(
        BUSINESS,
        "北京小面餐饮有限公司",
        "91110000MA0012345C",
        {**business_request().fields, "address": "北京市东城区"},
    )
    return bj, Principal("agency", BEIJING_MARKET), request


#: The regions whose nodes witness 北京's log in these tests, by the URL they answer at.
_WITNESS_REGIONS = {GD: ("440000", "广东省"), JS: ("320000", "江苏省"), ZJ: ("330000", "浙江省")}


def witness_nodes(factory: pytest.TempPathFactory, *urls: str) -> dict[str, Node]:
    """A node of each witness region at ``urls`` (GD, JS, ZJ), by URL."""
    return {
        url: init_node(factory.mktemp(code), region=code, name=name, passphrase=PASSPHRASE, now=NOW)
        for url in urls
        for code, name in [_WITNESS_REGIONS[url]]
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    cq_dir = tmp_path_factory.mktemp("cq")
    cq = make_region(cq_dir)
    bj_dir = tmp_path_factory.mktemp("bj")
    bj, agent, request = beijing(bj_dir)
    valid = issue(bj, agent, BEIJING_MARKET, request, now=NOW)
    revoked = issue(bj, agent, BEIJING_MARKET, request, now=NOW)
    change_status(bj, agent, revoked.id, "revoke", reason="吊销", now=NOW + 1)
    witnesses = witness_nodes(tmp_path_factory, GD, JS, ZJ)
    keys = {url: require_witness_key(node).verifier_key for url, node in witnesses.items()}
    for url in (GD, JS):  # 浙江 is never asked
        add_log(witnesses[url], bj.config.origin, bj.config.log_verifier, now=NOW)
        add_witness(bj, url, keys[url], now=NOW)
    done = ask(
        bj, now=NOW + 2, client_for=lambda u: TestClient(create_app(witnesses[u]), base_url=u)
    )
    assert [d.outcome for d in done] == ["cosigned", "cosigned"]
    cosigned = bj.log.size()
    cosigned_export = export_snapshot(bj, now=int(time.time()))
    # Recorded after the witnesses cosigned, as a region records all day: the latest
    # checkpoint is then one they have not cosigned.
    later_at = int(time.time()) - 3600  # before the margin of a snapshot made now
    issue(bj, agent, BEIJING_MARKET, request, now=later_at)
    server, thread, url = serve_app(bj)
    try:
        yield World(
            cq, cq_dir, bj, bj_dir, url, keys, cosigned, cosigned_export, valid, revoked, later_at
        )
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        cq.node.close()
        bj.close()
        for node in witnesses.values():
            node.close()


@pytest.fixture
def run(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Run]:
    """``eseal --data <重庆> ARGS`` as (exit code, stdout, stderr); the peers are removed
    after the test."""

    def run(*args: str) -> tuple[int, str, str]:
        return run_eseal(["--data", str(world.cq_dir), *args], capsys, monkeypatch)

    yield run
    with world.cq.node.sql.write_engine.begin() as conn:
        conn.execute(PEER_TABLE.delete())


def _policy(world: World, path: Path, *, with_zj: bool = False, log: str | None = None) -> str:
    """A policy holding 北京's log (or ``log``) to 广东 and 江苏 (and 浙江), all of them."""
    lines = [
        "# 北京市的账本",
        f"log {log or world.bj.config.log_verifier}",
        f"witness gd {world.keys[GD]}",
        f"witness js {world.keys[JS]}",
    ]
    if with_zj:
        lines += [f"witness zj {world.keys[ZJ]}", "group all3 all gd js zj", "quorum all3"]
    else:
        lines += ["group both all gd js", "quorum both"]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def _row(world: World) -> dict[str, Any]:
    with world.cq.node.sql.read_engine.connect() as conn:
        row = conn.execute(select(PEER_TABLE).where(PEER_TABLE.c.region == "110000")).one()
    return dict(row._mapping)


def _asks_recorded(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The options each sync fetches a snapshot with, in order (fetched as before)."""
    asked: list[dict[str, Any]] = []
    real = online.fetch_revocations

    def fetch_revocations(url: str, **kwargs: Any) -> bytes | None:
        asked.append({k: v for k, v in kwargs.items() if v not in (None, False)})
        answered: bytes | None = real(url, **kwargs)
        return answered

    monkeypatch.setattr(online, "fetch_revocations", fetch_revocations)
    return asked


def _bundle_bytes(world: World) -> bytes:
    return export_bundle(world.bj, now=int(time.time()))


def test_the_snapshots_checkpoint_carries_its_cosignatures_and_still_opens(
    world: World,
) -> None:
    """Exported while its latest checkpoint was cosigned, the snapshot's note carries both
    witnesses' lines after the log's own; eseal's reader and the independent one of the
    test vectors (which know no witness key) open it as before."""
    data = world.cosigned_export
    bundle_bytes = _bundle_bytes(world)
    bundle = open_bundle(bundle_bytes, pinned_roots={world.bj.root_key_id})
    snapshot = open_snapshot(data, TrustStore([bundle]))
    plain = world.bj.log.store.checkpoint(world.cosigned)
    assert plain is not None
    assert snapshot.checkpoint == cosigned_checkpoint(world.bj, world.cosigned)
    assert snapshot.checkpoint.startswith(plain)
    extra = snapshot.checkpoint[len(plain) :].splitlines()
    assert len(extra) == 2
    assert all(line.startswith("— ") for line in extra)
    assert verify_checkpoint(snapshot.checkpoint, world.bj.log_verifier).size == world.cosigned
    outside = independent.Snapshot(data, independent.Bundle(bundle_bytes, world.pin))
    assert outside.status_of(world.revoked.id) == "07"
    assert outside.status_of(world.valid.id) == "01"

    # A snapshot as made before (the plain note) opens as it did.
    old = build_snapshot(
        region="110000",
        as_of=snapshot.as_of,
        checkpoint=plain,
        licenses=[(world.valid.id, "01"), (world.revoked.id, "07")],
    )
    opened = open_snapshot(sign_snapshot(old, world.bj.require_log_key()), TrustStore([bundle]))
    assert opened.checkpoint == plain
    assert opened.status_of(world.revoked.id) == "07"


def test_a_witnessed_snapshot_is_cut_at_the_checkpoint_the_witnesses_cosigned(
    world: World, tmp_path: Path
) -> None:
    """The latest checkpoint, recorded after the witnesses cosigned, carries none of their
    lines; asked ``?witnessed=1``, the node cuts the snapshot at the one they cosigned, with
    their lines, and it speaks for the licenses recorded before it only."""
    bundle = open_bundle(_bundle_bytes(world), pinned_roots={world.bj.root_key_id})
    store = TrustStore([bundle])
    policy = parse_policy(Path(_policy(world, tmp_path / "p")).read_bytes())
    log = world.bj.log_verifier
    latest = open_snapshot(export_snapshot(world.bj, now=int(time.time())), store)
    assert Checkpoint.of_note(latest.checkpoint).size == world.bj.log.size() > world.cosigned
    assert not policy.check(latest.checkpoint, log).met

    with httpx.Client() as client:
        served = client.get(world.bj_url + "/v1/revocations", params={"witnessed": "1"})
        assert served.status_code == 200, served.text
        wrong = client.get(world.bj_url + "/v1/revocations", params={"witnessed": "yes"})
        assert wrong.status_code == 422
        assert wrong.headers["content-type"] == "application/problem+json"
    cut = open_snapshot(served.content, store)
    assert Checkpoint.of_note(cut.checkpoint).size == world.cosigned
    assert cut.checkpoint == cosigned_checkpoint(world.bj, world.cosigned)
    witnessing = policy.check(cut.checkpoint, log)
    assert witnessing.met
    assert witnessing.cosigners == ("gd", "js")
    assert cut.issued == 2  # the later license is beyond the cut
    assert cut.as_of == world.later_at - 1  # before the later license
    assert cut.status_of(world.revoked.id) == "07"


def test_revocations_export_witnessed_cuts_at_the_cosigned_checkpoint(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    bundle = open_bundle(_bundle_bytes(world), pinned_roots={world.bj.root_key_id})
    sizes = {}
    for flag in ("--witnessed", None):
        out = tmp_path / f"{flag}.json"
        args = ["--data", str(world.bj_dir), "revocations", "export", "--out", str(out)]
        code, _, err = run_eseal([*args, *([flag] if flag else [])], capsys, monkeypatch)
        assert code == 0, err
        cut = open_snapshot(out.read_bytes(), TrustStore([bundle]))
        sizes[flag] = Checkpoint.of_note(cut.checkpoint).size
    assert sizes == {"--witnessed": world.cosigned, None: world.bj.log.size()}


def test_a_sync_the_quorum_has_not_cosigned_is_refused_and_stores_nothing(
    world: World, run: Run, tmp_path: Path
) -> None:
    """Held to 广东, 江苏 and 浙江 (who never cosigned 北京's log), no snapshot of 北京's is
    stored: the sync fails with the policy's count, the row keeps what it had."""
    strict = _policy(world, tmp_path / "strict.policy", with_zj=True)
    code, said, err = run(
        "peer", "add", world.bj_url, "--pin", world.pin, "--witness-policy", strict
    )
    assert code == 0, err
    assert "witnesses: quorum all3 = all of (gd, js, zj)" in said
    before = _row(world)
    assert before["witness_policy"] == Path(strict).read_text(encoding="utf-8")
    code, said, err = run("peer", "sync")
    assert code == 1, said
    assert f"110000 FAILED: the checkpoints {world.bj_url} lists as cosigned" in err
    assert (
        f"are not witnessed as required: 1 listed, the most cosigned, checkpoint of size "
        f"{world.cosigned} cosigned by 2 of 3 witness keys (gd, js), required: quorum "
        "all3 = all of (gd, js, zj)"
    ) in err
    after = _row(world)
    assert after["snapshot"] is None
    assert after["snapshot_as_of"] is None
    assert (after["bundle"], after["changes"]) == (before["bundle"], before["changes"])
    assert "not witnessed as required" in after["error"]
    code, said, _ = run("peer", "list")
    assert "witnesses: quorum all3" in said
    assert "last error: the checkpoints" in said


def test_a_sync_the_quorum_cosigned_is_stored_and_a_later_unwitnessed_one_refused(
    world: World, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held to 广东 and 江苏: the snapshot is asked ``?witnessed=1`` and stored; a snapshot
    then cut at a checkpoint they never cosigned (what a peer showing this node a branch
    of its ledger would serve) is refused and the one held stays."""
    both = _policy(world, tmp_path / "both.policy")
    code, said, err = run("peer", "add", world.bj_url, "--pin", world.pin, "--witness-policy", both)
    assert code == 0, err
    asked = _asks_recorded(monkeypatch)
    code, said, err = run("--json", "peer", "sync")
    assert code == 0, err
    assert asked == [{"at": world.cosigned}]
    (synced,) = json.loads(said)
    assert synced["snapshot_stored"] is True
    assert synced["witnessed"] == (
        f"checkpoint of size {world.cosigned} cosigned by 2 of 2 witness keys (gd, js), "
        "required: quorum both = all of (gd, js)"
    )
    held = _row(world)
    bundle = open_bundle(bytes(held["bundle"]), pinned_roots={world.bj.root_key_id})
    stored = open_snapshot(bytes(held["snapshot"]), TrustStore([bundle]))
    assert Checkpoint.of_note(stored.checkpoint).size == world.cosigned

    unwitnessed = export_snapshot(world.bj, now=int(time.time()) + 5)  # the latest: no lines
    monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: unwitnessed)
    code, said, err = run("peer", "sync")
    assert code == 1, said
    assert "cosigned by 0 of 2 witness keys, required: quorum both" in err
    after = _row(world)
    for column in ("bundle", "bundle_issued_at", "snapshot", "snapshot_as_of", "changes"):
        assert after[column] == held[column], column


def test_a_forged_cosignature_refuses_the_snapshot(
    world: World, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line in 广东's name and key hash that does not verify (a cosignature of another
    checkpoint moved onto this one, say) refuses the snapshot, whatever the quorum."""
    both = _policy(world, tmp_path / "both.policy")
    code, _, err = run("peer", "add", world.bj_url, "--pin", world.pin, "--witness-policy", both)
    assert code == 0, err
    gd = parse_cosigner_key(world.keys[GD])
    plain = world.bj.log.store.checkpoint(world.cosigned)
    assert plain is not None
    forged_note = plain + signature_line(gd.name, gd.key_hash, bytes(8) + bytes(64))
    forged = sign_snapshot(
        build_snapshot(
            region="110000",
            as_of=world.later_at - 1,
            checkpoint=forged_note,
            licenses=[(world.valid.id, "01"), (world.revoked.id, "07")],
        ),
        world.bj.require_log_key(),
    )
    monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: forged)
    code, said, err = run("peer", "sync")
    assert code == 1, said
    assert "does not verify" in err
    assert _row(world)["snapshot"] is None


@pytest.mark.parametrize("flaw", ["other log", "malformed", "missing"])
def test_a_policy_that_cannot_hold_the_peer_is_refused_at_add(
    world: World, run: Run, tmp_path: Path, flaw: str
) -> None:
    path = tmp_path / "p.policy"
    if flaw == "other log":
        _policy(world, path, log=world.cq.node.config.log_verifier)
        said_so = "names no log key"
    elif flaw == "malformed":
        path.write_text("log nonsense\nquorum none\n", encoding="utf-8")
        said_so = "line 1: log key"
    else:
        said_so = "does not exist"
    code, said, err = run(
        "peer", "add", world.bj_url, "--pin", world.pin, "--witness-policy", str(path)
    )
    assert code == 2, said
    assert said_so in err
    assert str(path) in err
    code, said, _ = run("peer", "list", "--json")
    assert json.loads(said) == []


def _verify(client: TestClient, text: str) -> dict[str, Any]:
    answer = client.post("/v1/verify", json={"text": text})
    assert answer.status_code == 200, answer.text
    verdict: dict[str, Any] = answer.json()
    return verdict


def _status_check(verdict: dict[str, Any]) -> dict[str, Any]:
    checks: list[dict[str, Any]] = verdict["checks"]
    (check,) = [c for c in checks if c["step"] == "status"]
    return check


def test_the_node_says_a_peers_status_was_witnessed(
    world: World, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The verdicts on a witnessed peer's licenses say how its snapshot's checkpoint was
    witnessed, in the words of an online answer under a witness policy; a policy whose
    quorum the stored snapshot does not meet withholds its good news (NO_STATUS), as an
    online answer's, and still counts its revocations."""
    monkeypatch.setattr("eseal.trust_export.BUNDLE_CACHE_SECONDS", 0)  # rebuilt each time
    both = _policy(world, tmp_path / "both.policy")
    code, _, err = run("peer", "add", world.bj_url, "--pin", world.pin, "--witness-policy", both)
    assert code == 0, err
    code, _, err = run("peer", "sync")
    assert code == 0, err
    witnessed = (
        f"checkpoint of size {world.cosigned} cosigned by 2 of 2 witness keys (gd, js), "
        "required: quorum both = all of (gd, js)"
    )
    with TestClient(create_app(world.cq.node)) as client:
        valid = _verify(client, world.valid.qr_text)
        assert (valid["status"], valid["colour"]) == ("VALID", "green"), valid
        check = _status_check(valid)
        assert check["ok"] is True
        assert check["detail"].startswith("offline status 01 as of ")
        assert check["detail"].endswith(f"; {witnessed}")
        as_data = {
            "checkpoint_size": world.cosigned,
            "cosigners": ["gd", "js"],
            "witnesses": 2,
            "quorum": 2,
            "rule": "both = all of (gd, js)",
            "met": True,
            "extended_to": None,
            "unwitnessed": None,
        }
        assert valid["freshness"]["status_source"] == "offline"
        assert valid["freshness"]["witnessed"] == as_data
        revoked = _verify(client, world.revoked.qr_text)
        assert revoked["status"] == "REVOKED", revoked
        assert revoked["reasons"][0].endswith(f"; {witnessed}")
        assert revoked["freshness"]["witnessed"] == as_data

        # Held since to a quorum its stored snapshot does not meet (浙江 added).
        strict = Path(_policy(world, tmp_path / "strict.policy", with_zj=True))
        with world.cq.node.sql.write_engine.begin() as conn:
            conn.execute(
                update(PEER_TABLE).values(
                    witness_policy=strict.read_text(encoding="utf-8"),
                    changes=PEER_TABLE.c.changes + 1,
                )
            )
        unmet = _verify(client, world.valid.qr_text)
        assert unmet["status"] == "VALID", unmet
        assert "NO_STATUS" in unmet["warnings"]
        check = _status_check(unmet)
        assert check["ok"] is False
        assert check["detail"] == (
            "the snapshot's checkpoint is not witnessed as required: checkpoint of size "
            f"{world.cosigned} cosigned by 2 of 3 witness keys (gd, js), required: quorum "
            "all3 = all of (gd, js, zj)"
        )
        # Withheld: no status believed, and the verdict says why as data.
        assert unmet["freshness"]["status_source"] == "none"
        short = as_data | {"witnesses": 3, "quorum": 3, "rule": "all3 = all of (gd, js, zj)"}
        assert unmet["freshness"]["witnessed"] == short | {"met": False}
        revoked = _verify(client, world.revoked.qr_text)
        assert revoked["status"] == "REVOKED"
        assert revoked["freshness"]["witnessed"] == short | {"met": False}


def test_a_peer_without_a_policy_is_synced_as_before(
    world: World, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No policy: the snapshot is asked as before (no query), stored whatever its witnesses,
    and the verdicts say nothing of witnesses."""
    monkeypatch.setattr("eseal.trust_export.BUNDLE_CACHE_SECONDS", 0)
    code, _, err = run("peer", "add", world.bj_url, "--pin", world.pin)
    assert code == 0, err
    code, said, err = run("--json", "peer", "sync")
    assert code == 0, err
    (synced,) = json.loads(said)
    assert (synced["snapshot_stored"], synced["witnessed"]) == (True, None)
    assert _row(world)["witness_policy"] is None
    with TestClient(create_app(world.cq.node)) as client:
        valid = _verify(client, world.valid.qr_text)
    assert valid["colour"] == "green", valid
    assert "cosigned" not in _status_check(valid)["detail"]
    assert valid["freshness"]["status_source"] == "offline"
    assert valid["freshness"]["witnessed"] is None


def _held(world: World) -> Any:
    held = _row(world)
    bundle = open_bundle(bytes(held["bundle"]), pinned_roots={world.bj.root_key_id})
    return open_snapshot(bytes(held["snapshot"]), TrustStore([bundle]))


def test_a_replayed_snapshot_of_the_same_second_does_not_take_back_a_suspension(
    world: World, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cut at the checkpoint the witnesses cosigned, a snapshot is as of the same second
    each time it is made (before the license recorded after it) while its statuses are
    those when it is made: the one made after a suspension is stored, and the one made
    before, replayed, is not (the one held stays, the sync is no failure)."""
    both = _policy(world, tmp_path / "both.policy")
    code, _, err = run("peer", "add", world.bj_url, "--pin", world.pin, "--witness-policy", both)
    assert code == 0, err
    agent = Principal("agency", BEIJING_MARKET)
    before = export_snapshot(world.bj, now=int(time.time()), witnessed=True)
    change_status(world.bj, agent, world.valid.id, "suspend", reason="停业整顿", now=NOW + 2)
    try:
        time.sleep(1.1)  # the bundle served now (its checkpoint grew) is of a later second
        after = export_snapshot(world.bj, now=int(time.time()), witnessed=True)
        monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: after)
        code, _, err = run("peer", "sync")
        assert code == 0, err
        held = _row(world)
        assert _held(world).as_of == world.later_at - 1
        assert _held(world).status_of(world.valid.id) == "02"

        monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: before)
        code, said, err = run("--json", "peer", "sync")
        assert code == 0, err
        (synced,) = json.loads(said)
        assert synced["snapshot_stored"] is False
        after_replay = _row(world)
        for column in ("snapshot", "snapshot_as_of"):
            assert after_replay[column] == held[column], column
        assert _held(world).status_of(world.valid.id) == "02"
    finally:
        change_status(world.bj, agent, world.valid.id, "reinstate", now=NOW + 3)


def test_a_snapshot_of_the_same_second_cut_at_a_later_checkpoint_replaces_the_held_one(
    world: World, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Of two snapshots as of the same second, the one cut at the larger checkpoint is the
    newer: it replaces the one held, and the held one, replayed, does not come back."""
    code, _, err = run("peer", "add", world.bj_url, "--pin", world.pin)
    assert code == 0, err
    as_of = world.later_at - 1
    licenses = [(world.valid.id, "01"), (world.revoked.id, "07")]
    files = {}
    for size in (world.cosigned, world.bj.log.size()):
        note = world.bj.log.store.checkpoint(size)
        assert note is not None
        snapshot = build_snapshot(region="110000", as_of=as_of, checkpoint=note, licenses=licenses)
        files[size] = sign_snapshot(snapshot, world.bj.require_log_key())
    older, later = files.values()
    stored = []
    for served in (older, later, older):
        monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, s=served, **_kw: s)
        code, said, err = run("--json", "peer", "sync")
        assert code == 0, err
        stored.append(json.loads(said)[0]["snapshot_stored"])
    assert stored == [True, True, False]
    assert bytes(_row(world)["snapshot"]) == later


@pytest.mark.postgres
def test_a_witnessed_peer_on_postgres(
    world: World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The policy stored with the peer and the refusal on PostgreSQL (revision eseal_0007)."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "pg", url)
    try:
        data = ["--data", str(tmp_path / "pg")]
        both = _policy(world, tmp_path / "both.policy")
        add = [*data, "peer", "add", world.bj_url, "--pin", world.pin, "--witness-policy", both]
        code, _, err = run_eseal(add, capsys, monkeypatch)
        assert code == 0, err
        code, _, err = run_eseal([*data, "peer", "sync"], capsys, monkeypatch)
        assert code == 0, err
        with node.sql.read_engine.connect() as conn:
            held = conn.execute(select(PEER_TABLE)).one()._mapping
        assert held["witness_policy"] == Path(both).read_text(encoding="utf-8")
        unwitnessed = export_snapshot(world.bj, now=int(time.time()) + 5)
        monkeypatch.setattr("verifier.online.fetch_revocations", lambda _url, **_kw: unwitnessed)
        code, _, err = run_eseal([*data, "peer", "sync"], capsys, monkeypatch)
        assert code == 1
        assert "not witnessed as required" in err
        with node.sql.read_engine.connect() as conn:
            after = conn.execute(select(PEER_TABLE)).one()._mapping
        assert (after["snapshot"], after["changes"]) == (held["snapshot"], held["changes"])
    finally:
        node.close()


def test_peer_policy_changes_the_witnesses_a_peer_is_held_to(
    world: World, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``eseal peer policy REGION --witness-policy FILE`` holds a peer added without one to
    its quorum, and ``--none`` frees it again, keeping the files held: the verify cache
    takes the change (the stored snapshot, which the new quorum does not meet, has its good
    news withheld), the next sync asks ``?witnessed=1``, and ``peer list`` shows it. A file
    that cannot hold the peer (naming another log) is refused (exit 2) and changes nothing."""
    monkeypatch.setattr("eseal.trust_export.BUNDLE_CACHE_SECONDS", 0)
    code, _, err = run("peer", "add", world.bj_url, "--pin", world.pin)
    assert code == 0, err
    code, _, err = run("peer", "sync")
    assert code == 0, err
    held = _row(world)
    with TestClient(create_app(world.cq.node)) as client:
        assert _verify(client, world.valid.qr_text)["colour"] == "green"

        other_log = _policy(world, tmp_path / "other.policy", log=world.cq.node.config.log_verifier)
        code, said, err = run("peer", "policy", "110000", "--witness-policy", other_log)
        assert (code, said) == (2, ""), err
        assert "names no log key" in err
        assert other_log in err
        assert _row(world) == held

        strict = _policy(world, tmp_path / "strict.policy", with_zj=True)
        code, said, err = run("peer", "policy", "110000", "--witness-policy", strict)
        assert code == 0, err
        assert "peer 110000 北京市 held to witnesses: quorum all3 = all of (gd, js, zj)" in said
        after = _row(world)
        assert after["witness_policy"] == Path(strict).read_text(encoding="utf-8")
        assert after["changes"] == held["changes"] + 1
        for column in ("bundle", "snapshot", "snapshot_as_of", "synced_at", "error"):
            assert after[column] == held[column], column
        unmet = _verify(client, world.valid.qr_text)
        assert "NO_STATUS" in unmet["warnings"], unmet
        code, said, _ = run("peer", "list")
        assert "witnesses: quorum all3" in said

        asked = _asks_recorded(monkeypatch)
        code, _, _ = run("peer", "sync")
        assert code == 1  # 浙江 never cosigned
        assert asked == []  # no listed checkpoint meets the quorum: no snapshot fetched

        code, said, err = run("--json", "peer", "policy", "110000", "--none")
        assert code == 0, err
        assert json.loads(said)["witness_policy"] is None
        assert _row(world)["witness_policy"] is None
        assert _verify(client, world.valid.qr_text)["colour"] == "green"

    code, said, err = run("peer", "policy", "110000")
    assert (code, said) == (2, ""), err
    assert "--witness-policy FILE or --none" in err
    code, said, err = run("peer", "policy", "120000", "--none")
    assert (code, said) == (2, ""), err
    assert "is no peer of this node" in err


def test_peer_policy_needs_the_stored_bundle_to_check_the_file_against(
    world: World, run: Run, tmp_path: Path
) -> None:
    """A policy is checked against the log key of the peer's stored bundle: where that no
    longer opens (a damaged store), the change is refused (exit 2), nothing changed."""
    code, _, err = run("peer", "add", world.bj_url, "--pin", world.pin)
    assert code == 0, err
    with world.cq.node.sql.write_engine.begin() as conn:
        conn.execute(update(PEER_TABLE).values(bundle=b"{}"))
    held = _row(world)
    both = _policy(world, tmp_path / "both.policy")
    code, said, err = run("peer", "policy", "110000", "--witness-policy", both)
    assert (code, said) == (2, ""), err
    assert "the stored bundle of peer 110000 does not open" in err
    assert _row(world) == held


def test_peer_policy_refuses_when_a_sync_replaced_the_bundle_it_was_checked_against(
    world: World, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The policy is checked against the stored bundle's log key, then stored: a sync that
    stored the peer's next bundle in between (under its new log key) left a policy naming
    the old key only, which every later sync and the verify cache refuse to apply (the
    peer's snapshot then gives no status). The policy is stored only with the bundle it was
    checked against: else refused (exit 2), nothing changed, and asked again it is checked
    against the new bundle."""
    code, _, err = run("peer", "add", world.bj_url, "--pin", world.pin)
    assert code == 0, err
    rotated = dataclasses.replace(
        build_bundle(world.bj, now=int(time.time()) + 1),
        log_verifier=world.cq.node.config.log_verifier,  # the peer moved to another log key
    )
    data = sign_bundle(rotated, world.bj.require_root_key())
    real = peer_sync.read_policy
    synced: list[bool] = []

    def synced_meanwhile(*args: Any) -> str:
        checked = real(*args)
        if not synced:  # the sync commits once the file was checked, before it is stored
            synced.append(True)
            with world.cq.node.sql.write_engine.begin() as conn:
                conn.execute(
                    update(PEER_TABLE).values(
                        bundle=data,
                        bundle_issued_at=rotated.issued_at,
                        changes=PEER_TABLE.c.changes + 1,
                    )
                )
        return checked

    monkeypatch.setattr(peer_sync, "read_policy", synced_meanwhile)
    held = _row(world)
    both = _policy(world, tmp_path / "both.policy")
    code, said, err = run("peer", "policy", "110000", "--witness-policy", both)
    assert synced == [True]
    assert (code, said) == (2, ""), err
    assert "the stored bundle of peer 110000 was replaced meanwhile" in err
    after = _row(world)
    assert (after["witness_policy"], after["bundle"]) == (None, data)
    assert after["changes"] == held["changes"] + 1  # the sync's, not the policy's

    code, said, err = run("peer", "policy", "110000", "--witness-policy", both)
    assert (code, said) == (2, ""), err  # checked against the bundle now held
    assert "names no log key" in err
    assert _row(world)["witness_policy"] is None


def test_a_sync_after_peer_policy_says_why_the_witnessed_snapshot_waits(
    world: World, run: Run, tmp_path: Path
) -> None:
    """A peer synced under no policy holds a snapshot cut at its latest checkpoint; held to
    witnesses (``peer policy``), its next sync asks for the witnessed cut, older, as of an
    earlier second: refused, the one held kept (its revocations stand, its good news
    withheld), which the error said was a clock gone back or a replay. It now says that the
    held one stays until the witnesses cosign a checkpoint as large."""
    code, _, err = run("peer", "add", world.bj_url, "--pin", world.pin)
    assert code == 0, err
    code, _, err = run("peer", "sync")
    assert code == 0, err
    held = _row(world)
    latest = world.bj.log.size()
    assert latest > world.cosigned
    both = _policy(world, tmp_path / "both.policy")
    code, _, err = run("peer", "policy", "110000", "--witness-policy", both)
    assert code == 0, err
    code, _, err = run("peer", "sync")
    assert code == 1
    assert (
        f"cut at the checkpoint of size {world.cosigned} the witnesses cosigned, below the "
        f"one held, of size {latest}, stored under another witness policy or none: it stays"
    ) in err, err
    assert "until the witnesses cosign a checkpoint of that size or more" in err
    after = _row(world)
    assert (after["snapshot"], after["snapshot_as_of"]) == (
        held["snapshot"],
        held["snapshot_as_of"],
    )
