"""A node's own log witnessed (C2SP tlog-witness, the log's side): the witnesses its operator
registers, `eseal witness ask` asking each to cosign the current checkpoint, and only
verified cosignatures stored. Two in-process nodes: Beijing's log, Chongqing its witness
(through its ASGI app)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, insert, text

from eseal.agencies import Principal
from eseal.api.app import create_app
from eseal.licenses import issue
from eseal.models import LogWitnessRow
from eseal.node import ISSUING_MIGRATIONS, Node, init_node
from eseal.trust_export import build_bundle
from eseal.witness import add_log, remove_log, require_witness_key, witnessed_log
from eseal.witness_ask import (
    Asked,
    NoWitnesses,
    UnknownWitness,
    WitnessAlreadyAdded,
    add_witness,
    ask,
    cosigned_checkpoint,
    list_witnesses,
    log_witness,
    remove_witness,
)
from eseal.witness_sync import sync
from keys.errors import InvalidInput
from ledger.checkpoint import Checkpoint, open_note
from ledger.cosignature import QuorumNotMet, cosign, parse_cosigner_key, verify_witnessed
from ledger.entries import Entry, digest
from ledger.merkle import EMPTY_ROOT
from ledger.migrate import upgrade
from ledger.sql import make_engine, sqlite_url
from ledger.witness import Cosigned
from tests.eseal.conftest import (
    MARKET,
    NOW,
    PASSPHRASE,
    business_request,
    make_region,
    run_eseal,
)
from tests.eseal.test_migrations import _downgrade, _revision
from tests.eseal.test_postgres import postgres_node
from tests.postgres import postgres_url
from verifier.online import _checkpoint

WITNESS_URL = "http://chongqing.test"


def _append(node: Node, n: int) -> None:
    kid = node.root_key_id
    start = node.log.size()
    node.log.append(
        [
            Entry("seal.stamp", NOW, node.config.region, f"s-{start + i}", digest(b"x"), kid)
            for i in range(n)
        ]
    )


@dataclass
class Pair:
    """Beijing's node (the log) and Chongqing's (its witness)."""

    log: Node
    witness: Node
    log_dir: Path

    @property
    def witness_key(self) -> str:
        return require_witness_key(self.witness).verifier_key

    def client(self, url: str) -> httpx.Client:
        return TestClient(create_app(self.witness), base_url=url)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    log = init_node(tmp_path / "l", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW)
    w = init_node(tmp_path / "w", region="500000", name="重庆市", passphrase=PASSPHRASE, now=NOW)
    add_log(w, log.config.origin, log.config.log_verifier, now=NOW)
    yield Pair(log, w, tmp_path / "l")
    log.close()
    w.close()


def _stored_note(node: Node, name: str) -> str:
    """The node's checkpoint with the stored line of the witness ``name``."""
    line = log_witness(node, name).cosignature
    assert line is not None
    return node.log.checkpoint() + line


# --- registering -------------------------------------------------------------------------


def test_witnesses_are_added_listed_and_removed(pair: Pair) -> None:
    w = add_witness(pair.log, WITNESS_URL + "/", pair.witness_key, now=NOW)
    assert (w.name, w.url, w.size, w.cosignature) == (
        "eseal/500000/witness",
        WITNESS_URL,
        0,
        None,
    )
    assert list_witnesses(pair.log) == [w]
    with pytest.raises(WitnessAlreadyAdded):
        add_witness(pair.log, "http://other.test", pair.witness_key, now=NOW)
    for url, key in [
        ("ftp://x", pair.witness_key),
        ("http://x?a=1", pair.witness_key),
        (WITNESS_URL, pair.log.config.log_verifier),  # a log key (0x01), no cosigner key
        (WITNESS_URL, "nonsense"),
        (WITNESS_URL, require_witness_key(pair.log).verifier_key),  # its own
    ]:
        with pytest.raises(InvalidInput):
            add_witness(pair.log, url, key, now=NOW)
    assert remove_witness(pair.log, w.name) == w
    assert list_witnesses(pair.log) == []
    with pytest.raises(UnknownWitness):
        remove_witness(pair.log, w.name)
    with pytest.raises(NoWitnesses):
        ask(pair.log, now=NOW, client_for=pair.client)


# --- asking ------------------------------------------------------------------------------


def test_ask_has_the_witness_cosign_and_stores_the_verified_line(pair: Pair) -> None:
    name = add_witness(pair.log, WITNESS_URL, pair.witness_key, now=NOW).name
    size = pair.log.log.size()
    (done,) = ask(pair.log, now=NOW + 1, client_for=pair.client)
    assert (done.outcome, done.old_sizes, done.size) == ("cosigned", (0,), size)
    stored = log_witness(pair.log, name)
    assert (stored.size, stored.cosignature, stored.cosigned_at) == (
        size,
        done.cosignature,
        NOW + 1,
    )
    assert stored.root_hash == pair.log.log.root_hash()
    assert witnessed_log(pair.witness, pair.log.config.origin).size == size
    witnessed = verify_witnessed(
        _stored_note(pair.log, name),
        pair.log.log_verifier,
        [parse_cosigner_key(pair.witness_key)],
        1,
    )
    assert witnessed.checkpoint.size == size
    assert [c.name for c in witnessed.cosignatures] == [name]

    # More entries: asked from the size it cosigned, with a consistency proof (the witness
    # refuses any other: 409, or 422 for a proof that does not lead there).
    _append(pair.log, 5)
    sent: list[bytes] = []

    def spying(url: str) -> httpx.Client:
        client = pair.client(url)
        client.event_hooks["request"] = [lambda r: sent.append(r.read())]
        return client

    (again,) = ask(pair.log, now=NOW + 2, client_for=spying)
    assert (again.outcome, again.old_sizes, again.size) == ("cosigned", (size,), size + 5)
    (body,) = sent
    head = body.decode().partition("\n\n")[0].split("\n")
    assert head[0] == f"old {size}"
    assert len(head) > 1  # proof lines
    assert log_witness(pair.log, name).size == size + 5
    assert witnessed_log(pair.witness, pair.log.config.origin).size == size + 5


def test_a_409_is_recovered_from_the_size_the_witness_names(pair: Pair) -> None:
    """The node forgot what the witness holds (re-registered it): the witness answers 409
    with its size, and the node asks once more from there, with a proof."""
    name = add_witness(pair.log, WITNESS_URL, pair.witness_key, now=NOW).name
    assert ask(pair.log, now=NOW, client_for=pair.client)[0].outcome == "cosigned"
    held = pair.log.log.size()
    remove_witness(pair.log, name)
    add_witness(pair.log, WITNESS_URL, pair.witness_key, now=NOW)
    _append(pair.log, 3)
    (done,) = ask(pair.log, now=NOW, client_for=pair.client)
    assert (done.outcome, done.old_sizes) == ("cosigned", (0, held))
    assert log_witness(pair.log, name).size == held + 3


def _answered(body: bytes, _url: str) -> httpx.Client:
    return _answering(body)


def _answering(body: bytes) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda _r: httpx.Response(200, content=body)))


def test_a_line_that_does_not_verify_is_not_stored(pair: Pair) -> None:
    name = add_witness(pair.log, WITNESS_URL, pair.witness_key, now=NOW).name
    wkey = require_witness_key(pair.witness)
    signing = pair.witness.signing_key(bytes.fromhex(wkey.key_id))
    current = pair.log.log.latest()
    other = Checkpoint(current.origin, current.size, bytes(32)).body()
    good = cosign(current.body(), wkey.name, signing, NOW).encode()
    for answer in [
        cosign(other, wkey.name, signing, NOW).encode(),  # its key, another checkpoint
        good[:-10] + b"AAAAAAAAA\n",  # its key, a broken signature
        good + good,  # two lines
        good[:-1],  # no newline
        b"\xff\n",
        b"",
    ]:
        (done,) = ask(pair.log, now=NOW, client_for=functools.partial(_answered, answer))
        assert done.outcome == "refused", answer
        assert "not stored" in done.detail
        assert log_witness(pair.log, name).cosignature is None
        assert log_witness(pair.log, name).size == 0
    # Another witness's genuine line is no line of this one's.
    impostor = init_node(
        pair.log_dir.parent / "i", region="310000", name="上海市", passphrase=PASSPHRASE, now=NOW
    )
    with impostor:
        ikey = require_witness_key(impostor)
        line = cosign(
            current.body(), ikey.name, impostor.signing_key(bytes.fromhex(ikey.key_id)), NOW
        )
    (done,) = ask(pair.log, now=NOW, client_for=lambda _u: _answering(line.encode()))
    assert done.outcome == "refused"
    assert log_witness(pair.log, name).cosignature is None
    with pytest.raises(QuorumNotMet):
        verify_witnessed(
            pair.log.log.checkpoint() + line,
            pair.log.log_verifier,
            [parse_cosigner_key(pair.witness_key)],
            1,
        )
    # The genuine line is stored.
    (done,) = ask(pair.log, now=NOW, client_for=lambda _u: _answering(good))
    assert done.outcome == "cosigned"
    assert log_witness(pair.log, name).cosignature == good.decode()


def test_a_409_twice_or_above_the_log_is_refused(pair: Pair) -> None:
    add_witness(pair.log, WITNESS_URL, pair.witness_key, now=NOW)
    size = pair.log.log.size()
    conflict = {"content-type": "text/x.tlog.size"}
    calls: list[int] = []

    def twice(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(409, content=b"1\n", headers=conflict)

    client = httpx.Client(transport=httpx.MockTransport(twice))
    (done,) = ask(pair.log, now=NOW, client_for=lambda _u: client)
    assert (done.outcome, done.old_sizes, len(calls)) == ("refused", (0, 1), 2)
    above = f"{size + 1}\n".encode()
    client = httpx.Client(
        transport=httpx.MockTransport(
            lambda _r: httpx.Response(409, content=above, headers=conflict)
        )
    )
    (done,) = ask(pair.log, now=NOW, client_for=lambda _u: client)
    assert done.outcome == "refused"
    assert f"holds size {size + 1}, above this log's size {size}" in done.detail


def test_ask_answers_are_bounded(pair: Pair) -> None:
    add_witness(pair.log, WITNESS_URL, pair.witness_key, now=NOW)
    (done,) = ask(pair.log, now=NOW, client_for=lambda _u: _answering(b"x" * 10_000))
    assert done.outcome == "unreachable"
    assert "answered more than 4 KiB" in done.detail


# --- serving -------------------------------------------------------------------------------


def test_the_checkpoint_is_served_with_the_cosignatures_on_it(
    pair: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET /v1/ledger/checkpoint and `eseal ledger checkpoint` append the verified lines of
    the witnesses that cosigned the checkpoint served, and only those; eseal's own readers
    of a checkpoint (the online verifier, a witness syncing the log) take such a note."""
    a = TestClient(create_app(pair.log))
    assert a.get("/v1/ledger/checkpoint").text == pair.log.log.checkpoint()  # none yet
    shanghai = init_node(
        tmp_path / "s", region="310000", name="上海市", passphrase=PASSPHRASE, now=NOW
    )
    with shanghai:
        add_log(shanghai, pair.log.config.origin, pair.log.config.log_verifier, now=NOW)
        keys = [pair.witness_key, require_witness_key(shanghai).verifier_key]
        add_witness(pair.log, WITNESS_URL, keys[0], now=NOW)
        add_witness(pair.log, "http://shanghai.test", keys[1], now=NOW)
        apps = {WITNESS_URL: pair.witness, "http://shanghai.test": shanghai}

        def client(url: str) -> httpx.Client:
            return TestClient(create_app(apps[url]), base_url=url)

        assert [d.outcome for d in ask(pair.log, now=NOW, client_for=client)] == ["cosigned"] * 2
        served = a.get("/v1/ledger/checkpoint")
        assert served.status_code == 200
        note = served.text
        lines = [w.cosignature or "" for w in list_witnesses(pair.log)]
        assert note == pair.log.log.checkpoint() + "".join(lines)
        witnessed = verify_witnessed(
            note, pair.log.log_verifier, [parse_cosigner_key(k) for k in keys], 2
        )
        assert {c.name for c in witnessed.cosignatures} == {
            "eseal/500000/witness",
            "eseal/310000/witness",
        }
        code, said, err = run_eseal(
            ["--data", str(pair.log_dir), "ledger", "checkpoint"], capsys, monkeypatch
        )
        assert (code, said) == (0, note), err

        # The verifier's check of a node's checkpoint and a signed-note reader take it.
        bundle = build_bundle(pair.log, now=NOW + 1)
        assert _checkpoint({"checkpoint": note}, bundle) == pair.log.log.latest()
        opened = open_note(note, [pair.log.log_verifier])
        assert [s.name for s in opened.signatures] == [pair.log.config.origin]
        # A witness syncing the log reads it too (its own older line in it is ignored).
        done = sync(pair.witness, "http://beijing.test", now=NOW + 2, client=a)
        assert isinstance(done.outcome, Cosigned)

        # The log grows: the lines on the older checkpoint are no longer served.
        _append(pair.log, 2)
        note = a.get("/v1/ledger/checkpoint").text
        assert note == pair.log.log.checkpoint()
        with pytest.raises(QuorumNotMet):
            verify_witnessed(note, pair.log.log_verifier, [parse_cosigner_key(keys[0])], 1)
        # One witness asked again: its line alone is served.
        (done_b,) = ask_only(pair.log, "eseal/500000/witness", client)
        assert done_b.outcome == "cosigned"
        note = a.get("/v1/ledger/checkpoint").text
        assert note == pair.log.log.checkpoint() + (done_b.cosignature or "")
        verify_witnessed(note, pair.log.log_verifier, [parse_cosigner_key(keys[0])], 1)


def test_a_status_answer_reads_its_checkpoint_and_lines_in_one_statement(
    tmp_path: Path,
) -> None:
    """A license's status answer reads the checkpoint with its witnesses' lines in one SQL
    statement: a node without witnesses pays no query of its own for them, and one whose
    witness is added and cosigns while the app runs (another process, as with the CLI)
    serves the line at once, with the same statements."""
    region = make_region(tmp_path / "cq")
    node = region.node
    lic = issue(node, Principal("agency", MARKET), MARKET, business_request(), now=NOW)
    beijing = init_node(
        tmp_path / "bj", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW
    )
    statements: list[str] = []

    def seen(_c: object, _cur: object, statement: str, *_: object) -> None:
        statements.append(statement)

    engines = {node.sql.read_engine, node.sql.write_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", seen)
    try:
        a = TestClient(create_app(node))

        def status() -> tuple[str, list[str]]:
            statements.clear()
            answer = a.get(f"/v1/licenses/{lic.id}/status")
            assert answer.status_code == 200, answer.text
            return answer.json()["checkpoint"], list(statements)

        status()  # the app's first request warms what it warms
        note, alone = status()
        assert note == node.log.checkpoint()
        (read,) = [s for s in alone if "log_witness" in s]
        assert [s for s in alone if "ledger_checkpoint" in s] == [read]

        add_log(beijing, node.config.origin, node.config.log_verifier, now=NOW)
        key = require_witness_key(beijing).verifier_key
        add_witness(node, WITNESS_URL, key, now=NOW)

        def client(url: str) -> httpx.Client:
            return TestClient(create_app(beijing), base_url=url)

        (done,) = ask(node, now=NOW + 1, client_for=client)
        assert done.outcome == "cosigned"
        note, witnessed = status()
        assert note == node.log.checkpoint() + (done.cosignature or "")
        verify_witnessed(note, node.log_verifier, [parse_cosigner_key(key)], 1)
        assert witnessed == alone
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", seen)
        beijing.close()
        node.close()


def _serves_the_unstored_checkpoint_with_its_lines(node: Node) -> None:
    """A log that stores no checkpoint yet serves its size-0 one, signed when asked, with
    the lines stored on it (its size and root hash) by witness name, and no other."""
    with node.sql.write_engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_checkpoint"))
    empty = node.log.checkpoint()
    assert Checkpoint.of_note(empty).size == 0
    assert cosigned_checkpoint(node) == empty  # no witness yet
    lines = {"b": "— b line\n", "a": "— a line\n", "c": "— c line\n", "d": None}
    roots = {"b": EMPTY_ROOT, "a": EMPTY_ROOT, "c": bytes(32), "d": None}
    with node.sql.write_engine.begin() as conn:
        for name, line in lines.items():
            conn.execute(
                insert(LogWitnessRow.__table__),  # type: ignore[attr-defined]
                {"name": name, "url": f"http://{name}.test", "verifier_key": name, "size": 0,
                 "root_hash": roots[name], "cosignature": line, "added_at": NOW},
            )  # fmt: skip
    assert cosigned_checkpoint(node) == empty + "— a line\n— b line\n"


def test_a_log_storing_no_checkpoint_serves_its_empty_one_with_its_lines(pair: Pair) -> None:
    _serves_the_unstored_checkpoint_with_its_lines(pair.log)


@pytest.mark.postgres
def test_a_log_storing_no_checkpoint_on_postgres(tmp_path: Path) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "pg", url)
    try:
        _serves_the_unstored_checkpoint_with_its_lines(node)
    finally:
        node.close()


def ask_only(node: Node, name: str, client_for: Callable[[str], httpx.Client]) -> list[Asked]:
    """``ask`` of one witness (the other's URL is answered unreachable)."""
    url = log_witness(node, name).url

    def only(u: str) -> httpx.Client:
        if u == url:
            return client_for(u)
        return httpx.Client(transport=httpx.MockTransport(_unreachable))

    return [a for a in ask(node, now=NOW + 3, client_for=only) if a.name == name]


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("down", request=request)


# --- the CLI ------------------------------------------------------------------------------


def test_the_cli_registers_asks_and_reports_a_refusal(
    pair: Pair, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ["--data", str(pair.log_dir)]
    key = pair.witness_key
    monkeypatch.setattr("eseal.witness_ask.deadline_client", lambda url, _t: pair.client(url))

    code, _, err = run_eseal([*data, "witness", "ask"], capsys, monkeypatch)
    assert code == 2
    assert "no witness of this node's log is registered" in err
    code, _, err = run_eseal([*data, "witness", "add-witness", "ftp://x", key], capsys, monkeypatch)
    assert code == 2
    assert "not an http:// or https:// URL" in err
    code, said, err = run_eseal(
        [*data, "witness", "add-witness", WITNESS_URL, key], capsys, monkeypatch
    )
    assert code == 0, err
    assert "witness eseal/500000/witness at http://chongqing.test added" in said

    code, said, err = run_eseal([*data, "witness", "ask"], capsys, monkeypatch)
    assert code == 0, err
    assert "ok  eseal/500000/witness (http://chongqing.test): cosigned" in said
    code, said, err = run_eseal([*data, "--json", "witness", "witnesses"], capsys, monkeypatch)
    assert code == 0, err
    (listed,) = json.loads(said)
    assert listed["size"] == pair.log.log.size()
    assert listed["cosignature"].startswith("\u2014 eseal/500000/witness ")

    # The witness no longer witnesses this log: it refuses (404), exit 1, said why.
    remove_log(pair.witness, pair.log.config.origin)
    code, said, err = run_eseal([*data, "--json", "witness", "ask"], capsys, monkeypatch)
    assert code == 1
    (asked,) = json.loads(said)
    assert asked["outcome"] == "refused"
    assert asked["detail"].startswith("404: ")
    assert "1 of 1 witnesses did not cosign: eseal/500000/witness: refused" in err
    assert json.loads(
        run_eseal([*data, "--json", "witness", "witnesses"], capsys, monkeypatch)[1]
    ) == [listed]  # what it cosigned before is kept

    code, said, err = run_eseal(
        [*data, "witness", "remove-witness", "eseal/500000/witness"], capsys, monkeypatch
    )
    assert code == 0, err
    code, said, err = run_eseal([*data, "witness", "witnesses"], capsys, monkeypatch)
    assert "no witness of this log" in said
    code, _, err = run_eseal([*data, "witness", "remove-witness", "nobody"], capsys, monkeypatch)
    assert code == 2
    assert "no witness named 'nobody'" in err


def test_ask_exits_2_when_no_witness_answers(
    pair: Pair, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    add_witness(pair.log, "http://127.0.0.1:9", pair.witness_key, now=NOW)
    code, _, err = run_eseal(["--data", str(pair.log_dir), "witness", "ask"], capsys, monkeypatch)
    assert code == 2
    assert "no witness could be reached" in err
    assert "cannot reach http://127.0.0.1:9/add-checkpoint" in err


# --- storage --------------------------------------------------------------------------------


def test_migrations_keep_the_log_witness_table(pair: Pair) -> None:
    """Taken back to eseal_0004 (no table) and up again, the table is made anew."""
    add_witness(pair.log, WITNESS_URL, pair.witness_key, now=NOW)
    pair.log.close()
    url = sqlite_url(pair.log_dir)
    _downgrade(url, "eseal_0004")
    assert _revision(url, "eseal_alembic_version") == "eseal_0004"
    with make_engine(url).connect() as conn:
        assert "log_witness" not in {
            r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
        }
    upgrade(make_engine(url, immediate=True), ISSUING_MIGRATIONS, "eseal_alembic_version")
    assert _revision(url, "eseal_alembic_version") == "eseal_0008"
    with make_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM log_witness")).scalar_one() == 0


@pytest.mark.postgres
def test_ask_and_migrations_on_postgres(tmp_path: Path) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "pg", url)  # Chongqing's log, on PostgreSQL
    shanghai = init_node(
        tmp_path / "w", region="310000", name="上海市", passphrase=PASSPHRASE, now=NOW
    )
    try:
        add_log(shanghai, node.config.origin, node.config.log_verifier, now=NOW)
        key = require_witness_key(shanghai).verifier_key
        name = add_witness(node, WITNESS_URL, key, now=NOW).name

        def client(base: str) -> httpx.Client:
            return TestClient(create_app(shanghai), base_url=base)

        (done,) = ask(node, now=NOW, client_for=client)
        assert done.outcome == "cosigned"
        _append(node, 2)
        (done,) = ask(node, now=NOW, client_for=client)
        assert (done.outcome, done.old_sizes) == ("cosigned", (node.log.size() - 2,))
        verify_witnessed(_stored_note(node, name), node.log_verifier, [parse_cosigner_key(key)], 1)
        # Served with it: the checkpoint and its line read in one statement on PostgreSQL too.
        assert cosigned_checkpoint(node) == node.log.checkpoint() + (done.cosignature or "")
    finally:
        node.close()
        shanghai.close()
    _downgrade(url, "eseal_0004")
    assert _revision(url, "eseal_alembic_version") == "eseal_0004"
    upgrade(make_engine(url, immediate=True), ISSUING_MIGRATIONS, "eseal_alembic_version")
    assert _revision(url, "eseal_alembic_version") == "eseal_0008"
    with make_engine(url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM log_witness")).scalar_one() == 0
