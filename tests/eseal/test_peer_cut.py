"""The reader-chosen witnessed cut: 北京's log (110000) is cosigned by 广东 (gd) and 江苏 (js)
at size A; 江苏 is then down, and 广东 alone cosigns B > A. ``?witnessed=1`` cuts at A
(most cosigned) for every reader; the node now lists the checkpoints its witnesses cosigned
(``GET /v1/ledger/cosigned``), and 重庆's node (500000), held to a policy, picks the newest
its own quorum met and asks the snapshot cut there (``GET /v1/revocations?at=SIZE``): B for
a policy needing 广东 alone, A for one needing 江苏 or both."""

from __future__ import annotations

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

from eseal.api.app import create_app
from eseal.licenses import issue
from eseal.node import Node
from eseal.peers import PEER_TABLE
from eseal.trust_export import export_bundle
from eseal.witness import add_log, require_witness_key
from eseal.witness_ask import add_witness, ask, cosigned_checkpoint
from ledger.checkpoint import Checkpoint, NoteVerifier, parse_verifier_key, sign_checkpoint
from ledger.merkle import EMPTY_ROOT
from ledger.sql import LedgerCheckpointRow
from tests.e2e.conftest import serve_app
from tests.eseal.conftest import (
    NOW,
    Region,
    make_region,
    run_eseal,
)
from tests.eseal.test_peer_witnesses import BEIJING_MARKET, GD, JS, beijing, witness_nodes
from verifier import online
from verifier.revocation import RevocationSnapshot, open_snapshot
from verifier.trust import TrustStore, open_bundle

Run = Callable[..., tuple[int, str, str]]


@dataclass
class Drifted:
    cq: Region
    cq_dir: Path
    bj: Node
    url: str
    keys: dict[str, str]  # the witnesses' verifier keys, by URL
    a: int  # cosigned by both
    b: int  # cosigned by gd alone

    @property
    def pin(self) -> str:
        return self.bj.root_key_id.hex()


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("down", request=request)


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Drifted]:
    cq_dir = tmp_path_factory.mktemp("cq")
    cq = make_region(cq_dir)
    bj, agent, request = beijing(tmp_path_factory.mktemp("bj"))
    issue(bj, agent, BEIJING_MARKET, request, now=NOW)
    witnesses = witness_nodes(tmp_path_factory, GD, JS)
    keys = {url: require_witness_key(node).verifier_key for url, node in witnesses.items()}
    named = {}
    for url in (GD, JS):
        add_log(witnesses[url], bj.config.origin, bj.config.log_verifier, now=NOW)
        named[url] = add_witness(bj, url, keys[url], now=NOW).name

    def both(u: str) -> httpx.Client:
        return TestClient(create_app(witnesses[u]), base_url=u)

    def gd_only(u: str) -> httpx.Client:
        return both(u) if u == GD else httpx.Client(transport=httpx.MockTransport(_down))

    assert [d.outcome for d in ask(bj, now=NOW + 2, client_for=both)] == ["cosigned"] * 2
    a = bj.log.size()
    issue(bj, agent, BEIJING_MARKET, request, now=int(time.time()) - 3600)
    done = ask(bj, now=NOW + 3, client_for=gd_only)
    assert {d.name: d.outcome for d in done}[named[GD]] == "cosigned"
    b = bj.log.size()
    assert b > a
    server, thread, url = serve_app(bj)
    try:
        yield Drifted(cq, cq_dir, bj, url, keys, a, b)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        cq.node.close()
        bj.close()
        for node in witnesses.values():
            node.close()


@pytest.fixture
def run(
    drifted: Drifted, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Run]:
    def run(*args: str) -> tuple[int, str, str]:
        return run_eseal(["--data", str(drifted.cq_dir), *args], capsys, monkeypatch)

    yield run
    with drifted.cq.node.sql.write_engine.begin() as conn:
        conn.execute(PEER_TABLE.delete())


def _policy(d: Drifted, path: Path, *names: str) -> str:
    """A policy holding 北京's log to all of the witnesses ``names`` (gd, js)."""
    urls = {"gd": GD, "js": JS}
    lines = [f"log {d.bj.config.log_verifier}"]
    lines += [f"witness {n} {d.keys[urls[n]]}" for n in names]
    lines += [f"group need all {' '.join(names)}", "quorum need"]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


def _store(d: Drifted) -> TrustStore:
    bundle = open_bundle(export_bundle(d.bj, now=int(time.time())), pinned_roots={d.bj.root_key_id})
    return TrustStore([bundle])


def _held(d: Drifted) -> RevocationSnapshot:
    with d.cq.node.sql.read_engine.connect() as conn:
        row = conn.execute(select(PEER_TABLE).where(PEER_TABLE.c.region == "110000")).one()
    return open_snapshot(bytes(row.snapshot), _store(d))


def _asks(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    asked: list[dict[str, Any]] = []
    real = online.fetch_revocations

    def fetch_revocations(url: str, **kwargs: Any) -> bytes | None:
        asked.append({k: v for k, v in kwargs.items() if v not in (None, False)})
        answered: bytes | None = real(url, **kwargs)
        return answered

    monkeypatch.setattr(online, "fetch_revocations", fetch_revocations)
    return asked


def test_the_node_lists_the_checkpoints_its_witnesses_cosigned(drifted: Drifted) -> None:
    """Newest first: B with 广东's line alone, A with both; each note verifies under the
    log key and is the one served with its lines (cosigned_checkpoint)."""
    with httpx.Client() as client:
        r = client.get(drifted.url + "/v1/ledger/cosigned")
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-cache"
    listed = r.json()
    assert listed == {
        "checkpoints": [
            {"size": drifted.b, "checkpoint": cosigned_checkpoint(drifted.bj, drifted.b)},
            {"size": drifted.a, "checkpoint": cosigned_checkpoint(drifted.bj, drifted.a)},
        ]
    }
    log = parse_verifier_key(drifted.bj.config.log_verifier)
    parsed = online.parse_cosigned(r.content, log, drifted.url)
    assert [size for size, _ in parsed] == [drifted.b, drifted.a]
    b_lines, a_lines = (note.count("\n— ") - 1 for _, note in parsed)  # less the log's own
    assert (b_lines, a_lines) == (1, 2)


def test_a_snapshot_is_cut_at_a_size_asked(drifted: Drifted) -> None:
    """``?at=A`` cuts at A with both witnesses' lines, ``?at=B`` at B with 广东's; refused:
    a size not plain decimal from 1 (422), one the log stores no checkpoint of (404), and
    ``at`` with ``witnessed`` (400)."""
    store = _store(drifted)
    with httpx.Client() as client:
        for size in (drifted.a, drifted.b):
            r = client.get(drifted.url + "/v1/revocations", params={"at": str(size)})
            assert r.status_code == 200, r.text
            assert r.headers["cache-control"] == "no-cache"
            cut = open_snapshot(r.content, store)
            assert Checkpoint.of_note(cut.checkpoint).size == size
            assert cut.checkpoint == cosigned_checkpoint(drifted.bj, size)
        for bad in ("0", "01", "-1", "+3", "1.0", "x", ""):
            r = client.get(drifted.url + "/v1/revocations", params={"at": bad})
            assert r.status_code == 422, (bad, r.text)
            assert r.json()["type"].endswith("/invalid-request")
        unstored = [n for n in range(1, drifted.b) if drifted.bj.log.store.checkpoint(n) is None]
        for size in [drifted.bj.log.size() + 1, *unstored[:1]]:
            r = client.get(drifted.url + "/v1/revocations", params={"at": str(size)})
            assert r.status_code == 404, (size, r.text)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"].endswith("/unknown-checkpoint")
            assert f"no checkpoint of size {size}" in r.json()["detail"]
        r = client.get(
            drifted.url + "/v1/revocations", params={"at": str(drifted.a), "witnessed": "1"}
        )
        assert r.status_code == 400, r.text
        assert r.json()["type"].endswith("/invalid-input")


@pytest.mark.parametrize(("names", "cut"), [(("gd",), "b"), (("gd", "js"), "a"), (("js",), "a")])
def test_a_peer_syncs_the_newest_cut_its_own_quorum_met(
    drifted: Drifted,
    run: Run,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    names: tuple[str, ...],
    cut: str,
) -> None:
    """Needing 广东 alone, the peer syncs the cut at B (``?witnessed=1`` gave A, staler);
    needing 江苏, or both, at A."""
    policy = _policy(drifted, tmp_path / "p", *names)
    code, _, err = run("peer", "add", drifted.url, "--pin", drifted.pin, "--witness-policy", policy)
    assert code == 0, err
    asked = _asks(monkeypatch)
    code, said, err = run("--json", "peer", "sync")
    assert code == 0, err
    size = drifted.b if cut == "b" else drifted.a
    assert asked == [{"at": size}]
    (synced,) = json.loads(said)
    assert synced["snapshot_stored"] is True
    assert synced["witnessed"].startswith(f"checkpoint of size {size} cosigned by")
    assert Checkpoint.of_note(_held(drifted).checkpoint).size == size


def test_a_cut_asked_at_a_size_is_answered_304_while_the_snapshot_held_is_current(
    drifted: Drifted, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The snapshot stored is named to the peer (If-None-Match, its hash) when the cut is
    asked ``?at=SIZE``: the node's snapshot of that cut being the one held, it answers 304,
    and the sync is unchanged (not a failure), the stored file as it was."""
    policy = _policy(drifted, tmp_path / "p", "gd")
    code, _, err = run("peer", "add", drifted.url, "--pin", drifted.pin, "--witness-policy", policy)
    assert code == 0, err
    asked = _asks(monkeypatch)
    code, said, err = run("--json", "peer", "sync")
    assert code == 0, err
    assert json.loads(said)[0]["snapshot_not_modified"] is False
    with drifted.cq.node.sql.read_engine.connect() as conn:
        stored = conn.execute(select(PEER_TABLE).where(PEER_TABLE.c.region == "110000")).one()
    code, said, err = run("--json", "peer", "sync")
    assert code == 0, err
    assert asked == [{"at": drifted.b}, {"at": drifted.b, "held": bytes(stored.snapshot)}]
    (synced,) = json.loads(said)
    assert (synced["ok"], synced["snapshot_not_modified"]) == (True, True)
    assert synced["snapshot_stored"] is False
    assert synced["witnessed"].startswith(f"checkpoint of size {drifted.b} cosigned by")
    with drifted.cq.node.sql.read_engine.connect() as conn:
        after = conn.execute(select(PEER_TABLE).where(PEER_TABLE.c.region == "110000")).one()
    assert bytes(after.snapshot) == bytes(stored.snapshot)
    # The node signs its bundle anew when asked: a later second's is stored, nothing else.
    assert after.changes == stored.changes + synced["bundle_stored"]


def test_a_node_without_the_list_is_asked_the_witnessed_cut(
    drifted: Drifted, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node of before the list answers it 404: the peer asks ``?witnessed=1`` as before
    (cut at A, the most cosigned, which 广东's policy accepts too)."""
    policy = _policy(drifted, tmp_path / "p", "gd")
    code, _, err = run("peer", "add", drifted.url, "--pin", drifted.pin, "--witness-policy", policy)
    assert code == 0, err
    real = online.fetch_cosigned
    # The node's own 404 for a path it has no route for, as an older node answers the list.
    monkeypatch.setattr(
        online, "fetch_cosigned", lambda url, log, **kw: real(url + "/older", log, **kw)
    )
    assert online.fetch_cosigned(drifted.url, drifted.bj.log_verifier) is None
    asked = _asks(monkeypatch)
    code, _, err = run("peer", "sync")
    assert code == 0, err
    assert asked == [{"witnessed": True}]
    assert Checkpoint.of_note(_held(drifted).checkpoint).size == drifted.a


def test_a_list_that_does_not_check_out_is_refused(drifted: Drifted) -> None:
    """The list is read strictly: a note signed by another key, sizes not newest first, a
    size not the note's, a key twice."""
    log = parse_verifier_key(drifted.bj.config.log_verifier)
    a = cosigned_checkpoint(drifted.bj, drifted.a)
    b = cosigned_checkpoint(drifted.bj, drifted.b)
    other = parse_verifier_key(drifted.cq.node.config.log_verifier)
    bad: list[tuple[bytes, NoteVerifier, str]] = [
        (_listed((drifted.b, b)), other, "does not verify"),
        (_listed((drifted.a, a), (drifted.b, b)), log, "not below the one before it"),
        (_listed((drifted.a, b)), log, f"is of size {drifted.b}, listed as {drifted.a}"),
        (b'{"checkpoints": [], "checkpoints": []}', log, "no strict JSON"),
        (b'{"checkpoints": [{"size": true, "checkpoint": ""}]}', log, "no object"),
    ]
    for body, key, said in bad:
        with pytest.raises((online.NodeAnswerMalformed, online.NodeAnswerUnproven)) as e:
            online.parse_cosigned(body, key, drifted.url)
        assert said in str(e.value), (body, e.value)


def test_a_listed_checkpoint_of_the_empty_tree_is_passed_over_and_one_too_large_refused(
    drifted: Drifted,
) -> None:
    """A size-0 checkpoint, which witnesses may cosign when a log starts, speaks for no entry:
    it is never picked (``?at=0`` is no size a node is asked). A size beyond any ledger's
    is refused, not asked."""
    log = parse_verifier_key(drifted.bj.config.log_verifier)
    key = drifted.bj.require_log_key()
    b = cosigned_checkpoint(drifted.bj, drifted.b)
    empty = sign_checkpoint(Checkpoint(drifted.bj.config.origin, 0, EMPTY_ROOT), key)
    parsed = online.parse_cosigned(_listed((drifted.b, b), (0, empty)), log, drifted.url)
    assert parsed == [(drifted.b, b)]
    huge = online.MAX_LISTED_SIZE + 1
    beyond = sign_checkpoint(Checkpoint(drifted.bj.config.origin, huge, EMPTY_ROOT), key)
    with pytest.raises(online.NodeAnswerMalformed, match="beyond any ledger"):
        online.parse_cosigned(_listed((huge, beyond), (drifted.b, b)), log, drifted.url)


def test_a_listed_checkpoint_of_the_empty_tree_is_still_held_to_newest_first(
    drifted: Drifted,
) -> None:
    """Passing over a size-0 checkpoint does not pass over the order: a list naming it
    before a larger one, or twice, is not newest first one a size."""
    log = parse_verifier_key(drifted.bj.config.log_verifier)
    key = drifted.bj.require_log_key()
    b = cosigned_checkpoint(drifted.bj, drifted.b)
    empty = sign_checkpoint(Checkpoint(drifted.bj.config.origin, 0, EMPTY_ROOT), key)
    for body in (_listed((0, empty), (drifted.b, b)), _listed((0, empty), (0, empty))):
        with pytest.raises(online.NodeAnswerMalformed, match="not below the one before it"):
            online.parse_cosigned(body, log, drifted.url)


def _listed(*items: tuple[int, str]) -> bytes:
    return json.dumps({"checkpoints": [{"size": s, "checkpoint": n} for s, n in items]}).encode()


def test_a_snapshot_cut_elsewhere_than_asked_is_refused(
    drifted: Drifted, run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked ``?at=B`` (广东 alone needed), a node, or a cache before it dropping the query,
    answers the cut at A, which 广东 cosigned too: refused all the same, nothing stored (the
    policy was checked on B from the list, and the cut is the peer's choice)."""
    policy = _policy(drifted, tmp_path / "p", "gd")
    code, _, err = run("peer", "add", drifted.url, "--pin", drifted.pin, "--witness-policy", policy)
    assert code == 0, err
    real = online.fetch_revocations
    asked: list[dict[str, Any]] = []

    def other_cut(url: str, **kwargs: Any) -> bytes:
        asked.append({k: v for k, v in kwargs.items() if v not in (None, False)})
        return real(url, at=drifted.a)

    monkeypatch.setattr(online, "fetch_revocations", other_cut)
    code, said, err = run("--json", "peer", "sync")
    assert asked == [{"at": drifted.b}]
    assert code != 0
    assert f"asked cut at the checkpoint of size {drifted.b} and is cut at size {drifted.a}" in (
        said + err
    )
    with drifted.cq.node.sql.read_engine.connect() as conn:
        row = conn.execute(select(PEER_TABLE).where(PEER_TABLE.c.region == "110000")).one()
    assert row.snapshot is None


def test_a_stored_checkpoint_off_the_logs_tree_is_no_cut(drifted: Drifted) -> None:
    """A stored note of size A signed on another root (a row restored from another history)
    is not served as the cut at A, as ``?witnessed=1`` never picks it: 404."""
    table = LedgerCheckpointRow.__table__  # type: ignore[attr-defined]
    forged = drifted.bj.log._sign(drifted.a, b"\x01" * 32)
    with drifted.bj.sql.write_engine.begin() as conn:
        (kept,) = conn.execute(select(table.c.note).where(table.c.size == drifted.a)).one()
        conn.execute(update(table).where(table.c.size == drifted.a).values(note=forged))
    try:
        with httpx.Client() as client:
            r = client.get(drifted.url + "/v1/revocations", params={"at": str(drifted.a)})
        assert r.status_code == 404, r.text
        assert r.json()["type"].endswith("/unknown-checkpoint")
        assert "on its own tree" in r.json()["detail"]
    finally:
        with drifted.bj.sql.write_engine.begin() as conn:
            conn.execute(update(table).where(table.c.size == drifted.a).values(note=kept))


def test_the_readers_list_bound_is_the_nodes_history_depth() -> None:
    """A node lists at most its witnesses' history depth of checkpoints: a reader that took
    fewer would refuse a full list of a node it should read (``verifier`` cannot import the
    node's constant, so the two are tied here)."""
    from eseal.witness_ask import COSIGNATURE_HISTORY

    assert online.MAX_COSIGNED_LISTED == COSIGNATURE_HISTORY
