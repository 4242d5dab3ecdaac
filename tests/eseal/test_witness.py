"""A node as a witness of another region's log (C2SP tlog-witness): its witness key, the
logs it witnesses, POST /add-checkpoint, the compare-and-swap of the checkpoint held, and
`eseal witness sync` against another node, a fork included."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from eseal import witness as witness_mod
from eseal import witness_sync
from eseal.api.app import create_app
from eseal.backup import check_backup, take_backup
from eseal.node import ISSUING_MIGRATIONS, Node, init_node
from eseal.witness import (
    LogAlreadyWitnessed,
    UnknownLog,
    add_log,
    add_witness_key,
    list_evidence,
    list_logs,
    remove_log,
    require_witness_key,
    witness_checkpoint,
    witness_key,
    witnessed_log,
)
from eseal.witness_sync import CONSISTENCY_PATH, fetch_consistency, sync
from keys import ed25519
from keys.errors import InvalidInput
from keys.statements import Role, SignedStatement, verify_statement_chain
from ledger.checkpoint import Checkpoint, parse_verifier_key, sign_checkpoint, sign_note
from ledger.cosignature import parse_cosigner_key, verify_witnessed
from ledger.entries import Entry, decode_entry, digest
from ledger.migrate import upgrade
from ledger.sql import make_engine, sqlite_url
from ledger.witness import TLOG_SIZE_CONTENT_TYPE, AddCheckpointRequest, Cosigned, Refusal
from tests.eseal.conftest import NOW, PASSPHRASE, run_eseal
from tests.eseal.test_migrations import _downgrade, _revision
from tests.eseal.test_postgres import postgres_node
from tests.postgres import postgres_url
from verifier.online import NodeAnswerMalformed

LOG_ORIGIN = "eseal/110000"


def _append(node: Node, n: int, tag: str) -> None:
    """``n`` entries recorded in the log of ``node`` (their subject tagged: two copies of a
    ledger given other tags fork)."""
    kid = node.root_key_id
    node.log.append(
        [
            Entry("seal.stamp", NOW, node.config.region, f"{tag}-{i}", digest(tag.encode()), kid)
            for i in range(n)
        ]
    )


@dataclass
class Pair:
    """The witnessing node (Chongqing) and the log it witnesses (Beijing's node)."""

    witness: Node
    log: Node
    log_dir: Path


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    w = init_node(tmp_path / "w", region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    log = init_node(tmp_path / "l", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW)
    add_log(w, LOG_ORIGIN, log.config.log_verifier, now=NOW)
    yield Pair(w, log, tmp_path / "l")
    w.close()
    log.close()


def _request(log: Node, old: int) -> AddCheckpointRequest:
    """The add-checkpoint request of the log's latest checkpoint, from size ``old``."""
    size = log.log.size()
    proof = tuple(log.log.consistency_proof(old, size)) if 0 < old < size else ()
    return AddCheckpointRequest(old, proof, log.log.checkpoint())


# --- 1. the witness key --------------------------------------------------------------------


def test_a_new_node_has_a_witness_key_certified_by_its_root_and_recorded(tmp_path: Path) -> None:
    node = init_node(tmp_path, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    with node:
        key = require_witness_key(node)
        signed = SignedStatement.from_bytes(key.statement)
        stated = verify_statement_chain(
            [signed], node.config.root_public_key, at=NOW + 1, role=Role.WITNESS, license_type=None
        )
        assert stated.subject == key.name == "eseal/500000/witness"
        assert stated.public_key == key.public_key
        assert key.key_id == ed25519.key_id(key.public_key).hex()
        # Its verifier key string is cosignature/v1's (type 0x04).
        verifier = parse_cosigner_key(key.verifier_key)
        assert (verifier.name, verifier.public_key) == (key.name, key.public_key)
        # The ledger records it (key.add, its statement as body), the private key is sealed.
        entry = decode_entry(node.log.entry(key.ledger_index))
        assert (entry.kind, entry.subject, entry.body) == ("key.add", key.key_id, key.statement)
        sealed = (tmp_path / "keys" / f"{key.key_id}.key").read_bytes()
        assert bytes(node.signing_key(bytes.fromhex(key.key_id)))[:8] not in sealed
        assert add_witness_key(node, now=NOW + 5) == (key, False)  # idempotent


def test_witness_init_adds_the_key_to_a_node_migrated_from_before_witnessing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of an eseal before revision eseal_0004 is migrated as the node opens it
    (its witness tables made, empty); `eseal witness init` then makes the key, once."""
    node = init_node(tmp_path, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    old_key = require_witness_key(node).key_id
    node.close()
    url = sqlite_url(tmp_path)
    _downgrade(url, "eseal_0003")
    (tmp_path / "keys" / f"{old_key}.key").unlink()  # as a node made before had none
    assert _revision(url, "eseal_alembic_version") == "eseal_0003"
    data = ["--data", str(tmp_path)]

    code, said, err = run_eseal([*data, "--json", "witness", "logs"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(said) == []
    assert _revision(url, "eseal_alembic_version") == "eseal_0008"
    code, said, err = run_eseal([*data, "witness", "key"], capsys, monkeypatch)
    assert code == 2
    assert "no witness key yet: run `eseal witness init`" in err

    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    code, said, err = run_eseal([*data, "--json", "witness", "init"], capsys, monkeypatch)
    assert code == 0, err
    made = json.loads(said)
    assert made["made"] is True
    assert made["key_id"] != old_key
    assert made["verifier_key"].startswith("eseal/500000/witness+")
    code, said, err = run_eseal([*data, "--json", "witness", "init"], capsys, monkeypatch)
    assert code == 0, err
    assert json.loads(said) == made | {"made": False}
    code, said, err = run_eseal([*data, "witness", "key"], capsys, monkeypatch)
    assert code == 0, err
    assert made["verifier_key"] in said
    with Node.open(tmp_path) as opened:
        assert opened.log.size() == 4  # init's three, and this key.add
        assert witness_key(opened) is not None


def test_witness_init_needs_the_passphrase(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    init_node(tmp_path, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW).close()
    monkeypatch.delenv("ESEAL_PASSPHRASE", raising=False)
    code, _, err = run_eseal(["--data", str(tmp_path), "witness", "init"], capsys, monkeypatch)
    assert code == 2
    assert "ESEAL_PASSPHRASE" in err


def test_the_witness_key_is_served_and_printed_by_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    args = ["--json", "init", "--region", "500000", "--name", "重庆市", "--data", str(tmp_path)]
    code, said, err = run_eseal(args, capsys, monkeypatch)
    assert code == 0, err
    printed = json.loads(said)["witness_verifier_key"]
    with Node.open(tmp_path) as node:
        answer = TestClient(create_app(node)).get("/v1/witness")
        assert answer.status_code == 200
        assert answer.json()["verifier_key"] == printed == require_witness_key(node).verifier_key


# --- 2. the logs witnessed -----------------------------------------------------------------


def test_logs_are_added_listed_and_removed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    init_node(
        tmp_path / "w", region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW
    ).close()
    beijing = init_node(
        tmp_path / "l", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW
    )
    key = beijing.config.log_verifier
    beijing.close()
    data = ["--data", str(tmp_path / "w")]
    code, said, err = run_eseal([*data, "witness", "add-log", LOG_ORIGIN, key], capsys, monkeypatch)
    assert code == 0, err
    assert f"witnessing {LOG_ORIGIN}" in said
    code, said, err = run_eseal([*data, "--json", "witness", "logs"], capsys, monkeypatch)
    assert code == 0, err
    (listed,) = json.loads(said)
    assert (listed["origin"], listed["verifier_key"], listed["size"]) == (LOG_ORIGIN, key, 0)
    code, said, err = run_eseal([*data, "witness", "logs"], capsys, monkeypatch)
    assert said.strip() == f"{LOG_ORIGIN}  size 0  {key}"

    # Bad input: exit 2, nothing changed.
    for bad, why in [
        ([LOG_ORIGIN, key], "is witnessed already"),
        (["eseal/120000", key], "not the origin 'eseal/120000'"),
        ([LOG_ORIGIN, "not a key"], ""),
        (["eseal/500000", key.replace(LOG_ORIGIN, "eseal/500000")], ""),
    ]:
        code, _, err = run_eseal([*data, "witness", "add-log", *bad], capsys, monkeypatch)
        assert code == 2, bad
        assert why in err
    code, said, _ = run_eseal([*data, "--json", "witness", "logs"], capsys, monkeypatch)
    assert len(json.loads(said)) == 1

    code, said, err = run_eseal([*data, "witness", "remove-log", LOG_ORIGIN], capsys, monkeypatch)
    assert code == 0, err
    code, _, err = run_eseal([*data, "witness", "remove-log", LOG_ORIGIN], capsys, monkeypatch)
    assert code == 2
    assert f"no log of origin '{LOG_ORIGIN}'" in err
    code, said, _ = run_eseal([*data, "--json", "witness", "logs"], capsys, monkeypatch)
    assert json.loads(said) == []


def test_the_own_log_is_not_witnessed(pair: Pair) -> None:
    with pytest.raises(InvalidInput, match="this node's own log"):
        add_log(pair.witness, "eseal/500000", pair.witness.config.log_verifier, now=NOW)
    with pytest.raises(LogAlreadyWitnessed):
        add_log(pair.witness, LOG_ORIGIN, pair.log.config.log_verifier, now=NOW)
    with pytest.raises(UnknownLog):
        remove_log(pair.witness, "eseal/120000")


# --- 3. POST /add-checkpoint ---------------------------------------------------------------


def _post(client: TestClient, body: str | bytes) -> tuple[int, str, str]:
    answer = client.post("/add-checkpoint", content=body)
    return answer.status_code, answer.headers["content-type"], answer.text


def test_add_checkpoint_cosigns_a_log_that_grows_and_stores_it(pair: Pair) -> None:
    client = TestClient(create_app(pair.witness))
    wkey = parse_cosigner_key(require_witness_key(pair.witness).verifier_key)
    log_key = parse_verifier_key(pair.log.config.log_verifier)

    first = _request(pair.log, 0)
    status, media, said = _post(client, first.body())
    assert (status, media.split(";")[0]) == (200, "text/plain")
    assert said.startswith("— eseal/500000/witness ")
    assert said.endswith("\n")
    cosigned = verify_witnessed(first.note + said, log_key, [wkey], 1)
    assert cosigned.checkpoint.size == 3
    held = witnessed_log(pair.witness, LOG_ORIGIN)
    assert (held.size, held.root_hash) == (3, cosigned.checkpoint.root_hash)
    assert held.note == first.note + said

    _append(pair.log, 5, "a")
    status, _, said = _post(client, _request(pair.log, 3).body())
    assert status == 200
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == 8
    # The same checkpoint again (old size = its size): cosigned again, nothing moves.
    status, _, said = _post(client, _request(pair.log, 8).body())
    assert status == 200
    assert [log.size for log in list_logs(pair.witness)] == [8]


def test_add_checkpoint_answers_each_refusal_as_the_spec_says(pair: Pair, tmp_path: Path) -> None:
    client = TestClient(create_app(pair.witness))
    first = _request(pair.log, 0)
    assert _post(client, first.body())[0] == 200
    held = witnessed_log(pair.witness, LOG_ORIGIN)
    _append(pair.log, 4, "a")

    # 400: malformed body (not even JSON-checked: it is text), and an old size above.
    for body in ["", "old x\n\n" + first.note, "old 3\nnot base64\n\n" + first.note]:
        status, media, said = _post(client, body)
        assert (status, media.split(";")[0]) == (400, "text/plain"), body
        assert said.endswith("\n")
    status, _, said = _post(client, AddCheckpointRequest(9, (), pair.log.log.checkpoint()).body())
    assert status == 400
    assert said.startswith("old-size-above-checkpoint:")
    # 404: a log not witnessed.
    other = init_node(
        tmp_path / "o", region="120000", name="天津市", passphrase=PASSPHRASE, now=NOW
    )
    with other:
        status, media, said = _post(client, _request(other, 0).body())
    assert (status, media.split(";")[0]) == (404, "text/plain")
    assert said.startswith("unknown-origin:")
    # 403: signed by another key under the log's name.
    forged = sign_checkpoint(
        Checkpoint(LOG_ORIGIN, 7, pair.log.log.root_hash()), ed25519.generate()
    )
    status, _, said = _post(client, AddCheckpointRequest(3, (), forged).body())
    assert status == 403
    assert said.startswith("bad-log-signature:")
    # 409: not the size held; the body is the size held, as text/x.tlog.size.
    status, media, said = _post(client, _request(pair.log, 0).body())
    assert (status, media, said) == (409, TLOG_SIZE_CONTENT_TYPE, "3\n")
    # 422: a proof that leads elsewhere.
    good = _request(pair.log, 3)
    bad = AddCheckpointRequest(3, tuple(bytes(32) for _ in good.proof), good.note)
    status, _, said = _post(client, bad.body())
    assert status == 422
    assert said.startswith("bad-consistency-proof:")
    # Nothing moved, and nothing of these is evidence of a fork.
    assert witnessed_log(pair.witness, LOG_ORIGIN) == held
    assert list_evidence(pair.witness) == []


def test_add_checkpoint_keeps_a_fork_as_evidence(pair: Pair) -> None:
    """Two checkpoints of one size with other roots, both signed by the log key: 409, and
    both notes kept."""
    client = TestClient(create_app(pair.witness))
    assert _post(client, _request(pair.log, 0).body())[0] == 200
    fork = sign_checkpoint(Checkpoint(LOG_ORIGIN, 3, bytes(32)), pair.log.require_log_key())
    status, media, said = _post(client, AddCheckpointRequest(3, (), fork).body())
    assert (status, media, said) == (409, TLOG_SIZE_CONTENT_TYPE, "3\n")
    (kept,) = list_evidence(pair.witness)
    assert (kept.reason, kept.note) == ("fork", fork)
    assert kept.held_note == witnessed_log(pair.witness, LOG_ORIGIN).note
    assert _post(client, AddCheckpointRequest(3, (), fork).body())[0] == 409
    assert len(list_evidence(pair.witness)) == 1  # kept once


def test_evidence_is_kept_once_a_checkpoint_and_bounded_a_log(pair: Pair) -> None:
    """A log cannot fill the witness's evidence table: one fork sent again with other
    keys' lines added (another note, the same signed checkpoint) is kept once, and past
    MAX_EVIDENCE_PER_LOG forks of one log no more are kept (each is refused all the same)."""
    client = TestClient(create_app(pair.witness))
    assert _post(client, _request(pair.log, 0).body())[0] == 200
    key = pair.log.require_log_key()
    fork = Checkpoint(LOG_ORIGIN, 3, bytes(32))
    signed = sign_checkpoint(fork, key)
    for i in range(3):
        stranger = sign_note(fork.body(), f"stranger{i}", ed25519.generate())
        note = signed + stranger[len(fork.body()) + 1 :]
        assert _post(client, AddCheckpointRequest(3, (), note).body())[0] == 409
    (kept,) = list_evidence(pair.witness)
    assert kept.reason == "fork"
    assert kept.note.startswith(signed)  # the first sent, with its stranger's line
    with mock.patch("eseal.witness.MAX_EVIDENCE_PER_LOG", 3):
        for root in range(1, 5):
            other = sign_checkpoint(Checkpoint(LOG_ORIGIN, 3, bytes([root]) * 32), key)
            assert _post(client, AddCheckpointRequest(3, (), other).body())[0] == 409
    assert len(list_evidence(pair.witness)) == 3
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == 3


def test_a_fork_with_no_room_for_the_witness_line_is_kept_as_evidence(pair: Pair) -> None:
    """A fork whose note leaves no room for the witness's line (99 other keys' lines: a
    100th would be one too many) is a fork all the same, signed by the log: refused as one
    (409) and kept, not refused as a malformed note (400) with nothing kept. The same note
    extending the checkpoint held is still refused as malformed."""
    client = TestClient(create_app(pair.witness))
    assert _post(client, _request(pair.log, 0).body())[0] == 200
    fork = Checkpoint(LOG_ORIGIN, 3, bytes(32))
    strangers = "".join(
        sign_note(fork.body(), f"stranger{i}", ed25519.generate())[len(fork.body()) + 1 :]
        for i in range(99)
    )
    note = sign_checkpoint(fork, pair.log.require_log_key()) + strangers
    status, _, said = _post(client, AddCheckpointRequest(3, (), note).body())
    assert (status, said) == (409, "3\n")
    (kept,) = list_evidence(pair.witness)
    assert (kept.reason, kept.note) == ("fork", note)
    _append(pair.log, 1, "a")
    grown = _request(pair.log, 3)
    status, _, said = _post(client, replace(grown, note=grown.note + strangers).body())
    assert status == 400, said
    assert "checkpoint-malformed" in said
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == 3


def test_add_checkpoint_is_bounded_and_public(pair: Pair) -> None:
    client = TestClient(create_app(pair.witness))
    answer = client.post("/add-checkpoint", content=b"old 0\n\n" + b"x" * 70_000)
    assert answer.status_code == 413
    answer = client.post(
        "/add-checkpoint",
        content=_request(pair.log, 0).body(),
        headers={"Authorization": "Bearer nothing"},
    )
    assert answer.status_code == 200  # no credential needed, a wrong one ignored


def test_add_checkpoint_needs_the_unlocked_witness_key(pair: Pair) -> None:
    with Node.open(pair.witness.data_dir) as locked:
        client = TestClient(create_app(locked))
        answer = client.post("/add-checkpoint", content=_request(pair.log, 0).body())
    assert answer.status_code == 503
    assert answer.json()["type"].endswith("/keys-locked")
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == 0


def test_the_openapi_document_describes_add_checkpoint_in_text(pair: Pair) -> None:
    doc = TestClient(create_app(pair.witness)).get("/openapi.json").json()
    operation = doc["paths"]["/add-checkpoint"]["post"]
    assert "security" not in operation
    responses = operation["responses"]
    assert set(responses) >= {"200", "400", "403", "404", "409", "413", "422", "503"}
    assert "401" not in responses
    assert list(responses["409"]["content"]) == [TLOG_SIZE_CONTENT_TYPE]
    for status in ("400", "403", "404", "409", "422"):
        assert "not as an RFC 9457 problem" in responses[status]["description"]


# --- the compare-and-swap --------------------------------------------------------------------


def _race(
    node: Node, requests: list[AddCheckpointRequest], monkeypatch: pytest.MonkeyPatch
) -> list[Cosigned | Refusal]:
    """Decide each request in its own thread, all decided against the same held checkpoint
    before any stores: each waits at the point between decision and write for the others."""
    barrier = threading.Barrier(len(requests), timeout=20)
    waited = threading.local()

    def meet() -> None:
        if not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()

    monkeypatch.setattr(witness_mod, "_decided", meet)
    results: list[Cosigned | Refusal] = []

    def run(i: int) -> None:
        outcome, _ = witness_checkpoint(node, requests[i], now=NOW + 10)
        results.append(outcome if isinstance(outcome, Cosigned) else outcome.reason)
        if not isinstance(outcome, Cosigned):
            assert (outcome.status, outcome.known_size) == (409, held_after())

    def held_after() -> int:
        return witnessed_log(node, LOG_ORIGIN).size

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == len(requests)
    return results


def _check_one_wins(witness: Node, log: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _request(log, 0)
    assert isinstance(witness_checkpoint(witness, first, now=NOW)[0], Cosigned)
    _append(log, 2, "a")
    five = _request(log, 3)
    # The same request twice: one stores size 5; the other, decided again against 5, is
    # told the size held (409 old-size-conflict).
    results = _race(witness, [five, five], monkeypatch)
    assert sorted(isinstance(r, Cosigned) for r in results) == [False, True]
    assert Refusal.OLD_SIZE_CONFLICT in results
    assert witnessed_log(witness, LOG_ORIGIN).size == 5
    # Two checkpoints from one held size: one is stored, the other told the size held.
    _append(log, 2, "b")
    seven = _request(log, 5)
    _append(log, 2, "c")
    nine = _request(log, 5)
    results = _race(witness, [seven, nine], monkeypatch)
    won = [r for r in results if isinstance(r, Cosigned)]
    assert len(won) == 1, results
    assert witnessed_log(witness, LOG_ORIGIN).size == won[0].checkpoint.size


@pytest.mark.postgres
def test_two_requests_from_one_held_size_do_not_both_succeed_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    witness = postgres_node(tmp_path / "w", url)
    log = init_node(tmp_path / "l", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW)
    try:
        add_log(witness, LOG_ORIGIN, log.config.log_verifier, now=NOW)
        _check_one_wins(witness, log, monkeypatch)
        with make_engine(url).connect() as conn:
            held = conn.execute(text("SELECT size FROM witnessed_log")).scalar_one()
        assert held == witnessed_log(witness, LOG_ORIGIN).size
    finally:
        witness.close()
        log.close()


# --- 4. sync -----------------------------------------------------------------------------------


def _serve(node: Node) -> TestClient:
    return TestClient(create_app(node), base_url="http://beijing.test")


def test_sync_pulls_the_checkpoint_and_proof_and_cosigns(pair: Pair) -> None:
    client = _serve(pair.log)
    done = sync(pair.witness, "http://beijing.test", now=NOW, client=client)
    assert isinstance(done.outcome, Cosigned)
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == 3
    _append(pair.log, 10, "a")
    done = sync(pair.witness, "http://beijing.test/", now=NOW, client=client)
    assert isinstance(done.outcome, Cosigned)
    assert done.before.size == 3
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == 13
    done = sync(pair.witness, "http://beijing.test", now=NOW, client=client)  # no change
    assert isinstance(done.outcome, Cosigned)


def test_a_consistency_answer_is_read_strictly() -> None:
    """The other node's proof is JSON read as strictly as any input: a key given twice (one
    parser would read the first proof, another the second) or NaN is a malformed answer."""
    hashes = ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] * 2
    answers = {
        b'{"first": 3, "second": 13, "proof": %s}' % json.dumps(hashes).encode(): None,
        b'{"first": 3, "second": 13, "proof": [], "proof": %s}'
        % json.dumps(hashes).encode(): "is not JSON (duplicate key 'proof')",
        b'{"first": 3, "second": 13, "proof": [], "at": NaN}': "is not JSON (NaN",
    }
    for answer, refusal in answers.items():
        client = httpx.Client(
            transport=httpx.MockTransport(lambda _r, a=answer: httpx.Response(200, content=a))
        )
        if refusal is None:
            assert len(fetch_consistency(client, "http://b", 3, 13)) == 2
            continue
        with pytest.raises(NodeAnswerMalformed) as info:
            fetch_consistency(client, "http://b", 3, 13)
        url = f"http://b{CONSISTENCY_PATH}?first=3&second=13"
        assert info.value.message.startswith(f"{url}'s answer {refusal}")


def _fork_copy(pair: Pair, tmp_path: Path) -> Node:
    """Another copy of the log's ledger, as it is now, under the same keys (the log can
    then sign two histories)."""
    pair.log.close()
    shutil.copytree(pair.log_dir, tmp_path / "fork")
    pair.log = Node.open(pair.log_dir, passphrase=PASSPHRASE)
    return Node.open(tmp_path / "fork", passphrase=PASSPHRASE)


def test_sync_detects_a_log_that_rewrote_its_history(
    pair: Pair,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The log shows the witness one history, then another from the same size on: sync
    refuses it (exit 1), prints both checkpoints, keeps the evidence, holds what it held."""
    forked = _fork_copy(pair, tmp_path)
    _append(pair.log, 4, "a")
    _append(forked, 4, "b")  # the same size, another root
    assert isinstance(
        sync(pair.witness, "http://b", now=NOW, client=_serve(pair.log)).outcome, Cosigned
    )
    held = witnessed_log(pair.witness, LOG_ORIGIN)
    assert held.size == 7

    monkeypatch.setattr("eseal.witness_sync.deadline_client", lambda _url, _t: _serve(forked))
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    data = ["--data", str(pair.witness.data_dir)]
    code, said, err = run_eseal([*data, "witness", "sync", "http://b"], capsys, monkeypatch)
    assert code == 1
    assert "REFUSED the checkpoint of eseal/110000: fork" in err
    assert held.note is not None
    assert held.note in err  # both checkpoints shown
    assert forked.log.checkpoint() in err
    said_kept = "(kept as evidence: eseal witness evidence)"
    assert f"error: the log {LOG_ORIGIN} is refused: fork {said_kept}" in err
    (kept,) = list_evidence(pair.witness)
    assert (kept.reason, kept.held_note, kept.note) == ("fork", held.note, forked.log.checkpoint())
    assert witnessed_log(pair.witness, LOG_ORIGIN) == held

    # A longer rewritten history: its own proof does not lead from the held checkpoint.
    _append(forked, 3, "c")
    code, said, err = run_eseal(
        [*data, "--json", "witness", "sync", "http://b"], capsys, monkeypatch
    )
    assert code == 1
    assert json.loads(said)["reason"] == "bad-consistency-proof"
    assert f"error: the log {LOG_ORIGIN} is refused: bad-consistency-proof" in err
    assert [e.reason for e in list_evidence(pair.witness)] == ["fork", "bad-consistency-proof"]
    code, said, err = run_eseal([*data, "--json", "witness", "evidence"], capsys, monkeypatch)
    assert code == 0, err
    assert [e["reason"] for e in json.loads(said)] == ["fork", "bad-consistency-proof"]
    forked.close()


def test_sync_refuses_a_rollback(pair: Pair, tmp_path: Path) -> None:
    old = _fork_copy(pair, tmp_path)  # the log as it is now: size 3
    _append(pair.log, 4, "a")
    assert isinstance(
        sync(pair.witness, "http://b", now=NOW, client=_serve(pair.log)).outcome, Cosigned
    )
    done = sync(pair.witness, "http://b", now=NOW, client=_serve(old))
    assert not isinstance(done.outcome, Cosigned)
    assert done.outcome.reason is Refusal.ROLLBACK
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == 7
    assert [e.reason for e in list_evidence(pair.witness)] == ["rollback"]
    old.close()


@pytest.mark.parametrize(
    ("meanwhile", "grown"),
    [("consistency", 0), ("consistency", 4), ("checkpoint", 4)],
    ids=["same-checkpoint-stored", "larger-stored-after-read", "larger-stored-before-read"],
)
def test_a_sync_overtaken_by_another_is_no_rollback(
    pair: Pair,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    meanwhile: str,
    grown: int,
) -> None:
    """Two syncs of one log at once (cron twice, or the log pushing POST /add-checkpoint
    meanwhile): while the first is between fetching the log's checkpoint (or its proof) and
    deciding, the other stores that checkpoint, or a larger one the log signed since. The
    log did nothing wrong: the first sync must not refuse it (exit 1) nor keep a "rollback"
    as evidence; it decides again from what is held now, and cosigns the log's checkpoint."""
    client = _serve(pair.log)
    assert isinstance(sync(pair.witness, "http://b", now=NOW, client=client).outcome, Cosigned)
    _append(pair.log, 4, "a")  # the log at size 7; the witness holds 3
    other: list[Cosigned | Refusal] = []
    asked: list[bool] = []

    def overtaking(real: Any) -> Any:
        def fetch(*args: Any) -> Any:
            answer = real(*args)
            if not asked:  # the other sync, between this one's fetch and its decision
                asked.append(True)
                other.append(_overtake())
            return answer

        return fetch

    def _overtake() -> Cosigned | Refusal:
        if grown:
            _append(pair.log, grown, "b")
        outcome = sync(pair.witness, "http://b", now=NOW, client=client).outcome
        return outcome if isinstance(outcome, Cosigned) else outcome.reason

    name = {"checkpoint": "fetch_checkpoint", "consistency": "fetch_consistency"}[meanwhile]
    real = getattr(witness_sync, name)
    monkeypatch.setattr(witness_sync, name, overtaking(real))
    monkeypatch.setattr("eseal.witness_sync.deadline_client", lambda _url, _t: client)
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    data = ["--data", str(pair.witness.data_dir)]
    code, said, err = run_eseal([*data, "witness", "sync", "http://b"], capsys, monkeypatch)
    (first,) = other
    assert isinstance(first, Cosigned)
    assert code == 0, err
    assert "REFUSED" not in err
    assert list_evidence(pair.witness) == []
    held = witnessed_log(pair.witness, LOG_ORIGIN)
    assert held.size == 7 + grown == pair.log.log.size()
    assert f"cosigned {LOG_ORIGIN} at size {held.size}" in said


def _sync_cli(
    pair: Pair,
    served: TestClient,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[int, str, str]:
    """``eseal --json witness sync`` of the log answered by ``served``."""
    monkeypatch.setattr("eseal.witness_sync.deadline_client", lambda _url, _t: served)
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    data = ["--data", str(pair.witness.data_dir)]
    return run_eseal([*data, "--json", "witness", "sync", "http://b"], capsys, monkeypatch)


def test_a_fork_shown_to_a_sync_is_kept_though_the_log_pushed_meanwhile(
    pair: Pair,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A log that signed two histories serves the sync its other one and, while asked for
    the proof, pushes (POST /add-checkpoint) the checkpoint of its first history at that
    very size, then serves that one: the checkpoint held moved, but the note served is a
    fork of it (the same size, another root, both signed by the log). A fork is evidence
    whatever it was decided against: refused (exit 1) and kept, not hidden by a new round."""
    forked = _fork_copy(pair, tmp_path)  # size 3
    _append(pair.log, 4, "a")
    assert isinstance(
        sync(pair.witness, "http://b", now=NOW, client=_serve(pair.log)).outcome, Cosigned
    )
    _append(pair.log, 4, "a2")
    _append(forked, 8, "b")  # size 11 both, other roots
    served = {"note": forked.log.checkpoint()}

    def fetch_checkpoint(_client: httpx.Client, _base_url: str) -> str:
        return served["note"]

    def fetch_consistency(_client: httpx.Client, _url: str, first: int, second: int) -> Any:
        pushed, _ = witness_checkpoint(pair.witness, _request(pair.log, first), now=NOW)
        assert isinstance(pushed, Cosigned)  # the log's push, while the sync waits
        served["note"] = pair.log.log.checkpoint()
        return tuple(forked.log.consistency_proof(first, second))

    monkeypatch.setattr(witness_sync, "fetch_checkpoint", fetch_checkpoint)
    monkeypatch.setattr(witness_sync, "fetch_consistency", fetch_consistency)
    code, said, err = _sync_cli(pair, _serve(forked), capsys, monkeypatch)
    assert code == 1, err
    held = witnessed_log(pair.witness, LOG_ORIGIN)
    assert held.size == 11
    out = json.loads(said)
    assert (out["reason"], out["held_note"], out["served_note"]) == (
        "fork",
        held.note,
        forked.log.checkpoint(),
    )
    (kept,) = list_evidence(pair.witness)
    assert (kept.reason, kept.held_note, kept.note) == ("fork", held.note, forked.log.checkpoint())
    forked.close()


def test_a_rollback_is_kept_though_the_log_pushes_at_each_fetch(
    pair: Pair,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A log serves the sync an old checkpoint (a rollback) and, each time the sync fetches
    its checkpoint again, first pushes a new one (POST /add-checkpoint), so that the
    checkpoint held always moved before the decision. The old checkpoint is smaller than
    the one held before it was fetched: a rollback all the same, refused (exit 1) and kept
    against that one, not 'the checkpoint held kept changing' (exit 2) with nothing kept."""
    old = _fork_copy(pair, tmp_path)  # size 3
    _append(pair.log, 4, "a")
    assert isinstance(
        sync(pair.witness, "http://b", now=NOW, client=_serve(pair.log)).outcome, Cosigned
    )
    before = witnessed_log(pair.witness, LOG_ORIGIN)  # size 7
    fetched: list[int] = []

    def fetch_checkpoint(_client: httpx.Client, _base_url: str) -> str:
        if fetched:  # after the first fetch (made before the held checkpoint is read)
            held = witnessed_log(pair.witness, LOG_ORIGIN).size
            _append(pair.log, 1, f"p{len(fetched)}")
            pushed, _ = witness_checkpoint(pair.witness, _request(pair.log, held), now=NOW)
            assert isinstance(pushed, Cosigned)
        fetched.append(0)
        return old.log.checkpoint()

    monkeypatch.setattr(witness_sync, "fetch_checkpoint", fetch_checkpoint)
    code, said, err = _sync_cli(pair, _serve(old), capsys, monkeypatch)
    assert code == 1, err
    out = json.loads(said)
    assert (out["reason"], out["held_note"]) == ("rollback", before.note)
    assert witnessed_log(pair.witness, LOG_ORIGIN).size > before.size
    (kept,) = list_evidence(pair.witness)
    assert (kept.reason, kept.note) == ("rollback", old.log.checkpoint())
    assert kept.held_note == before.note
    old.close()


def test_a_fork_of_the_held_checkpoint_is_kept_though_the_log_pushed_a_larger_one(
    pair: Pair,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A log that signed two histories moves the checkpoint held while a sync asks for a
    proof (first round: overtaken, decided again), then, when asked for its checkpoint
    again, first pushes a larger one of its first history and serves the sync the other
    history's checkpoint at the size held when the round began: as large as that one, with
    another root, both signed by the log. Decided against the larger checkpoint held by
    then it looks like a rollback of it; it is a fork of the one the request was made from,
    refused (exit 1) and kept against that one, not dropped for a new round that cosigns
    what the log serves next."""
    forked = _fork_copy(pair, tmp_path)  # size 3
    _append(pair.log, 4, "a")
    assert isinstance(
        sync(pair.witness, "http://b", now=NOW, client=_serve(pair.log)).outcome, Cosigned
    )
    _append(pair.log, 4, "a2")  # size 11, not pushed yet
    _append(forked, 8, "b")  # size 11, another root
    fetched: list[int] = []

    def push() -> None:
        held = witnessed_log(pair.witness, LOG_ORIGIN).size
        pushed, _ = witness_checkpoint(pair.witness, _request(pair.log, held), now=NOW)
        assert isinstance(pushed, Cosigned)

    def fetch_checkpoint(_client: httpx.Client, _base_url: str) -> str:
        fetched.append(0)
        if len(fetched) == 2:  # the second round: push a larger one, serve the fork
            _append(pair.log, 1, "a3")
            push()
            return forked.log.checkpoint()
        return pair.log.log.checkpoint()

    def fetch_consistency(_client: httpx.Client, _url: str, first: int, second: int) -> Any:
        push()  # the first round: the checkpoint held moves to 11 while the proof is asked
        return tuple(pair.log.log.consistency_proof(first, second))

    monkeypatch.setattr(witness_sync, "fetch_checkpoint", fetch_checkpoint)
    monkeypatch.setattr(witness_sync, "fetch_consistency", fetch_consistency)
    code, said, err = _sync_cli(pair, _serve(pair.log), capsys, monkeypatch)
    assert code == 1, err
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == 12
    out = json.loads(said)
    assert (out["reason"], out["held_size"], out["served_note"]) == (
        "fork",
        11,
        forked.log.checkpoint(),
    )
    (kept,) = list_evidence(pair.witness)
    assert (kept.reason, kept.held_note, kept.note) == (
        "fork",
        out["held_note"],
        forked.log.checkpoint(),
    )
    assert Checkpoint.of_note(kept.held_note or "").size == 11
    forked.close()


def test_a_bad_proof_is_kept_though_the_log_pushed_meanwhile(
    pair: Pair,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A log that signed two histories serves a sync the checkpoint of its other one,
    larger than the one held, with a proof from the one held that does not lead to it,
    and pushes a still larger checkpoint of its first history while asked for that proof,
    which it serves from then on. Decided against that one, the served checkpoint looks
    like a rollback of it; but the proof was asked from the checkpoint held when the
    request was made and does not lead from it: refused (exit 1) and kept against that
    one, not dropped for a new round that cosigns what the log serves next."""
    forked = _fork_copy(pair, tmp_path)  # size 3
    _append(pair.log, 4, "a")
    assert isinstance(
        sync(pair.witness, "http://b", now=NOW, client=_serve(pair.log)).outcome, Cosigned
    )
    before = witnessed_log(pair.witness, LOG_ORIGIN)  # size 7
    _append(forked, 8, "b")  # size 11, not consistent with the size 7 held
    _append(pair.log, 5, "a2")  # size 12
    served = {"log": forked}
    pushed: list[int] = []

    def fetch_checkpoint(_client: httpx.Client, _base_url: str) -> str:
        return served["log"].log.checkpoint()

    def fetch_consistency(_client: httpx.Client, _url: str, first: int, second: int) -> Any:
        outcome, _ = witness_checkpoint(pair.witness, _request(pair.log, first), now=NOW)
        assert isinstance(outcome, Cosigned)
        pushed.append(outcome.checkpoint.size)
        served["log"] = pair.log
        return tuple(forked.log.consistency_proof(first, second))

    monkeypatch.setattr(witness_sync, "fetch_checkpoint", fetch_checkpoint)
    monkeypatch.setattr(witness_sync, "fetch_consistency", fetch_consistency)
    code, said, err = _sync_cli(pair, _serve(forked), capsys, monkeypatch)
    assert code == 1, err
    assert pushed == [12]
    out = json.loads(said)
    assert (out["reason"], out["held_note"]) == ("bad-consistency-proof", before.note)
    (kept,) = list_evidence(pair.witness)
    assert (kept.reason, kept.held_note, kept.note) == (
        "bad-consistency-proof",
        before.note,
        forked.log.checkpoint(),
    )
    forked.close()


def test_a_sync_overtaken_at_every_round_exits_2_and_keeps_nothing(
    pair: Pair, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A log that grows, and pushes each new checkpoint, just after it answers each of a
    sync's fetches of its checkpoint: each round's checkpoint is overtaken by a larger one
    stored before the decision, though no smaller than the one held when the round began.
    No round says anything of the log: after MAX_ROUNDS the sync gives up (exit 2, try
    again later), nothing refused, nothing kept."""
    client = _serve(pair.log)
    assert isinstance(sync(pair.witness, "http://b", now=NOW, client=client).outcome, Cosigned)
    _append(pair.log, 4, "a")  # the log at size 7; the witness holds 3
    real = witness_sync.fetch_checkpoint
    pushed: list[int] = []

    def fetch_checkpoint(*args: Any) -> Any:
        answer = real(*args)
        held = witnessed_log(pair.witness, LOG_ORIGIN).size
        _append(pair.log, 1, f"p{len(pushed)}")
        outcome, _ = witness_checkpoint(pair.witness, _request(pair.log, held), now=NOW)
        assert isinstance(outcome, Cosigned)
        pushed.append(outcome.checkpoint.size)
        return answer

    monkeypatch.setattr(witness_sync, "fetch_checkpoint", fetch_checkpoint)
    code, said, err = _sync_cli(pair, client, capsys, monkeypatch)
    assert code == 2, said
    assert "changed during each of 3 tries" in err
    assert len(pushed) == witness_sync.MAX_ROUNDS
    assert "REFUSED" not in err
    assert list_evidence(pair.witness) == []
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == pushed[-1] == pair.log.log.size()


def test_sync_bad_input_exits_2(
    pair: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE.decode())
    data = ["--data", str(pair.witness.data_dir)]
    code, _, err = run_eseal([*data, "witness", "sync", "ftp://x"], capsys, monkeypatch)
    assert code == 2
    assert "not an http:// or https:// URL" in err
    other = init_node(
        tmp_path / "o", region="120000", name="天津市", passphrase=PASSPHRASE, now=NOW
    )
    monkeypatch.setattr("eseal.witness_sync.deadline_client", lambda _url, _t: _serve(other))
    code, _, err = run_eseal([*data, "witness", "sync", "http://o"], capsys, monkeypatch)
    assert code == 2
    assert "witnesses no log of origin 'eseal/120000'" in err
    other.close()
    code, _, err = run_eseal([*data, "witness", "sync", "http://127.0.0.1:9"], capsys, monkeypatch)
    assert code == 2
    assert witnessed_log(pair.witness, LOG_ORIGIN).size == 0


def test_migrations_keep_the_witness_tables(tmp_path: Path) -> None:
    """Taken back to eseal_0003 and up again, the witness tables are made anew."""
    node = init_node(tmp_path, region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    node.close()
    url = sqlite_url(tmp_path)
    _downgrade(url, "eseal_0003")
    upgrade(make_engine(url, immediate=True), ISSUING_MIGRATIONS, "eseal_alembic_version")
    with make_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM witnessed_log")).scalar_one() == 0


def test_a_backup_check_names_a_missing_witness_key_file(tmp_path: Path) -> None:
    """The witness key is one the database records: a backup of a node whose key file is
    gone is reported, as for an agency's or seal's key."""
    node = init_node(tmp_path / "n", region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    kid = require_witness_key(node).key_id
    node.close()
    (tmp_path / "n" / "keys" / f"{kid}.key").unlink()
    take_backup(tmp_path / "n", tmp_path / "b", database_url=None, now=NOW)
    report = check_backup(tmp_path / "b")
    assert f"no key file for signing keys the database records: {kid}" in report.problems
