"""The cosignatures a node keeps of each witness of its log, not only the latest: witnesses
that drift apart (one unreachable when the others are asked) leave the older checkpoint
they all cosigned served with all their lines. Beijing's log; Chongqing (``pair``) and
Shanghai its witnesses, in process through their ASGI apps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from nacl.signing import SigningKey
from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError

from eseal import witness_ask
from eseal.api.app import create_app
from eseal.models import LogWitnessCosignatureRow
from eseal.node import ISSUING_MIGRATIONS, Node, init_node
from eseal.trust_export import export_bundle, export_snapshot
from eseal.witness import add_log, require_witness_key
from eseal.witness_ask import (
    add_witness,
    ask,
    cosigned_checkpoint,
    list_witnesses,
    remove_witness,
    witnessed_size,
)
from ledger.checkpoint import Checkpoint
from ledger.cosignature import QuorumNotMet, cosigner_key, parse_cosigner_key, verify_witnessed
from ledger.migrate import upgrade
from ledger.sql import make_engine, sqlite_url
from tests.eseal.conftest import NOW, PASSPHRASE
from tests.eseal.test_log_witness import (  # noqa: F401 (the fixture)
    WITNESS_URL,
    Pair,
    _append,
    ask_only,
    pair,
)
from tests.eseal.test_migrations import _downgrade, _revision
from tests.eseal.test_postgres import postgres_node
from tests.postgres import postgres_url
from verifier.revocation import open_snapshot
from verifier.trust import TrustStore, open_bundle

SH_URL = "http://shanghai.test"
_h = LogWitnessCosignatureRow.__table__  # type: ignore[attr-defined]


@dataclass
class Two:
    """A log and its two witnesses: the one at ``WITNESS_URL`` (named ``one``), and
    Shanghai (``sh``), the one that is down at times."""

    log: Node
    keys: dict[str, str]  # the witnesses' verifier keys, by name
    apps: dict[str, Node]  # the witnesses' nodes, by URL
    one: str
    sh: str

    def client(self, url: str) -> httpx.Client:
        return TestClient(create_app(self.apps[url]), base_url=url)

    def ask_both(self) -> int:
        done = ask(self.log, now=NOW + 3, client_for=self.client)
        assert [d.outcome for d in done] == ["cosigned", "cosigned"]
        return self.log.log.size()

    def ask_one(self) -> int:
        (done,) = ask_only(self.log, self.one, self.client)
        assert done.outcome == "cosigned"
        return self.log.log.size()

    def quorum(self, note: str, *names: str) -> set[str]:
        """The witnesses ``names`` whose lines on ``note`` verify (all of them required)."""
        keys = [parse_cosigner_key(self.keys[n]) for n in names]
        done = verify_witnessed(note, self.log.log_verifier, keys, len(keys))
        return {c.name for c in done.cosignatures}


def _two(log: Node, shanghai: Node, other: Node, *, other_has_it: bool = False) -> Two:
    """``log`` witnessed by ``other`` (which witnesses it already, if ``other_has_it``) and
    by ``shanghai``."""
    keys = {}
    for url, node in ((WITNESS_URL, other), (SH_URL, shanghai)):
        if node is shanghai or not other_has_it:
            add_log(node, log.config.origin, log.config.log_verifier, now=NOW)
        key = require_witness_key(node).verifier_key
        keys[add_witness(log, url, key, now=NOW).name] = key
    one, sh = keys
    return Two(log, keys, {WITNESS_URL: other, SH_URL: shanghai}, one, sh)


@pytest.fixture
def two(pair: Pair, tmp_path: Path) -> Iterator[Two]:  # noqa: F811
    shanghai = init_node(
        tmp_path / "s", region="310000", name="上海市", passphrase=PASSPHRASE, now=NOW
    )
    with shanghai:
        yield _two(pair.log, shanghai, pair.witness, other_has_it=True)


def _history(node: Node) -> dict[str, list[int]]:
    """The sizes of the cosignatures kept of each witness, by name."""
    kept: dict[str, list[int]] = {}
    with node.sql.read_engine.connect() as conn:
        for r in conn.execute(select(_h.c.name, _h.c.size).order_by(_h.c.size)):
            kept.setdefault(str(r.name), []).append(int(r.size))
    return kept


def _drifted(two: Two) -> tuple[int, int]:
    """Both witnesses cosign size A; the log grows; only Chongqing cosigns size B."""
    a = two.ask_both()
    _append(two.log, 2)
    b = two.ask_one()
    assert b > a
    latest = {w.name: w.size for w in list_witnesses(two.log)}
    assert latest == {two.one: b, two.sh: a}  # their latest rows drifted apart
    return a, b


def _check_drifted(two: Two) -> None:
    a, b = _drifted(two)
    # A carries both witnesses' lines, B Chongqing's alone: A is the witnessed cut.
    assert witnessed_size(two.log, b) == a
    at_a = cosigned_checkpoint(two.log, a)
    assert at_a.startswith(two.log.log.store.checkpoint(a) or "?")
    assert two.quorum(at_a, two.one, two.sh) == {two.one, two.sh}
    latest = cosigned_checkpoint(two.log)  # the latest: the first witness's line alone
    assert two.quorum(latest, two.one) == {two.one}
    with pytest.raises(QuorumNotMet):
        two.quorum(latest, two.sh)

    # GET /v1/revocations?witnessed=1: the snapshot is cut at A, with both lines on it.
    bundle = open_bundle(
        export_bundle(two.log, now=int(time.time())), pinned_roots={two.log.root_key_id}
    )
    with TestClient(create_app(two.log)) as client:
        served = client.get("/v1/revocations", params={"witnessed": "1"})
    assert served.status_code == 200, served.text
    cut = open_snapshot(served.content, TrustStore([bundle]))
    assert Checkpoint.of_note(cut.checkpoint).size == a
    assert cut.checkpoint == at_a
    assert two.quorum(cut.checkpoint, two.sh) == {two.sh}  # a peer needing Shanghai syncs
    plain = open_snapshot(export_snapshot(two.log, now=int(time.time())), TrustStore([bundle]))
    assert Checkpoint.of_note(plain.checkpoint).size == b  # unasked, the latest as ever

    # Shanghai catches up: B now carries both, and is the latest: no older cut is added.
    two.ask_both()
    assert witnessed_size(two.log, b) is None
    assert two.quorum(cosigned_checkpoint(two.log), two.one, two.sh) == {two.one, two.sh}


def test_drifted_witnesses_leave_the_checkpoint_they_both_cosigned_served(two: Two) -> None:
    """Shanghai unreachable when the log is next asked: Chongqing's latest line moves to B,
    Shanghai's stays on A. A is still the checkpoint the most witnesses cosigned (2 to 1),
    served ``?witnessed=1`` with both their lines, so a peer whose policy needs both (or
    Shanghai) keeps syncing."""
    _check_drifted(two)


def test_the_history_keeps_each_witness_latest_cosignatures_only(
    two: Two, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most ``COSIGNATURE_HISTORY`` cosignatures of a witness are kept, its latest: once
    Chongqing's line on A is pruned, A carries Shanghai's alone and is no longer the cut."""
    monkeypatch.setattr(witness_ask, "COSIGNATURE_HISTORY", 3)
    a = two.ask_both()
    sizes = [a]
    for _ in range(2):
        _append(two.log, 1)
        sizes.append(two.ask_one())
    two.ask_one()  # asked again at the same size: its line there replaced, not added
    assert _history(two.log) == {two.one: sizes, two.sh: [a]}
    assert witnessed_size(two.log, sizes[-1]) == a

    _append(two.log, 1)
    sizes.append(two.ask_one())
    assert _history(two.log) == {two.one: sizes[1:], two.sh: [a]}
    assert witnessed_size(two.log, sizes[-1]) is None  # 1 line each: the latest is as good
    assert two.quorum(cosigned_checkpoint(two.log, a), two.sh) == {two.sh}
    with pytest.raises(QuorumNotMet):
        two.quorum(cosigned_checkpoint(two.log, a), two.one)


def test_a_removed_witness_takes_its_history_with_it(two: Two) -> None:
    """Removed (and added again, under the same key), a witness's past cosignatures are
    neither served nor counted: it starts from nothing, as a new witness."""
    a, b = _drifted(two)
    remove_witness(two.log, two.sh)
    assert _history(two.log) == {two.one: [a, b]}
    assert witnessed_size(two.log, b) is None  # A and B: Chongqing's line on each
    with pytest.raises(QuorumNotMet):
        two.quorum(cosigned_checkpoint(two.log, a), two.sh)
    add_witness(two.log, SH_URL, two.keys[two.sh], now=NOW + 5)
    assert _history(two.log) == {two.one: [a, b]}
    with pytest.raises(QuorumNotMet):
        two.quorum(cosigned_checkpoint(two.log, a), two.sh)


def _history_rows(url: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT name, size, root_hash, cosignature, cosigned_at "
                "FROM log_witness_cosignature ORDER BY name, size"
            )
        ).all()
    engine.dispose()
    return [(r[0], int(r[1]), bytes(r[2]), r[3], int(r[4])) for r in rows]


def _latest_rows(url: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT name, size, root_hash, cosignature, cosigned_at "
                "FROM log_witness WHERE cosignature IS NOT NULL ORDER BY name"
            )
        ).all()
    engine.dispose()
    return [(r[0], int(r[1]), bytes(r[2]), r[3], int(r[4])) for r in rows]


def _check_migrations(node: Node, url: str) -> None:
    """Taken back to eseal_0007 (no history) and up again, each witness's history is its
    latest cosignature, as a node of 0007 kept it; a witness never asked yet (size 0, no
    line) has none."""
    never = SigningKey.generate().verify_key.encode()
    add_witness(node, "http://never.test", cosigner_key("eseal/never/witness", never), now=NOW)
    node.close()
    latest = _latest_rows(url)
    assert len(latest) == 2
    assert len(_history_rows(url)) > 2  # an older line of a witness is kept
    _downgrade(url, "eseal_0007")
    assert _revision(url, "eseal_alembic_version") == "eseal_0007"
    engine = make_engine(url)
    with engine.connect() as conn, pytest.raises(DBAPIError, match="log_witness_cosignature"):
        conn.execute(text("SELECT count(*) FROM log_witness_cosignature"))
    engine.dispose()
    upgrade(make_engine(url, immediate=True), ISSUING_MIGRATIONS, "eseal_alembic_version")
    assert _revision(url, "eseal_alembic_version") == "eseal_0008"
    assert _history_rows(url) == latest


def test_migrations_fill_the_history_from_the_latest_cosignatures(
    two: Two,
    pair: Pair,  # noqa: F811
) -> None:
    _drifted(two)
    _check_migrations(two.log, sqlite_url(pair.log_dir))


@pytest.mark.postgres
def test_drifted_witnesses_and_migrations_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "pg", url)  # Chongqing's region's log: its witnesses
    beijing = init_node(
        tmp_path / "b", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW
    )
    shanghai = init_node(
        tmp_path / "s", region="310000", name="上海市", passphrase=PASSPHRASE, now=NOW
    )
    try:
        two = _two(node, shanghai, beijing)
        _check_drifted(two)
        # Pruned on PostgreSQL too (its OFFSET subquery): each witness's latest two kept.
        monkeypatch.setattr(witness_ask, "COSIGNATURE_HISTORY", 2)
        kept = _history(node)
        assert len(kept) == 2
        assert all(len(sizes) == 2 for sizes in kept.values())
        _append(node, 1)
        c = two.ask_both()
        assert _history(node) == {name: [sizes[-1], c] for name, sizes in kept.items()}
        _check_migrations(node, url)
    finally:
        node.close()
        beijing.close()
        shanghai.close()


@pytest.mark.postgres
def test_a_witness_removed_while_it_is_asked_leaves_no_line_on_postgres(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``eseal witness remove-witness`` while ``ask`` stores that witness's line (PostgreSQL,
    READ COMMITTED: the two transactions interleave): the removal waits for the ask, and
    the line it stored goes with the witness. Were the history emptied before the
    witness's row was taken (whose lock the ask holds), the line the ask then commits
    would outlive the witness, and be served and counted for a witness added again under
    that name (with another key)."""
    url = postgres_url()
    if url is None:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set")
    node = postgres_node(tmp_path / "pg", url)
    beijing = init_node(
        tmp_path / "b", region="110000", name="北京市", passphrase=PASSPHRASE, now=NOW
    )
    shanghai = init_node(
        tmp_path / "s", region="310000", name="上海市", passphrase=PASSPHRASE, now=NOW
    )
    try:
        two = _two(node, shanghai, beijing)
        _a, b = _drifted(two)  # Shanghai's latest line on A; asked again, it moves to B
        keep = witness_ask._keep
        removed: list[object] = []

        def keep_while_removed(conn: Connection, name: str, **line: Any) -> None:
            """The ask's transaction has moved Shanghai's row (locked it): the removal
            starts now, and runs until it waits on that lock, before the line is kept."""
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            remover = threading.Thread(
                target=lambda: removed.append(remove_witness(node, name)), daemon=True
            )
            remover.start()
            blocked = "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
            deadline = time.monotonic() + 30
            with psycopg.connect(url, autocommit=True) as watch:
                while watch.execute(blocked, (pid,)).fetchone() != (1,):
                    assert remover.is_alive()
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
            keep(conn, name, **line)
            threads.append(remover)

        threads: list[threading.Thread] = []
        monkeypatch.setattr(witness_ask, "_keep", keep_while_removed)
        (done,) = ask_only(node, two.sh, two.client)
        assert done.outcome == "cosigned"
        (remover,) = threads
        remover.join(30)
        assert not remover.is_alive()
        assert len(removed) == 1
        assert [w.name for w in list_witnesses(node)] == [two.one]
        assert two.sh not in _history(node)  # no line of it kept, none to serve
        with pytest.raises(QuorumNotMet):
            two.quorum(cosigned_checkpoint(node, b), two.sh)
    finally:
        node.close()
        beijing.close()
        shanghai.close()


def test_a_cosignature_stored_after_a_later_one_is_kept_in_the_history(
    two: Two, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two asks at once (cron runs overlapping): Chongqing cosigns size A for the first,
    then, for the second (the log grown meanwhile), size B, which the second stores before
    the first stores A. Chongqing's line on A is still its cosignature of A: kept in the
    history (its latest row stays at B), so A, which Shanghai cosigned too, stays the
    checkpoint both cosigned, served with both lines."""
    real = witness_ask._post
    overtaken: list[int] = []

    def post(client: httpx.Client, url: str, request: Any) -> tuple[int, str, bytes]:
        answer = real(client, url, request)
        if url == WITNESS_URL and not overtaken:  # the second ask, before the first stores
            overtaken.append(0)
            _append(two.log, 2)
            overtaken.append(two.ask_one())
        return answer

    monkeypatch.setattr(witness_ask, "_post", post)
    a = two.log.log.size()
    done = ask(two.log, now=NOW + 3, client_for=two.client)
    assert [d.outcome for d in done] == ["cosigned", "cosigned"]
    b = overtaken[-1]
    assert b > a
    assert {w.name: w.size for w in list_witnesses(two.log)} == {two.one: b, two.sh: a}
    assert _history(two.log) == {two.one: [a, b], two.sh: [a]}
    assert witnessed_size(two.log, b) == a
    at_a = cosigned_checkpoint(two.log, a)
    assert two.quorum(at_a, two.one, two.sh) == {two.one, two.sh}
